#include "regional/plane/testing/fakes.h"

namespace senren::regional::plane::testing {

void FakeSnapshotSource::Push(const v1::RegionalState& state) {
  absl::MutexLock lock(&mu_);
  Entry e;
  e.offset = next_offset_++;
  e.message.state = state;
  e.message.partition = 0;
  e.message.offset = e.offset;
  e.message.traceparent = state.traceparent();
  queue_.push_back(std::move(e));
}

void FakeSnapshotSource::PushBad() {
  absl::MutexLock lock(&mu_);
  queue_.push_back({Kind::kBad, next_offset_++, {}, {}, {}});
}

void FakeSnapshotSource::PushOther() {
  absl::MutexLock lock(&mu_);
  queue_.push_back({Kind::kOther, next_offset_++, {}, {}, {}});
}

void FakeSnapshotSource::PushRejected(std::string verdict, std::string why) {
  absl::MutexLock lock(&mu_);
  queue_.push_back({Kind::kRejected, next_offset_++, {}, std::move(verdict), std::move(why)});
}

void FakeSnapshotSource::FailStart(absl::Status status) {
  absl::MutexLock lock(&mu_);
  start_status_ = std::move(status);
}

void FakeSnapshotSource::SetCatchUpEnd(int64_t offset) {
  absl::MutexLock lock(&mu_);
  catch_up_override_ = offset;
}

absl::Status FakeSnapshotSource::Start(std::optional<SourcePosition> after) {
  absl::MutexLock lock(&mu_);
  ++starts_;
  if (!start_status_.ok()) return start_status_;
  started_after_ =
      after.has_value() ? std::optional<int64_t>(after->offset) : std::optional<int64_t>();
  catch_up_end_ = catch_up_override_.value_or(next_offset_);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SnapshotMessage>> FakeSnapshotSource::Next(
    std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
  for (;;) {
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty(); };
    if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) {
      return std::optional<SnapshotMessage>();
    }
    Entry e = std::move(queue_.front());
    queue_.pop_front();
    position_ = e.offset + 1;
    if (e.kind == Kind::kBad) ++bad_;
    if (e.kind == Kind::kRejected) {
      ++rejections_.total;
      ++rejections_.by_verdict[e.verdict];
      rejections_.last = e.why;
    }
    if (e.kind != Kind::kSnapshot) continue;
    return std::optional<SnapshotMessage>(std::move(e.message));
  }
}

bool FakeSnapshotSource::CaughtUp() const {
  absl::MutexLock lock(&mu_);
  return position_ >= catch_up_end_;
}

int64_t FakeSnapshotSource::bad_messages() const {
  absl::MutexLock lock(&mu_);
  return bad_;
}

SnapshotRejections FakeSnapshotSource::rejections() const {
  absl::MutexLock lock(&mu_);
  return rejections_;
}

std::optional<int64_t> FakeSnapshotSource::started_after() const {
  absl::MutexLock lock(&mu_);
  return started_after_;
}

int FakeSnapshotSource::starts() const {
  absl::MutexLock lock(&mu_);
  return starts_;
}

absl::StatusOr<std::optional<CachedSnapshot>> InMemoryStateCache::Load() {
  absl::MutexLock lock(&mu_);
  return snapshot_;
}

absl::Status InMemoryStateCache::Save(const CachedSnapshot& snapshot, const HistoryEntry& entry) {
  absl::MutexLock lock(&mu_);
  snapshot_ = snapshot;
  history_.push_back(entry);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HistoryEntry>> InMemoryStateCache::History(size_t limit) {
  absl::MutexLock lock(&mu_);
  std::vector<HistoryEntry> out(history_.rbegin(), history_.rend());
  if (out.size() > limit) out.resize(limit);
  return out;
}

absl::Status InMemoryStatusOutbox::Put(const std::vector<OutboxRecord>& records) {
  absl::MutexLock lock(&mu_);
  for (const auto& r : records) {
    entries_[next_id_++] = r;
    all_.push_back(r);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutboxEntry>> InMemoryStatusOutbox::Peek(int64_t after_id,
                                                                    size_t limit) {
  absl::MutexLock lock(&mu_);
  std::vector<OutboxEntry> out;
  for (auto it = entries_.upper_bound(after_id); it != entries_.end() && out.size() < limit; ++it) {
    out.push_back({it->first, it->second});
  }
  return out;
}

absl::Status InMemoryStatusOutbox::Delete(const std::vector<int64_t>& ids) {
  absl::MutexLock lock(&mu_);
  for (int64_t id : ids) entries_.erase(id);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> InMemoryStatusOutbox::Size() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(entries_.size());
}

std::vector<OutboxRecord> InMemoryStatusOutbox::All() {
  absl::MutexLock lock(&mu_);
  return all_;
}

bool InMemoryStatusOutbox::WaitFor(
    const std::function<bool(const std::vector<OutboxRecord>&)>& pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    std::vector<OutboxRecord> all = All();
    if (pred(all)) return true;
    absl::MutexLock lock(&mu_);
    auto grown = [this, seen = all.size()]()
                     ABSL_SHARED_LOCKS_REQUIRED(mu_) { return all_.size() > seen; };
    if (!mu_.AwaitWithDeadline(absl::Condition(&grown), deadline)) return pred(all_);
  }
}

}  // namespace senren::regional::plane::testing
