#include "regional/controller/controller.h"

#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "regional/kube/errors.h"

namespace senren::regional::controller {
namespace {

using kube::ObjectPtr;
namespace resources = kube::resources;

kube::Resource CrResource(Kind kind) {
  return kind == Kind::kRedisDatabase ? resources::RedisDatabases()
                                      : resources::AerospikeClusters();
}

std::string Now() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

std::string KindLabel(Kind kind) { return absl::StrCat("kind=\"", KindName(kind), "\""); }

// The controller ownerReference of a child, or null.
Json ControllerRef(const Json& child) {
  const Json& meta = child["metadata"];
  if (!meta.contains("ownerReferences")) return nullptr;
  for (const auto& ref : meta["ownerReferences"]) {
    if (ref.value("controller", false)) return ref;
  }
  return nullptr;
}

// Who holds the name of a child `owner` wants.
enum class Holder {
  kOwner,         // the owner's own child: it may be written
  kDeletedOwner,  // a child of an earlier CR of the same kind and name, not yet collected
  kOther,         // anything else: never written
};

// Judges `live` by its controller ownerReference alone: labels can be copied or removed by
// hand, the uid of the CR cannot. `why` says what makes it someone else's.
Holder HolderOf(const Json& live, const Owner& owner, std::string* why) {
  const Json ref = ControllerRef(live);
  if (ref.is_null()) {
    *why = "it has no controller ownerReference";
    return Holder::kOther;
  }
  if (!owner.uid.empty() && ref.value("uid", "") == owner.uid) return Holder::kOwner;
  const std::string kind = ref.value("kind", "");
  const std::string name = ref.value("name", "");
  if (kind == KindName(owner.kind) && name == owner.name &&
      absl::StartsWith(ref.value("apiVersion", ""), "senren.io/")) {
    return Holder::kDeletedOwner;
  }
  *why = absl::StrCat("it is controlled by ", kind, " ", name);
  return Holder::kOther;
}

// Whether a live StatefulSet has the claim templates `desired` asks for (the field is
// immutable, so a difference needs a new StatefulSet).
bool SameClaimTemplates(const Json& live, const Json& desired) {
  static const Json kNone = Json::array();
  const Json& want = desired["spec"].contains("volumeClaimTemplates")
                         ? desired["spec"]["volumeClaimTemplates"]
                         : kNone;
  const Json& spec = live.contains("spec") ? live["spec"] : Json::object();
  const Json have = spec.value("volumeClaimTemplates", Json::array());
  return have.size() == want.size() && ContainsAll(have, want);
}

std::vector<std::string> ClaimNames(const Json& statefulset) {
  std::vector<std::string> names;
  if (!statefulset.contains("spec")) return names;
  for (const Json& t : statefulset["spec"].value("volumeClaimTemplates", Json::array())) {
    names.push_back(t.contains("metadata") ? t["metadata"].value("name", "") : "");
  }
  return names;
}

bool SameClaimNames(const Json& live, const Json& desired) {
  return ClaimNames(live) == ClaimNames(desired);
}

}  // namespace

absl::StatusOr<std::vector<Kind>> ParseKinds(const std::string& csv) {
  std::vector<Kind> kinds;
  for (absl::string_view part : absl::StrSplit(csv, ',', absl::SkipWhitespace())) {
    const std::string k = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    if (k == "redis" || k == "redisdatabase" || k == "redisdatabases") {
      kinds.push_back(Kind::kRedisDatabase);
    } else if (k == "aerospike" || k == "aerospikecluster" || k == "aerospikeclusters") {
      kinds.push_back(Kind::kAerospikeCluster);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--kinds: unknown kind \"", k, "\" (known: redis, aerospike)"));
    }
  }
  if (kinds.empty()) return absl::InvalidArgumentError("--kinds: no kind given");
  return kinds;
}

std::string Controller::QueueKey(Kind kind, const std::string& ns, const std::string& name) {
  return absl::StrCat(KindName(kind), "/", ns, "/", name);
}

