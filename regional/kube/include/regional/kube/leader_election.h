#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "regional/kube/clock.h"
#include "regional/kube/kube_client.h"

namespace senren::regional::kube {

struct LeaderElectionOptions {
  std::string ns;        // namespace of the Lease
  std::string name;      // Lease name, e.g. "senren-controller"
  std::string identity;  // this replica, e.g. "<hostname>-<pid>"
  // How long a Lease stays valid without renewal (written to the Lease in whole seconds,
  // rounded up). Default: 15 s.
  std::chrono::milliseconds lease_duration{15000};
  // The leader stops leading once this long has passed since it sent its last successful
  // renewal; must be shorter than lease_duration, whose remainder is the margin in which
  // the stepped-down leader's last writes land before anyone else may take the Lease.
  // Default: 10 s.
  std::chrono::milliseconds renew_deadline{10000};
  // Pause between attempts to acquire or renew. Default: 2 s.
  std::chrono::milliseconds retry_period{2000};
  // The clock every duration above is measured on; not owned. Lease times written to the
  // apiserver (renewTime, acquireTime) stay wall-clock time. Default: Clock::Real().
  Clock* clock = Clock::Real();
};

// Checks lease_duration > renew_deadline > retry_period > 0 and lease_duration ≥ 1 s
// (the Lease holds whole seconds). InvalidArgument naming the offending value otherwise.
absl::Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options);

// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection
// package: a replica takes the Lease when it is free or its holder has not renewed it for
// lease_duration (measured on this replica's own clock since it last saw the Lease change,
// so clocks need not agree), then renews it every retry_period with an optimistic update
// (resourceVersion).
//
// The renew deadline is enforced, whatever the client does: every request to the
// apiserver runs on a helper thread and is waited for only until the deadline of the
// attempt (for a leader: renew_deadline after it sent its last successful renewal), so a
// hung or slowly retrying client cannot keep a leader leading past that. Others can take
// the Lease no earlier than lease_duration after that renewal was sent, so a leader that
// stops writing when IsLeader() turns false never writes beside its successor. A request
// that did not answer in time is abandoned (its answer is dropped) and no new one is sent
// until it returns; the destructor waits for it, so the client should bound its own
// requests too (e.g. a request timeout of about renew_deadline and no retries).
//
// Run blocks on the caller's thread; Stop (from another thread) ends it, and the Lease is
// released after on_stopped_leading returned, so a successor need not wait for it to
// expire and never overlaps with us. The caller should exit after a lost Lease (Run
// returned false) and start over, as client-go's callers do.
class LeaderElector {
 public:
  LeaderElector(KubeClient* client, LeaderElectionOptions options);
  // Waits for a request still running on the helper thread (bounded by the client).
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Acquires, calls on_started_leading (on this thread; it must return quickly, e.g.
  // start workers), renews until Stop or a lost Lease, then calls on_stopped_leading
  // (IsLeader() is already false by then; it should stop every writer before it returns).
  // Returns true if leadership ended by Stop (or Stop came before it was acquired), false
  // if it was lost: another holder took it, or no renewal succeeded within renew_deadline.
  bool Run(const std::function<void()>& on_started_leading,
           const std::function<void()>& on_stopped_leading);
  // Ends Run, also interrupting a wait for a request. Thread-safe; idempotent.
  void Stop();

  // True while leading and the renew deadline of the last successful renewal has not
  // passed, judged on the spot: writers gate each write on it, so they stop at the
  // deadline even before Run's thread has noticed. Thread-safe.
  bool IsLeader() const;

  // One attempt to acquire or renew the Lease, bounded by renew_deadline: true when this
  // replica holds it after. For tests and tools; Run does its own attempts.
  bool TryAcquireOrRenew();

 private:
  using TimePoint = Clock::TimePoint;
  enum class Attempt {
    kHeld,         // this replica holds the Lease, renewed by this attempt
    kHeldByOther,  // another replica holds an unexpired Lease
    kFailed,       // the apiserver did not answer in time, refused, or a conflict
  };
  // The answer of one request, shared with the helper thread that makes it.
  struct Pending {
    bool done = false;
    absl::StatusOr<Json> result;
  };

  Attempt TryAcquireOrRenewBefore(TimePoint deadline);
  // Runs `call` on the helper thread and waits until it answers, `deadline` passes
  // (DeadlineExceeded) or, when `interruptible`, Stop is called (Cancelled). Refuses
  // (DeadlineExceeded) while an earlier request has not answered yet.
  absl::StatusOr<Json> CallBefore(TimePoint deadline, std::function<absl::StatusOr<Json>()> call,
                                  bool interruptible);
  // Waits until `deadline` or Stop; true when stopped.
  bool WaitStop(TimePoint deadline);
  void Release();

  KubeClient* const client_;
  const LeaderElectionOptions options_;
  Clock* const clock_;
  std::atomic<bool> leader_{false};
  // While leading: the renew deadline (options_.clock, ns since its epoch) of the last
  // successful renewal.
  std::atomic<int64_t> leading_until_ns_{0};

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<Pending> pending_ ABSL_GUARDED_BY(mu_);
  // The helper thread of the latest request; only Run's thread (or the destructor)
  // starts and joins it.
  std::thread request_thread_;

  // The Lease as last seen and when (our clock), to judge expiry without clock sync.
  // Run's thread only.
  std::string observed_holder_;
  std::string observed_renew_time_;
  TimePoint observed_at_{};
  // The other holder last logged, so a standby logs each new holder once.
  std::string logged_holder_;
};

// "2026-11-26T17:30:23.123456Z": the MicroTime format of Lease times.
std::string NowMicroTime();

// For a daemon's on_stopped_leading when the Lease was lost (not renewed in time, or
// taken): logs it and ends the process at once with status 1. Stopping the workers would
// wait for their requests in flight and the client's retries, which may outlast the Lease
// while another replica takes over; exiting ends them all. Whatever must survive has to be
// durable at each write, as after kill -9.
[[noreturn]] void ExitOnLostLease(const LeaderElectionOptions& options);

}  // namespace senren::regional::kube
