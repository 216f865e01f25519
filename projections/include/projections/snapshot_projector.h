#pragma once

// SnapshotProjector: publishes every region's newest version as a complete
// senren.v1.RegionalState to the compacted topic {prefix}-state (key = region). The
// ledger is the outbox (docs/design.md §3): the projector tails it, wakes on LISTEN senren_ledger
// with a slow poll as a safety net, and records per region the version Kafka confirmed.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/snapshot_signature.h"
#include "kafka/connection.h"
#include "ledger/ledger_store.h"

namespace senren::projections {

struct SnapshotProjectorOptions {
  // libpq URI of the ledger database. Required.
  std::string postgres_uri;
  // PostgreSQL schema of the ledger. Default: "senren".
  std::string schema = "senren";
  // The Kafka cluster and the control plane's identity on it. Required (brokers).
  kafka::Connection kafka;
  // Topic prefix; the topic is {prefix}-state. Default: "senren".
  std::string topic_prefix = "senren";
  // Partitions of {prefix}-state: it is created with this many, and an existing topic with
  // fewer is grown to it at Start (never shrunk: Kafka cannot). A regional plane reads its
  // region's whole partition, so size it to at least regions / k for about k regions per
  // partition (docs/design.md §4, "Fan-out"). Default: 12.
  int partitions = 12;
  // How often the leader reads the topic's partition count. When it changed (the topic was
  // grown, by Start of another projector or by kafka-topics --alter), the term ends; the
  // next term publishes with the new count and republishes every region's newest version
  // into its new partition. Default: 10 s.
  std::chrono::milliseconds partition_check_interval = std::chrono::seconds(10);
  // Safety-net poll when no notification arrives. Default: 5 s.
  std::chrono::milliseconds poll_interval = std::chrono::seconds(5);
  // Largest RegionalState published; a larger one is refused with a logged error
  // naming region, version and size, and counted. Default: 100 MiB (the lab broker's
  // message.max.bytes).
  size_t max_message_bytes = 100u << 20;
  // A record Kafka has not acknowledged this long after it was handed to the producer
  // fails (message.timeout.ms) and is published again later. Bounds how long a leader
  // that lost its lock can still land records. Default: 5 s.
  std::chrono::milliseconds publish_timeout = std::chrono::seconds(5);
  // A leader hands records to the producer only this soon after PostgreSQL last answered
  // it (it pings when reading a state took longer). Default: 1 s.
  std::chrono::milliseconds lease = std::chrono::seconds(1);
  // Between two tries of the advisory lock. Default: 1 s.
  std::chrono::milliseconds lock_retry = std::chrono::seconds(1);
  // Signs every published state (headers senren-key-id, senren-signature); regional planes
  // given its public key reject states without a valid signature. Default: none (states
  // are published unsigned, which only planes run with --insecure-unsigned-snapshots
  // accept).
  std::shared_ptr<const common::SnapshotSigner> signer;
};

struct SnapshotProjectorStats {
  bool leader = false;
  uint64_t published = 0;       // versions confirmed by Kafka
  uint64_t publish_errors = 0;  // deliveries that failed (retried later)
  uint64_t too_large = 0;       // versions over max_message_bytes
  uint64_t wakeups = 0;         // notifications + polls handled
  uint64_t purges = 0;          // queued publishes dropped for newer ones (broker down)
  uint64_t republished = 0;     // publishes of the takeover republish (every region once per term)
  uint64_t lease_renewals = 0;  // PostgreSQL pinged before a publish: its last answer was too old
  uint64_t terms = 0;           // times this projector became the leader
  bool republished_after_takeover = false;  // the current term's takeover republish is done
  int partitions = 0;              // the partition count the current (or last) term publishes with
  uint64_t partition_changes = 0;  // terms ended because the topic's partition count changed
  uint64_t tombstones = 0;         // moved regions' old partitions given a tombstone (topic grew)
};

// Owns one thread that leads (PostgreSQL advisory lock per topic: two projectors never
// publish one topic at once), reads pending regions, publishes and records progress
// (SnapshotPublisher, on PgSnapshotProgressStore and KafkaSnapshotSink). Coalescing: a
// region with a publish in flight is not published again until Kafka answers; then only
// its newest version goes out.
//
// Hand-over: each term has a producer of its own, dropped (queued records purged) when
// the term ends; a record is produced only within `lease` of PostgreSQL's last answer
// and fails after `publish_timeout`. So `lease + publish_timeout` after a new leader got
// the lock, no record of the old one can land any more; then the new leader publishes
// every region's newest version once again, and the topic's last value per region is the
// newest.
//
// Partitions: each term publishes into PartitionForKey(region, the count it read); when
// the count grows (Start with more `partitions`, or from outside) the next term republishes
// every region into its new partition and, once that is confirmed, a tombstone under the
// region into its old one (docs/design.md §4, Fan-out).
//
// Start/Stop from one thread; Stats is thread-safe.
class SnapshotProjector {
 public:
  // store materializes versions (not owned; outlives the projector).
  static absl::StatusOr<std::unique_ptr<SnapshotProjector>> Create(SnapshotProjectorOptions options,
                                                                   ledger::LedgerStore* store);
  virtual ~SnapshotProjector() = default;

  // Creates {prefix}-state when missing (compacted, zstd, large messages), grows an
  // existing one with fewer than `partitions` (a refusal, e.g. no Alter ACL, is logged and
  // the topic's count kept) and starts the thread. UNAVAILABLE when Kafka cannot be reached to
  // create the topic; the caller may retry (serve retries in the background).
  virtual absl::Status Start() = 0;
  // Stops the thread; in-flight records are flushed for up to 5 s.
  virtual void Stop() = 0;
  virtual SnapshotProjectorStats Stats() const = 0;
  virtual std::string Topic() const = 0;
};

// The Kafka topic of the complete regional states: "{prefix}-state".
std::string StateTopic(const std::string& prefix);

}  // namespace senren::projections
