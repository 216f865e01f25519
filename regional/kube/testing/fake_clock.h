#pragma once

#include <atomic>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "regional/kube/clock.h"

namespace senren::regional::kube::testing {

// A Clock whose time moves only when the test says so (client-go's testing.FakeClock,
// Envoy's SimulatedTimeSystem): Advance / AdvanceTo set the time and wake every wait whose
// deadline it reached. Waits block for real until then, so a test drives the code under
// test step by step and never sleeps; BlockUntilWaiting tells it when a thread has come to
// a wait, i.e. has done everything it does before that moment.
//
// Thread-safe. Advance pokes the mutexes of the current waits (lock, unlock: absl::Mutex
// re-evaluates conditions on release), so it must not run while an object whose mutex is
// being waited on is destroyed; tests advance time from the thread that owns the objects.
class FakeClock : public Clock {
 public:
  // Starts at an arbitrary, fixed point far from the steady clock's epoch.
  FakeClock();
  explicit FakeClock(TimePoint start);

  TimePoint Now() const override;
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         TimePoint deadline) const override;

  // Moves time forward by `d` (≥ 0) and wakes the waits it made due.
  void Advance(Duration d);
  // Moves time to `t` (not backwards).
  void AdvanceTo(TimePoint t);

  // Blocks (for real, up to `timeout`) until some thread waits on this clock with exactly
  // `deadline`; false on timeout. With deterministic time the test knows the deadline a
  // loop computes next, so this marks the loop's arrival at that wait.
  bool BlockUntilWaiting(TimePoint deadline, absl::Duration timeout = absl::Seconds(30)) const;
  // Blocks until at least `n` threads wait on this clock for a time still to come.
  bool BlockUntilWaiters(int n, absl::Duration timeout = absl::Seconds(30)) const;
  // The number of waits in progress, due or not.
  int Waiters() const;

 private:
  std::atomic<int64_t> now_ns_;  // since the steady clock's epoch
  mutable absl::Mutex mu_;
  // The waits in progress: their mutex and deadline (ns). A mutex appears once per wait.
  mutable std::multimap<absl::Mutex*, int64_t> waits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace senren::regional::kube::testing
