#include "regional/kube/testing/fake_clock.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/notification.h"

namespace senren::regional::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using testing::FakeClock;

TEST(RealClockTest, AwaitReturnsTheConditionOrFalseAtTheDeadline) {
  Clock* clock = Clock::Real();
  absl::Mutex mu;
  bool flag = false;
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(clock->AwaitWithDeadline(&mu, absl::Condition(&flag), clock->Now()));
  EXPECT_FALSE(clock->AwaitWithTimeout(&mu, absl::Condition(&flag), milliseconds(1)));
  EXPECT_GE(clock->Now().time_since_epoch().count(), 0);
  flag = true;
  EXPECT_TRUE(clock->AwaitWithDeadline(&mu, absl::Condition(&flag), Clock::TimePoint::max()));
}

TEST(FakeClockTest, TimeMovesOnlyByHand) {
  FakeClock clock;
  const Clock::TimePoint t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(milliseconds(1500));
  EXPECT_EQ(clock.Now() - t0, milliseconds(1500));
  clock.AdvanceTo(t0);  // never backwards
  EXPECT_EQ(clock.Now() - t0, milliseconds(1500));
}

TEST(FakeClockTest, AWaitEndsExactlyWhenTimeReachesItsDeadline) {
  FakeClock clock;
  const Clock::TimePoint deadline = clock.Now() + milliseconds(100);
  absl::Mutex mu;
  bool flag = false;
  bool result = true;
  Clock::TimePoint woke_at;
  absl::Notification done;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&flag), deadline);
    woke_at = clock.Now();
    done.Notify();
  });
  ASSERT_TRUE(clock.BlockUntilWaiting(deadline));
  clock.Advance(milliseconds(100) - nanoseconds(1));
  EXPECT_FALSE(done.HasBeenNotified());
  EXPECT_EQ(clock.Waiters(), 1);
  clock.Advance(nanoseconds(1));
  done.WaitForNotification();
  waiter.join();
  EXPECT_FALSE(result) << "the deadline, not the condition, ended the wait";
  EXPECT_EQ(woke_at, deadline);
  EXPECT_EQ(clock.Waiters(), 0);
}

TEST(FakeClockTest, TheConditionEndsAWaitWithoutTimeMoving) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithTimeout(&mu, absl::Condition(&flag), std::chrono::hours(1));
  });
  ASSERT_TRUE(clock.BlockUntilWaiters(1));
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
}

}  // namespace
}  // namespace senren::regional::kube
