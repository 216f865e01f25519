#include "projections/status_projector.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kafka/kafka.h"
#include "common/resources.h"
#include "pg/loop.h"
#include "pg/session.h"
#include "projections/status_keys.h"
#include "senren/v1/status.pb.h"

namespace senren::projections {
namespace {

using google::protobuf::util::TimeUtil;

// Seconds since the epoch as PostgreSQL's to_timestamp() takes it.
double EpochSeconds(const google::protobuf::Timestamp& t) {
  return static_cast<double>(t.seconds()) + static_cast<double>(t.nanos()) / 1e9;
}

// The parts of a ClusterReport that are more than a heartbeat.
bool SameReport(const v1::ClusterReport& a, const v1::ClusterReport& b) {
  return a.applied_version() == b.applied_version() && a.result() == b.result() && a.reason() == b.reason() &&
         a.resources_total() == b.resources_total() && a.resources_ready() == b.resources_ready() &&
         a.drift_corrections() == b.drift_corrections();
}

class StatusProjectorImpl final : public StatusProjector {
 public:
  StatusProjectorImpl(StatusProjectorOptions options, StatusHub* hub)
      : options_(std::move(options)), hub_(hub), topic_(StatusTopic(options_.topic_prefix)) {}
  ~StatusProjectorImpl() override { Stop(); }

  absl::Status Start() override {
    kafka::TopicSpec spec{topic_, options_.partitions, 1,
                          {{"cleanup.policy", "compact"}, {"min.compaction.lag.ms", "0"}, {"segment.ms", "3600000"}}};
    if (absl::Status s = kafka::EnsureTopic(options_.brokers, spec); !s.ok()) return s;
    loop_.Start([this](pg::Session& conn) { Follow(conn); });
    return absl::OkStatus();
  }

  void Stop() override { loop_.Stop(); }

  StatusProjectorStats Stats() const override {
    StatusProjectorStats s;
    s.consumed = consumed_;
    s.applied = applied_;
    s.bad_messages = bad_;
    s.unknown_region = unknown_region_;
    s.transactions = transactions_;
    return s;
  }

  std::string Topic() const override { return topic_; }

 private:
  struct Pending {
    std::string region;
    v1::StatusEvent event;
  };

  // One connection's worth of following the topic from the stored offsets, until Stop
  // or an error (the loop reconnects and calls this again).
  void Follow(pg::Session& conn) {
    auto partitions = kafka::PartitionCount(options_.brokers, topic_);
    if (!partitions.ok()) {
      spdlog::warn("status projector: {}", partitions.status().ToString());
      return;
    }
    std::map<int32_t, int64_t> next;
    {
      pg::Transaction n = conn.Begin(pg::TxKind::kNone);
      for (const auto& row :
           n.ExecParams("SELECT kafka_partition, next_offset FROM status_offsets WHERE topic = $1", topic_)) {
        next[row[0].as<int32_t>()] = row[1].as<int64_t>();
      }
    }
    std::vector<kafka::PartitionOffset> assign;
    for (int32_t p = 0; p < *partitions; ++p) {
      auto it = next.find(p);
      assign.push_back({topic_, p, it == next.end() ? kafka::PartitionOffset::kBeginning : it->second});
    }
    auto consumer = kafka::Consumer::Create(options_.brokers);
    if (!consumer.ok()) {
      spdlog::error("status projector: {}", consumer.status().ToString());
      return;
    }
    if (absl::Status s = (*consumer)->Assign(assign); !s.ok()) {
      spdlog::error("status projector: {}", s.ToString());
      return;
    }
    known_regions_.clear();
    auto last_retention = std::chrono::steady_clock::time_point{};
    while (!loop_.Stopping()) {
      std::vector<kafka::Message> batch;
      auto first = (*consumer)->Poll(std::chrono::milliseconds(100));
      if (!first.ok()) {
        spdlog::warn("status projector: {}", first.status().ToString());
        return;
      }
      if (*first) {
        batch.push_back(std::move(**first));
        while (static_cast<int>(batch.size()) < options_.batch_max) {
          auto more = (*consumer)->Poll(std::chrono::milliseconds(0));
          if (!more.ok() || !*more) break;
          batch.push_back(std::move(**more));
        }
      }
      if (!batch.empty()) Fold(conn, batch);
      if (std::chrono::steady_clock::now() - last_retention > std::chrono::hours(1)) {
        Trim(conn);
        last_retention = std::chrono::steady_clock::now();
      }
    }
  }

