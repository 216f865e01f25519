#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "regional/kube/clock.h"

namespace senren::regional::kube {

// Per-item exponential backoff, as client-go's ItemExponentialFailureRateLimiter: the n-th
// consecutive failure of a key waits base * 2^(n-1), capped at max. Thread-safe.
class ItemExponentialBackoff {
 public:
  // Default: 5 ms .. 30 s (client-go: 5 ms .. 1000 s; a controller here would rather
  // retry a stuck child every 30 s).
  explicit ItemExponentialBackoff(std::chrono::milliseconds base = std::chrono::milliseconds(5),
                                  std::chrono::milliseconds max = std::chrono::seconds(30));
  // The delay before the next retry of `key`, counting this failure.
  std::chrono::milliseconds When(const std::string& key);
  // Forgets the failures of `key` (call after a success).
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key);

 private:
  const std::chrono::milliseconds base_;
  const std::chrono::milliseconds max_;
  absl::Mutex mu_;
  std::map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
};

// A rate-limited work queue of keys ("ns/name") shaped like client-go's
// workqueue.RateLimitingInterface:
//  - a key added several times before a worker takes it is processed once (dedup);
//  - a key being processed is never handed to a second worker; added again meanwhile, it
//    is queued once more when Done is called;
//  - AddAfter / AddRateLimited delay a key; Forget resets its backoff.
//
// Thread-safe. Workers loop: `while (auto key = q.Get()) { ...; q.Done(*key); }`; Get
// returns nullopt once ShutDown was called and the queue drained. Delays are measured on
// `clock` (client-go's NewDelayingQueueWithCustomClock); `backoff` and `clock` are not
// owned. Defaults: a private ItemExponentialBackoff, Clock::Real().
class WorkQueue {
 public:
  explicit WorkQueue(ItemExponentialBackoff* backoff = nullptr, Clock* clock = Clock::Real());
  ~WorkQueue();

  void Add(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  // AddAfter(key, backoff.When(key)).
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key);

  // Blocks until a key is ready or the queue shuts down (then nullopt).
  std::optional<std::string> Get();
  // Marks `key` as processed; a key re-added meanwhile goes back in the queue.
  void Done(const std::string& key);

  // Wakes every Get; keys still queued are dropped. Delayed keys are dropped.
  void ShutDown();
  bool ShuttingDown();
  // Keys ready to be processed (not counting delayed or in-process ones).
  size_t Len();
  // Keys waiting for their delay.
  size_t DelayedLen();

 private:
  using TimePoint = Clock::TimePoint;
  void PromoteDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ItemExponentialBackoff default_backoff_;
  ItemExponentialBackoff* backoff_;
  Clock* const clock_;
  absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> dirty_ ABSL_GUARDED_BY(mu_);       // queued or to re-queue
  std::set<std::string> processing_ ABSL_GUARDED_BY(mu_);  // handed to a worker
  // Delayed keys: due time → key; a key appears once, at its earliest due time.
  std::multimap<TimePoint, std::string> delayed_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TimePoint> delayed_at_ ABSL_GUARDED_BY(mu_);
  // Bumped when a key gets an earlier due time than any before: a waiting Get recomputes
  // how long it waits.
  uint64_t delayed_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace senren::regional::kube
