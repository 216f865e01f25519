#include "regional/plane/reconcile_plan.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/diff.h"
#include "common/resources.h"

namespace senren::regional::plane {
namespace {

std::string NameOf(const Json& cr) { return cr["metadata"].value("name", ""); }

std::string UidOf(const Json& cr) { return cr["metadata"].value("uid", ""); }

}  // namespace

CrView MakeCrView(v1::ResourceKind kind, const Json& cr, const std::string& region) {
  CrView v;
  v.name = NameOf(cr);
  v.managed = IsManagedBy(cr, region);
  if (!v.managed) return v;
  v.metadata_ok = HasManagedMetadata(cr, region);
  v.uid = UidOf(cr);
  auto resource = CrToResource(cr);
  if (resource.ok() && common::KindOf(*resource) == kind) {
    v.readable = true;
    v.canonical = std::move(*resource);
    common::Canonicalize(&v.canonical);
  }
  return v;
}

const CrView& CrViewCache::View(v1::ResourceKind kind, const Json& cr, const std::string& region) {
  const Json& meta = cr["metadata"];
  auto rv_it = meta.find("resourceVersion");
  const std::string* rv =
      rv_it != meta.end() && rv_it->is_string() ? rv_it->get_ptr<const std::string*>() : nullptr;
  Entry& e = entries_[std::pair<int, std::string>(static_cast<int>(kind), NameOf(cr))];
  e.used = true;
  if (rv == nullptr || rv->empty() || e.resource_version != *rv) {
    e.view = MakeCrView(kind, cr, region);
    e.resource_version = rv != nullptr ? *rv : "";
  }
  return e.view;
}

void CrViewCache::Sweep() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.used) {
      entries_.erase(it++);
    } else {
      it->second.used = false;
      ++it;
    }
  }
}

std::string KindSlashName(v1::ResourceKind kind, const std::string& name) {
  return absl::StrCat(std::string(common::KindName(kind)), "/", name);
}

ReconcilePlan PlanReconcile(const PlanInput& input) {
  ReconcilePlan plan;
  plan.desired_total = input.desired.size();
  const CrContext context{input.region, input.ns, input.version, input.traceparent};
  // Keys view names owned by the CrViews and by input.desired, which outlive the plan.
  using ViewKey = std::pair<int, absl::string_view>;
  struct Managed {
    const CrView* view;
  };

  // Current managed CRs, as canonical resources, and what else the namespace holds.
  size_t total = 0;
  for (const auto& [kind, objects] : input.current) total += objects.size();
  std::vector<CrView> locals;  // derivations when there is no cache; never reallocated
  locals.reserve(input.cache != nullptr ? 0 : total);
  std::vector<v1::Resource> current;
  current.reserve(total);
  absl::flat_hash_map<ViewKey, Managed> managed;  // every managed CR, readable or not
  absl::flat_hash_set<ViewKey> unmanaged;         // CRs of other owners, never touched
  managed.reserve(total);
  std::vector<ViewKey> unreadable;                // managed CRs whose spec does not parse
  absl::flat_hash_set<ViewKey> bad_metadata;      // managed CRs missing a label or annotation
  for (const auto& [kind, objects] : input.current) {
    if (input.missing_kinds.count(kind) > 0) continue;
    for (const ObjectPtr& obj : objects) {
      if (obj == nullptr || !obj->is_object() || !obj->contains("metadata")) continue;
      const CrView* view = nullptr;
      if (input.cache != nullptr) {
        view = &input.cache->View(kind, *obj, input.region);
      } else {
        locals.push_back(MakeCrView(kind, *obj, input.region));
        view = &locals.back();
      }
      const ViewKey key{static_cast<int>(kind), view->name};
      if (!view->managed) {
        unmanaged.insert(key);
        continue;
      }
      if (!view->metadata_ok) bad_metadata.insert(key);
      if (view->readable) {
        current.push_back(view->canonical);
      } else {
        unreadable.push_back(key);
      }
      managed.emplace(key, Managed{view});
    }
  }
  if (input.cache != nullptr) input.cache->Sweep();

  // Desired, without the kinds this cluster cannot hold; originals kept for rendering.
  std::vector<v1::Resource> desired;
  absl::flat_hash_map<ViewKey, const v1::Resource*> originals;
  desired.reserve(input.desired.size());
  originals.reserve(input.desired.size());
  for (const v1::Resource& r : input.desired) {
    const v1::ResourceKind kind = common::KindOf(r);
    const ViewKey key{static_cast<int>(kind), r.name()};
    if (input.missing_kinds.count(kind) > 0 || input.current.count(kind) == 0) {
      plan.refused.push_back(absl::StrCat(common::ResourceId(r),
                                          ": this cluster has no CRD for ",
                                          std::string(common::KindName(kind))));
      ++plan.rejected_missing_kind;
      continue;
    }
    if (!unmanaged.empty() && unmanaged.contains(key) && !managed.contains(key)) {
      plan.refused.push_back(absl::StrCat(common::ResourceId(r),
                                          ": a CR of that name exists and is not managed by "
                                          "senren for this region; left untouched"));
      continue;
    }
    originals.emplace(key, &r);
    desired.push_back(r);
    common::Canonicalize(&desired.back());
  }
  common::SortResources(&current);
  common::SortResources(&desired);

  const common::ResourceSetDiff diff = common::DiffResources(current, desired);
  absl::flat_hash_set<ViewKey> planned;
  auto add_apply = [&](const v1::Resource& r, const char* why) {
    const v1::ResourceKind kind = common::KindOf(r);
    auto original = originals.find(ViewKey{static_cast<int>(kind), r.name()});
    const ViewKey key = original->first;  // views the name in input.desired
    if (!planned.insert(key).second) return;
    PlannedApply a;
    a.kind = kind;
    a.name = r.name();
    a.object = ResourceToCr(*original->second, context);
    a.create = !managed.contains(key);
    a.why = why;
    plan.applies.push_back(std::move(a));
  };
  for (const v1::Resource& r : diff.created) {
    const ViewKey key{static_cast<int>(common::KindOf(r)), r.name()};
    auto m = managed.find(key);
    add_apply(r, m != managed.end() && !m->second.view->readable ? "unreadable" : "missing");
  }
  for (const common::ResourceUpdate& u : diff.updated) add_apply(u.after, "spec differs");
  if (!bad_metadata.empty()) {
    for (const v1::Resource& r : desired) {
      if (bad_metadata.contains(ViewKey{static_cast<int>(common::KindOf(r)), r.name()})) {
        add_apply(r, "metadata differs");
      }
    }
  }
  plan.unchanged = desired.size() - plan.applies.size();

  for (const v1::Resource& r : diff.deleted) {
    const v1::ResourceKind kind = common::KindOf(r);
    const Managed& m = managed.at(ViewKey{static_cast<int>(kind), r.name()});
    plan.deletes.push_back({kind, r.name(), m.view->uid});
  }
  // Managed CRs that do not parse and are not desired are deleted too: the snapshot says
  // they should not exist.
  for (const ViewKey& key : unreadable) {
    if (originals.contains(key)) continue;
    plan.deletes.push_back({static_cast<v1::ResourceKind>(key.first), std::string(key.second),
                            managed.at(key).view->uid});
  }
  return plan;
}

}  // namespace senren::regional::plane
