#include "projections/snapshot_projector.h"

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
#include "pg/loop.h"
#include "pg/session.h"

namespace senren::projections {
namespace {

using Clock = std::chrono::steady_clock;

struct Completion {
  std::string region;
  uint64_t version = 0;
  kafka::Delivery delivery;
};

class SnapshotProjectorImpl final : public SnapshotProjector {
 public:
  SnapshotProjectorImpl(SnapshotProjectorOptions options, ledger::LedgerStore* store)
      : options_(std::move(options)), store_(store), topic_(StateTopic(options_.topic_prefix)) {}

  ~SnapshotProjectorImpl() override { Stop(); }

  absl::Status Start() override {
    kafka::TopicSpec spec{topic_, options_.partitions, 1,
                          {{"cleanup.policy", "compact"},
                           {"max.message.bytes", std::to_string(options_.max_message_bytes + (1u << 20))},
                           {"min.compaction.lag.ms", "0"},
                           {"segment.ms", "3600000"}}};
    if (absl::Status s = kafka::EnsureTopic(options_.brokers, spec); !s.ok()) return s;
    auto producer = kafka::Producer::Create(
        options_.brokers, {{"message.max.bytes", std::to_string(options_.max_message_bytes + (1u << 20))}});
    if (!producer.ok()) return producer.status();
    producer_ = std::move(*producer);
    loop_.Start([this](pg::Session& session) { Lead(session); });
    return absl::OkStatus();
  }

  void Stop() override {
    loop_.Stop();
    leader_ = false;
    if (producer_) producer_->Flush(std::chrono::seconds(5)).IgnoreError();
    producer_.reset();
  }

  SnapshotProjectorStats Stats() const override {
    SnapshotProjectorStats s;
    s.leader = leader_;
    s.published = published_;
    s.publish_errors = publish_errors_;
    s.too_large = too_large_;
    s.wakeups = wakeups_;
    s.purges = purges_;
    return s;
  }

  std::string Topic() const override { return topic_; }

 private:
  // One connection's worth of leading: the loop holds the topic's advisory lock, so
  // publish until Stop or the connection is lost (the loop reconnects, waits for the
  // lock again and calls this again).
  void Lead(pg::Session& conn) {
    struct Unlead {
      std::atomic<bool>& leader;
      ~Unlead() { leader = false; }
    } unlead{leader_};
    leader_ = true;
    spdlog::info("snapshot projector: leading topic {}", topic_);
    // The payload (region) is not needed: one query finds every region with unpublished
    // versions.
    conn.Listen("senren_ledger", [](const std::string&) {});
    while (!loop_.Stopping()) {
      RecordCompletions(conn);
      PublishPending(conn);
      ++wakeups_;
      // Deliveries do not wake the connection: look again soon while any is in flight
      // (every 5 ms while Kafka answers quickly, every 100 ms while it does not).
      auto wait = options_.poll_interval;
      for (const auto& [region, f] : inflight_) {
        auto w = Clock::now() - f.since < std::chrono::milliseconds(100) ? std::chrono::milliseconds(5)
                                                                        : std::chrono::milliseconds(100);
        wait = std::min<std::chrono::milliseconds>(wait, w);
      }
      conn.AwaitNotifications(wait);
    }
  }

  void RecordCompletions(pg::Session& conn) {
    std::vector<Completion> done;
    {
      std::lock_guard lock(completions_mu_);
      done.swap(completions_);
    }
    for (const Completion& c : done) {
      inflight_.erase(c.region);
      if (absl::IsCancelled(c.delivery.status)) continue;  // purged for a newer state
      if (!c.delivery.status.ok()) {
        ++publish_errors_;
        spdlog::warn("snapshot projector: publishing {} version {} failed: {}; will retry", c.region, c.version,
                     c.delivery.status.ToString());
        continue;
      }
      pg::Transaction tx = conn.Begin();
      tx.ExecParams(
          "INSERT INTO snapshot_progress (topic, region, published_version, kafka_partition, kafka_offset) "
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (topic, region) DO UPDATE SET "
          "published_version = EXCLUDED.published_version, kafka_partition = EXCLUDED.kafka_partition, "
          "kafka_offset = EXCLUDED.kafka_offset, published_at = now() "
          "WHERE snapshot_progress.published_version < EXCLUDED.published_version",
          topic_, c.region, static_cast<int64_t>(c.version), c.delivery.partition, c.delivery.offset);
      tx.Commit();
      ++published_;
      spdlog::debug("snapshot projector: {} version {} at {}/{}", c.region, c.version, c.delivery.partition,
                    c.delivery.offset);
    }
  }

