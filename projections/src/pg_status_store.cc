// StatusStore on PostgreSQL: resource_status, cluster_status, status_history and
// status_offsets (migration 0003; status_history.seen_until, migration 0007).
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "pg/session.h"
#include "projections/status_ports.h"

namespace senren::projections {
namespace {

// The parts of a ClusterReport that are more than a heartbeat.
bool SameReport(const v1::ClusterReport& a, const v1::ClusterReport& b) {
  return a.applied_version() == b.applied_version() && a.result() == b.result() &&
         a.reason() == b.reason() && a.resources_total() == b.resources_total() &&
         a.resources_ready() == b.resources_ready() &&
         a.drift_corrections() == b.drift_corrections() &&
         a.rejected_snapshots() == b.rejected_snapshots();
}

class PgStatusStore final : public StatusStore {
 public:
  PgStatusStore(pg::Session* session, std::string topic)
      : session_(session), topic_(std::move(topic)) {
    // A cluster's heartbeat, every 10 s from every cluster, runs these: planned once per
    // session, not at every heartbeat.
    session_->Prepare("status_cluster_report",
                      "SELECT report FROM cluster_status WHERE region = $1 AND cluster = $2");
    session_->Prepare(
        "status_upsert_cluster",
        "INSERT INTO cluster_status (region, cluster, applied_version, heartbeat_at, report) "
        "VALUES ($1, $2, $3, to_timestamp($4), $5) ON CONFLICT (region, cluster) DO UPDATE SET "
        "applied_version = EXCLUDED.applied_version, heartbeat_at = EXCLUDED.heartbeat_at, "
        "report = EXCLUDED.report, updated_at = now()");
    // A heartbeat: the cluster's row, and its newest history row extended to it (see
    // Heartbeat). A data-modifying WITH runs whatever the outer statement does; the
    // affected rows are the UPDATE's.
    session_->Prepare(
        "status_heartbeat",
        "WITH upsert AS (INSERT INTO cluster_status (region, cluster, applied_version, "
        "heartbeat_at, report) VALUES ($1, $2, $3, to_timestamp($4), $5) ON CONFLICT (region, "
        "cluster) DO UPDATE SET applied_version = EXCLUDED.applied_version, heartbeat_at = "
        "EXCLUDED.heartbeat_at, report = EXCLUDED.report, updated_at = now()) "
        "UPDATE status_history SET seen_until = greatest(coalesce(seen_until, recorded_at), "
        "to_timestamp($4)) "
        "WHERE (topic, kafka_partition, kafka_offset) = (SELECT topic, kafka_partition, "
        "kafka_offset FROM status_history WHERE region = $1 AND cluster = $2 AND kind = 0 AND "
        "name = '' ORDER BY recorded_at DESC, kafka_offset DESC LIMIT 1) "
        "AND payload IS NOT NULL "
        "AND to_timestamp($4) - coalesce(seen_until, recorded_at) <= make_interval(secs => $6)");
    // A resource's status and its history row, in one round trip.
    session_->Prepare(
        "status_upsert_resource",
        "WITH upsert AS (INSERT INTO resource_status (region, cluster, kind, name, status) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (region, cluster, kind, name) DO UPDATE SET "
        "status = EXCLUDED.status, updated_at = now()) "
        "INSERT INTO status_history (topic, kafka_partition, kafka_offset, region, cluster, kind, "
        "name, recorded_at, payload, seen_until) "
        "VALUES ($6, $7, $8, $1, $2, $3, $4, to_timestamp($9), $5, NULL) ON CONFLICT DO NOTHING");
  }

