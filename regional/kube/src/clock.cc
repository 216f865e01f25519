#include "regional/kube/clock.h"

#include "absl/time/time.h"

namespace senren::regional::kube {
namespace {

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }

  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         TimePoint deadline) const override {
    if (deadline == TimePoint::max()) {
      mu->Await(cond);
      return true;
    }
    const Duration left = deadline - Now();
    if (left <= Duration::zero()) return cond.Eval();
    return mu->AwaitWithTimeout(cond, absl::FromChrono(left));
  }
};

}  // namespace

Clock* Clock::Real() {
  static Clock* const clock = new SteadyClock();
  return clock;
}

}  // namespace senren::regional::kube