Controller::Controller(kube::KubeClient* client, ControllerOptions options, Metrics* metrics)
    : client_(client),
      options_(std::move(options)),
      metrics_(metrics),
      backoff_(options_.min_backoff, options_.max_backoff),
      queue_(&backoff_, options_.clock) {
  metrics_->Describe("senren_controller_reconciles_total", "counter",
                     "Reconciles by kind and result (success, error, conflict).");
  metrics_->Describe("senren_controller_reconcile_duration_seconds", "histogram",
                     "Time of one reconcile.");
  metrics_->Describe("senren_controller_queue_depth", "gauge", "Keys waiting in the work queue.");
  metrics_->Describe("senren_controller_status_writes_total", "counter",
                     "Status subresource writes (only on change).");
  metrics_->Describe("senren_controller_child_applies_total", "counter",
                     "Server-side applies of children that differed from the cache.");
  for (Kind kind : options_.kinds) {
    kube::InformerOptions io;
    io.resource = CrResource(kind);
    io.ns = options_.ns;
    auto informer = std::make_unique<kube::Informer>(client_, io);
    informer->AddEventHandlers({[this, kind](const ObjectPtr& o) {
                                  queue_.Add(QueueKey(kind, (*o)["metadata"].value("namespace", ""),
                                                      (*o)["metadata"].value("name", "")));
                                },
                                [this, kind](const ObjectPtr&, const ObjectPtr& o) {
                                  queue_.Add(QueueKey(kind, (*o)["metadata"].value("namespace", ""),
                                                      (*o)["metadata"].value("name", "")));
                                },
                                nullptr});
    cr_informers_[kind] = std::move(informer);
  }
  // Pods only to see a stuck container (bad image, crash loop) in the CR's conditions.
  for (const kube::Resource& r :
       {resources::StatefulSets(), resources::Services(), resources::ConfigMaps(),
        resources::PodDisruptionBudgets(), resources::Pods()}) {
    kube::InformerOptions io;
    io.resource = r;
    io.ns = options_.ns;
    io.label_selector = absl::StrCat(kManagedByLabel, "=", kControllerName);
    auto informer = std::make_unique<kube::Informer>(client_, io);
    informer->AddEventHandlers({[this](const ObjectPtr& o) { EnqueueOwnerOf(o); },
                                [this](const ObjectPtr&, const ObjectPtr& o) { EnqueueOwnerOf(o); },
                                [this](const ObjectPtr& o) { EnqueueOwnerOf(o); }});
    child_informers_.push_back({r, std::move(informer)});
  }
}

Controller::~Controller() { Stop(); }

void Controller::EnqueueOwnerOf(const ObjectPtr& child) {
  const Json& meta = (*child)["metadata"];
  const Json labels = meta.value("labels", Json::object());
  std::string kind = labels.value(kOwnerKindLabel, "");
  std::string name = labels.value(kInstanceLabel, "");
  if (name.empty()) {
    // A child whose labels were removed by hand leaves the caches with a delete event that
    // carries it unlabelled: its controller ownerReference still names the CR to put it back.
    const Json ref = ControllerRef(*child);
    if (ref.is_null() || !absl::StartsWith(ref.value("apiVersion", ""), "senren.io/")) return;
    kind = ref.value("kind", "");
    name = ref.value("name", "");
  }
  if (name.empty()) return;
  for (Kind k : options_.kinds) {
    if (kind == KindName(k)) queue_.Add(QueueKey(k, meta.value("namespace", ""), name));
  }
}

kube::Informer* Controller::CrInformer(Kind kind) {
  auto it = cr_informers_.find(kind);
  return it == cr_informers_.end() ? nullptr : it->second.get();
}

kube::Informer* Controller::ChildCache(const std::string& kind) {
  for (auto& c : child_informers_) {
    if (c.resource.kind == kind) return c.informer.get();
  }
  return nullptr;
}

void Controller::Start() {
  if (started_) return;
  started_ = true;
  for (auto& [kind, informer] : cr_informers_) informer->Start();
  for (auto& c : child_informers_) c.informer->Start();
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { Worker(); });
  threads_.emplace_back([this] { ResyncLoop(); });
}

void Controller::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  {
    absl::MutexLock lock(&resync_mu_);
    resync_stop_ = true;
  }
  queue_.ShutDown();
  for (auto& [kind, informer] : cr_informers_) informer->Stop();
  for (auto& c : child_informers_) c.informer->Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool Controller::WaitForSync(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  };
  for (auto& [kind, informer] : cr_informers_) {
    if (!informer->WaitForSync(left())) return false;
  }
  for (auto& c : child_informers_) {
    if (!c.informer->WaitForSync(left())) return false;
  }
  return true;
}

