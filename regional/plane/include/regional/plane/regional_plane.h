#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "regional/kube/clock.h"
#include "regional/kube/informer.h"
#include "regional/kube/kube_client.h"
#include "regional/plane/reconcile_plan.h"
#include "regional/plane/report.h"
#include "regional/plane/snapshot_source.h"
#include "regional/plane/state_cache.h"
#include "regional/plane/status_outbox.h"

namespace senren::regional::plane {

struct RegionalPlaneOptions {
  std::string region;   // "aws:us-east-1"
  std::string cluster;  // "prod"
  std::string ns;       // namespace of the CRs. Default: "senren".
  // ClusterReport heartbeat period. Default: 10 s.
  std::chrono::milliseconds heartbeat_interval{10000};
  // Full reconcile and status re-read even without events (the safety net). Default: 30 s.
  std::chrono::milliseconds resync_interval{30000};
  // Next attempt after a reconcile whose writes failed, or while a kind's CRD is missing.
  // Default: 1 s (doubling up to 30 s while failures repeat).
  std::chrono::milliseconds retry_backoff{1000};
  // Wait of one Kafka poll. Default: 500 ms.
  std::chrono::milliseconds poll_timeout{500};
  // CR applies of one reconcile in flight at once, each on its own connection: each is an
  // apiserver write (an etcd commit), so one at a time costs a commit per changed CR.
  // 1 = one after the other. Default: 8.
  int apply_concurrency = 8;
  // Wait for an informer's first list before a reconcile gives up (and retries). Default: 10 s.
  std::chrono::milliseconds sync_timeout{10000};
  // Asked right before each write to the cluster (apply, delete) and each record put in
  // the status outbox: false means this plane no longer holds its Lease, so the write is
  // not made and the reconcile ends (counted in PlaneStats::writes_fenced). senren-regional
  // passes LeaderElector::IsLeader. Default: empty (always write; one plane per cluster).
  std::function<bool()> may_write;
  // The clock of every interval above but poll_timeout and sync_timeout (waits inside the
  // snapshot source and the informers) and of the snapshot source's reconnect backoff; not
  // owned. Timestamps in reports stay wall-clock time. Default: kube::Clock::Real().
  kube::Clock* clock = kube::Clock::Real();
};

// The Lease that elects the one writing plane of `region` in a cluster:
// "senren-regional-<region>", the region as in the senren.io/region label (":" → ".",
// "aws:us-east-1" → "senren-regional-aws.us-east-1"), lower-cased, any other character
// a Kubernetes object name cannot hold turned into "-", at most 253 characters.
std::string LeaseName(std::string_view region);

// The ConfigMap in the plane's namespace that records the highest version applied to the
// cluster for `region`: LeaseName(region) + "-applied" (at most 253 characters), labelled
// as a managed CR is (app.kubernetes.io/managed-by=senren, senren.io/region), data
// {"version": "<n>"}. Every plane of the cluster writes it before the CR writes of each new
// version and reads it before each reconcile, so a version that only deletes, which leaves
// no CR stamped with it, still raises the floor of the next plane to lead.
std::string AppliedRecordName(std::string_view region);

// Counters of one plane, for logs, tests and benchmarks.
struct PlaneStats {
  uint64_t applied_version = 0;  // of the last snapshot reconciled
  v1::ApplyResult last_result = v1::APPLY_RESULT_UNSPECIFIED;
  std::string last_reason;
  int64_t reconciles = 0;
  // The same by result, ApplyResultName of each reconcile's outcome ("applied", "partial", ...).
  std::map<std::string, int64_t> reconciles_by_result;
  int64_t applies = 0;  // CR writes
  int64_t deletes = 0;  // CR deletes
  uint64_t drift_corrections = 0;
  std::string last_drifted_resource;
  int64_t bad_messages = 0;
  // Snapshots refused for their signature (SnapshotSource::rejections): applied nothing,
  // reported in every ClusterReport (rejected_snapshots, last_rejected_snapshot).
  int64_t rejected_snapshots = 0;
  std::map<std::string, int64_t> rejected_by_verdict;  // "unsigned", "unknown_key", ...
  std::string last_rejected_snapshot;
  int64_t snapshots_received = 0;
  // The lowest version the plane may apply: the highest version this cluster is known to
  // have had (the cache's, the senren.io/state-version of its managed CRs, the cluster's
  // applied-version record, the plane's own).
  uint64_t floor_version = 0;
  // The version in the cluster's applied-version record (AppliedRecordName) when last read.
  uint64_t applied_record_version = 0;
  // Snapshots never applied: older than the floor or not newer than the one held (an old
  // version read from Kafka, a stale cache), or superseded by a newer one while catching
  // up. Logged one by one, those of a catch-up in one line.
  int64_t old_versions_ignored = 0;
  // True once the snapshot source read its partition to the end it had at start.
  bool caught_up = false;
  // Writes not made because may_write said no (the Lease was lost).
  int64_t writes_fenced = 0;
  int64_t status_records = 0;   // ResourceStatus records put in the outbox
  int64_t cluster_reports = 0;  // ClusterReports put in the outbox
  // Start → end of the first reconcile (from the cache when warm); infinite until then.
  absl::Duration first_reconcile = absl::InfiniteDuration();
  bool first_reconcile_from_cache = false;
};

// One regional plane: makes the CRs of one namespace of one cluster match the newest
// RegionalState of its region (docs/design.md §5), and reports back through the status outbox.
//
// Threads (Start..Stop): the snapshot reader (SnapshotSource), the reconcile worker (one
// reconcile at a time, triggered by a new snapshot, by watch events of the CRs — drift — and
// by the resync timer), the ticker (heartbeat, resync) and one informer per kind (status
// changes, drift events). The plane does not own its dependencies; they must outlive it.
//
// Safety: only CRs IsManagedBy(region) are updated or deleted; deletes happen only
// because the desired snapshot (from Kafka, or the cache it was saved to) lacks them —
// never for want of a snapshot: with no snapshot at all, nothing is written. Versions only
// go forward in the cluster: a snapshot older than the highest version the cluster is known
// to have had (the cache's version, the senren.io/state-version of its managed CRs, the
// cluster's applied-version record) is never applied, whatever the cache or the partition
// holds. At every start the partition
// is read to its end before any version from it is applied, and only the newest one is.
// One writer per cluster: every write is gated on options.may_write (the Lease), so
// a plane that lost its Lease writes nothing more, even before it is stopped.
class RegionalPlane {
 public:
  // `on_outbox_put` runs after each successful outbox write (wakes the relay); may be empty.
  RegionalPlane(RegionalPlaneOptions options, kube::KubeClient* kube, SnapshotSource* source,
                StateCache* cache, StatusOutbox* outbox,
                std::function<void()> on_outbox_put = nullptr);
  ~RegionalPlane();
  RegionalPlane(const RegionalPlane&) = delete;
  RegionalPlane& operator=(const RegionalPlane&) = delete;

