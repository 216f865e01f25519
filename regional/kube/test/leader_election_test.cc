#include "regional/kube/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "regional/kube/testing/fake_clock.h"
#include "regional/kube/testing/fake_kube_client.h"

namespace senren::regional::kube {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;
using testing::FakeClock;
using testing::FakeKubeClient;
using TimePoint = Clock::TimePoint;

// A FakeKubeClient whose Lease updates can be made to hang, as on an apiserver that
// accepts the connection and never answers (or a client retrying with long timeouts).
// A hung update, once released, fails as a reset connection: it never reached the server.
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
  // Blocks until `n` updates have hung.
  void AwaitHung(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return hung_ >= n; };
    mu_.Await(absl::Condition(&reached));
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
        return absl::UnavailableError("connection reset by peer (injected)");
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

// The defaults (15 s lease, 10 s renew deadline, 2 s retry period) on a clock the test
// moves: every instant below is exact.
LeaderElectionOptions Options(const std::string& identity, Clock* clock) {
  LeaderElectionOptions o;
  o.ns = "senren";
  o.name = "senren-controller";
  o.identity = identity;
  o.clock = clock;
  return o;
}

// Runs an elector on its own thread and records when and how leadership ended.
class RunningElector {
 public:
  RunningElector(LeaderElector* elector, Clock* clock) {
    thread_ = std::thread([this, elector, clock] {
      result_ = elector->Run([this] { started_.Notify(); },
                             [this, elector, clock] {
                               leading_when_stopped_ = elector->IsLeader();
                               stopped_at_ = clock->Now();
                               stopped_.Notify();
                             });
    });
    started_.WaitForNotification();
  }
  ~RunningElector() { Join(); }

  // Blocks until on_stopped_leading ran.
  void AwaitStopped() { stopped_.WaitForNotification(); }
  bool Stopped() const { return stopped_.HasBeenNotified(); }
  // Joins Run's thread; Run's result: true when ended by Stop.
  bool Join() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  TimePoint stopped_at() const { return stopped_at_; }
  bool leading_when_stopped() const { return leading_when_stopped_; }

 private:
  absl::Notification started_;
  absl::Notification stopped_;
  bool result_ = false;
  bool leading_when_stopped_ = true;
  TimePoint stopped_at_;
  std::thread thread_;
};

// Moves the clock to each retry of a leader that acquired at `t0` and keeps failing,
// once Run's thread waits for it, up to the last one before the renew deadline.
void DriveFailingRetries(FakeClock& clock, TimePoint t0, const LeaderElectionOptions& o) {
  for (TimePoint t = t0 + o.retry_period; t < t0 + o.renew_deadline; t += o.retry_period) {
    ASSERT_TRUE(clock.BlockUntilWaiting(t));
    clock.AdvanceTo(t);
  }
}

TEST(LeaderElectionTest, OneHolderAtATime) {
  FakeClock clock;
  FakeKubeClient kube;
  LeaderElector a(&kube, Options("a", &clock));
  LeaderElector b(&kube, Options("b", &clock));
  EXPECT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  EXPECT_TRUE(a.TryAcquireOrRenew()) << "renewal";
  auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "a");
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 0);
}

// A Lease not renewed is still held at exactly lease_duration after a standby saw it last
// change (on the standby's own clock) and free the instant after.
TEST(LeaderElectionTest, LeaseExpiresExactlyAtItsDuration) {
  FakeClock clock;
  FakeKubeClient kube;
  LeaderElector a(&kube, Options("a", &clock));
  LeaderElector b(&kube, Options("b", &clock));
  ASSERT_TRUE(a.TryAcquireOrRenew());
  clock.Advance(seconds(5));
  EXPECT_FALSE(b.TryAcquireOrRenew());  // b observes the Lease now: its expiry runs from here
  clock.Advance(seconds(15));
  EXPECT_FALSE(b.TryAcquireOrRenew()) << "taken at exactly lease_duration";
  clock.Advance(nanoseconds(1));
  EXPECT_TRUE(b.TryAcquireOrRenew()) << "not taken after lease_duration";
  auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_FALSE(a.TryAcquireOrRenew()) << "the old holder sees it lost the Lease";
}

// A Lease of 1.5 s is written as 2 s, and a standby waits the 2 s the Lease claims.
TEST(LeaderElectionTest, LeaseDurationIsRoundedUpToWholeSeconds) {
  FakeClock clock;
  FakeKubeClient kube;
  LeaderElectionOptions o = Options("a", &clock);
  o.lease_duration = std::chrono::milliseconds(1500);
  o.renew_deadline = std::chrono::milliseconds(1000);
  o.retry_period = std::chrono::milliseconds(200);
  LeaderElector a(&kube, o);
  o.identity = "b";
  LeaderElector b(&kube, o);
  ASSERT_TRUE(a.TryAcquireOrRenew());
  EXPECT_EQ((*kube.Get(resources::Leases(), "senren",
                       "senren-controller"))["spec"]["leaseDurationSeconds"],
            2);
  EXPECT_FALSE(b.TryAcquireOrRenew());
  clock.Advance(std::chrono::milliseconds(1501));
  EXPECT_FALSE(b.TryAcquireOrRenew()) << "held for what the Lease says, not the option";
  clock.Advance(std::chrono::milliseconds(500));
  EXPECT_TRUE(b.TryAcquireOrRenew());
}