void Controller::ResyncLoop() {
  kube::Clock* const clock = options_.clock != nullptr ? options_.clock : kube::Clock::Real();
  for (;;) {
    {
      absl::MutexLock lock(&resync_mu_);
      if (clock->AwaitWithTimeout(&resync_mu_, absl::Condition(&resync_stop_), options_.resync)) {
        return;
      }
    }
    for (auto& [kind, informer] : cr_informers_) {
      for (const std::string& key : informer->Keys()) {
        auto [ns, name] = kube::SplitObjectKey(key);
        queue_.Add(QueueKey(kind, ns, name));
      }
    }
  }
}

void Controller::Worker() {
  // As client-go's WaitForCacheSync: a reconcile that ran before the child caches had
  // listed would not see an existing child and would take it over by server-side apply.
  while (!stop_.HasBeenNotified() && !WaitForSync(std::chrono::milliseconds(200))) {
  }
  while (auto key = queue_.Get()) {
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = Reconcile(*key);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string kind = key->substr(0, key->find('/'));
    const std::string kind_label = absl::StrCat("kind=\"", kind, "\"");
    metrics_->Observe("senren_controller_reconcile_duration_seconds", kind_label, seconds);
    std::string result = "success";
    if (status.ok()) {
      queue_.Forget(*key);
    } else {
      result = kube::IsConflict(status) ? "conflict" : "error";
      if (kube::IsConflict(status)) {
        queue_.AddAfter(*key, std::chrono::milliseconds(5));  // the cache is catching up
      } else {
        spdlog::warn("reconcile {}: {}", *key, status.ToString());
        queue_.AddRateLimited(*key);
      }
    }
    metrics_->Add("senren_controller_reconciles_total",
                  absl::StrCat(kind_label, ",result=\"", result, "\""));
    queue_.Done(*key);
    metrics_->Set("senren_controller_queue_depth", "", static_cast<double>(queue_.Len()));
  }
}

absl::Status Controller::EnsureChild(const Owner& owner, const kube::Resource& resource,
                                     const Json& desired, Json* out, Observation* observation) {
  const std::string name = desired["metadata"].value("name", "");
  kube::Informer* cache = ChildCache(resource.kind);
  kube::ObjectPtr cached = cache != nullptr ? cache->Get(kube::ObjectKey(owner.ns, name)) : nullptr;
  // The caches hold only objects labelled as ours, so a miss does not mean the name is free:
  // a person's object of that name (or our child with its labels removed) is invisible to
  // them. Only a GET can tell, and it costs a round trip only when the child is missing from
  // the cache: at creation, or after someone deleted or relabelled it.
  Json fetched;
  const Json* live = cached.get();
  if (live == nullptr) {
    absl::StatusOr<Json> got = client_->Get(resource, owner.ns, name);
    if (got.ok()) {
      fetched = std::move(*got);
      live = &fetched;
    } else if (!absl::IsNotFound(got.status())) {
      return got.status();
    }
  }
  if (live != nullptr) {
    std::string why;
    switch (HolderOf(*live, owner, &why)) {
      case Holder::kOther:
        observation->child_error = absl::StrCat(
            resource.kind, " ", owner.ns, "/", name, " already exists and is not owned by this ",
            KindName(owner.kind), " (", why, "); senren-controller leaves it untouched: delete or ",
            "rename it, or give the ", KindName(owner.kind), " another name");
        observation->child_error_reason = "ChildConflict";
        return absl::OkStatus();
      case Holder::kDeletedOwner:
        return absl::UnavailableError(absl::StrCat(resource.kind, " ", owner.ns, "/", name,
                                                   " still belongs to a deleted ",
                                                   KindName(owner.kind), "; waiting for it to go"));
      case Holder::kOwner:
        break;
    }
    if (resource.kind == "StatefulSet" && !SameClaimTemplates(*live, desired)) {
      // volumeClaimTemplates cannot change in place: the StatefulSet is deleted and the
      // next reconcile creates it anew; claims of the same name are reused (a new size or
      // class reaches new claims only). When only size or class changed, the pods already
      // mount their claims: orphan them and the new StatefulSet adopts them, no restart.
      // When claims appear or go (persistence turned on or off), pods need other volumes,
      // which a StatefulSet never changes in adopted pods (it would retry an in-place pod
      // update forever): they go with the StatefulSet and come back on the new template.
      kube::DeleteOptions options;
      options.uid = (*live)["metadata"].value("uid", "");
      options.propagation_policy = SameClaimNames(*live, desired) ? "Orphan" : "Background";
      absl::Status deleted = client_->Delete(resource, owner.ns, name, options);
      if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
      return absl::UnavailableError(absl::StrCat("StatefulSet ", owner.ns, "/", name,
                                                 " recreated for new volumeClaimTemplates"));
    }
    if (cached != nullptr && ContainsAll(*live, desired)) {
      *out = *live;
      return absl::OkStatus();
    }
  }
  kube::ApplyOptions apply;
  apply.field_manager = options_.field_manager;
  // Force only over an object known to be ours: the controller owns its children's fields,
  // so hand edits lose. When the name looked free, a person may create an object of that
  // name before the apply lands; without force the apply fails with a conflict (409) on
  // any field they set differently instead of taking it, and the retry finds it by GET.
  apply.force = live != nullptr;
  absl::StatusOr<Json> applied = client_->Apply(resource, owner.ns, desired, apply);
  if (!applied.ok()) {
    if (kube::IsRetryable(applied.status()) || kube::IsConflict(applied.status())) {
      return applied.status();
    }
    // Rejected (quota, admission, invalid): show it in conditions and retry with backoff.
    observation->child_error = std::string(applied.status().message());
    observation->child_error_reason = "ChildApplyFailed";
    return absl::OkStatus();
  }
  child_applies_.fetch_add(1);
  metrics_->Add("senren_controller_child_applies_total",
                absl::StrCat(KindLabel(owner.kind), ",child=\"", resource.kind, "\""));
  *out = std::move(*applied);
  return absl::OkStatus();
}

