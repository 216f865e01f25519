#include "regional/kube/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "regional/kube/testing/fake_kube_client.h"

namespace senren::regional::kube {
namespace {

using testing::FakeKubeClient;
using Clock = std::chrono::steady_clock;

// A FakeKubeClient whose Lease updates can be made to hang, as on an apiserver that
// accepts the connection and never answers (or a client retrying with long timeouts).
class HangingKubeClient : public KubeClient {
 public:
  void HangUpdates(bool hang) {
    absl::MutexLock lock(&mu_);
    hang_ = hang;
  }
  int hung() {
    absl::MutexLock lock(&mu_);
    return hung_;
  }
  FakeKubeClient& fake() { return fake_; }

  absl::StatusOr<Json> Get(const Resource& r, const std::string& ns,
                           const std::string& name) override {
    return fake_.Get(r, ns, name);
  }
  absl::StatusOr<ObjectList> List(const Resource& r, const std::string& ns,
                                  const ListOptions& o) override {
    return fake_.List(r, ns, o);
  }
  absl::StatusOr<Json> Create(const Resource& r, const std::string& ns,
                              const Json& object) override {
    return fake_.Create(r, ns, object);
  }
  absl::StatusOr<Json> Update(const Resource& r, const std::string& ns,
                              const Json& object) override {
    {
      absl::MutexLock lock(&mu_);
      if (hang_) {
        ++hung_;
        auto released = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !hang_; };
        mu_.Await(absl::Condition(&released));
      }
    }
    return fake_.Update(r, ns, object);
  }
  absl::StatusOr<Json> UpdateStatus(const Resource& r, const std::string& ns,
                                    const Json& object) override {
    return fake_.UpdateStatus(r, ns, object);
  }
  absl::StatusOr<Json> Apply(const Resource& r, const std::string& ns, const Json& object,
                             const ApplyOptions& o) override {
    return fake_.Apply(r, ns, object, o);
  }
  absl::Status Delete(const Resource& r, const std::string& ns, const std::string& name,
                      const DeleteOptions& o) override {
    return fake_.Delete(r, ns, name, o);
  }
  absl::Status Watch(const Resource& r, const std::string& ns, const WatchOptions& o,
                     const WatchHandler& h, const std::atomic<bool>* cancel) override {
    return fake_.Watch(r, ns, o, h, cancel);
  }

