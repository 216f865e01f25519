#include "regional/kube/work_queue.h"

#include <algorithm>

namespace senren::regional::kube {

ItemExponentialBackoff::ItemExponentialBackoff(std::chrono::milliseconds base,
                                               std::chrono::milliseconds max)
    : base_(base), max_(max) {}

std::chrono::milliseconds ItemExponentialBackoff::When(const std::string& key) {
  absl::MutexLock lock(&mu_);
  const int n = failures_[key]++;
  // Stop doubling well before overflow.
  if (n >= 30) return max_;
  const int64_t delay = base_.count() * (int64_t{1} << n);
  return std::min(std::chrono::milliseconds(delay), max_);
}

void ItemExponentialBackoff::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  failures_.erase(key);
}

int ItemExponentialBackoff::NumRequeues(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

WorkQueue::WorkQueue(ItemExponentialBackoff* backoff, Clock* clock)
    : backoff_(backoff != nullptr ? backoff : &default_backoff_),
      clock_(clock != nullptr ? clock : Clock::Real()) {}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_ || dirty_.contains(key)) return;
  dirty_.insert(key);
  if (processing_.contains(key)) return;  // queued again by Done
  queue_.push_back(key);
}

void WorkQueue::Add(const std::string& key) {
  absl::MutexLock lock(&mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::milliseconds delay) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  if (delay.count() <= 0) {
    AddLocked(key);
    return;
  }
  const TimePoint due = clock_->Now() + delay;
  auto it = delayed_at_.find(key);
  if (it != delayed_at_.end()) {
    if (it->second <= due) return;  // already due sooner
    auto range = delayed_.equal_range(it->second);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == key) {
        delayed_.erase(d);
        break;
      }
    }
  }
  // A waiting Get may need to wake sooner.
  if (delayed_.empty() || due < delayed_.begin()->first) ++delayed_epoch_;
  delayed_.emplace(due, key);
  delayed_at_[key] = due;
}

void WorkQueue::AddRateLimited(const std::string& key) { AddAfter(key, backoff_->When(key)); }

void WorkQueue::Forget(const std::string& key) { backoff_->Forget(key); }

int WorkQueue::NumRequeues(const std::string& key) { return backoff_->NumRequeues(key); }

void WorkQueue::PromoteDueLocked() {
  const TimePoint now = clock_->Now();
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    delayed_at_.erase(key);
    AddLocked(key);
  }
}

std::optional<std::string> WorkQueue::Get() {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (shutting_down_) return std::nullopt;
    PromoteDueLocked();
    if (!queue_.empty()) break;
    // Wakes on a key added, shutdown, the first due time passing or an earlier one set.
    const uint64_t epoch = delayed_epoch_;
    auto wake = [this, epoch]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return shutting_down_ || !queue_.empty() || delayed_epoch_ != epoch;
    };
    clock_->AwaitWithDeadline(&mu_, absl::Condition(&wake),
                              delayed_.empty() ? TimePoint::max() : delayed_.begin()->first);
  }
  std::string key = queue_.front();
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  absl::MutexLock lock(&mu_);
  processing_.erase(key);
  if (dirty_.contains(key) && !shutting_down_) {
    queue_.push_back(key);
  }
}

void WorkQueue::ShutDown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  queue_.clear();
  dirty_.clear();
  delayed_.clear();
  delayed_at_.clear();
}

bool WorkQueue::ShuttingDown() {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() {
  absl::MutexLock lock(&mu_);
  PromoteDueLocked();
  return queue_.size();
}

size_t WorkQueue::DelayedLen() {
  absl::MutexLock lock(&mu_);
  return delayed_.size();
}

}  // namespace senren::regional::kube
