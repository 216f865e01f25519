#include "regional/kube/testing/fake_kube_client.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube::testing {
namespace {

void Merge(Json* into, const Json& patch) {
  if (!patch.is_object() || !into->is_object()) {
    *into = patch;
    return;
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) {
      into->erase(it.key());
    } else if (it.value().is_object() && into->contains(it.key()) &&
               (*into)[it.key()].is_object()) {
      Merge(&(*into)[it.key()], it.value());
    } else {
      (*into)[it.key()] = it.value();
    }
  }
}

// Everything but metadata and status: a change bumps metadata.generation.
Json SpecPart(const Json& object) {
  Json out = object;
  out.erase("metadata");
  out.erase("status");
  return out;
}

absl::Status Err(int code, const std::string& reason, const std::string& message) {
  Json body = {{"kind", "Status"}, {"reason", reason}, {"message", message}, {"code", code}};
  return ApiError("fake", "", code, body.dump());
}

}  // namespace

bool MatchesSelector(const Json& object, const std::string& selector) {
  if (selector.empty()) return true;
  const Json labels = object["metadata"].value("labels", Json::object());
  for (absl::string_view term : absl::StrSplit(selector, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(term, '=');
    if (!labels.contains(kv.first) || labels[kv.first] != kv.second) return false;
  }
  return true;
}

absl::Status FakeKubeClient::Begin(const std::string& verb, const std::string& plural) {
  calls_[verb + " " + plural]++;
  // Not reads: a WaitFor predicate reads, and would wake itself.
  if (verb != "get" && verb != "list") ++changes_;
  if (auto sticky = sticky_failures_.find(verb + " " + plural); sticky != sticky_failures_.end()) {
    return sticky->second;
  }
  auto it = failures_.find(plural);
  if (it == failures_.end()) return absl::OkStatus();
  for (auto f = it->second.begin(); f != it->second.end(); ++f) {
    if (f->first.empty() || f->first == verb) {
      absl::Status s = f->second;
      it->second.erase(f);
      return s;
    }
  }
  return absl::OkStatus();
}

Json FakeKubeClient::StoreLocked(const Resource& resource, const std::string& ns, Json object,
                                 bool created) {
  object["metadata"]["resourceVersion"] = std::to_string(++rv_);
  const std::string name = object["metadata"].value("name", "");
  objects_[{resource.plural, ns, name}] = object;
  log_.push_back({rv_, resource.plural, ns,
                  created ? WatchEventType::kAdded : WatchEventType::kModified, object});
  ++changes_;
  cv_.SignalAll();
  return object;
}

absl::StatusOr<Json> FakeKubeClient::Get(const Resource& resource, const std::string& ns,
                                         const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (auto s = Begin("get", resource.plural); !s.ok()) return s;
  auto it = objects_.find({resource.plural, ns, name});
  if (it == objects_.end()) {
    return Err(404, "NotFound", absl::StrCat(resource.plural, " \"", name, "\" not found"));
  }
  return it->second;
}

absl::StatusOr<ObjectList> FakeKubeClient::List(const Resource& resource, const std::string& ns,
                                                const ListOptions& options) {
  absl::MutexLock lock(&mu_);
  if (auto s = Begin("list", resource.plural); !s.ok()) return s;
  ObjectList list;
  list.resource_version = std::to_string(rv_);
  for (const auto& [key, obj] : objects_) {
    if (std::get<0>(key) != resource.plural) continue;
    if (!ns.empty() && std::get<1>(key) != ns) continue;
    if (!MatchesSelector(obj, options.label_selector)) continue;
    list.items.push_back(obj);
  }
  return list;
}

absl::StatusOr<Json> FakeKubeClient::Create(const Resource& resource, const std::string& ns,
                                            const Json& object) {
  absl::MutexLock lock(&mu_);
  if (auto s = Begin("create", resource.plural); !s.ok()) return s;
  const std::string name = object["metadata"].value("name", "");
  if (objects_.contains({resource.plural, ns, name})) {
    return Err(409, "AlreadyExists",
               absl::StrCat(resource.plural, " \"", name, "\" already exists"));
  }
  Json obj = object;
  obj["metadata"]["namespace"] = ns;
  obj["metadata"]["uid"] = absl::StrCat("uid-", ++uid_);
  obj["metadata"]["generation"] = 1;
  obj["metadata"]["creationTimestamp"] =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  obj["apiVersion"] = resource.ApiVersion();
  obj["kind"] = resource.kind;
  return StoreLocked(resource, ns, obj, true);
}

absl::StatusOr<Json> FakeKubeClient::Update(const Resource& resource, const std::string& ns,
                                            const Json& object) {
  absl::MutexLock lock(&mu_);
  if (auto s = Begin("update", resource.plural); !s.ok()) return s;
  const std::string name = object["metadata"].value("name", "");
  auto it = objects_.find({resource.plural, ns, name});
  if (it == objects_.end()) return Err(404, "NotFound", name + " not found");
  const std::string want_rv = object["metadata"].value("resourceVersion", "");
  if (!want_rv.empty() && want_rv != it->second["metadata"].value("resourceVersion", "")) {
    return Err(409, "Conflict", "the object has been modified");
  }
  Json obj = object;
  obj["metadata"]["uid"] = it->second["metadata"]["uid"];
  obj["metadata"]["creationTimestamp"] = it->second["metadata"]["creationTimestamp"];
  int64_t gen = it->second["metadata"].value("generation", 1);
  if (SpecPart(obj) != SpecPart(it->second)) ++gen;
  obj["metadata"]["generation"] = gen;
  if (it->second.contains("status")) obj["status"] = it->second["status"];
  return StoreLocked(resource, ns, obj, false);
}

absl::StatusOr<Json> FakeKubeClient::UpdateStatus(const Resource& resource, const std::string& ns,
                                                  const Json& object) {
  absl::MutexLock lock(&mu_);
  if (auto s = Begin("update_status", resource.plural); !s.ok()) return s;
  const std::string name = object["metadata"].value("name", "");
  auto it = objects_.find({resource.plural, ns, name});
  if (it == objects_.end()) return Err(404, "NotFound", name + " not found");
  const std::string want_rv = object["metadata"].value("resourceVersion", "");
  if (!want_rv.empty() && want_rv != it->second["metadata"].value("resourceVersion", "")) {
    return Err(409, "Conflict", "the object has been modified");
  }
  Json obj = it->second;
  obj["status"] = object.value("status", Json::object());
  return StoreLocked(resource, ns, obj, false);
}

absl::StatusOr<Json> FakeKubeClient::Apply(const Resource& resource, const std::string& ns,
                                           const Json& object, const ApplyOptions& options) {
  {
    absl::MutexLock lock(&mu_);
    if (auto s = Begin("apply", resource.plural); !s.ok()) return s;
  }
  const std::string name = object["metadata"].value("name", "");
  while (true) {
    absl::StatusOr<Json> current = Get(resource, ns, name);
    if (absl::IsNotFound(current.status())) {
      if (!options.subresource.empty()) return current.status();
      absl::StatusOr<Json> created = Create(resource, ns, object);
      if (absl::IsAlreadyExists(created.status())) continue;
      return created;
    }
    if (!current.ok()) return current.status();
    // As the apiserver: a resourceVersion in the applied object is a precondition.
    const std::string want_rv = object["metadata"].value("resourceVersion", "");
    if (!want_rv.empty() && want_rv != (*current)["metadata"].value("resourceVersion", "")) {
      return Err(409, "Conflict", "the object has been modified");
    }
    Json merged = *current;
    if (options.subresource == "status") {
      Merge(&merged["status"], object.value("status", Json::object()));
      absl::StatusOr<Json> out = UpdateStatus(resource, ns, merged);
      if (IsConflict(out.status())) continue;
      return out;
    }
    Merge(&merged, object);
    if (merged == *current) return current;  // no-op apply: no new version
    absl::StatusOr<Json> out = Update(resource, ns, merged);
    if (IsConflict(out.status())) continue;
    return out;
  }
}

absl::Status FakeKubeClient::Delete(const Resource& resource, const std::string& ns,
                                    const std::string& name, const DeleteOptions& options) {
  absl::MutexLock lock(&mu_);
  if (auto s = Begin("delete", resource.plural); !s.ok()) return s;
  auto it = objects_.find({resource.plural, ns, name});
  if (it == objects_.end()) return Err(404, "NotFound", name + " not found");
  if (options.uid && *options.uid != it->second["metadata"].value("uid", "")) {
    return Err(409, "Conflict", "Precondition failed: UID");
  }
  if (options.resource_version &&
      *options.resource_version != it->second["metadata"].value("resourceVersion", "")) {
    return Err(409, "Conflict", "Precondition failed: ResourceVersion");
  }
  Json obj = it->second;
  objects_.erase(it);
  obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
  log_.push_back({rv_, resource.plural, ns, WatchEventType::kDeleted, obj});
  ++changes_;
  cv_.SignalAll();
  return absl::OkStatus();
}

absl::Status FakeKubeClient::Watch(const Resource& resource, const std::string& ns,
                                   const WatchOptions& options, const WatchHandler& handler,
                                   const std::atomic<bool>* cancel) {
  absl::MutexLock lock(&mu_);
  if (auto s = Begin("watch", resource.plural); !s.ok()) return s;
  int64_t from = options.resource_version.empty() ? rv_ : std::stoll(options.resource_version);
  if (from < compacted_) {
    return Err(410, "Expired",
               absl::StrCat("too old resource version: ", from, " (", compacted_, ")"));
  }
  if (blocked_) return absl::UnavailableError("watch: connection refused (injected)");
  const int64_t epoch = drop_epoch_;
  ++open_watches_;
  ++changes_;
  size_t next = 0;
  absl::Status result;
  while (true) {
    if (drop_epoch_ != epoch || blocked_) {
      result = absl::UnavailableError("watch: connection reset by peer (injected)");
      goto end;
    }
    while (next < log_.size() && log_[next].rv <= from) ++next;
    for (; next < log_.size(); ++next) {
      const Event& e = log_[next];
      from = e.rv;
      if (e.plural != resource.plural || (!ns.empty() && e.ns != ns)) continue;
      if (!MatchesSelector(e.object, options.label_selector)) continue;
      WatchEvent out{e.type, e.object};
      mu_.Unlock();
      bool more = handler(out);
      mu_.Lock();
      if (!more) goto end;
    }
    if (cancel != nullptr && cancel->load()) {
      result = absl::CancelledError("watch cancelled");
      goto end;
    }
    cv_.WaitWithTimeout(&mu_, absl::Milliseconds(20));
  }
end:
  --open_watches_;
  ++changes_;
  return result;
}

void FakeKubeClient::Compact() {
  absl::MutexLock lock(&mu_);
  compacted_ = rv_;
  ++drop_epoch_;  // open streams end; resuming them from an old version gets 410
  ++changes_;
  cv_.SignalAll();
}

void FakeKubeClient::FailAlways(const std::string& plural, absl::Status status,
                                const std::string& verb) {
  absl::MutexLock lock(&mu_);
  sticky_failures_[verb + " " + plural] = std::move(status);
}

void FakeKubeClient::ClearFailures() {
  absl::MutexLock lock(&mu_);
  sticky_failures_.clear();
  failures_.clear();
}

void FakeKubeClient::BlockWatches(bool blocked) {
  absl::MutexLock lock(&mu_);
  blocked_ = blocked;
  ++changes_;
  cv_.SignalAll();
}

void FakeKubeClient::DropWatches() {
  absl::MutexLock lock(&mu_);
  ++drop_epoch_;
  ++changes_;
  cv_.SignalAll();
}

void FakeKubeClient::FailNext(const std::string& plural, absl::Status status,
                              const std::string& verb) {
  absl::MutexLock lock(&mu_);
  failures_[plural].push_back({verb, std::move(status)});
}

int FakeKubeClient::Calls(const std::string& verb, const std::string& plural) {
  absl::MutexLock lock(&mu_);
  return calls_[verb + " " + plural];
}

int FakeKubeClient::OpenWatches() {
  absl::MutexLock lock(&mu_);
  return open_watches_;
}

int64_t FakeKubeClient::Changes() {
  absl::MutexLock lock(&mu_);
  return changes_;
}

bool FakeKubeClient::AwaitChange(int64_t seen, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return changes_ > seen; };
  return mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
}

bool FakeKubeClient::WaitFor(const std::function<bool()>& pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const int64_t seen = Changes();
    if (pred()) return true;
    if (!AwaitChange(seen, deadline - absl::Now())) return pred();
  }
}

}  // namespace senren::regional::kube::testing
