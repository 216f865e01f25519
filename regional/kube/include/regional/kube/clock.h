#pragma once

#include <chrono>

#include "absl/synchronization/mutex.h"

namespace senren::regional::kube {

// The monotonic time a component reads and waits on, injected so that unit tests can move
// it by hand (testing/fake_clock.h) instead of sleeping: client-go's clock.Clock and
// NewDelayingQueueWithCustomClock, Envoy's TimeSystem. Production code passes
// Clock::Real(), a thin layer over std::chrono::steady_clock.
//
// Waiting is done on the caller's absl::Mutex with an absl::Condition, as
// Mutex::AwaitWithDeadline does on the real clock: the condition is re-evaluated whenever
// the mutex is released, so whatever another thread changes under that mutex wakes the
// waiter, and a fake clock wakes it when its time reaches the deadline.
//
// Implementations are thread-safe.
class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;

  virtual TimePoint Now() const = 0;

  // With `mu` held: releases it and waits until `cond` holds (evaluated with `mu` held) or
  // Now() reaches `deadline`, then returns with `mu` held again. Returns `cond`'s value at
  // the end: false means the deadline passed first. TimePoint::max() waits for `cond` only.
  // `cond` must be cheap and must not take other locks.
  virtual bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                 TimePoint deadline) const = 0;

  bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& cond, Duration timeout) const {
    return AwaitWithDeadline(mu, cond, Now() + timeout);
  }

  // The process's clock: std::chrono::steady_clock. Never destroyed.
  static Clock* Real();
};

}  // namespace senren::regional::kube