  void PublishPending(pg::Session& conn) {
    std::vector<std::pair<std::string, uint64_t>> pending;
    {
      pg::Transaction n = conn.Begin(pg::TxKind::kNone);
      auto rows = n.ExecParams(
          "SELECT r.region, r.current_version FROM regions r LEFT JOIN snapshot_progress p "
          "ON p.topic = $1 AND p.region = r.region "
          "WHERE r.current_version > COALESCE(p.published_version, 0)",
          topic_);
      for (const auto& row : rows) pending.emplace_back(row[0].as<std::string>(), row[1].as<uint64_t>());
    }
    bool purge = false;
    for (const auto& [region, version] : pending) {
      if (auto it = inflight_.find(region); it != inflight_.end()) {
        // Coalesce: the newest goes out after this one lands. If Kafka has not answered
        // for a while (broker down), drop what waits in the producer's queue, so only
        // each region's newest state goes out when the broker is back.
        if (version > it->second.version && Clock::now() - it->second.since > kStalePublish) purge = true;
        continue;
      }
      if (too_large_seen_.count({region, version}) != 0) continue;
      auto state = store_->GetState(region, version);
      if (!state.ok()) {
        spdlog::warn("snapshot projector: reading {} version {}: {}", region, version, state.status().ToString());
        continue;
      }
      std::string bytes;
      state->SerializeToString(&bytes);
      if (bytes.size() > options_.max_message_bytes) {
        ++too_large_;
        too_large_seen_.insert({region, version});
        spdlog::error(
            "snapshot projector: region {} version {} is {} bytes, over the {} byte limit of topic {}; "
            "it is not published (regional planes keep the previous version)",
            region, version, bytes.size(), options_.max_message_bytes, topic_);
        continue;
      }
      kafka::Record record{topic_, region, std::move(bytes),
                           {{"senren-version", std::to_string(version)}, {"senren-region", region}}};
      if (!state->traceparent().empty()) record.headers.push_back({"traceparent", state->traceparent()});
      absl::Status s = producer_->Produce(record, [this, region = region, version = version](const kafka::Delivery& d) {
        std::lock_guard lock(completions_mu_);
        completions_.push_back({region, version, d});
      });
      if (!s.ok()) {
        ++publish_errors_;
        spdlog::warn("snapshot projector: producing {} version {}: {}", region, version, s.ToString());
        continue;
      }
      inflight_[region] = {version, Clock::now()};
    }
    if (purge) {
      ++purges_;
      spdlog::warn("snapshot projector: Kafka has not confirmed a publish for {} ms; dropping queued publishes "
                   "so each region's newest state goes out when it answers",
                   std::chrono::duration_cast<std::chrono::milliseconds>(kStalePublish).count());
      producer_->PurgeQueued();
    }
  }

  const SnapshotProjectorOptions options_;
  ledger::LedgerStore* const store_;
  const std::string topic_;
  std::unique_ptr<kafka::Producer> producer_;
  // Leads through the topic's advisory lock: two projectors never publish one topic at
  // once, and a standby takes over when the leader's connection goes.
  pg::Loop loop_{[this] {
    pg::LoopOptions o;
    o.name = "snapshot projector";
    o.connection.uri = options_.postgres_uri;
    o.connection.schema = options_.schema;
    o.lock_key = "senren_snapshot_projector:" + topic_;
    return o;
  }()};

  std::mutex completions_mu_;
  std::vector<Completion> completions_;  // guarded by completions_mu_

  // Projector thread only.
  struct InFlight {
    uint64_t version = 0;
    Clock::time_point since;
  };
  static constexpr std::chrono::milliseconds kStalePublish{1000};
  std::map<std::string, InFlight> inflight_;
  std::set<std::pair<std::string, uint64_t>> too_large_seen_;

  std::atomic<bool> leader_{false};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> publish_errors_{0};
  std::atomic<uint64_t> too_large_{0};
  std::atomic<uint64_t> wakeups_{0};
  std::atomic<uint64_t> purges_{0};
};

}  // namespace

std::string StateTopic(const std::string& prefix) { return prefix + "-state"; }

absl::StatusOr<std::unique_ptr<SnapshotProjector>> SnapshotProjector::Create(SnapshotProjectorOptions options,
                                                                             ledger::LedgerStore* store) {
  if (options.postgres_uri.empty()) return absl::InvalidArgumentError("snapshot projector: postgres_uri is required");
  if (options.brokers.empty()) return absl::InvalidArgumentError("snapshot projector: brokers is required");
  if (options.topic_prefix.empty()) return absl::InvalidArgumentError("snapshot projector: topic_prefix is required");
  if (store == nullptr) return absl::InvalidArgumentError("snapshot projector: a ledger store is required");
  return std::unique_ptr<SnapshotProjector>(new SnapshotProjectorImpl(std::move(options), store));
}

}  // namespace senren::projections