  void Trim(pg::Session& conn) {
    pg::Transaction tx = conn.Begin();
    auto r = tx.ExecParams(
        "DELETE FROM status_history WHERE recorded_at < now() - make_interval(hours => $1)",
        static_cast<int>(options_.retention.count()));
    tx.Commit();
    if (r.affected_rows() > 0) spdlog::info("status projector: trimmed {} history rows", r.affected_rows());
  }

  bool KnownRegion(pg::Transaction& tx, const std::string& region) {
    if (known_regions_.count(region) != 0) return true;
    if (!tx.ExecParams("SELECT 1 FROM regions WHERE region = $1", region).empty()) {
      known_regions_.insert(region);
      return true;
    }
    return false;
  }

  void Skip(const kafka::Message& m, const std::string& why, std::atomic<uint64_t>& counter) {
    ++counter;
    spdlog::warn("status projector: skipping {}/{}@{} (key '{}'): {}", m.topic, m.partition, m.offset, m.key, why);
  }

  void Fold(pg::Session& conn, const std::vector<kafka::Message>& batch) {
    std::vector<Pending> events;
    std::map<int32_t, int64_t> next;
    std::map<std::string, uint64_t> desired;
    pg::Transaction tx = conn.Begin();
    for (const kafka::Message& m : batch) {
      ++consumed_;
      next[m.partition] = m.offset + 1;
      auto key = ParseStatusKey(m.key);
      if (!key) {
        Skip(m, "not {region}/{cluster} or {region}/{cluster}/{kind}/{name}", bad_);
        continue;
      }
      if (!KnownRegion(tx, key->region)) {
        // Heartbeats of a region with no version yet would repeat this every 10 s: warn
        // once per region, count every message.
        ++unknown_region_;
        if (warned_regions_.insert(key->region).second) {
          spdlog::warn("status projector: skipping {}/{}@{} (key '{}'): region {} is not in the ledger "
                       "(further messages of this region are counted, not logged)",
                       m.topic, m.partition, m.offset, m.key, key->region);
        }
        continue;
      }
      const double kafka_ts = static_cast<double>(m.timestamp_ms) / 1000.0;
      Pending p{key->region, {}};
      if (key->IsCluster()) {
        if (!m.value) {
          tx.ExecParams("DELETE FROM cluster_status WHERE region = $1 AND cluster = $2", key->region, key->cluster);
          ++applied_;
          continue;
        }
        v1::ClusterReport report;
        if (!report.ParseFromString(*m.value) || report.region() != key->region || report.cluster() != key->cluster) {
          Skip(m, "value is not a ClusterReport of this key", bad_);
          continue;
        }
        bool changed = true;
        auto prev = tx.ExecParams("SELECT report FROM cluster_status WHERE region = $1 AND cluster = $2",
                                   key->region, key->cluster);
        if (!prev.empty()) {
          v1::ClusterReport old;
          old.ParseFromString(prev[0][0].Bytes());
          changed = !SameReport(old, report);
        }
        double at = report.has_heartbeat_at() ? EpochSeconds(report.heartbeat_at()) : kafka_ts;
        const pg::Param bytes = pg::Param::Bytes(*m.value);
        tx.ExecParams(
            "INSERT INTO cluster_status (region, cluster, applied_version, heartbeat_at, report) "
            "VALUES ($1, $2, $3, to_timestamp($4), $5) ON CONFLICT (region, cluster) DO UPDATE SET "
            "applied_version = EXCLUDED.applied_version, heartbeat_at = EXCLUDED.heartbeat_at, "
            "report = EXCLUDED.report, updated_at = now()",
            key->region, key->cluster, static_cast<int64_t>(report.applied_version()), at, bytes);
        if (changed) {
          InsertHistory(tx, m, *key, at, &bytes);
          *p.event.mutable_cluster() = report;
          events.push_back(std::move(p));
        }
      } else if (!m.value) {
        tx.ExecParams("DELETE FROM resource_status WHERE region = $1 AND cluster = $2 AND kind = $3 AND name = $4",
                        key->region, key->cluster, static_cast<int>(key->kind), key->name);
        InsertHistory(tx, m, *key, kafka_ts, nullptr);
        p.event.set_resource_removed(absl::StrCat(key->cluster, "/", std::string(common::KindName(key->kind)), "/", key->name));
        events.push_back(std::move(p));
      } else {
        v1::ResourceStatus status;
        if (!status.ParseFromString(*m.value) || status.region() != key->region || status.cluster() != key->cluster ||
            status.name() != key->name) {
          Skip(m, "value is not a ResourceStatus of this key", bad_);
          continue;
        }
        double at = status.has_observed_at() ? EpochSeconds(status.observed_at()) : kafka_ts;
        const pg::Param bytes = pg::Param::Bytes(*m.value);
        tx.ExecParams(
            "INSERT INTO resource_status (region, cluster, kind, name, status) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (region, cluster, kind, name) DO UPDATE SET status = EXCLUDED.status, updated_at = now()",
            key->region, key->cluster, static_cast<int>(key->kind), key->name, bytes);
        InsertHistory(tx, m, *key, at, &bytes);
        *p.event.mutable_resource() = status;
        events.push_back(std::move(p));
      }
      ++applied_;
    }
    for (const auto& [partition, offset] : next) {
      tx.ExecParams(
          "INSERT INTO status_offsets (topic, kafka_partition, next_offset) VALUES ($1, $2, $3) "
          "ON CONFLICT (topic, kafka_partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
          topic_, partition, offset);
    }
    for (auto& e : events) {
      auto [it, inserted] = desired.try_emplace(e.region, 0);
      if (inserted) {
        auto row = tx.ExecParams("SELECT current_version FROM regions WHERE region = $1", e.region);
        if (!row.empty()) it->second = row[0][0].as<uint64_t>();
      }
      e.event.set_desired_version(it->second);
    }
    tx.Commit();
    ++transactions_;
    if (hub_ != nullptr) {
      for (const auto& e : events) hub_->Publish(e.region, e.event);
    }
  }