int Controller::AerospikeReplicas(const std::string& key, const Owner& owner,
                                  const std::string& statefulset, int size,
                                  kube::Clock::Duration* recheck, std::string* based_on) {
  *recheck = kube::Clock::Duration::zero();
  based_on->clear();
  kube::Informer* sts_cache = ChildCache("StatefulSet");
  kube::ObjectPtr live =
      sts_cache != nullptr ? sts_cache->Get(kube::ObjectKey(owner.ns, statefulset)) : nullptr;
  const int live_replicas =
      live != nullptr && live->contains("spec") ? (*live)["spec"].value("replicas", 1) : 0;
  if (live == nullptr || size >= live_replicas) {
    absl::MutexLock lock(&settle_mu_);
    settle_.erase(key);
    return size;
  }
  std::vector<Json> pods;
  if (kube::Informer* pod_cache = ChildCache("Pod")) {
    for (const kube::ObjectPtr& pod : pod_cache->List()) {
      const Json& meta = (*pod)["metadata"];
      if (meta.value("namespace", "") == owner.ns &&
          PodOrdinal(meta.value("name", ""), statefulset)) {
        pods.push_back(*pod);
      }
    }
  }
  const bool ready = ReadyToRemoveNextPod(*live, pods);
  *based_on = (*live)["metadata"].value("resourceVersion", "");
  absl::MutexLock lock(&settle_mu_);
  if (!ready) {
    // Pod and StatefulSet events bring the CR back when that changes.
    settle_.erase(key);
    return live_replicas;
  }
  kube::Clock* const clock = options_.clock != nullptr ? options_.clock : kube::Clock::Real();
  const kube::Clock::TimePoint now = clock->Now();
  auto [it, inserted] = settle_.try_emplace(key, SettleSince{live_replicas, now});
  if (it->second.replicas != live_replicas) it->second = {live_replicas, now};
  const kube::Clock::Duration waited = now - it->second.since;
  if (waited < options_.scale_down_settle) {
    *recheck = options_.scale_down_settle - waited;
    return live_replicas;
  }
  settle_.erase(it);
  return live_replicas - 1;
}

