#pragma once

// The snapshot projector's two sides behind narrow interfaces, so its logic
// (SnapshotPublisher) is tested with fakes (projections/testing/fakes.h):
//   SnapshotProgressStore  which regions are behind, and what Kafka confirmed
//                          (PgSnapshotProgressStore: snapshot_progress on the leader's session)
//   SnapshotSink           where a region's state goes (KafkaSnapshotSink: {prefix}-state)
// The content of a version comes from ledger::LedgerStore::GetState.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kafka/kafka.h"

namespace senren::pg {
class Session;
}
namespace senren::common {
class SnapshotSigner;
}

namespace senren::projections {

// A region, its newest version and the version recorded as published (0: none).
struct PendingRegion {
  std::string region;
  uint64_t version = 0;
  uint64_t published = 0;

  bool operator==(const PendingRegion&) const = default;
};

// Progress of one topic, per region. Used by one thread (the leader's).
class SnapshotProgressStore {
 public:
  virtual ~SnapshotProgressStore() = default;

  // Regions whose newest version is above the one recorded as published; with `all`,
  // every region with a version (what a new leader republishes). Errors: UNAVAILABLE
  // (connection lost: the leader's term ends), others from the SQLSTATE table.
  virtual absl::StatusOr<std::vector<PendingRegion>> Pending(bool all) = 0;

  // Records that Kafka confirmed `version` of `region` at partition/offset. Never moves a
  // region's progress backwards. Errors as Pending.
  virtual absl::Status RecordPublished(const std::string& region, uint64_t version,
                                       int32_t partition, int64_t offset) = 0;

  // One round trip: OK while the store (the leader's session) answers. Errors as Pending.
  virtual absl::Status Ping() = 0;
};

// One complete RegionalState to publish, key = region.
struct SnapshotRecord {
  std::string region;
  uint64_t version = 0;
  std::string bytes;        // serialized senren.v1.RegionalState
  std::string traceparent;  // empty when the version has none
};

// Where states go. Publish is called from one thread; on_delivery may run on another.
class SnapshotSink {
 public:
  using OnDelivery = std::function<void(const kafka::Delivery&)>;
  virtual ~SnapshotSink() = default;

  // Queues `record`; on_delivery runs exactly once with the broker's answer (OK with the
  // partition and offset), the failure (e.g. UNAVAILABLE after the publish timeout) or
  // CANCELLED when purged. Errors (on_delivery then never runs): INVALID_ARGUMENT (too
  // large), RESOURCE_EXHAUSTED (local queue full), UNAVAILABLE (producer unusable).
  virtual absl::Status Publish(const SnapshotRecord& record, OnDelivery on_delivery) = 0;

  // Queues a tombstone under `region` into `partition`: the region's last record there is
  // compacted away once the region lives in another partition (the topic grew).
  // on_delivery as Publish. Regional planes never delete anything for a tombstone.
  // Default: UNIMPLEMENTED (a sink that cannot send one; nothing is lost but the cleanup).
  virtual absl::Status PublishTombstone(const std::string& /*region*/, int32_t /*partition*/,
                                        OnDelivery /*on_delivery*/) {
    return absl::UnimplementedError("this sink publishes no tombstones");
  }

  // Drops the records not yet sent (their on_delivery runs with CANCELLED).
  virtual void PurgeQueued() = 0;

  // Waits up to `timeout` for every queued record's answer. DEADLINE_EXCEEDED on timeout.
  virtual absl::Status Flush(std::chrono::milliseconds timeout) = 0;
};

// snapshot_progress (migration 0002) on `session`: the leader's own session, the one that
// holds the topic's advisory lock, so a leader that lost its lock cannot record anything.
std::unique_ptr<SnapshotProgressStore> NewPgSnapshotProgressStore(pg::Session* session,
                                                                  std::string topic);

// A Kafka producer on `topic`, headers senren-version, senren-region and traceparent;
// with a `signer`, also senren-key-id and senren-signature (Ed25519 over the value's
// bytes, common/snapshot_signature.h). `config` overrides the producer's settings
// (message.max.bytes, message.timeout.ms). With `partitions` > 0 every record goes to
// kafka::PartitionForKey(region, partitions), explicitly: a partition the producer's
// metadata does not show fails the publish (NOT_FOUND) instead of landing in another
// partition. 0: the producer's partitioner. Destroying it drops what was not sent and waits
// up to 5 s for what is on the wire.
absl::StatusOr<std::unique_ptr<SnapshotSink>> NewKafkaSnapshotSink(
    const kafka::Connection& connection, std::string topic, const kafka::Config& config,
    std::shared_ptr<const common::SnapshotSigner> signer = nullptr, int partitions = 0);

}  // namespace senren::projections