// Run renews every retry_period; each renewal moves the deadline, so a leader whose
// renewals succeed leads far past the first deadline and the lease duration. Stop ends
// it, and the Lease is released only after on_stopped_leading returned.
TEST(LeaderElectionTest, RunRenewsUntilStopAndReleasesForASuccessor) {
  FakeClock clock;
  FakeKubeClient kube;
  const LeaderElectionOptions o = Options("a", &clock);
  LeaderElector a(&kube, o);
  const TimePoint t0 = clock.Now();
  std::string holder_when_stopped;
  int started = 0;
  int stopped = 0;
  absl::Notification leading;
  std::thread t([&] {
    EXPECT_TRUE(a.Run(
        [&] {
          ++started;
          leading.Notify();
        },
        [&] {
          ++stopped;
          auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
          holder_when_stopped = (*lease)["spec"].value("holderIdentity", "?");
        }));
  });
  leading.WaitForNotification();
  EXPECT_TRUE(a.IsLeader());
  for (TimePoint next = t0 + o.retry_period; next <= t0 + seconds(40); next += o.retry_period) {
    ASSERT_TRUE(clock.BlockUntilWaiting(next));
    clock.AdvanceTo(next);
    EXPECT_TRUE(a.IsLeader()) << "at " << (next - t0).count() << " ns";
  }
  ASSERT_TRUE(clock.BlockUntilWaiting(t0 + seconds(42)));
  EXPECT_EQ(kube.Calls("update", "leases"), 20) << "one renewal per retry period";
  a.Stop();
  t.join();
  EXPECT_EQ(started, 1);
  EXPECT_EQ(stopped, 1);
  EXPECT_FALSE(a.IsLeader());
  auto lease = kube.Get(resources::Leases(), "senren", "senren-controller");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "") << "released on Stop";
  EXPECT_EQ(holder_when_stopped, "a")
      << "released only after on_stopped_leading returned: a successor never overlaps";
  LeaderElector b(&kube, Options("b", &clock));
  EXPECT_TRUE(b.TryAcquireOrRenew()) << "a released Lease is free at once";
}

// Renewals that fail fast are retried every retry_period until the renew deadline of the
// last successful one; at that instant leadership ends.
TEST(LeaderElectionTest, FailingRenewalsStepDownExactlyAtTheRenewDeadline) {
  FakeClock clock;
  HangingKubeClient kube;
  const LeaderElectionOptions o = Options("a", &clock);
  LeaderElector a(&kube, o);
  const TimePoint t0 = clock.Now();
  RunningElector run(&a, &clock);
  kube.fake().FailAlways("leases", absl::UnavailableError("apiserver down"), "update");
  DriveFailingRetries(clock, t0, o);
  // The renewal of 8 s has failed (its wait for an answer also ends at the deadline).
  ASSERT_TRUE(kube.fake().WaitFor([&] { return kube.fake().Calls("update", "leases") == 4; }));
  ASSERT_TRUE(clock.BlockUntilWaiting(t0 + o.renew_deadline));
  clock.AdvanceTo(t0 + o.renew_deadline - nanoseconds(1));
  EXPECT_TRUE(a.IsLeader()) << "leading until the deadline";
  EXPECT_FALSE(run.Stopped());
  clock.AdvanceTo(t0 + o.renew_deadline);
  EXPECT_FALSE(a.IsLeader()) << "IsLeader turns false at the deadline, on the spot";
  run.AwaitStopped();
  EXPECT_EQ(run.stopped_at(), t0 + o.renew_deadline);
  EXPECT_FALSE(run.leading_when_stopped());
  EXPECT_EQ(kube.fake().Calls("update", "leases"), 4) << "renewals at 2, 4, 6 and 8 s";
  EXPECT_FALSE(run.Join()) << "lost, not stopped";
}

