#include "regional/kube/work_queue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "regional/kube/testing/fake_clock.h"

namespace senren::regional::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using testing::FakeClock;

TEST(ItemExponentialBackoffTest, DoublesPerFailureUpToTheCapAndForgets) {
  ItemExponentialBackoff backoff(milliseconds(5), milliseconds(100));
  EXPECT_EQ(backoff.When("a"), milliseconds(5));
  EXPECT_EQ(backoff.When("a"), milliseconds(10));
  EXPECT_EQ(backoff.When("a"), milliseconds(20));
  EXPECT_EQ(backoff.When("b"), milliseconds(5)) << "per key";
  EXPECT_EQ(backoff.When("a"), milliseconds(40));
  EXPECT_EQ(backoff.When("a"), milliseconds(80));
  EXPECT_EQ(backoff.When("a"), milliseconds(100));
  for (int i = 0; i < 100; ++i) backoff.When("a");
  EXPECT_EQ(backoff.When("a"), milliseconds(100)) << "no overflow";
  EXPECT_EQ(backoff.NumRequeues("b"), 1);
  backoff.Forget("a");
  EXPECT_EQ(backoff.NumRequeues("a"), 0);
  EXPECT_EQ(backoff.When("a"), milliseconds(5));
}

TEST(WorkQueueTest, DeduplicatesQueuedKeysInFifoOrder) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(q.Get(), "a");
  EXPECT_EQ(q.Get(), "b");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedOnDoneOnly) {
  WorkQueue q;
  q.Add("a");
  auto key = q.Get();
  ASSERT_EQ(key, "a");
  q.Add("a");
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u) << "never handed to a second worker while in process";
  q.Done("a");
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Get(), "a");
  q.Done("a");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, DelayedKeysArriveAfterTheirDelayOnce) {
  FakeClock clock;
  WorkQueue q(nullptr, &clock);
  q.AddAfter("late", milliseconds(30));
  q.AddAfter("late", milliseconds(60));  // the earlier due time wins
  q.AddAfter("late", milliseconds(40));
  EXPECT_EQ(q.DelayedLen(), 1u);
  q.Add("now");
  EXPECT_EQ(q.Get(), "now");
  q.Done("now");
  clock.Advance(milliseconds(30) - nanoseconds(1));
  EXPECT_EQ(q.Len(), 0u) << "not before its delay";
  clock.Advance(nanoseconds(1));
  EXPECT_EQ(q.Len(), 1u) << "due exactly at its delay";
  EXPECT_EQ(q.Get(), "late");
  q.Done("late");
  clock.Advance(milliseconds(100));
  EXPECT_EQ(q.DelayedLen(), 0u);
  EXPECT_EQ(q.Len(), 0u) << "the later AddAfters did not queue it again";
}

// A worker blocked in Get wakes when the clock reaches the first due time, also when an
// earlier one was set while it waited.
TEST(WorkQueueTest, BlockedGetWakesAtTheEarliestDueTime) {
  FakeClock clock;
  WorkQueue q(nullptr, &clock);
  const Clock::TimePoint t0 = clock.Now();
  q.AddAfter("slow", milliseconds(500));
  std::optional<std::string> got;
  Clock::TimePoint got_at;
  std::thread worker([&] {
    got = q.Get();
    got_at = clock.Now();
  });
  ASSERT_TRUE(clock.BlockUntilWaiting(t0 + milliseconds(500)));
  q.AddAfter("fast", milliseconds(100));
  ASSERT_TRUE(clock.BlockUntilWaiting(t0 + milliseconds(100))) << "the wait was shortened";
  clock.Advance(milliseconds(100));
  worker.join();
  EXPECT_EQ(got, "fast");
  EXPECT_EQ(got_at, t0 + milliseconds(100));
  EXPECT_EQ(q.DelayedLen(), 1u);
}

TEST(WorkQueueTest, RateLimitedRequeuesCountUntilForgotten) {
  FakeClock clock;
  ItemExponentialBackoff backoff(milliseconds(1), milliseconds(4));
  WorkQueue q(&backoff, &clock);
  q.AddRateLimited("k");
  q.AddRateLimited("k");
  EXPECT_EQ(q.NumRequeues("k"), 2);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(q.Get(), "k");
  q.Done("k");
  q.Forget("k");
  EXPECT_EQ(q.NumRequeues("k"), 0);
}

// Each failure of a key delays its next try by exactly base * 2^(n-1), capped; a success
// (Forget) starts over at base.
TEST(WorkQueueTest, BackoffDelaysAreExact) {
  FakeClock clock;
  ItemExponentialBackoff backoff(milliseconds(5), milliseconds(40));
  WorkQueue q(&backoff, &clock);
  q.Add("k");
  for (const int expected_ms : {5, 10, 20, 40, 40, 40}) {
    ASSERT_EQ(q.Get(), "k");
    q.AddRateLimited("k");  // the reconcile failed
    q.Done("k");
    clock.Advance(milliseconds(expected_ms) - nanoseconds(1));
    EXPECT_EQ(q.Len(), 0u) << "retried before " << expected_ms << " ms";
    clock.Advance(nanoseconds(1));
    EXPECT_EQ(q.Len(), 1u) << "not retried at " << expected_ms << " ms";
  }
  ASSERT_EQ(q.Get(), "k");
  q.Forget("k");  // succeeded
  q.Done("k");
  q.AddRateLimited("k");
  clock.Advance(milliseconds(5) - nanoseconds(1));
  EXPECT_EQ(q.Len(), 0u);
  clock.Advance(nanoseconds(1));
  EXPECT_EQ(q.Len(), 1u) << "after Forget the backoff starts over at its base";
}

TEST(WorkQueueTest, ShutDownWakesWorkers) {
  WorkQueue q;
  std::vector<std::thread> workers;
  std::atomic<int> exited{0};
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) q.Done(*key);
      ++exited;
    });
  }
  q.Add("x");
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(exited.load(), 3);
  EXPECT_TRUE(q.ShuttingDown());
  q.Add("y");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, ManyWorkersProcessEachKeyExactlyOncePerAdd) {
  WorkQueue q;
  std::atomic<int> in_process{0};
  std::atomic<int> overlaps{0};
  absl::Mutex mu;
  std::map<std::string, int> processed;
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        if (++in_process > 4) ++overlaps;
        {
          absl::MutexLock lock(&mu);
          processed[*key]++;
        }
        --in_process;
        q.Done(*key);
      }
    });
  }
  for (int i = 0; i < 200; ++i) q.Add("k" + std::to_string(i % 50));
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu) { return processed.size() == 50u; };
    mu.Await(absl::Condition(&all));
  }
  q.ShutDown();
  for (auto& t : workers) t.join();
  for (const auto& [key, n] : processed) EXPECT_GE(n, 1) << key;
  EXPECT_EQ(overlaps.load(), 0);
}

}  // namespace
}  // namespace senren::regional::kube
