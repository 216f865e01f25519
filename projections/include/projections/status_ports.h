#pragma once

// The status projector's two sides behind narrow interfaces, so its fold (StatusFold) is
// tested with fakes (projections/testing/fakes.h):
//   StatusSource  the {prefix}-status messages from given offsets (KafkaStatusSource)
//   StatusStore   the read model: a batch of changes and the offsets after it in one
//                 transaction (PgStatusStore: migrations 0003 and 0007, on the leader's
//                 session)

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kafka/kafka.h"
#include "projections/status_keys.h"
#include "senren/v1/status.pb.h"

namespace senren::pg {
class Session;
}

namespace senren::projections {

// One validated status message (DecodeStatusMessage): everything in it is safe to hand to
// the store (valid UTF-8 without control characters, in the ledger's name and region
// rules, timestamps in range).
struct StatusChange {
  enum class Type {
    kResource,      // a ResourceStatus: upsert, history row
    kResourceGone,  // a resource key's tombstone: delete, history row with no payload
    kCluster,       // a ClusterReport: upsert; history row when more than the heartbeat
                    // changed or after a silence, else the newest row's seen_until moves
    kClusterGone,   // a cluster key's tombstone: delete
  };
  Type type = Type::kResource;
  // Kafka position: the history row's key, so a redelivery inserts nothing.
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  StatusKey key;
  // Seconds since the epoch: observed_at / heartbeat_at, else the record's timestamp.
  double at = 0;
  std::string payload;  // the value's bytes (kResource, kCluster)
  v1::ResourceStatus resource;
  v1::ClusterReport report;
};

// Changes and the offsets to resume from after them, stored together.
struct StatusBatch {
  std::vector<StatusChange> changes;
  std::map<int32_t, int64_t> next_offsets;  // partition → next offset to read
};

// What a stored batch changed, for watchers.
struct StatusApplied {
  // Per change, in order: whether watchers see it (a cluster report that only moved the
  // heartbeat is stored but not an event).
  std::vector<bool> visible;
  // Current version of every region with a visible change in the batch.
  std::map<std::string, uint64_t> desired_versions;
};

// The read model of one topic. Used by one thread (the projector's).
class StatusStore {
 public:
  virtual ~StatusStore() = default;

  // Next offset per partition stored with the last batch. Errors: UNAVAILABLE and the
  // SQLSTATE table's codes.
  virtual absl::StatusOr<std::map<int32_t, int64_t>> Offsets() = 0;

  // Whether the ledger knows `region` (regions are never deleted).
  virtual absl::StatusOr<bool> RegionKnown(const std::string& region) = 0;

  // Applies every change and stores next_offsets, in one transaction. INVALID_ARGUMENT:
  // the database refused a value of the batch (a data error, SQLSTATE class 22 or 23) and
  // nothing was stored; other codes as Offsets.
  virtual absl::StatusOr<StatusApplied> Apply(const StatusBatch& batch) = 0;

  // Deletes history older than `retention` but, per cluster and resource, the newest row
  // older than it (unless that row is a tombstone), so GetStatus(at) stays right for every
  // `at` within the retention however long nothing changed; returns how many rows went.
  virtual absl::StatusOr<uint64_t> Trim(std::chrono::hours retention) = 0;
};

// Seconds without a heartbeat after which a cluster is stale: 3 heartbeat periods of its
// report (10 s when the report names none). GetStatus judges `stale` by it, and the store
// starts a new history row for a heartbeat that comes later than this after the previous
// one, so history keeps the silence.
inline double StaleAfterSeconds(const v1::ClusterReport& report) {
  const double period =
      report.heartbeat_interval_seconds() > 0 ? report.heartbeat_interval_seconds() : 10;
  return 3 * period;
}

// Messages of one topic's partitions. Used by one thread.
class StatusSource {
 public:
  virtual ~StatusSource() = default;

  // Reads every partition of the topic from `next` (partition → next offset; a partition
  // not in it from the beginning). Errors: UNAVAILABLE, NOT_FOUND (no topic).
  virtual absl::Status Start(const std::map<int32_t, int64_t>& next) = 0;

  // Up to `max` messages, waiting up to `timeout` for the first; empty when none came.
  // Errors as Start.
  virtual absl::StatusOr<std::vector<kafka::Message>> Poll(int max,
                                                           std::chrono::milliseconds timeout) = 0;
};

// The read model of migrations 0003 and 0007 on `session`: the leader's own session, the one that
// holds the topic's advisory lock, so a projector that lost its lock writes nothing.
std::unique_ptr<StatusStore> NewPgStatusStore(pg::Session* session, std::string topic);

// A consumer of `topic` with explicitly assigned partitions.
std::unique_ptr<StatusSource> NewKafkaStatusSource(kafka::Connection connection, std::string topic);

}  // namespace senren::projections
