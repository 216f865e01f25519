#include "regional/kube/kube_client.h"

#include "regional/kube/errors.h"

namespace senren::regional::kube {

namespace resources {
Resource Namespaces() { return {"", "v1", "namespaces", "Namespace", false}; }
Resource Pods() { return {"", "v1", "pods", "Pod", true}; }
Resource Services() { return {"", "v1", "services", "Service", true}; }
Resource ConfigMaps() { return {"", "v1", "configmaps", "ConfigMap", true}; }
Resource Events() { return {"", "v1", "events", "Event", true}; }
Resource StatefulSets() { return {"apps", "v1", "statefulsets", "StatefulSet", true}; }
Resource PodDisruptionBudgets() {
  return {"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true};
}
Resource Leases() { return {"coordination.k8s.io", "v1", "leases", "Lease", true}; }
Resource CustomResourceDefinitions() {
  return {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
          false};
}
Resource RedisDatabases() {
  return {"senren.io", "v1alpha1", "redisdatabases", "RedisDatabase", true};
}
Resource AerospikeClusters() {
  return {"senren.io", "v1alpha1", "aerospikeclusters", "AerospikeCluster", true};
}
}  // namespace resources

const char* WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

std::string ResourcePath(const Resource& resource, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
  std::string path = resource.group.empty() ? "/api/" + resource.version
                                            : "/apis/" + resource.group + "/" + resource.version;
  if (resource.namespaced && !ns.empty()) path += "/namespaces/" + ns;
  path += "/" + resource.plural;
  if (!name.empty()) {
    path += "/" + name;
    if (!subresource.empty()) path += "/" + subresource;
  }
  return path;
}

std::string ObjectKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string ObjectKey(const Json& object) {
  const Json& meta = object.contains("metadata") ? object["metadata"] : Json::object();
  return ObjectKey(meta.value("namespace", ""), meta.value("name", ""));
}

std::pair<std::string, std::string> SplitObjectKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

absl::StatusOr<ObjectList> KubeClient::ListAll(const Resource& resource, const std::string& ns,
                                               ListOptions options) {
  if (options.limit == 0) options.limit = 500;
  const ListOptions first = options;
  bool restarted = false;
  ObjectList all;
  options.continue_token.clear();
  while (true) {
    absl::StatusOr<ObjectList> page = List(resource, ns, options);
    if (!page.ok()) {
      // An expired continue token (410): the pages so far belong to an old snapshot;
      // start over once, as client-go's pager does with a full list.
      if (IsGone(page.status()) && !options.continue_token.empty() && !restarted) {
        restarted = true;
        all = ObjectList{};
        options = first;
        options.continue_token.clear();
        continue;
      }
      return page.status();
    }
    if (all.resource_version.empty()) all.resource_version = page->resource_version;
    for (auto& item : page->items) all.items.push_back(std::move(item));
    if (page->continue_token.empty()) break;
    options.continue_token = page->continue_token;
  }
  return all;
}

}  // namespace senren::regional::kube
