#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "regional/kube/kube_client.h"

namespace senren::regional::kube {

using ObjectPtr = std::shared_ptr<const Json>;

// Callbacks of an Informer, as client-go's ResourceEventHandlerFuncs. They run on the
// informer's thread, one at a time, in the order the events happened: keep them short
// (typically: enqueue a key into a WorkQueue). Any of them may be empty.
struct EventHandlers {
  std::function<void(const ObjectPtr&)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  // The last state known of the object (after a relist: the state before it vanished).
  std::function<void(const ObjectPtr&)> on_delete;
};

struct InformerOptions {
  Resource resource;
  std::string ns;  // empty: all namespaces
  std::string label_selector;
  // Page size of the initial and re-lists. Default: 500.
  int64_t page_size = 500;
  // Server-side timeout of each watch; the informer re-watches from the last version
  // seen. Default: 300 s.
  std::chrono::seconds watch_timeout{300};
  // Delay after a failed list or watch, doubled per consecutive failure, capped.
  // Default: 100 ms .. 10 s.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  // Drop metadata.managedFields before caching (as client-go's TransformFunc is used for):
  // often half an object's size, and nothing a controller reads. Default: true.
  bool drop_managed_fields = true;
};

// A list+watch cache of one kind of object, shaped like client-go's SharedIndexInformer
// (with its Reflector and thread-safe Store): lists (paged), then watches from the list's
// resourceVersion with bookmarks; a dropped or ended stream is resumed from the last
// version seen; a 410 Gone relists and turns the difference into add/update/delete events.
// Never gives up: failures are retried with backoff until Stop.
//
// Lifetime: AddEventHandlers before Start; Stop (or the destructor) joins the thread.
// The store may be read from any thread.
class Informer {
 public:
  Informer(KubeClient* client, InformerOptions options);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void AddEventHandlers(EventHandlers handlers);
  void Start();
  void Stop();

  // True once the first list has been stored and its events delivered.
  bool HasSynced() const { return synced_.load(); }
  // Waits until HasSynced; false on timeout.
  bool WaitForSync(std::chrono::milliseconds timeout);

  // The cached object of key "ns/name", or nullptr.
  ObjectPtr Get(const std::string& key) const;
  std::vector<ObjectPtr> List() const;
  std::vector<std::string> Keys() const;
  // The resourceVersion of the last list, event or bookmark seen.
  std::string LastResourceVersion() const;

  // Lists done (1 after the first sync; more after 410s) and watch streams opened.
  int64_t lists() const { return lists_.load(); }
  int64_t watches() const { return watches_.load(); }

 private:
  void Run();
  // Lists everything and replaces the store; false when stopping.
  bool ListAndReplace();
  // Watches until the stream ends; returns the status of the watch.
  absl::Status WatchOnce();
  void HandleEvent(const WatchEvent& event);
  bool SleepBackoff(std::chrono::milliseconds* backoff);

  KubeClient* const client_;
  const InformerOptions options_;
  std::vector<EventHandlers> handlers_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  absl::Notification stopped_;
  std::atomic<bool> synced_{false};
  std::atomic<int64_t> lists_{0};
  std::atomic<int64_t> watches_{0};

  mutable absl::Mutex mu_;
  std::map<std::string, ObjectPtr> store_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
};

}  // namespace senren::regional::kube