 private:
  FakeKubeClient fake_;
  absl::Mutex mu_;
  bool hang_ ABSL_GUARDED_BY(mu_) = false;
  int hung_ ABSL_GUARDED_BY(mu_) = 0;
};

// Timings of the deadline tests: short, with a lease long enough that stepping down at
// the renew deadline is clearly before it.
LeaderElectionOptions DeadlineOptions(const std::string& identity) {
  LeaderElectionOptions o;
  o.ns = "senren";
  o.name = "senren-regional-test";
  o.identity = identity;
  o.lease_duration = std::chrono::seconds(1);
  o.renew_deadline = std::chrono::milliseconds(150);
  o.retry_period = std::chrono::milliseconds(20);
  return o;
}

void WaitUntilLeader(const LeaderElector& e) {
  while (!e.IsLeader()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

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
  std::string holder_when_stopped;
  std::thread t([&] {
    EXPECT_TRUE(a.Run([&] { ++started; },
                      [&] {
                        ++stopped;
                        auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
                        holder_when_stopped = (*lease)["spec"].value("holderIdentity", "?");
                      }));
  });
  while (!a.IsLeader()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(started.load(), 1);
  a.Stop();
  t.join();
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_FALSE(a.IsLeader());
  auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "") << "released on Stop";
  EXPECT_EQ(holder_when_stopped, "a")
      << "released only after on_stopped_leading returned: a successor never overlaps";
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

// The renew deadline holds even when the client never answers: the leader is no longer
// leading once renew_deadline has passed since the last renewal it sent, and Run returns
// (lost) at about that moment — long before the Lease can expire for anyone else.
TEST(LeaderElectionTest, HungRenewalStepsDownAtTheRenewDeadline) {
  HangingKubeClient kube;
  const LeaderElectionOptions o = DeadlineOptions("a");
  LeaderElector a(&kube, o);
  absl::Notification stopped;
  std::atomic<bool> leading_when_stopped{true};
  Clock::time_point stopped_at;
  std::atomic<bool> result{true};
  std::thread t([&] {
    result = a.Run([] {},
                   [&] {
                     leading_when_stopped = a.IsLeader();
                     stopped_at = Clock::now();
                     stopped.Notify();
                   });
  });
  WaitUntilLeader(a);
  // Every renewal sent from now on hangs; the last one that succeeded began before.
  const Clock::time_point hang_from = Clock::now();
  kube.HangUpdates(true);
  std::this_thread::sleep_until(hang_from + o.renew_deadline + std::chrono::milliseconds(1));
  EXPECT_FALSE(a.IsLeader()) << "IsLeader turns false at the deadline, on the spot";
  ASSERT_TRUE(stopped.WaitForNotificationWithTimeout(absl::FromChrono(o.lease_duration)))
      << "still leading after a full lease duration with a hung renewal";
  EXPECT_FALSE(leading_when_stopped.load());
  EXPECT_LT(stopped_at - hang_from, o.renew_deadline + std::chrono::milliseconds(100));
  EXPECT_GE(kube.hung(), 1);
  kube.HangUpdates(false);
  t.join();
  EXPECT_FALSE(result.load()) << "lost, not stopped";
}

// A renewal that fails fast is retried until the deadline, then leadership ends.
TEST(LeaderElectionTest, FailingRenewalsStepDownAtTheRenewDeadline) {
  HangingKubeClient kube;
  const LeaderElectionOptions o = DeadlineOptions("a");
  LeaderElector a(&kube, o);
  absl::Notification stopped;
  Clock::time_point stopped_at;
  std::thread t([&] { EXPECT_FALSE(a.Run([] {}, [&] {
    stopped_at = Clock::now();
    stopped.Notify();
  })); });
  WaitUntilLeader(a);
  const Clock::time_point fail_from = Clock::now();
  kube.fake().FailAlways("leases", absl::UnavailableError("apiserver down"), "update");
  ASSERT_TRUE(stopped.WaitForNotificationWithTimeout(absl::FromChrono(o.lease_duration)));
  EXPECT_LT(stopped_at - fail_from, o.renew_deadline + std::chrono::milliseconds(100));
  EXPECT_GE(kube.fake().Calls("update", "leases"), 2) << "renewals are retried meanwhile";
  t.join();
}

// Another holder in the Lease (a hand edit, a split brain) ends leadership at the next
// renewal, without waiting for the deadline.
TEST(LeaderElectionTest, AnotherHolderEndsLeadershipAtOnce) {
  FakeKubeClient kube;
  LeaderElectionOptions o = DeadlineOptions("a");
  o.renew_deadline = std::chrono::milliseconds(800);
  o.lease_duration = std::chrono::seconds(2);
  LeaderElector a(&kube, o);
  absl::Notification stopped;
  std::thread t([&] { EXPECT_FALSE(a.Run([] {}, [&] { stopped.Notify(); })); });
  WaitUntilLeader(a);
  auto lease = kube.Get(resources::Leases(), o.ns, o.name);
  ASSERT_TRUE(lease.ok());
  (*lease)["spec"]["holderIdentity"] = "b";
  (*lease)["spec"]["renewTime"] = NowMicroTime();
  ASSERT_TRUE(kube.Update(resources::Leases(), o.ns, *lease).ok());
  EXPECT_TRUE(stopped.WaitForNotificationWithTimeout(absl::Milliseconds(400)));
  EXPECT_FALSE(a.IsLeader());
  t.join();
}

// Stop does not wait for a hung request: Run returns at once, and the Lease is left to
// expire (the release cannot be sent while the earlier request hangs).
TEST(LeaderElectionTest, StopInterruptsAHungRequest) {
  HangingKubeClient kube;
  LeaderElectionOptions o = DeadlineOptions("a");
  o.renew_deadline = std::chrono::milliseconds(800);
  o.lease_duration = std::chrono::seconds(2);
  LeaderElector a(&kube, o);
  absl::Notification returned;
  std::thread t([&] {
    EXPECT_TRUE(a.Run([] {}, [] {}));
    returned.Notify();
  });
  WaitUntilLeader(a);
  kube.HangUpdates(true);
  while (kube.hung() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  a.Stop();
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  EXPECT_FALSE(a.IsLeader());
  kube.HangUpdates(false);
  t.join();
}

TEST(LeaderElectionTest, OptionsAreValidated) {
  LeaderElectionOptions o;
  EXPECT_TRUE(ValidateLeaderElectionOptions(o).ok()) << "the defaults: 15 s, 10 s, 2 s";
  o.renew_deadline = o.lease_duration;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateLeaderElectionOptions(o)));
  o = {};
  o.retry_period = o.renew_deadline;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateLeaderElectionOptions(o)));
  o = {};
  o.lease_duration = std::chrono::milliseconds(500);
  o.renew_deadline = std::chrono::milliseconds(400);
  o.retry_period = std::chrono::milliseconds(100);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateLeaderElectionOptions(o)));
  o = {};
  o.retry_period = std::chrono::milliseconds(0);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateLeaderElectionOptions(o)));
}

}  // namespace
}  // namespace senren::regional::kube