  void InsertHistory(pg::Transaction& tx, const kafka::Message& m, const StatusKey& key, double at,
                     const pg::Param* payload) {
    if (payload != nullptr) {
      tx.ExecParams(
          "INSERT INTO status_history (topic, kafka_partition, kafka_offset, region, cluster, kind, name, "
          "recorded_at, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8), $9) ON CONFLICT DO NOTHING",
          m.topic, m.partition, m.offset, key.region, key.cluster, static_cast<int>(key.kind), key.name, at, *payload);
    } else {
      tx.ExecParams(
          "INSERT INTO status_history (topic, kafka_partition, kafka_offset, region, cluster, kind, name, "
          "recorded_at, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8), NULL) ON CONFLICT DO NOTHING",
          m.topic, m.partition, m.offset, key.region, key.cluster, static_cast<int>(key.kind), key.name, at);
    }
  }

  const StatusProjectorOptions options_;
  StatusHub* const hub_;
  const std::string topic_;
  pg::Loop loop_{[this] {
    pg::LoopOptions o;
    o.name = "status projector";
    o.connection.uri = options_.postgres_uri;
    o.connection.schema = options_.schema;
    return o;
  }()};
  std::set<std::string> known_regions_;   // projector thread only
  std::set<std::string> warned_regions_;  // projector thread only

  std::atomic<uint64_t> consumed_{0};
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> bad_{0};
  std::atomic<uint64_t> unknown_region_{0};
  std::atomic<uint64_t> transactions_{0};
};

}  // namespace

std::string StatusTopic(const std::string& prefix) { return prefix + "-status"; }

absl::StatusOr<std::unique_ptr<StatusProjector>> StatusProjector::Create(StatusProjectorOptions options,
                                                                         StatusHub* hub) {
  if (options.postgres_uri.empty()) return absl::InvalidArgumentError("status projector: postgres_uri is required");
  if (options.brokers.empty()) return absl::InvalidArgumentError("status projector: brokers is required");
  if (options.topic_prefix.empty()) return absl::InvalidArgumentError("status projector: topic_prefix is required");
  return std::unique_ptr<StatusProjector>(new StatusProjectorImpl(std::move(options), hub));
}

}  // namespace senren::projections
