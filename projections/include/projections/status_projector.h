#pragma once

// StatusProjector: folds the {prefix}-status topic (ResourceStatus per resource per
// cluster, tombstones, ClusterReport per cluster) into the PostgreSQL read model of
// migration 0003 and publishes each change to a StatusHub for WatchStatus.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kafka/connection.h"
#include "projections/status_hub.h"

namespace senren::projections {

struct StatusProjectorOptions {
  // libpq URI of the ledger database. Required.
  std::string postgres_uri;
  // PostgreSQL schema. Default: "senren".
  std::string schema = "senren";
  // The Kafka cluster and the control plane's identity on it. Required (brokers).
  kafka::Connection kafka;
  // Topic prefix; the topic is {prefix}-status. Default: "senren".
  std::string topic_prefix = "senren";
  // Partitions of {prefix}-status when the projector creates it. Default: 12.
  int partitions = 12;
  // Status history older than this is deleted. Default: 30 days.
  std::chrono::hours retention = std::chrono::hours(24 * 30);
  // Messages folded into one transaction at most. Default: 500.
  int batch_max = 500;
};

struct StatusProjectorStats {
  uint64_t consumed = 0;  // messages read
  uint64_t applied = 0;   // messages folded into the read model
  uint64_t bad_messages =
      0;  // key or value that does not validate, or that the database refused: skipped
  uint64_t unknown_region = 0;  // region the ledger does not know: skipped
  uint64_t transactions = 0;
  uint64_t one_by_one = 0;  // batches applied a message at a time after a data error
  bool leader = false;      // this projector holds the topic's lock and folds
};

// Owns one consumer thread that leads (PostgreSQL advisory lock
// senren_status_projector:<topic>, so of all projectors of a topic one writes the read
// model and its offsets) and folds (StatusFold on PgStatusStore and KafkaStatusSource).
// Rows and consumed offsets are written in one transaction on the lock's session, so a
// restart or a new leader resumes exactly after the last folded message; a redelivered
// message changes nothing (history keyed by Kafka position). Start/Stop from one thread.
class StatusProjector {
 public:
  // hub: not owned, may be null (no watchers in this process); outlives the projector.
  static absl::StatusOr<std::unique_ptr<StatusProjector>> Create(StatusProjectorOptions options,
                                                                 StatusHub* hub);
  virtual ~StatusProjector() = default;

  // Creates {prefix}-status when missing (compacted) and starts the thread.
  // UNAVAILABLE when Kafka cannot be reached to create the topic.
  virtual absl::Status Start() = 0;
  virtual void Stop() = 0;
  virtual StatusProjectorStats Stats() const = 0;
  virtual std::string Topic() const = 0;
};

// "{prefix}-status".
std::string StatusTopic(const std::string& prefix);

}  // namespace senren::projections
