#include "projections/status_projector.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "kafka/kafka.h"
#include "pg/loop.h"
#include "pg/session.h"
#include "projections/status_fold.h"
#include "projections/status_ports.h"

namespace senren::projections {
namespace {

class StatusProjectorImpl final : public StatusProjector {
 public:
  StatusProjectorImpl(StatusProjectorOptions options, StatusHub* hub)
      : options_(std::move(options)), hub_(hub), topic_(StatusTopic(options_.topic_prefix)) {}
  ~StatusProjectorImpl() override { Stop(); }

  absl::Status Start() override {
    kafka::TopicSpec spec{
        topic_,
        options_.partitions,
        kafka::TopicSpec::kBrokerDefault,
        {{"cleanup.policy", "compact"}, {"min.compaction.lag.ms", "0"}, {"segment.ms", "3600000"}}};
    if (absl::Status s = kafka::EnsureTopic(options_.kafka, spec); !s.ok()) return s;
    loop_.Start([this](pg::Session& conn) { Follow(conn); });
    return absl::OkStatus();
  }

  void Stop() override {
    loop_.Stop();
    leader_ = false;
  }

  StatusProjectorStats Stats() const override {
    StatusProjectorStats s;
    s.consumed = counters_.consumed;
    s.applied = counters_.applied;
    s.bad_messages = counters_.bad_messages;
    s.unknown_region = counters_.unknown_region;
    s.transactions = counters_.transactions;
    s.one_by_one = counters_.one_by_one;
    s.leader = leader_;
    return s;
  }

  std::string Topic() const override { return topic_; }

 private:
  // One term: the loop holds the topic's lock on `conn`; fold from the stored offsets
  // until Stop or an error (the loop reconnects, waits for the lock and calls this again).
  void Follow(pg::Session& conn) {
    struct Unlead {
      std::atomic<bool>& leader;
      ~Unlead() { leader = false; }
    } unlead{leader_};
    auto store = NewPgStatusStore(&conn, topic_);
    auto source = NewKafkaStatusSource(options_.kafka, topic_);
    StatusFold fold(topic_, options_.batch_max, store.get(), source.get(), hub_, &counters_);
    if (absl::Status s = fold.Resume(); !s.ok()) {
      spdlog::warn("status projector: {}", s.ToString());
      return;
    }
    leader_ = true;
    spdlog::info("status projector: folding topic {}", topic_);
    auto last_retention = std::chrono::steady_clock::time_point{};
    while (!loop_.Stopping()) {
      if (absl::Status s = fold.Step(std::chrono::milliseconds(100)); !s.ok()) {
        spdlog::warn("status projector: {}; resuming from the stored offsets", s.ToString());
        return;
      }
      if (std::chrono::steady_clock::now() - last_retention > std::chrono::hours(1)) {
        auto trimmed = store->Trim(options_.retention);
        if (!trimmed.ok()) {
          spdlog::warn("status projector: {}", trimmed.status().ToString());
        } else if (*trimmed > 0) {
          spdlog::info("status projector: trimmed {} history rows", *trimmed);
        }
        last_retention = std::chrono::steady_clock::now();
      }
    }
  }

  const StatusProjectorOptions options_;
  StatusHub* const hub_;
  const std::string topic_;
  // One folding projector per topic: two would both write the read model and
  // status_offsets, each from its own position.
  pg::Loop loop_{[this] {
    pg::LoopOptions o;
    o.name = "status projector";
    o.connection.uri = options_.postgres_uri;
    o.connection.schema = options_.schema;
    o.lock_key = "senren_status_projector:" + topic_;
    return o;
  }()};
  StatusCounters counters_;
  std::atomic<bool> leader_{false};
};

}  // namespace

std::string StatusTopic(const std::string& prefix) { return prefix + "-status"; }

absl::StatusOr<std::unique_ptr<StatusProjector>> StatusProjector::Create(
    StatusProjectorOptions options, StatusHub* hub) {
  if (options.postgres_uri.empty())
    return absl::InvalidArgumentError("status projector: postgres_uri is required");
  if (options.kafka.brokers.empty())
    return absl::InvalidArgumentError("status projector: kafka.brokers is required");
  if (options.topic_prefix.empty())
    return absl::InvalidArgumentError("status projector: topic_prefix is required");
  if (options.batch_max < 1)
    return absl::InvalidArgumentError("status projector: batch_max must be positive");
  return std::unique_ptr<StatusProjector>(new StatusProjectorImpl(std::move(options), hub));
}

}  // namespace senren::projections
