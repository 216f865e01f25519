#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace senren::regional::kube {

using Json = nlohmann::json;

// Names one kind of the Kubernetes REST API, as client-go's GroupVersionResource plus the
// kind and whether objects live in a namespace. Paths are built from it:
// core group "" → /api/v1/..., others → /apis/<group>/<version>/...
struct Resource {
  std::string group;    // "" for the core group, "apps", "senren.io"
  std::string version;  // "v1", "v1alpha1"
  std::string plural;   // "statefulsets", "redisdatabases"
  std::string kind;     // "StatefulSet", "RedisDatabase"
  bool namespaced = true;

  // "apps/v1", or "v1" for the core group: the apiVersion of the objects.
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  bool operator==(const Resource&) const = default;
};

// Well-known resources Senren uses.
namespace resources {
Resource Namespaces();
Resource Pods();
Resource Services();
Resource ConfigMaps();
Resource Events();
Resource StatefulSets();
Resource PodDisruptionBudgets();
Resource Leases();
Resource CustomResourceDefinitions();
Resource RedisDatabases();
Resource AerospikeClusters();
}  // namespace resources

// Options of List and Watch. Empty strings are not sent.
struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  // Page size; 0 lets the server choose (it returns everything). Default: 0.
  int64_t limit = 0;
  // Continue token of the previous page.
  std::string continue_token;
  // "" = most recent (quorum read); "0" = any (served from the watch cache).
  std::string resource_version;
};

// One page of a List.
struct ObjectList {
  std::vector<Json> items;
  std::string resource_version;  // of the list, to start a watch from
  std::string continue_token;    // empty on the last page
};

// Server-side apply (Content-Type application/apply-patch+yaml).
struct ApplyOptions {
  std::string field_manager;  // required
  // Take ownership of fields another manager owns instead of failing with 409.
  // Default: false.
  bool force = false;
  // "" for the object itself, "status" for the status subresource.
  std::string subresource;
};

// Preconditions and propagation of Delete.
struct DeleteOptions {
  std::optional<std::string> uid;               // delete only this incarnation
  std::optional<std::string> resource_version;  // delete only this version
  // "Foreground", "Background" or "Orphan"; empty: the server's default (Background
  // for most kinds). Default: empty.
  std::string propagation_policy;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark };

const char* WatchEventTypeName(WatchEventType type);

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  Json object;  // the object; for a bookmark only metadata.resourceVersion is meaningful
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  // Start after this version (required for a gapless list+watch).
  std::string resource_version;
  // Ask for BOOKMARK events so a resumed watch starts from a recent version.
  // Default: true.
  bool allow_bookmarks = true;
  // Server-side end of the stream; the caller then re-watches from the last version.
  // Default: 300 s.
  std::chrono::seconds timeout{300};
};

// Called for each event of a watch, on the thread that called Watch. Return false to
// stop watching (Watch then returns OK).
using WatchHandler = std::function<bool(const WatchEvent&)>;

// A client of the Kubernetes REST API, in the spirit of client-go's dynamic client:
// objects are JSON, the kind is named by a Resource.
//
// Errors (see errors.h): the HTTP status and the API's Status message are in the
// absl::Status (NotFound 404, AlreadyExists 409/AlreadyExists, Aborted 409/Conflict,
// InvalidArgument 400/422, OutOfRange 410 Gone, ResourceExhausted 429, Unavailable 5xx and
// transport errors, PermissionDenied 403, Unauthenticated 401). Implementations retry 429
// and 5xx with backoff before returning them.
//
// Implementations are thread-safe: any method may be called from any thread at once.
class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // GET one object. NotFound when it does not exist.
  virtual absl::StatusOr<Json> Get(const Resource& resource, const std::string& ns,
                                   const std::string& name) = 0;

  // One page of a LIST. `ns` empty lists across namespaces (or a cluster-scoped kind).
  virtual absl::StatusOr<ObjectList> List(const Resource& resource, const std::string& ns,
                                          const ListOptions& options) = 0;

  // POST a new object. AlreadyExists when the name is taken.
  virtual absl::StatusOr<Json> Create(const Resource& resource, const std::string& ns,
                                      const Json& object) = 0;

  // PUT an object (metadata.resourceVersion, when set, makes it conditional: Aborted on
  // conflict).
  virtual absl::StatusOr<Json> Update(const Resource& resource, const std::string& ns,
                                      const Json& object) = 0;

  // PUT the status subresource of an object; conditional like Update.
  virtual absl::StatusOr<Json> UpdateStatus(const Resource& resource, const std::string& ns,
                                            const Json& object) = 0;

  // Server-side apply of `object` (a partial object with apiVersion, kind and
  // metadata.name: the fields this field manager owns). Creates the object if missing.
  // Aborted (409) when another manager owns a field and options.force is false.
  virtual absl::StatusOr<Json> Apply(const Resource& resource, const std::string& ns,
                                     const Json& object, const ApplyOptions& options) = 0;

  // DELETE one object. NotFound if missing; Aborted if a precondition does not hold.
  virtual absl::Status Delete(const Resource& resource, const std::string& ns,
                              const std::string& name, const DeleteOptions& options) = 0;

  // WATCH from options.resource_version, calling `handler` for each event until the
  // server ends the stream (OK), the handler returns false (OK), `cancel` becomes true
  // (Cancelled), the connection drops (Unavailable) or the version is too old
  // (OutOfRange, HTTP 410: the caller relists). A bookmark is passed to the handler.
  virtual absl::Status Watch(const Resource& resource, const std::string& ns,
                             const WatchOptions& options, const WatchHandler& handler,
                             const std::atomic<bool>* cancel) = 0;

  // Every object of a LIST, following `continue` tokens page by page (page size
  // options.limit, or 500 when 0). Returns the items and the resource version of the
  // first page. When a continue token expires (410) the list restarts once from the top.
  absl::StatusOr<ObjectList> ListAll(const Resource& resource, const std::string& ns,
                                     ListOptions options);
};

// Builds the URL path of a collection or object:
//   /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]]
std::string ResourcePath(const Resource& resource, const std::string& ns,
                         const std::string& name = "", const std::string& subresource = "");

// "ns/name", or "name" for cluster-scoped objects: the key of caches and work queues.
std::string ObjectKey(const Json& object);
std::string ObjectKey(const std::string& ns, const std::string& name);
// Splits an ObjectKey.
std::pair<std::string, std::string> SplitObjectKey(const std::string& key);

}  // namespace senren::regional::kube
