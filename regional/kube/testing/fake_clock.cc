#include "regional/kube/testing/fake_clock.h"

#include <set>
#include <vector>

namespace senren::regional::kube::testing {
namespace {

int64_t ToNanos(Clock::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

// 1000 h after the epoch: arithmetic around the start (deadlines, "ago") stays positive.
FakeClock::FakeClock() : FakeClock(TimePoint(std::chrono::hours(1000))) {}

FakeClock::FakeClock(TimePoint start) : now_ns_(ToNanos(start)) {}

Clock::TimePoint FakeClock::Now() const {
  return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(now_ns_.load())));
}

bool FakeClock::AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                  TimePoint deadline) const {
  const int64_t deadline_ns = deadline == TimePoint::max() ? INT64_MAX : ToNanos(deadline);
  std::multimap<absl::Mutex*, int64_t>::iterator wait;
  {
    absl::MutexLock lock(&mu_);
    wait = waits_.emplace(mu, deadline_ns);
  }
  // Holding `mu` from here until Await releases it: an Advance that pokes `mu` can only
  // do so once this thread waits, so its wake-up is never lost.
  struct Ready {
    const absl::Condition* cond;
    const std::atomic<int64_t>* now_ns;
    int64_t deadline_ns;
    bool operator()() const { return cond->Eval() || now_ns->load() >= deadline_ns; }
  } ready{&cond, &now_ns_, deadline_ns};
  mu->Await(absl::Condition(&ready));
  {
    absl::MutexLock lock(&mu_);
    waits_.erase(wait);
  }
  return cond.Eval();
}

void FakeClock::Advance(Duration d) { AdvanceTo(Now() + d); }

void FakeClock::AdvanceTo(TimePoint t) {
  std::set<absl::Mutex*> due;
  {
    absl::MutexLock lock(&mu_);
    const int64_t t_ns = ToNanos(t);
    if (t_ns > now_ns_.load()) now_ns_.store(t_ns);
    for (const auto& [mu, deadline_ns] : waits_) {
      if (deadline_ns <= now_ns_.load()) due.insert(mu);
    }
  }
  // Outside mu_: a waiter holds its own mutex while it registers (its mutex, then mu_).
  for (absl::Mutex* mu : due) {
    mu->Lock();
    mu->Unlock();
  }
}

bool FakeClock::BlockUntilWaiting(TimePoint deadline, absl::Duration timeout) const {
  const int64_t deadline_ns = ToNanos(deadline);
  absl::MutexLock lock(&mu_);
  auto waiting = [this, deadline_ns]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    for (const auto& [mu, d] : waits_) {
      if (d == deadline_ns) return true;
    }
    return false;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&waiting), timeout);
}

bool FakeClock::BlockUntilWaiters(int n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto waiting = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    int pending = 0;
    for (const auto& [mu, d] : waits_) {
      if (d > now_ns_.load()) ++pending;
    }
    return pending >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&waiting), timeout);
}

int FakeClock::Waiters() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waits_.size());
}

}  // namespace senren::regional::kube::testing