  absl::StatusOr<std::map<int32_t, int64_t>> Offsets() override {
    std::map<int32_t, int64_t> next;
    absl::Status s =
        session_->Run("read status offsets", "", pg::TxKind::kNone, [&](pg::Transaction& tx) {
          for (const auto& row : tx.ExecParams(
                   "SELECT kafka_partition, next_offset FROM status_offsets WHERE topic = $1",
                   topic_)) {
            next[row[0].as<int32_t>()] = row[1].as<int64_t>();
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    return next;
  }

  absl::StatusOr<bool> RegionKnown(const std::string& region) override {
    bool known = false;
    absl::Status s =
        session_->Run("look up a region", region, pg::TxKind::kNone, [&](pg::Transaction& tx) {
          known = !tx.ExecParams("SELECT 1 FROM regions WHERE region = $1", region).empty();
          return absl::OkStatus();
        });
    if (!s.ok()) return DataError(s);
    return known;
  }

  absl::StatusOr<StatusApplied> Apply(const StatusBatch& batch) override {
    StatusApplied out;
    absl::Status s =
        session_->Run("fold status", "", pg::TxKind::kReadWrite, [&](pg::Transaction& tx) {
          out = {};
          staged_.clear();  // a retried transaction starts again
          for (const StatusChange& c : batch.changes) out.visible.push_back(ApplyOne(tx, c));
          for (const auto& [partition, offset] : batch.next_offsets) {
            tx.ExecParams("INSERT INTO status_offsets (topic, kafka_partition, next_offset) VALUES "
                          "($1, $2, $3) "
                          "ON CONFLICT (topic, kafka_partition) DO UPDATE SET next_offset = "
                          "EXCLUDED.next_offset",
                          topic_, partition, offset);
          }
          // Only events need it: a batch of heartbeats reads no region.
          for (size_t i = 0; i < batch.changes.size(); ++i) {
            const StatusChange& c = batch.changes[i];
            if (!out.visible[i]) continue;
            auto [it, inserted] = out.desired_versions.try_emplace(c.key.region, 0);
            if (!inserted) continue;
            auto row = tx.ExecParams("SELECT current_version FROM regions WHERE region = $1",
                                     c.key.region);
            if (!row.empty()) it->second = row[0][0].as<uint64_t>();
          }
          return absl::OkStatus();
        });
    if (!s.ok()) {
      staged_.clear();
      return DataError(s);
    }
    for (auto& [key, report] : staged_) reports_[key] = std::move(report);
    staged_.clear();
    return out;
  }

  absl::StatusOr<uint64_t> Trim(std::chrono::hours retention) override {
    uint64_t rows = 0;
    absl::Status s =
        session_->Run("trim status history", "", pg::TxKind::kReadWrite, [&](pg::Transaction& tx) {
          // The newest row of a key before the cutoff is what GetStatus(at) answers for
          // `at` between the cutoff and the key's next row, however old it is; a
          // tombstone there answers "gone", as no row does.
          rows =
              tx.ExecParams("DELETE FROM status_history h USING ("
                            "SELECT topic, kafka_partition, kafka_offset, payload IS NULL AS gone, "
                            "row_number() OVER (PARTITION BY region, cluster, kind, name "
                            "ORDER BY recorded_at DESC, kafka_offset DESC) AS newer "
                            "FROM status_history "
                            "WHERE recorded_at < now() - make_interval(hours => $1)) old "
                            "WHERE (h.topic, h.kafka_partition, h.kafka_offset) = "
                            "(old.topic, old.kafka_partition, old.kafka_offset) "
                            "AND (old.newer > 1 OR old.gone)",
                            static_cast<int>(retention.count()))
                  .affected_rows();
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    return rows;
  }

 private:
  // A refused value (SQLSTATE class 22 data exception, 23 integrity violation) is the
  // batch's fault, not the store's: INVALID_ARGUMENT, whatever the SQLSTATE table says.
  static absl::Status DataError(const absl::Status& s) {
    if (absl::StrContains(s.message(), "(SQLSTATE 22") ||
        absl::StrContains(s.message(), "(SQLSTATE 23")) {
      return absl::InvalidArgumentError(s.message());
    }
    return s;
  }

  // Returns whether watchers see the change.
  bool ApplyOne(pg::Transaction& tx, const StatusChange& c) {
    const StatusKey& key = c.key;
    switch (c.type) {
      case StatusChange::Type::kClusterGone:
        tx.ExecParams("DELETE FROM cluster_status WHERE region = $1 AND cluster = $2", key.region,
                      key.cluster);
        staged_[{key.region, key.cluster}] = std::nullopt;
        InsertHistory(tx, c, nullptr);  // a removed cluster leaves past answers from here on
        return false;
      case StatusChange::Type::kCluster: {
        const std::optional<v1::ClusterReport> old = StoredReport(tx, key);
        const bool changed = !old.has_value() || !SameReport(*old, c.report);
        staged_[{key.region, key.cluster}] = c.report;
        const pg::Param bytes = pg::Param::Bytes(c.payload);
        if (changed) {
          tx.ExecPrepared("status_upsert_cluster", key.region, key.cluster,
                          static_cast<int64_t>(c.report.applied_version()), c.at, bytes);
          InsertHistory(tx, c, &bytes);
        } else if (!Heartbeat(tx, c, bytes)) {
          InsertHistory(tx, c, &bytes);
        }
        return changed;
      }
      case StatusChange::Type::kResourceGone:
        tx.ExecParams("DELETE FROM resource_status WHERE region = $1 AND cluster = $2 AND kind = "
                      "$3 AND name = $4",
                      key.region, key.cluster, static_cast<int>(key.kind), key.name);
        InsertHistory(tx, c, nullptr);
        return true;
      case StatusChange::Type::kResource: {
        tx.ExecPrepared("status_upsert_resource", key.region, key.cluster,
                        static_cast<int>(key.kind), key.name, pg::Param::Bytes(c.payload), c.topic,
                        c.partition, c.offset, c.at);
        return true;
      }
    }
    return false;
  }

  // The cluster's report in cluster_status: as this transaction left it, else as this
  // store last committed it, else read (once per cluster and term: while the projector
  // holds the topic's lock, nothing else writes cluster_status for it).
  std::optional<v1::ClusterReport> StoredReport(pg::Transaction& tx, const StatusKey& key) {
    const std::pair<std::string, std::string> k{key.region, key.cluster};
    if (auto it = staged_.find(k); it != staged_.end()) return it->second;
    if (auto it = reports_.find(k); it != reports_.end()) return it->second;
    auto prev = tx.ExecPrepared("status_cluster_report", key.region, key.cluster);
    if (prev.empty()) return std::nullopt;
    v1::ClusterReport old;
    old.ParseFromString(prev[0][0].Bytes());
    return old;
  }

  // A heartbeat-only report: written to cluster_status, and the cluster's newest history
  // row (the same report but for the heartbeat) now stands until this heartbeat, in one
  // statement (one round trip). One UPDATE of one history row, so history grows with
  // changes, not with time. Returns false, and extends nothing, when that row cannot
  // stand for it: there is none (or it is a tombstone), or the cluster was silent longer
  // than the stale limit since the row's last heartbeat (a row written before migration
  // 0007 has none but its own), so GetStatus(at) within the silence sees it stale. A
  // heartbeat older than the row's last one extends nothing and returns true.
  bool Heartbeat(pg::Transaction& tx, const StatusChange& c, const pg::Param& bytes) {
    return tx.ExecPrepared("status_heartbeat", c.key.region, c.key.cluster,
                           static_cast<int64_t>(c.report.applied_version()), c.at, bytes,
                           StaleAfterSeconds(c.report))
               .affected_rows() == 1;
  }

  // Keyed by Kafka position: a redelivered message inserts nothing. A cluster report's
  // row starts its run of heartbeats (seen_until) at its own.
  void InsertHistory(pg::Transaction& tx, const StatusChange& c, const pg::Param* payload) {
    const StatusKey& key = c.key;
    const bool report = c.type == StatusChange::Type::kCluster;
    tx.ExecParams("INSERT INTO status_history (topic, kafka_partition, kafka_offset, region, "
                  "cluster, kind, name, recorded_at, payload, seen_until) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8), $9, to_timestamp($10)) "
                  "ON CONFLICT DO NOTHING",
                  c.topic, c.partition, c.offset, key.region, key.cluster,
                  static_cast<int>(key.kind), key.name, c.at,
                  payload != nullptr ? *payload : pg::Param(nullptr),
                  report ? pg::Param(c.at) : pg::Param(nullptr));
  }

  pg::Session* const session_;
  const std::string topic_;
  // Each cluster's report in cluster_status as this store committed it (nullopt: none),
  // so a heartbeat costs no read of it; staged_ is the open transaction's, merged at commit.
  std::map<std::pair<std::string, std::string>, std::optional<v1::ClusterReport>> reports_;
  std::map<std::pair<std::string, std::string>, std::optional<v1::ClusterReport>> staged_;
};

}  // namespace

std::unique_ptr<StatusStore> NewPgStatusStore(pg::Session* session, std::string topic) {
  return std::make_unique<PgStatusStore>(session, std::move(topic));
}

}  // namespace senren::projections
