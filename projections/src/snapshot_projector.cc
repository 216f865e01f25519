#include "projections/snapshot_projector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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
    // An existing topic keeps its count unless it has fewer than asked: growing moves most
    // regions to another partition, and the first term republishes every region into it.
    absl::StatusOr<int> count = kafka::PartitionCount(options_.kafka, topic_);
    if (!count.ok()) return count.status();
    if (*count < options_.partitions) {
      absl::StatusOr<int> grown =
          kafka::GrowPartitions(options_.kafka, topic_, options_.partitions);
      if (grown.ok()) {
        spdlog::warn("snapshot projector: topic {} grown from {} to {} partitions; every region "
                     "is republished into its new partition",
                     topic_, *count, *grown);
        last_partitions_ = *count;
        count = grown;
      } else if (absl::IsUnavailable(grown.status())) {
        return grown.status();
      } else {
        spdlog::error("snapshot projector: topic {} has {} partitions, {} asked; it could not be "
                      "grown ({}); publishing with {}",
                      topic_, *count, options_.partitions, grown.status().ToString(), *count);
      }
    } else if (*count > options_.partitions) {
      spdlog::info("snapshot projector: topic {} has {} partitions ({} asked; partitions are never "
                   "taken away)",
                   topic_, *count, options_.partitions);
    }
    // A producer that cannot be made with these settings fails Start, not every term. It
    // serves the first term: it connects while the loop waits for the lock, so the first
    // publish does not wait for the connection.
    auto sink = NewSink(*count);
    if (!sink.ok()) return sink.status();
    first_sink_ = std::move(*sink);
    first_sink_partitions_ = *count;
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
    s.partitions = partitions_;
    s.partition_changes = partition_changes_;
    s.tombstones = counters_.tombstones;
    return s;
  }

  std::string Topic() const override { return topic_; }

 private:
  // A producer that puts each region in PartitionForKey(region, partitions), the partition
  // regional planes compute from the same count.
  absl::StatusOr<std::unique_ptr<SnapshotSink>> NewSink(int partitions) {
    return NewKafkaSnapshotSink(
        options_.kafka, topic_,
        {{"message.max.bytes", std::to_string(options_.max_message_bytes + (1u << 20))},
         {"message.timeout.ms", std::to_string(options_.publish_timeout.count())}},
        options_.signer, partitions);
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
    // The term publishes with the count the brokers show now; a later change of it ends the
    // term (below), so no record of this term goes by an older count once it is noticed.
    absl::StatusOr<int> partitions = kafka::PartitionCount(options_.kafka, topic_);
    if (!partitions.ok()) {
      spdlog::error("snapshot projector: reading the partition count of {}: {}", topic_,
                    partitions.status().ToString());
      return;
    }
    partitions_ = *partitions;
    absl::StatusOr<std::unique_ptr<SnapshotSink>> sink =
        first_sink_ != nullptr && first_sink_partitions_ == *partitions ? std::move(first_sink_)
                                                                        : NewSink(*partitions);
    first_sink_.reset();
    if (!sink.ok()) {
      spdlog::error("snapshot projector: {}", sink.status().ToString());
      return;
    }
    SnapshotPublisherOptions po;
    po.topic = topic_;
    po.max_message_bytes = options_.max_message_bytes;
    po.lease = options_.lease;
    po.republish_after = options_.publish_timeout + options_.lease;
    po.partitions = *partitions;
    // The count changed since the last term of this process (or Start grew the topic):
    // regions that moved get a tombstone in their old partition, until a term has
    // republished every region by the new count.
    if (last_partitions_ > 0 && last_partitions_ != *partitions) {
      clear_partitions_ = last_partitions_;
    }
    last_partitions_ = *partitions;
    po.previous_partitions = clear_partitions_;
    publisher =
        std::make_unique<SnapshotPublisher>(po, progress.get(), store_, sink->get(), &counters_);
    leader_ = true;
    ++terms_;
    spdlog::info("snapshot projector: leading topic {} ({} partitions); every region is "
                 "published again in {} ms; {}",
                 topic_, *partitions, po.republish_after.count(),
                 options_.signer != nullptr
                     ? "states signed with key " + options_.signer->key_id()
                     : std::string("states published UNSIGNED (no signing key)"));
    // The payload (region) is not needed: one query finds every region with unpublished
    // versions.
    conn.Listen("senren_ledger", [](const std::string&) {});
    auto next_check = std::chrono::steady_clock::now() + options_.partition_check_interval;
    while (!loop_.Stopping()) {
      if (std::chrono::steady_clock::now() >= next_check) {
        next_check = std::chrono::steady_clock::now() + options_.partition_check_interval;
        absl::StatusOr<int> now = kafka::PartitionCount(options_.kafka, topic_);
        if (now.ok() && *now != *partitions) {
          // Most regions map to another partition now, where planes look for them. The next
          // term publishes by the new count, and its takeover republish puts every region's
          // newest version in its new partition.
          ++partition_changes_;
          spdlog::warn("snapshot projector: topic {} has {} partitions now, not {}; leaving the "
                       "lead so that the next term publishes every region into its new partition",
                       topic_, *now, *partitions);
          (*sink)->Flush(std::chrono::seconds(5)).IgnoreError();
          publisher->RecordConfirmed().IgnoreError();
          return;
        }
        if (!now.ok()) {
          spdlog::debug("snapshot projector: reading the partition count of {}: {}", topic_,
                        now.status().ToString());
        }
      }
      if (absl::Status s = publisher->Step(); !s.ok()) {
        spdlog::warn("snapshot projector: {}; leaving the lead", s.ToString());
        return;
      }
      republished_ = publisher->Republished();
      // Every region's version is confirmed in its partition under this count, and the moved
      // ones' old copies have their tombstones.
      if (republished_ && publisher->InFlight() == 0) clear_partitions_ = 0;
      ++wakeups_;
      conn.AwaitNotifications(
          std::min(publisher->NextWait(options_.poll_interval), options_.partition_check_interval));
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
  int first_sink_partitions_ = 0;
  std::atomic<int> partitions_{0};
  // Loop thread only (Start sets last_partitions_ before the thread starts): the count the
  // last term published by, and the older count whose moved regions' copies still need a
  // tombstone (0: none).
  int last_partitions_ = 0;
  int clear_partitions_ = 0;
  std::atomic<uint64_t> partition_changes_{0};
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
  if (options.partitions < 1 || options.partitions > 1000000) {
    return absl::InvalidArgumentError(
        "snapshot projector: partitions must be between 1 and 1000000");
  }
  if (options.partition_check_interval <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError(
        "snapshot projector: partition_check_interval must be positive");
  }
  return std::unique_ptr<SnapshotProjector>(new SnapshotProjectorImpl(std::move(options), store));
}

}  // namespace senren::projections
