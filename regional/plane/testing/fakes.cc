#include "regional/plane/testing/fakes.h"

namespace senren::regional::plane::testing {

void FakeSnapshotSource::Push(const v1::RegionalState& state) {
  absl::MutexLock lock(&mu_);
  SnapshotMessage m;
  m.state = state;
  m.partition = 0;
  m.offset = next_offset_++;
  m.traceparent = state.traceparent();
  queue_.push_back(std::move(m));
}

void FakeSnapshotSource::PushBad() {
  absl::MutexLock lock(&mu_);
  ++next_offset_;
  queue_.push_back(std::nullopt);
}

void FakeSnapshotSource::FailStart(absl::Status status) {
  absl::MutexLock lock(&mu_);
  start_status_ = std::move(status);
}

absl::Status FakeSnapshotSource::Start(std::optional<int64_t> after_offset) {
  absl::MutexLock lock(&mu_);
  ++starts_;
  if (!start_status_.ok()) return start_status_;
  started_after_ = after_offset;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SnapshotMessage>> FakeSnapshotSource::Next(
    std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  for (;;) {
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::FromChrono(timeout))) {
      return std::optional<SnapshotMessage>();
    }
    std::optional<SnapshotMessage> m = std::move(queue_.front());
    queue_.pop_front();
    if (!m.has_value()) {
      ++bad_;
      continue;
    }
    return m;
  }
}

int64_t FakeSnapshotSource::bad_messages() const {
  absl::MutexLock lock(&mu_);
  return bad_;
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

}  // namespace senren::regional::plane::testing