absl::Status Controller::Reconcile(const std::string& key) {
  std::vector<std::string> parts = absl::StrSplit(key, absl::MaxSplits('/', 2));
  if (parts.size() != 3) return absl::InvalidArgumentError(absl::StrCat("bad key ", key));
  Kind kind =
      parts[0] == KindName(Kind::kRedisDatabase) ? Kind::kRedisDatabase : Kind::kAerospikeCluster;
  kube::Informer* crs = CrInformer(kind);
  if (crs == nullptr) return absl::OkStatus();
  kube::ObjectPtr cr = crs->Get(kube::ObjectKey(parts[1], parts[2]));
  if (cr == nullptr) {
    absl::MutexLock lock(&settle_mu_);
    settle_.erase(key);
    return absl::OkStatus();  // deleted: the garbage collector takes the children
  }
  const Json& meta = (*cr)["metadata"];
  if (meta.contains("deletionTimestamp")) return absl::OkStatus();

  Owner owner;
  owner.kind = kind;
  owner.name = meta.value("name", "");
  owner.ns = meta.value("namespace", "");
  owner.uid = meta.value("uid", "");
  const Json labels = meta.value("labels", Json::object());
  owner.region = labels.value("senren.io/region", "");
  owner.cluster_domain = options_.cluster_domain;

  Observation observation;
  observation.generation = meta.value("generation", int64_t{0});
  kube::Clock::Duration settle_recheck = kube::Clock::Duration::zero();
  const Json spec = cr->value("spec", Json::object());
  Children children;
  if (kind == Kind::kRedisDatabase) {
    absl::StatusOr<RedisSpec> parsed = ParseRedisSpec(spec);
    if (parsed.ok()) {
      observation.desired_replicas = parsed->replicas;
      children = RenderRedis(owner, *parsed);
    } else {
      observation.invalid_spec = std::string(parsed.status().message());
    }
  } else {
    absl::StatusOr<AerospikeSpec> parsed = ParseAerospikeSpec(spec);
    if (parsed.ok()) {
      observation.desired_replicas = parsed->size;
      children = RenderAerospike(owner, *parsed);
      // Never several nodes at once: see ReadyToRemoveNextPod.
      std::string based_on;
      children.statefulset["spec"]["replicas"] =
          AerospikeReplicas(key, owner, children.statefulset["metadata"]["name"], parsed->size,
                            &settle_recheck, &based_on);
      // A count derived from the cached StatefulSet is applied only over that very version
      // (a precondition of the apply): from a stale cache it could raise the count again
      // and bring a removed pod back.
      if (!based_on.empty()) children.statefulset["metadata"]["resourceVersion"] = based_on;
    } else {
      observation.invalid_spec = std::string(parsed.status().message());
    }
  }

  if (observation.invalid_spec.empty()) {
    std::vector<std::pair<kube::Resource, const Json*>> order;
    if (!children.config_map.is_null())
      order.push_back({resources::ConfigMaps(), &children.config_map});
    order.push_back({resources::Services(), &children.headless_service});
    order.push_back({resources::Services(), &children.client_service});
    if (!children.read_service.is_null())
      order.push_back({resources::Services(), &children.read_service});
    // Before the StatefulSet, so its pods are covered from the start.
    order.push_back({resources::PodDisruptionBudgets(), &children.disruption_budget});
    order.push_back({resources::StatefulSets(), &children.statefulset});
    for (const auto& [resource, desired] : order) {
      Json live;
      absl::Status s = EnsureChild(owner, resource, *desired, &live, &observation);
      if (!s.ok()) return s;
      if (!observation.child_error.empty()) break;
      if (resource.kind == "StatefulSet") observation.statefulset = std::move(live);
    }
  }
  if (observation.child_error.empty() && observation.statefulset.is_object()) {
    // Pods are named <statefulset>-<ordinal>: look each up instead of scanning the cache.
    const std::string sts_name = observation.statefulset["metadata"].value("name", "");
    kube::Informer* pods = ChildCache("Pod");
    for (int i = 0; pods != nullptr && i < observation.desired_replicas; ++i) {
      kube::ObjectPtr pod = pods->Get(kube::ObjectKey(owner.ns, absl::StrCat(sts_name, "-", i)));
      if (pod == nullptr) continue;
      observation.pod_problem = PodProblem(*pod, &observation.pod_problem_reason);
      if (!observation.pod_problem.empty()) break;
    }
  }

  const Json previous = cr->value("status", Json::object());
  Json status = ComputeStatus(owner, observation, previous, Now());
  if (status != previous) {
    Json updated = *cr;
    updated["status"] = status;
    absl::StatusOr<Json> written = client_->UpdateStatus(CrResource(kind), owner.ns, updated);
    if (!written.ok()) {
      if (absl::IsNotFound(written.status())) return absl::OkStatus();
      return written.status();
    }
    status_writes_.fetch_add(1);
    metrics_->Add("senren_controller_status_writes_total", KindLabel(kind));
  }
  if (!observation.child_error.empty()) {
    return absl::FailedPreconditionError(observation.child_error);
  }
  // A scale-down step waits for a quiet period that no event marks the end of.
  if (settle_recheck > kube::Clock::Duration::zero()) {
    queue_.AddAfter(key, std::chrono::ceil<std::chrono::milliseconds>(settle_recheck));
  }
  return absl::OkStatus();
}

}  // namespace senren::regional::controller
