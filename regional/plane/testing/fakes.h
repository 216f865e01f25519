#pragma once

// In-memory doubles of the plane's I/O interfaces, for unit tests. Thread-safe.

#include <deque>
#include <functional>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "regional/plane/snapshot_source.h"
#include "regional/plane/state_cache.h"
#include "regional/plane/status_outbox.h"

namespace senren::regional::plane::testing {

// A snapshot stream fed by the test: Push(state) appends at the next offset of partition 0.
// What was pushed before Start is the backlog CaughtUp waits for, as the partition's high
// watermark at Start is for the Kafka source.
class FakeSnapshotSource : public SnapshotSource {
 public:
  void Push(const v1::RegionalState& state);
  // A message the real source would count as bad.
  void PushBad();
  // A message of another region sharing the partition (passed over, not counted).
  void PushOther();
  // A message the real source would refuse for its signature (verdict e.g. "unsigned").
  void PushRejected(std::string verdict, std::string why);
  // Start fails with `status` until cleared.
  void FailStart(absl::Status status);
  // The catch-up target of the next Starts (the partition's end): offsets below it are the
  // backlog. Default: the offset after the last message pushed when Start runs.
  void SetCatchUpEnd(int64_t offset);

  absl::Status Start(std::optional<SourcePosition> after) override;
  absl::StatusOr<std::optional<SnapshotMessage>> Next(std::chrono::milliseconds timeout) override;
  bool CaughtUp() const override;
  int64_t bad_messages() const override;
  SnapshotRejections rejections() const override;

  // The offset of the position of the last successful Start.
  std::optional<int64_t> started_after() const;
  int starts() const;

 private:
  enum class Kind { kSnapshot, kBad, kOther, kRejected };
  struct Entry {
    Kind kind = Kind::kSnapshot;
    int64_t offset = 0;
    SnapshotMessage message;
    std::string verdict, why;  // kRejected
  };

  mutable absl::Mutex mu_;
  std::deque<Entry> queue_ ABSL_GUARDED_BY(mu_);
  int64_t next_offset_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t position_ ABSL_GUARDED_BY(mu_) = 0;  // offset after the last message read
  std::optional<int64_t> catch_up_override_ ABSL_GUARDED_BY(mu_);
  int64_t catch_up_end_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bad_ ABSL_GUARDED_BY(mu_) = 0;
  SnapshotRejections rejections_ ABSL_GUARDED_BY(mu_);
  absl::Status start_status_ ABSL_GUARDED_BY(mu_);
  std::optional<int64_t> started_after_ ABSL_GUARDED_BY(mu_);
  int starts_ ABSL_GUARDED_BY(mu_) = 0;
};

class InMemoryStateCache : public StateCache {
 public:
  absl::StatusOr<std::optional<CachedSnapshot>> Load() override;
  absl::Status Save(const CachedSnapshot& snapshot, const HistoryEntry& entry) override;
  absl::StatusOr<std::vector<HistoryEntry>> History(size_t limit) override;

 private:
  absl::Mutex mu_;
  std::optional<CachedSnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  std::vector<HistoryEntry> history_ ABSL_GUARDED_BY(mu_);
};

class InMemoryStatusOutbox : public StatusOutbox {
 public:
  absl::Status Put(const std::vector<OutboxRecord>& records) override;
  absl::StatusOr<std::vector<OutboxEntry>> Peek(int64_t after_id, size_t limit) override;
  absl::Status Delete(const std::vector<int64_t>& ids) override;
  absl::StatusOr<int64_t> Size() override;

  // Every record ever put, in order (deleted ones included).
  std::vector<OutboxRecord> All();
  // Blocks until `pred(All())` is true, evaluating it (outside the outbox's lock) now and
  // after each Put; false after `timeout`, a bound against hangs.
  bool WaitFor(const std::function<bool(const std::vector<OutboxRecord>&)>& pred,
               absl::Duration timeout = absl::Seconds(60));

 private:
  absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, OutboxRecord> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<OutboxRecord> all_ ABSL_GUARDED_BY(mu_);
};

}  // namespace senren::regional::plane::testing
