#pragma once

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "regional/kube/kube_client.h"

namespace senren::regional::kube::testing {

// An in-memory KubeClient for unit tests of informers and controllers: objects with
// resourceVersion, uid, generation (bumped when anything but metadata and status
// changes), label selectors of the form "k=v,k2=v2", watches served from an event log,
// and fault injection:
//  - Compact(): watches from older versions get 410 Gone (as after etcd compaction);
//  - DropWatches(): open streams end with Unavailable (a dropped connection);
//  - FailNext(plural, status, verb): the next call (of that verb) on that kind fails.
// Apply merges the given fields into the object (objects merge recursively, lists are
// replaced), a fair stand-in for server-side apply by one manager.
// Thread-safe.
class FakeKubeClient : public KubeClient {
 public:
  absl::StatusOr<Json> Get(const Resource& resource, const std::string& ns,
                           const std::string& name) override;
  absl::StatusOr<ObjectList> List(const Resource& resource, const std::string& ns,
                                  const ListOptions& options) override;
  absl::StatusOr<Json> Create(const Resource& resource, const std::string& ns,
                              const Json& object) override;
  absl::StatusOr<Json> Update(const Resource& resource, const std::string& ns,
                              const Json& object) override;
  absl::StatusOr<Json> UpdateStatus(const Resource& resource, const std::string& ns,
                                    const Json& object) override;
  absl::StatusOr<Json> Apply(const Resource& resource, const std::string& ns, const Json& object,
                             const ApplyOptions& options) override;
  absl::Status Delete(const Resource& resource, const std::string& ns, const std::string& name,
                      const DeleteOptions& options) override;
  absl::Status Watch(const Resource& resource, const std::string& ns, const WatchOptions& options,
                     const WatchHandler& handler, const std::atomic<bool>* cancel) override;

  void Compact();
  void DropWatches();
  // While blocked, open streams end and new watches fail with Unavailable (an apiserver
  // that cannot be reached); changes made meanwhile reach a watcher only when it resumes.
  void BlockWatches(bool blocked);
  // `verb` empty: the next call of any verb on that kind.
  void FailNext(const std::string& plural, absl::Status status, const std::string& verb = "");
  // Every call of `verb` on that kind fails until ClearFailures.
  void FailAlways(const std::string& plural, absl::Status status, const std::string& verb);
  void ClearFailures();
  // Calls of one verb ("get", "list", "create", "update", "update_status", "apply",
  // "delete", "watch") on one kind.
  int Calls(const std::string& verb, const std::string& plural);
  // Number of open watch streams.
  int OpenWatches();

  // A counter bumped by every call but get and list (failed ones too) and every change
  // (stored objects, compaction, dropped or blocked streams, watches opened and closed).
  int64_t Changes();
  // Blocks until Changes() > `seen`; false after `timeout`.
  bool AwaitChange(int64_t seen, absl::Duration timeout);
  // Blocks until `pred` (evaluated outside the client's lock, after each change) is true:
  // how a test waits for what another thread does through this client, without polling.
  // False after `timeout`, a bound against hangs.
  bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(60));

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // plural, ns, name
  struct Event {
    int64_t rv;
    std::string plural;
    std::string ns;
    WatchEventType type;
    Json object;
  };
  absl::Status Begin(const std::string& verb, const std::string& plural)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Json StoreLocked(const Resource& resource, const std::string& ns, Json object, bool created)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::map<Key, Json> objects_ ABSL_GUARDED_BY(mu_);
  std::vector<Event> log_ ABSL_GUARDED_BY(mu_);
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 100;
  int64_t compacted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t drop_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t uid_ ABSL_GUARDED_BY(mu_) = 0;
  int open_watches_ ABSL_GUARDED_BY(mu_) = 0;
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::vector<std::pair<std::string, absl::Status>>> failures_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> sticky_failures_ ABSL_GUARDED_BY(mu_);  // "verb plural"
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  int64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
};

// True when `object`'s labels match a selector "k=v,k2=v2" (empty matches everything).
bool MatchesSelector(const Json& object, const std::string& selector);

}  // namespace senren::regional::kube::testing
