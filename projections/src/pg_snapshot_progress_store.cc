// SnapshotProgressStore on PostgreSQL: regions.current_version against
// snapshot_progress.published_version (migration 0002).
#include "pg/session.h"
#include "projections/snapshot_ports.h"

namespace senren::projections {
namespace {

class PgSnapshotProgressStore final : public SnapshotProgressStore {
 public:
  PgSnapshotProgressStore(pg::Session* session, std::string topic)
      : session_(session), topic_(std::move(topic)) {}

  absl::StatusOr<std::vector<PendingRegion>> Pending(bool all) override {
    std::vector<PendingRegion> pending;
    absl::Status s =
        session_->Run("read pending regions", "", pg::TxKind::kNone, [&](pg::Transaction& tx) {
          auto rows =
              all ? tx.Exec("SELECT region, current_version FROM regions WHERE current_version > 0")
                  : tx.ExecParams("SELECT r.region, r.current_version FROM regions r LEFT JOIN "
                                  "snapshot_progress p "
                                  "ON p.topic = $1 AND p.region = r.region "
                                  "WHERE r.current_version > COALESCE(p.published_version, 0)",
                                  topic_);
          for (const auto& row : rows)
            pending.push_back({row[0].as<std::string>(), row[1].as<uint64_t>()});
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    return pending;
  }

  absl::Status RecordPublished(const std::string& region, uint64_t version, int32_t partition,
                               int64_t offset) override {
    return session_->Run(
        "record snapshot progress", region, pg::TxKind::kReadWrite, [&](pg::Transaction& tx) {
          tx.ExecParams("INSERT INTO snapshot_progress (topic, region, published_version, "
                        "kafka_partition, kafka_offset) "
                        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (topic, region) DO UPDATE SET "
                        "published_version = EXCLUDED.published_version, kafka_partition = "
                        "EXCLUDED.kafka_partition, "
                        "kafka_offset = EXCLUDED.kafka_offset, published_at = now() "
                        "WHERE snapshot_progress.published_version < EXCLUDED.published_version",
                        topic_, region, static_cast<int64_t>(version), partition, offset);
          return absl::OkStatus();
        });
  }

  absl::Status Ping() override {
    return session_->Run("ping", "", pg::TxKind::kNone, [](pg::Transaction& tx) {
      tx.Exec("SELECT 1");
      return absl::OkStatus();
    });
  }

 private:
  pg::Session* const session_;
  const std::string topic_;
};

}  // namespace

std::unique_ptr<SnapshotProgressStore> NewPgSnapshotProgressStore(pg::Session* session,
                                                                  std::string topic) {
  return std::make_unique<PgSnapshotProgressStore>(session, std::move(topic));
}

}  // namespace senren::projections
