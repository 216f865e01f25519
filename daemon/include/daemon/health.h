#pragma once

// Liveness (/healthz) and readiness (/readyz) of a daemon, from what its loops report.

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace senren::daemon {

// What a reconciling daemon (senren-regional, senren-controller) knows about itself at
// one instant. Plain values, so the readiness rule is tested without a daemon.
struct ReconcilerState {
  enum class Role {
    kLeading,   // holds the Lease, or runs without leader election
    kStandby,   // waits for the Lease: reads and writes nothing, and that is its job
    kStopping,  // shutting down (a signal, or the Lease was lost)
  };
  Role role = Role::kStandby;
  // Leading: the caches (informers, the snapshot partition) were read to the end once.
  bool caches_synced = false;
  // Leading: when the last reconcile ended; InfinitePast() when none has yet.
  absl::Time last_reconcile = absl::InfinitePast();
  // Leading: nothing waits to be reconciled (an empty work queue), so an old last
  // reconcile is no sign of a stuck loop.
  bool idle = false;
  absl::Time now;
  // Leading: a reconcile older than this is not recent. (A daemon resyncs every
  // resync interval, so a few intervals without one means its loop does not turn.)
  absl::Duration max_reconcile_age = absl::Minutes(2);
};

// "" when ready; else a short reason, e.g. "caches not synced" or "last reconcile 3m ago".
// Ready = leading with synced caches and a recent reconcile, or standing by.
std::string ReconcilerNotReady(const ReconcilerState& state);

// The health of one process: loops that beat (liveness) and readiness checks. Owned by
// the Daemon; thread-safe; `now` is injected for tests.
class Health {
 public:
  explicit Health(std::function<absl::Time()> now = [] { return absl::Now(); });

  // A loop that must keep turning calls Beat at each turn: /healthz fails once it has
  // been silent for longer than `max_silence` (it is wedged). The first Beat registers it.
  void Beat(const std::string& loop, absl::Duration max_silence);
  // The loop ended on purpose (e.g. a standby stopped its workers): no longer watched.
  void Forget(const std::string& loop);
  // A readiness check: returns "" when ready, else a short plain-text reason. Checks run
  // in the order added, on the HTTP server's threads; they must be cheap and thread-safe.
  void AddReadinessCheck(const std::string& name, std::function<std::string()> not_ready);
  // While stopping, the daemon is not ready whatever its checks say.
  void SetStopping();

  // "" when every loop beat recently; else "<loop> silent for <duration>".
  std::string NotLive() const;
  // "" when every check passes; else "<check>: <reason>" of the first that fails.
  std::string NotReady() const;

 private:
  struct Loop {
    absl::Time last;
    absl::Duration max_silence;
  };
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  std::map<std::string, Loop> loops_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::function<std::string()>>> checks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

// The readiness and liveness of a reconciling daemon, kept from what its main loop
// observes at each tick (Daemon::WaitForStop's tick) and read by the HTTP threads: the
// tick calls Update, readiness is ReconcilerNotReady of the kept state, and the loop
// "reconcile" beats in `health` while the daemon stands by, is idle or makes progress,
// so /healthz fails when a leader with work has not finished a reconcile for
// `wedged_after`. Thread-safe.
class ReconcilerHealth {
 public:
  // Default wedged_after: 5 × max_reconcile_age.
  ReconcilerHealth(
      Health* health, absl::Duration max_reconcile_age,
      std::function<absl::Time()> now = [] { return absl::Now(); });

  // `reconciles` is the daemon's running count of finished reconciles.
  void Update(ReconcilerState::Role role, bool caches_synced, int64_t reconciles, bool idle);
  std::string NotReady() const;

 private:
  Health* const health_;
  const absl::Duration max_reconcile_age_;
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  ReconcilerState state_ ABSL_GUARDED_BY(mu_);
  int64_t reconciles_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace senren::daemon
