#include "regional/kube/work_queue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace senren::regional::kube {
namespace {

using std::chrono::milliseconds;

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
  WorkQueue q;
  q.AddAfter("late", milliseconds(30));
  q.AddAfter("late", milliseconds(60));  // the earlier due time wins
  q.AddAfter("late", milliseconds(40));
  EXPECT_EQ(q.DelayedLen(), 1u);
  q.Add("now");
  EXPECT_EQ(q.Get(), "now");
  q.Done("now");
  EXPECT_EQ(q.Get(), "late");  // blocks until due
  q.Done("late");
  EXPECT_EQ(q.DelayedLen(), 0u);
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, RateLimitedRequeuesCountUntilForgotten) {
  ItemExponentialBackoff backoff(milliseconds(1), milliseconds(4));
  WorkQueue q(&backoff);
  q.AddRateLimited("k");
  q.AddRateLimited("k");
  EXPECT_EQ(q.NumRequeues("k"), 2);
  EXPECT_EQ(q.Get(), "k");
  q.Done("k");
  q.Forget("k");
  EXPECT_EQ(q.NumRequeues("k"), 0);
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
  std::mutex mu;
  std::map<std::string, int> processed;
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        if (++in_process > 4) ++overlaps;
        {
          std::lock_guard<std::mutex> lock(mu);
          processed[*key]++;
        }
        --in_process;
        q.Done(*key);
      }
    });
  }
  for (int i = 0; i < 200; ++i) q.Add("k" + std::to_string(i % 50));
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (processed.size() == 50u) break;
    }
    std::this_thread::sleep_for(milliseconds(1));
  }
  q.ShutDown();
  for (auto& t : workers) t.join();
  for (const auto& [key, n] : processed) EXPECT_GE(n, 1) << key;
  EXPECT_EQ(overlaps.load(), 0);
}

}  // namespace
}  // namespace senren::regional::kube