// The renew deadline holds even when the client never answers: the leader is no longer
// leading once renew_deadline has passed since the last renewal it sent, and Run returns
// (lost) at that moment, 5 s before the Lease can expire for anyone else.
TEST(LeaderElectionTest, HungRenewalLosesLeadershipBeforeTheLeaseCanPass) {
  FakeClock clock;
  HangingKubeClient kube;
  const LeaderElectionOptions o = Options("a", &clock);
  LeaderElector a(&kube, o);
  LeaderElector b(&kube.fake(), Options("b", &clock));
  const TimePoint t0 = clock.Now();
  RunningElector run(&a, &clock);
  EXPECT_FALSE(b.TryAcquireOrRenew());  // b observes the Lease a took at t0
  ASSERT_TRUE(clock.BlockUntilWaiting(t0 + o.retry_period));
  kube.HangUpdates(true);
  clock.AdvanceTo(t0 + o.retry_period);
  kube.AwaitHung(1);  // the renewal of 2 s hangs
  ASSERT_TRUE(clock.BlockUntilWaiting(t0 + o.renew_deadline));
  clock.AdvanceTo(t0 + o.renew_deadline - nanoseconds(1));
  EXPECT_TRUE(a.IsLeader());
  clock.AdvanceTo(t0 + o.renew_deadline);
  EXPECT_FALSE(a.IsLeader()) << "IsLeader turns false at the deadline, on the spot";
  run.AwaitStopped();
  EXPECT_EQ(run.stopped_at(), t0 + o.renew_deadline);
  EXPECT_FALSE(run.leading_when_stopped());
  EXPECT_EQ(kube.hung(), 1) << "no second request while the first hangs";
  // The Lease a wrote at t0 holds for everyone else until t0 + lease_duration.
  EXPECT_FALSE(b.TryAcquireOrRenew());
  clock.AdvanceTo(t0 + o.lease_duration);
  EXPECT_FALSE(b.TryAcquireOrRenew());
  clock.Advance(nanoseconds(1));
  EXPECT_TRUE(b.TryAcquireOrRenew()) << "a successor takes over only after a stepped down";
  EXPECT_GE(t0 + o.lease_duration - run.stopped_at(), o.lease_duration - o.renew_deadline);
  kube.HangUpdates(false);
  EXPECT_FALSE(run.Join()) << "lost, not stopped";
}

// Another holder in the Lease (a hand edit, a split brain) ends leadership at the next
// renewal, without waiting for the deadline.
TEST(LeaderElectionTest, AnotherHolderEndsLeadershipAtTheNextRenewal) {
  FakeClock clock;
  FakeKubeClient kube;
  const LeaderElectionOptions o = Options("a", &clock);
  LeaderElector a(&kube, o);
  const TimePoint t0 = clock.Now();
  RunningElector run(&a, &clock);
  auto lease = kube.Get(resources::Leases(), o.ns, o.name);
  ASSERT_TRUE(lease.ok());
  (*lease)["spec"]["holderIdentity"] = "b";
  (*lease)["spec"]["renewTime"] = NowMicroTime();
  ASSERT_TRUE(kube.Update(resources::Leases(), o.ns, *lease).ok());
  ASSERT_TRUE(clock.BlockUntilWaiting(t0 + o.retry_period));
  clock.AdvanceTo(t0 + o.retry_period);
  run.AwaitStopped();
  EXPECT_EQ(run.stopped_at(), t0 + o.retry_period);
  EXPECT_FALSE(a.IsLeader());
  EXPECT_FALSE(run.Join());
}

// Stop does not wait for a hung request: Run returns without time moving, and the Lease is
// left to expire (the release cannot be sent while the earlier request hangs).
TEST(LeaderElectionTest, StopInterruptsAHungRequest) {
  FakeClock clock;
  HangingKubeClient kube;
  const LeaderElectionOptions o = Options("a", &clock);
  LeaderElector a(&kube, o);
  const TimePoint t0 = clock.Now();
  RunningElector run(&a, &clock);
  ASSERT_TRUE(clock.BlockUntilWaiting(t0 + o.retry_period));
  kube.HangUpdates(true);
  clock.AdvanceTo(t0 + o.retry_period);
  kube.AwaitHung(1);
  a.Stop();
  run.AwaitStopped();
  EXPECT_TRUE(run.Join()) << "stopped, not lost";
  EXPECT_EQ(clock.Now(), t0 + o.retry_period);
  EXPECT_FALSE(a.IsLeader());
  EXPECT_EQ((*kube.Get(resources::Leases(), o.ns, o.name))["spec"]["holderIdentity"], "a")
      << "not released while a request hangs";
  kube.HangUpdates(false);
}

// Before it leads, Run retries every retry_period while another replica holds the Lease,
// and takes it once it expired.
TEST(LeaderElectionTest, StandbyRunTakesOverOnceTheLeaseExpired) {
  FakeClock clock;
  FakeKubeClient kube;
  LeaderElector a(&kube, Options("a", &clock));
  const LeaderElectionOptions o = Options("b", &clock);
  LeaderElector b(&kube, o);
  const TimePoint t0 = clock.Now();
  ASSERT_TRUE(a.TryAcquireOrRenew());
  absl::Notification leading;
  TimePoint leading_at;
  std::thread t([&] {
    b.Run(
        [&] {
          leading_at = clock.Now();
          leading.Notify();
        },
        [] {});
  });
  // Attempts at 0, 2, … 14 s see a valid Lease; the one at 16 s takes it.
  for (TimePoint next = t0 + o.retry_period; next <= t0 + seconds(16); next += o.retry_period) {
    ASSERT_TRUE(clock.BlockUntilWaiting(next));
    EXPECT_FALSE(leading.HasBeenNotified());
    clock.AdvanceTo(next);
  }
  leading.WaitForNotification();
  EXPECT_EQ(leading_at, t0 + seconds(16));
  b.Stop();
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
