#pragma once

// Where the plane's desired states come from: the region's partition of {prefix}-state.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/snapshot_signature.h"
#include "kafka/kafka.h"
#include "senren/v1/state.pb.h"

namespace senren::regional::plane {

// One snapshot of the plane's region and where it was read.
struct SnapshotMessage {
  v1::RegionalState state;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string traceparent;  // header "traceparent" (or the state's own field)
  // The record's timestamp (its producer's CreateTime, ms since the epoch; 0 = none): with
  // the consumption log line, when the snapshot was published (tools/bench e2e's hops).
  int64_t produced_at_ms = 0;
};

// Where a snapshot was read: the plane resumes after it.
struct SourcePosition {
  int32_t partition = -1;
  int64_t offset = -1;
};

// Snapshots under the region's key refused for their signature (unsigned, an untrusted
// key, a signature that does not verify): none of them reaches the plane.
struct SnapshotRejections {
  int64_t total = 0;
  // By common::SignatureVerdictName: "unsigned", "unknown_key", "bad_signature".
  std::map<std::string, int64_t> by_verdict;
  // The last one: where it was, the version it claimed and why it was refused.
  std::string last;
};

// A stream of the region's snapshots. Not thread-safe: one thread calls Start, Next and
// CaughtUp.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;

  // Positions the stream after `after` (where the last applied snapshot was read), or at
  // the beginning of the region's partition when nullopt. A position in another partition
  // than the region maps to now (the topic's partition count changed), or past the
  // partition's end (the topic was recreated), is logged and treated as missing. Also
  // takes the partition's end (high watermark) as the catch-up target of CaughtUp.
  // NOT_FOUND while the topic does not exist yet, UNAVAILABLE when no broker answers: the
  // caller retries.
  virtual absl::Status Start(std::optional<SourcePosition> after) = 0;

  // True once the stream has gone past every message the partition held when Start last
  // succeeded. Until then older versions of the region may still follow, so the plane
  // applies nothing it reads: only the newest snapshot of the backlog counts.
  virtual bool CaughtUp() const = 0;

  // The next snapshot of the region, or nullopt when none arrived within `timeout`.
  // Messages of other regions sharing the partition are passed over; a message under the
  // region's key that does not parse or names another region is counted in
  // bad_messages(), logged once with its offset and skipped. A tombstone under the key
  // deletes nothing and is not counted: the projector writes one where the region's record
  // was before the topic grew, so the partition count is read again at once. ABORTED when
  // the region's key maps to another partition now (the partition count grew): the caller
  // starts the source again (Start reads the new partition to its end before anything
  // counts, and a position in the old partition is treated as missing).
  virtual absl::StatusOr<std::optional<SnapshotMessage>> Next(
      std::chrono::milliseconds timeout) = 0;

  virtual int64_t bad_messages() const = 0;

  // The snapshots refused for their signature so far (none when nothing is verified).
  // Thread-safe.
  virtual SnapshotRejections rejections() const = 0;
};

// The Kafka implementation: assigns only the partition the region key maps to (the
// producer's murmur2 partitioner over the topic's partition count).
class KafkaSnapshotSource : public SnapshotSource {
 public:
  KafkaSnapshotSource(kafka::Connection connection, std::string topic, std::string region);

  absl::Status Start(std::optional<SourcePosition> after) override;
  absl::StatusOr<std::optional<SnapshotMessage>> Next(std::chrono::milliseconds timeout) override;
  bool CaughtUp() const override { return position_ >= catch_up_end_; }
  int64_t bad_messages() const override { return bad_.load(); }
  SnapshotRejections rejections() const override;

  // From now on every message under the region's key must carry a valid signature by one
  // of `verifier`'s keys (headers senren-key-id, senren-signature over the value's exact
  // bytes) before anything of it is parsed; the others are counted in rejections(),
  // logged with their offset and skipped, as if they were not on the topic. Call before
  // Start. Without it (the default) every message is taken unverified: what
  // senren-regional does only with --insecure-unsigned-snapshots.
  void RequireSignatures(std::shared_ptr<const common::SnapshotVerifier> verifier) {
    verifier_ = std::move(verifier);
  }

  // How often Next asks the brokers for the topic's partition count (over the consumer's
  // own connection), to follow the region to its new partition when the topic grew. Call
  // before Start. Default: 30 s.
  void SetPartitionCheckInterval(std::chrono::milliseconds interval) {
    partition_check_interval_ = interval;
  }

  int32_t partition() const { return partition_.load(); }
  // What the source read from Kafka since it was made, over every Start: records of the
  // partition (every region's that shares it), and the bytes of their keys and values.
  // Thread-safe: read by metrics and benchmarks.
  int64_t records_read() const { return records_read_.load(); }
  int64_t bytes_read() const { return bytes_read_.load(); }
  // Messages of the partition not read yet, up to its end when Start last succeeded (the
  // consumer's lag behind that end); 0 once caught up. Thread-safe: read by metrics.
  int64_t Lag() const { return std::max<int64_t>(0, catch_up_end_.load() - position_.load()); }

 private:
  // ABORTED when the region's key maps to another partition than partition_ now; asks the
  // brokers at most once per partition_check_interval_.
  absl::Status CheckPartition();

  const kafka::Connection connection_;
  const std::string topic_;
  const std::string region_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::atomic<int32_t> partition_{-1};
  int partition_count_ = 0;
  std::chrono::milliseconds partition_check_interval_ = std::chrono::seconds(30);
  std::chrono::steady_clock::time_point next_partition_check_;
  std::atomic<int64_t> records_read_{0};
  std::atomic<int64_t> bytes_read_{0};
  // Next offset to read, and the partition's high watermark when Start ran. Senren's
  // producers are idempotent, not transactional, so every offset below the watermark is a
  // record the consumer sees (no control records to skip).
  std::atomic<int64_t> position_{0};
  std::atomic<int64_t> catch_up_end_{0};
  std::atomic<int64_t> bad_{0};
  std::shared_ptr<const common::SnapshotVerifier> verifier_;
  mutable absl::Mutex rejections_mu_;
  SnapshotRejections rejections_ ABSL_GUARDED_BY(rejections_mu_);
};

// The signature check of a message under the region's key, and what the plane says about
// a refused one: "the snapshot at <topic>/<partition>@<offset> (version N, as its header
// claims) was refused: <why>".
common::SignatureCheck CheckSnapshotSignature(const kafka::Message& message,
                                              const common::SnapshotVerifier& verifier);
std::string DescribeRejectedSnapshot(const kafka::Message& message,
                                     const common::SignatureCheck& check);

// Checks one consumed message against `region`: the snapshot, nullopt for another
// region's key (not an error: regions share partitions), or INVALID_ARGUMENT saying why
// the message is bad (unparseable, a tombstone, the payload names another region).
absl::StatusOr<std::optional<SnapshotMessage>> DecodeSnapshot(const kafka::Message& message,
                                                              const std::string& region);

}  // namespace senren::regional::plane
