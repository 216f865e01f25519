#include "regional/kube/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "regional/kube/testing/fake_kube_client.h"

namespace senren::regional::kube {
namespace {

using testing::FakeKubeClient;

LeaderElectionOptions Options(const std::string& identity) {
  LeaderElectionOptions o;
  o.ns = "senren";
  o.name = "senren-controller";
  o.identity = identity;
  o.lease_duration = std::chrono::seconds(1);
  o.renew_deadline = std::chrono::milliseconds(600);
  o.retry_period = std::chrono::milliseconds(20);
  return o;
}

TEST(LeaderElectionTest, OneHolderAtATime) {
  FakeKubeClient kube;
  LeaderElector a(&kube, Options("a"));
  LeaderElector b(&kube, Options("b"));
  EXPECT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  EXPECT_TRUE(a.TryAcquireOrRenew()) << "renewal";
  auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "a");
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 1);
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 0);
}

TEST(LeaderElectionTest, ExpiredLeaseIsTakenOver) {
  FakeKubeClient kube;
  LeaderElector a(&kube, Options("a"));
  LeaderElector b(&kube, Options("b"));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());  // b observes the Lease now
  // a stops renewing; b takes over once a full lease duration passed on b's clock.
  bool taken = false;
  while (!taken) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    taken = b.TryAcquireOrRenew();
  }
  auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_FALSE(a.TryAcquireOrRenew()) << "the old holder sees it lost the Lease";
}

TEST(LeaderElectionTest, RunLeadsUntilStopAndReleasesForASuccessor) {
  FakeKubeClient kube;
  LeaderElector a(&kube, Options("a"));
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::thread t([&] {
    EXPECT_TRUE(a.Run([&] { ++started; }, [&] { ++stopped; }));
  });
  while (!a.IsLeader()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(started.load(), 1);
  a.Stop();
  t.join();
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_FALSE(a.IsLeader());
  auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "") << "released on Stop";
  LeaderElector b(&kube, Options("b"));
  EXPECT_TRUE(b.TryAcquireOrRenew()) << "a released Lease is free at once";
}

TEST(LeaderElectionTest, LosingTheApiServerStepsDown) {
  FakeKubeClient kube;
  LeaderElector a(&kube, Options("a"));
  std::atomic<bool> stopped{false};
  std::thread t([&] { EXPECT_FALSE(a.Run([] {}, [&] { stopped = true; })); });
  while (!a.IsLeader()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int i = 0; i < 1000; ++i) kube.FailNext("leases", absl::UnavailableError("down"));
  t.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_FALSE(a.IsLeader());
}

}  // namespace
}  // namespace senren::regional::kube
