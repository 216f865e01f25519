#pragma once

// In-memory doubles of the projectors' I/O interfaces (snapshot_ports.h, status_ports.h),
// for unit tests of SnapshotPublisher and StatusFold. Thread-safe.

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "projections/snapshot_ports.h"
#include "projections/status_ports.h"

namespace senren::projections::testing {

// snapshot_progress and regions.current_version: the test sets each region's newest
// version; RecordPublished keeps the highest.
class FakeSnapshotProgressStore : public SnapshotProgressStore {
 public:
  void SetCurrent(const std::string& region, uint64_t version);
  // The next `count` calls fail with `status`.
  void FailNext(absl::Status status, int count = 1);

  absl::StatusOr<std::vector<PendingRegion>> Pending(bool all) override;
  absl::Status RecordPublished(const std::string& region, uint64_t version, int32_t partition,
                               int64_t offset) override;
  absl::Status Ping() override;

  // 0 when nothing was recorded.
  uint64_t Published(const std::string& region) const;
  int records() const;
  int pings() const;

 private:
  absl::Status Fail() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  int pings_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> current_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> published_ ABSL_GUARDED_BY(mu_);
  int records_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_status_ ABSL_GUARDED_BY(mu_);
  int fail_count_ ABSL_GUARDED_BY(mu_) = 0;
};

// One partition of a topic, shared by the sinks of several leaders: what landed, in order.
class FakeStateTopic {
 public:
  struct Landed {
    std::string region;
    uint64_t version = 0;
    int64_t offset = 0;
  };
  int64_t Append(const std::string& region, uint64_t version);
  std::vector<Landed> Log() const;
  // Version of the region's last record (what compaction keeps); 0 when none.
  uint64_t Last(const std::string& region) const;
  // Versions of the region's records, in order.
  std::vector<uint64_t> Versions(const std::string& region) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<Landed> log_ ABSL_GUARDED_BY(mu_);
};

// A producer whose records wait until the test lands (Deliver) or fails them; PurgeQueued
// cancels every waiting record. Destroying it purges, calling back into the publisher, as
// KafkaSnapshotSink does: destroy it before the publisher (SnapshotProjector declares the
// publisher first).
class FakeSnapshotSink : public SnapshotSink {
 public:
  explicit FakeSnapshotSink(FakeStateTopic* topic) : topic_(topic) {}
  // Cancels what still waits, as the Kafka sink's destructor does.
  ~FakeSnapshotSink() override;

  absl::Status Publish(const SnapshotRecord& record, OnDelivery on_delivery) override;
  void PurgeQueued() override;
  // Lands everything waiting.
  absl::Status Flush(std::chrono::milliseconds timeout) override;

  // Lands the oldest `n` waiting records (all when n < 0) and answers OK.
  void Deliver(int n = -1);
  // Answers the oldest waiting record with `status` without landing it.
  void FailOldest(absl::Status status);
  // Publish refuses with `status` until cleared.
  void RefusePublish(absl::Status status);

  // Records handed to Publish, in order.
  std::vector<SnapshotRecord> Published() const;
  size_t Waiting() const;
  int purges() const;

 private:
  struct Queued {
    SnapshotRecord record;
    OnDelivery on_delivery;
  };
  std::vector<Queued> TakeOldest(int n);

  FakeStateTopic* const topic_;
  mutable absl::Mutex mu_;
  std::deque<Queued> waiting_ ABSL_GUARDED_BY(mu_);
  std::vector<SnapshotRecord> published_ ABSL_GUARDED_BY(mu_);
  absl::Status refuse_ ABSL_GUARDED_BY(mu_);
  int purges_ ABSL_GUARDED_BY(mu_) = 0;
};

// A status topic fed by the test: Push appends at the partition's next offset.
class FakeStatusSource : public StatusSource {
 public:
  // Returns the message's offset.
  int64_t Push(int32_t partition, std::string key, std::optional<std::string> value,
               int64_t timestamp_ms = 0);
  // Start and Poll fail with `status` until cleared.
  void Fail(absl::Status status);

  absl::Status Start(const std::map<int32_t, int64_t>& next) override;
  absl::StatusOr<std::vector<kafka::Message>> Poll(int max,
                                                   std::chrono::milliseconds timeout) override;

  // The offsets of the last Start.
  std::map<int32_t, int64_t> started_at() const;

 private:
  mutable absl::Mutex mu_;
  std::map<int32_t, std::vector<kafka::Message>> log_ ABSL_GUARDED_BY(mu_);
  std::map<int32_t, int64_t> position_ ABSL_GUARDED_BY(mu_);
  std::map<int32_t, int64_t> started_at_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
};

// The read model in memory, with PgStatusStore's rules: upserts, tombstones, history keyed
// by Kafka position, a cluster report in history only when more than the heartbeat
// changed or after a silence longer than the stale limit (else the cluster's newest row's
// seen_until moves), offsets stored with the batch. Apply is all or nothing.
class FakeStatusStore : public StatusStore {
 public:
  using ResourceKey =
      std::tuple<std::string, std::string, int, std::string>;  // region, cluster, kind, name
  using Position = std::tuple<std::string, int32_t, int64_t>;  // topic, partition, offset
  struct HistoryRow {
    StatusKey key;
    double at = 0;
    std::optional<std::string> payload;
    double seen_until = 0;  // a cluster report's last heartbeat; 0 for other rows
  };

  void AddRegion(const std::string& region, uint64_t current_version);
  // Apply refuses (INVALID_ARGUMENT, nothing stored) every batch holding a change that
  // `refuse` matches: a value the database does not take.
  void RefuseIf(std::function<bool(const StatusChange&)> refuse);
  // The next `count` calls fail with `status`.
  void FailNext(absl::Status status, int count = 1);

  absl::StatusOr<std::map<int32_t, int64_t>> Offsets() override;
  absl::StatusOr<bool> RegionKnown(const std::string& region) override;
  absl::StatusOr<StatusApplied> Apply(const StatusBatch& batch) override;
  absl::StatusOr<uint64_t> Trim(std::chrono::hours retention) override;

  std::map<ResourceKey, v1::ResourceStatus> Resources() const;
  std::map<std::pair<std::string, std::string>, v1::ClusterReport> Clusters() const;
  std::map<Position, HistoryRow> History() const;
  int applies() const;

 private:
  absl::Status Fail() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> regions_ ABSL_GUARDED_BY(mu_);
  std::map<ResourceKey, v1::ResourceStatus> resources_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, v1::ClusterReport> clusters_ ABSL_GUARDED_BY(mu_);
  std::map<Position, HistoryRow> history_ ABSL_GUARDED_BY(mu_);
  std::map<int32_t, int64_t> offsets_ ABSL_GUARDED_BY(mu_);
  std::function<bool(const StatusChange&)> refuse_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_status_ ABSL_GUARDED_BY(mu_);
  int fail_count_ ABSL_GUARDED_BY(mu_) = 0;
  int applies_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace senren::projections::testing