  // Loads the cached snapshot (reconciled at once, before Kafka answers) and starts the
  // threads. Errors only when the cache cannot be read at all.
  absl::Status Start();
  // Stops and joins every thread. Idempotent.
  void Stop();

  PlaneStats stats() const;
  // Waits until a snapshot of version ≥ `version` has been reconciled; false on timeout.
  bool WaitForVersion(uint64_t version, absl::Duration timeout) const;
  // Waits until the first reconcile after Start is done; false on timeout.
  bool WaitForFirstReconcile(absl::Duration timeout) const;
  // Waits until `pred` holds for the stats (evaluated under the plane's lock, whenever it
  // is released: keep it to reading the stats); false on timeout.
  bool WaitForStats(const std::function<bool(const PlaneStats&)>& pred,
                    absl::Duration timeout) const;
  // Waits until the reconcile worker is idle: no reconcile pending or running, the worker
  // waiting for a trigger or its retry time. Every reconcile owed to what happened before
  // the call (a snapshot counted in the stats, a CR change the informers delivered) has run
  // by then. False on timeout.
  bool WaitForIdle(absl::Duration timeout) const;

  // The ClusterReport the plane would send now.
  v1::ClusterReport BuildReport() const;

 private:
  struct Outcome {
    ApplyOutcome apply;
    size_t writes = 0;   // successful
    bool retry = false;  // something failed or a kind was missing: try again later
  };

