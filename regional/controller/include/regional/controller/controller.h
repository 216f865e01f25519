#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "regional/controller/metrics.h"
#include "regional/controller/render.h"
#include "regional/kube/clock.h"
#include "regional/kube/informer.h"
#include "regional/kube/kube_client.h"
#include "regional/kube/work_queue.h"

namespace senren::regional::controller {

struct ControllerOptions {
  std::vector<Kind> kinds = {Kind::kRedisDatabase, Kind::kAerospikeCluster};
  // Namespace watched; empty: every namespace. Default: empty.
  std::string ns;
  // Reconcile workers. Default: 4.
  int workers = 4;
  // Every CR is reconciled at least this often, even without events (the level-triggered
  // safety net). Default: 30 s.
  std::chrono::seconds resync{30};
  // Field manager of server-side apply. Default: "senren-controller".
  std::string field_manager = kControllerName;
  // Retry backoff of a failing CR. Default: 5 ms .. 30 s.
  std::chrono::milliseconds min_backoff{5};
  std::chrono::milliseconds max_backoff{30000};
  // The clock of the resync period and of the queue's delays (backoff, requeue after a
  // conflict); not owned. Default: kube::Clock::Real().
  kube::Clock* clock = kube::Clock::Real();
  // The cluster's DNS domain, for the in-cluster names the children use. Default:
  // "cluster.local".
  std::string cluster_domain = "cluster.local";
  // Aerospike scale-down: after a node left, how long the others must stay ready before
  // the next one goes (ReadyToRemoveNextPod). It covers the time between a node leaving
  // and its peers' readiness probes failing for the migrations that follows: the
  // heartbeat timeout (1.5 s) plus up to 3 failed probes 5 s apart. Default: 20 s.
  std::chrono::seconds scale_down_settle{20};
};

// senren-controller's loop for RedisDatabase and AerospikeCluster (docs/design.md §6):
// informers on the CRs and on their children (StatefulSets, Services, ConfigMaps,
// PodDisruptionBudgets and the StatefulSets' Pods, labelled managed-by=senren-controller)
// feed a rate-limited work queue of CR keys; workers reconcile each CR level-triggered:
// render the desired children, server-side apply those that differ from the cache (so a
// hand edit is put back and an unchanged world costs no write), then write .status only if it
// changed. Children carry a controller ownerReference, so deleting a CR lets the garbage collector
// delete them.
//
// Lifetime: Start launches informer, worker and resync threads; Stop (or the destructor)
// joins them. Reconcile may also be called directly (tests).
class Controller {
 public:
  Controller(kube::KubeClient* client, ControllerOptions options, Metrics* metrics);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  void Start();
  void Stop();
  // True once every informer has listed.
  bool WaitForSync(std::chrono::milliseconds timeout);

  // Reconciles one queue key "<Kind>/<namespace>/<name>". OK when the CR is converged or
  // waiting on the cluster (events will bring it back); an error asks for a retry.
  absl::Status Reconcile(const std::string& key);

  static std::string QueueKey(Kind kind, const std::string& ns, const std::string& name);
  size_t QueueDepth() { return queue_.Len(); }
  int64_t status_writes() const { return status_writes_.load(); }
  int64_t child_applies() const { return child_applies_.load(); }

 private:
  struct ChildInformer {
    kube::Resource resource;
    std::unique_ptr<kube::Informer> informer;
  };
  void Worker();
  void ResyncLoop();
  void EnqueueOwnerOf(const kube::ObjectPtr& child);
  kube::Informer* CrInformer(Kind kind);
  kube::Informer* ChildCache(const std::string& kind);
  // Applies one child unless the cache already holds it; `out` gets the live object.
  absl::Status EnsureChild(const Owner& owner, const kube::Resource& resource, const Json& desired,
                           Json* out, Observation* observation);
  // The replica count to apply to the StatefulSet of an Aerospike cluster of `size` nodes:
  // `size` unless that removes nodes; then the live count, one less only once
  // ReadyToRemoveNextPod has held for options_.scale_down_settle. `recheck` gets how long
  // until a step may be due (zero: events will bring the CR back); `based_on` the
  // resourceVersion of the cached StatefulSet the count was derived from (empty: `size`).
  int AerospikeReplicas(const std::string& key, const Owner& owner, const std::string& statefulset,
                        int size, kube::Clock::Duration* recheck, std::string* based_on);

  kube::KubeClient* const client_;
  const ControllerOptions options_;
  Metrics* const metrics_;
  kube::ItemExponentialBackoff backoff_;
  kube::WorkQueue queue_;
  std::map<Kind, std::unique_ptr<kube::Informer>> cr_informers_;
  std::vector<ChildInformer> child_informers_;
  std::vector<std::thread> threads_;
  absl::Notification stop_;
  // stop_ again, for the resync loop's wait on options_.clock.
  absl::Mutex resync_mu_;
  bool resync_stop_ ABSL_GUARDED_BY(resync_mu_) = false;
  bool started_ = false;
  // Aerospike clusters scaling down: key → since when (options_.clock) the StatefulSet has
  // been ready to lose a pod at that replica count. Memory only: a restarted controller
  // starts the wait again, which only makes it longer.
  struct SettleSince {
    int replicas = 0;
    kube::Clock::TimePoint since;
  };
  absl::Mutex settle_mu_;
  std::map<std::string, SettleSince> settle_ ABSL_GUARDED_BY(settle_mu_);
  std::atomic<int64_t> status_writes_{0};
  std::atomic<int64_t> child_applies_{0};
};

// Parses "redis,aerospike" (also the kind names) into kinds; InvalidArgument otherwise.
absl::StatusOr<std::vector<Kind>> ParseKinds(const std::string& csv);

}  // namespace senren::regional::controller
