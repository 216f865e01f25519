#include "projections/snapshot_projector.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

#include "kafka/kafka.h"
#include "pg/loop.h"
#include "pg/session.h"
#include "projections/snapshot_ports.h"
#include "projections/snapshot_publisher.h"

namespace senren::projections {
namespace {

class SnapshotProjectorImpl final : public SnapshotProjector {
 public:
  SnapshotProjectorImpl(SnapshotProjectorOptions options, ledger::LedgerStore* store)
      : options_(std::move(options)), store_(store), topic_(StateTopic(options_.topic_prefix)) {}

  ~SnapshotProjectorImpl() override { Stop(); }

  absl::Status Start() override {
    kafka::TopicSpec spec{
        topic_,
        options_.partitions,
        kafka::TopicSpec::kBrokerDefault,
        {{"cleanup.policy", "compact"},
         {"max.message.bytes", std::to_string(options_.max_message_bytes + (1u << 20))},
         {"min.compaction.lag.ms", "0"},
         {"segment.ms", "3600000"}}};
    if (absl::Status s = kafka::EnsureTopic(options_.kafka, spec); !s.ok()) return s;
    // A producer that cannot be made with these settings fails Start, not every term. It
    // serves the first term: it connects while the loop waits for the lock, so the first
    // publish does not wait for the connection.
    auto sink = NewSink();
    if (!sink.ok()) return sink.status();
    first_sink_ = std::move(*sink);
    loop_.Start([this](pg::Session& session) { Lead(session); });
    return absl::OkStatus();
  }

  void Stop() override {
    loop_.Stop();
    leader_ = false;
    first_sink_.reset();
  }

  SnapshotProjectorStats Stats() const override {
    SnapshotProjectorStats s;
    s.leader = leader_;
    s.published = counters_.published;
    s.publish_errors = counters_.publish_errors;
    s.too_large = counters_.too_large;
    s.wakeups = wakeups_;
    s.purges = counters_.purges;
    s.republished = counters_.republished;
    s.lease_renewals = counters_.lease_renewals;
    s.terms = terms_;
    s.republished_after_takeover = republished_;
    return s;
  }

  std::string Topic() const override { return topic_; }

 private:
  absl::StatusOr<std::unique_ptr<SnapshotSink>> NewSink() {
    return NewKafkaSnapshotSink(
        options_.kafka, topic_,
        {{"message.max.bytes", std::to_string(options_.max_message_bytes + (1u << 20))},
         {"message.timeout.ms", std::to_string(options_.publish_timeout.count())}},
        options_.signer);
  }

  // One term: the loop holds the topic's advisory lock on `conn`, so publish until Stop
  // or the connection is lost (the loop reconnects, waits for the lock again and calls
  // this again).
  void Lead(pg::Session& conn) {
    struct Unlead {
      std::atomic<bool>& leader;
      std::atomic<bool>& republished;
      ~Unlead() {
        leader = false;
        republished = false;
      }
    } unlead{leader_, republished_};
    auto progress = NewPgSnapshotProgressStore(&conn, topic_);
    // Declared before the sink so it is destroyed after it: the sink's last delivery
    // callbacks (purged records) refer to the publisher.
    std::unique_ptr<SnapshotPublisher> publisher;
    absl::StatusOr<std::unique_ptr<SnapshotSink>> sink =
        first_sink_ != nullptr ? std::move(first_sink_) : NewSink();
    if (!sink.ok()) {
      spdlog::error("snapshot projector: {}", sink.status().ToString());
      return;
    }
    SnapshotPublisherOptions po;
    po.topic = topic_;
    po.max_message_bytes = options_.max_message_bytes;
    po.lease = options_.lease;
    po.republish_after = options_.publish_timeout + options_.lease;
    publisher =
        std::make_unique<SnapshotPublisher>(po, progress.get(), store_, sink->get(), &counters_);
    leader_ = true;
    ++terms_;
    spdlog::info("snapshot projector: leading topic {}; every region is published again in {} "
                 "ms; {}",
                 topic_, po.republish_after.count(),
                 options_.signer != nullptr
                     ? "states signed with key " + options_.signer->key_id()
                     : std::string("states published UNSIGNED (no signing key)"));
    // The payload (region) is not needed: one query finds every region with unpublished
    // versions.
    conn.Listen("senren_ledger", [](const std::string&) {});
    while (!loop_.Stopping()) {
      if (absl::Status s = publisher->Step(); !s.ok()) {
        spdlog::warn("snapshot projector: {}; leaving the lead", s.ToString());
        return;
      }
      republished_ = publisher->Republished();
      ++wakeups_;
      conn.AwaitNotifications(publisher->NextWait(options_.poll_interval));
    }
    // Still holding the lock: let what is in flight land and record it.
    (*sink)->Flush(std::chrono::seconds(5)).IgnoreError();
    publisher->RecordConfirmed().IgnoreError();
  }

  const SnapshotProjectorOptions options_;
  ledger::LedgerStore* const store_;
  const std::string topic_;
  // Leads through the topic's advisory lock: two projectors never publish one topic at
  // once, and a standby takes over when the leader's connection goes.
  pg::Loop loop_{[this] {
    pg::LoopOptions o;
    o.name = "snapshot projector";
    o.connection.uri = options_.postgres_uri;
    o.connection.schema = options_.schema;
    o.lock_key = "senren_snapshot_projector:" + topic_;
    o.retry_interval = options_.lock_retry;
    return o;
  }()};

  // Made by Start, taken by the first term (the loop's thread starts after it is set).
  std::unique_ptr<SnapshotSink> first_sink_;
  SnapshotCounters counters_;
  std::atomic<bool> leader_{false};
  std::atomic<bool> republished_{false};
  std::atomic<uint64_t> wakeups_{0};
  std::atomic<uint64_t> terms_{0};
};

}  // namespace

std::string StateTopic(const std::string& prefix) { return prefix + "-state"; }

absl::StatusOr<std::unique_ptr<SnapshotProjector>> SnapshotProjector::Create(
    SnapshotProjectorOptions options, ledger::LedgerStore* store) {
  if (options.postgres_uri.empty())
    return absl::InvalidArgumentError("snapshot projector: postgres_uri is required");
  if (options.kafka.brokers.empty())
    return absl::InvalidArgumentError("snapshot projector: kafka.brokers is required");
  if (options.topic_prefix.empty())
    return absl::InvalidArgumentError("snapshot projector: topic_prefix is required");
  if (store == nullptr)
    return absl::InvalidArgumentError("snapshot projector: a ledger store is required");
  if (options.publish_timeout <= std::chrono::milliseconds(0) ||
      options.lease <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError(
        "snapshot projector: publish_timeout and lease must be positive");
  }
  return std::unique_ptr<SnapshotProjector>(new SnapshotProjectorImpl(std::move(options), store));
}

}  // namespace senren::projections