  void SourceLoop();
  void WorkerLoop();
  void TickerLoop();
  void Trigger();
  // One reconcile of the current desired snapshot.
  void Reconcile();
  // The current CRs per kind (informer stores with our own not-yet-seen writes laid over);
  // kinds whose CRD is missing go to `missing`. UNAVAILABLE when a kind cannot be read.
  absl::Status CurrentObjects(std::map<v1::ResourceKind, std::vector<ObjectPtr>>* current,
                              std::set<v1::ResourceKind>* missing);
  // Informer callbacks.
  void OnObject(v1::ResourceKind kind, const ObjectPtr& old_obj, const ObjectPtr& obj,
                bool deleted);
  // False when nothing was put (fenced by may_write, or the outbox failed).
  bool PutStatus(const std::vector<OutboxRecord>& records, bool report);
  void EmitReport();
  void ResyncStatuses();
  bool Stopping() const;
  // options_.may_write, counted and logged when it says no.
  bool MayWrite(const char* what);
  // The cluster's applied-version record (AppliedRecordName).
  struct AppliedRecord {
    uint64_t version = 0;
    std::optional<Json> object;  // as read; none when the ConfigMap does not exist
    bool foreign = false;        // the name is taken by a ConfigMap that is not ours
  };
  absl::StatusOr<AppliedRecord> ReadAppliedRecord();
  // Raises the record to `version`: a create, or an update conditional on the record as
  // read, so two writers never lower it (Aborted/AlreadyExists: read again and retry).
  // Returns the record as written.
  absl::StatusOr<AppliedRecord> WriteAppliedRecord(const AppliedRecord& read, uint64_t version);
  void SetDesired(std::shared_ptr<const CachedSnapshot> snap) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RegionalPlaneOptions options_;
  kube::KubeClient* const kube_;
  SnapshotSource* const source_;
  StateCache* const cache_;
  StatusOutbox* const outbox_;
  const std::function<void()> on_outbox_put_;
  kube::Clock* const clock_;
  absl::Time started_at_;

  std::map<v1::ResourceKind, std::unique_ptr<kube::Informer>> informers_;
  CrViewCache view_cache_;  // worker thread only
  std::thread source_thread_;
  std::thread worker_thread_;
  std::thread ticker_thread_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool triggered_ ABSL_GUARDED_BY(mu_) = false;
  // A snapshot was refused: the ticker sends a ClusterReport now, not at the next heartbeat.
  bool report_due_ ABSL_GUARDED_BY(mu_) = false;
  // The worker waits for a trigger or retry_at_ (TimePoint::max(): no retry due).
  bool worker_waiting_ ABSL_GUARDED_BY(mu_) = false;
  kube::Clock::TimePoint retry_at_ ABSL_GUARDED_BY(mu_) = kube::Clock::TimePoint::max();
  kube::Clock::Duration backoff_ ABSL_GUARDED_BY(mu_);
  // The newest snapshot received (or loaded from the cache).
  std::shared_ptr<const CachedSnapshot> desired_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> desired_ids_ ABSL_GUARDED_BY(mu_);  // "Kind/name" of desired_
  std::optional<SourcePosition> cached_position_ ABSL_GUARDED_BY(mu_);
  // The highest version the cluster is known to have had (PlaneStats::floor_version);
  // raised by the cache at start, by the CRs each reconcile reads, and by each apply.
  uint64_t floor_ ABSL_GUARDED_BY(mu_) = 0;
  // The last desired version found below the floor (logged once per version).
  uint64_t refused_version_ ABSL_GUARDED_BY(mu_) = 0;
  // A foreign ConfigMap holds the record's name (logged once).
  bool record_foreign_logged_ ABSL_GUARDED_BY(mu_) = false;
  // The applied-version record as this plane last wrote or read it. A new version's
  // update is conditional on its resourceVersion, so it fails if anyone else wrote the
  // record since, before any CR is touched: the read before that update can be skipped.
  // Dropped on Start, Stop, any fenced write (the Lease lapsed) and any failed record
  // write; a reconcile that writes no record still reads it.
  std::optional<AppliedRecord> known_record_ ABSL_GUARDED_BY(mu_);
  // Last reconciled snapshot and how it went.
  uint64_t applied_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::string applied_traceparent_ ABSL_GUARDED_BY(mu_);
  absl::Time applied_at_ ABSL_GUARDED_BY(mu_);
  uint32_t applied_total_ ABSL_GUARDED_BY(mu_) = 0;
  ApplyOutcome last_outcome_ ABSL_GUARDED_BY(mu_);
  // True when the last reconcile left nothing to do: writes needed after it are drift.
  bool converged_ ABSL_GUARDED_BY(mu_) = false;
  bool first_done_ ABSL_GUARDED_BY(mu_) = false;
  // Our writes and deletes the informers have not shown yet ("Kind/name").
  std::map<std::string, ObjectPtr> written_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> deleted_ ABSL_GUARDED_BY(mu_);  // → uid
  // Our applies that have not returned yet ("Kind/name") → the resourceVersions of the
  // watch events seen for them meanwhile (which only their result tells apart as echoes).
  std::map<std::string, std::vector<int64_t>> in_flight_ ABSL_GUARDED_BY(mu_);
  PlaneStats stats_ ABSL_GUARDED_BY(mu_);

  // Last ResourceStatus sent per key; serializes outbox writes of statuses.
  absl::Mutex status_mu_;  // taken before mu_, never after
  std::map<std::string, v1::ResourceStatus> last_status_ ABSL_GUARDED_BY(status_mu_);
};

}  // namespace senren::regional::plane
