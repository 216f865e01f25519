#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "regional/kube/kube_client.h"

namespace senren::regional::kube {

struct LeaderElectionOptions {
  std::string ns;        // namespace of the Lease
  std::string name;      // Lease name, e.g. "senren-controller"
  std::string identity;  // this replica, e.g. "<hostname>-<pid>"
  // How long a Lease stays valid without renewal. Default: 15 s.
  std::chrono::milliseconds lease_duration{15000};
  // The leader gives up if it could not renew for this long. Default: 10 s.
  std::chrono::milliseconds renew_deadline{10000};
  // Pause between attempts to acquire or renew. Default: 2 s.
  std::chrono::milliseconds retry_period{2000};
};

// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection
// package: a replica takes the Lease when it is free or its holder has not renewed it for
// lease_duration (measured on this replica's own clock since it last saw the Lease change,
// so clocks need not agree), then renews it every retry_period with an optimistic update
// (resourceVersion). If renewal fails for renew_deadline the replica stops leading; the
// caller should then exit and start over (as client-go's callers do).
//
// Run blocks on the caller's thread; Stop (from another thread) ends it and releases the
// Lease if held, so a successor need not wait for it to expire.
class LeaderElector {
 public:
  LeaderElector(KubeClient* client, LeaderElectionOptions options);

  // Acquires, calls on_started_leading (on this thread; it must return quickly, e.g.
  // start workers), renews until Stop or a lost Lease, then calls on_stopped_leading.
  // Returns true if leadership ended by Stop, false if it was lost.
  bool Run(const std::function<void()>& on_started_leading,
           const std::function<void()>& on_stopped_leading);
  void Stop();

  bool IsLeader() const { return leader_.load(); }
  // One attempt to acquire or renew the Lease: true when this replica holds it after.
  bool TryAcquireOrRenew();

 private:
  void Release();

  KubeClient* const client_;
  const LeaderElectionOptions options_;
  std::atomic<bool> leader_{false};
  absl::Notification stop_;
  // The Lease as last seen and when (our clock), to judge expiry without clock sync.
  std::string observed_holder_;
  std::string observed_renew_time_;
  std::chrono::steady_clock::time_point observed_at_{};
};

// "2026-11-26T17:30:23.123456Z": the MicroTime format of Lease times.
std::string NowMicroTime();

}  // namespace senren::regional::kube
