#include "regional/plane/reconcile_plan.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/diff.h"
#include "common/resources.h"

namespace senren::regional::plane {
namespace {

using Key = std::pair<int, std::string>;  // (kind, name)

Key KeyOf(v1::ResourceKind kind, const std::string& name) {
  return {static_cast<int>(kind), name};
}

std::string NameOf(const Json& cr) { return cr["metadata"].value("name", ""); }

std::string UidOf(const Json& cr) { return cr["metadata"].value("uid", ""); }

}  // namespace

std::string KindSlashName(v1::ResourceKind kind, const std::string& name) {
  return absl::StrCat(std::string(common::KindName(kind)), "/", name);
}

ReconcilePlan PlanReconcile(const PlanInput& input) {
  ReconcilePlan plan;
  plan.desired_total = input.desired.size();
  const CrContext context{input.region, input.ns, input.version, input.traceparent};

  // Current managed CRs, as canonical resources, and what else the namespace holds.
  std::vector<v1::Resource> current;
  std::map<Key, const Json*> managed;     // every managed CR, readable or not
  std::set<Key> unreadable;               // managed CRs whose spec does not parse
  std::set<Key> bad_metadata;             // managed CRs missing a label or annotation
  std::set<Key> unmanaged;                // CRs of other owners, never touched
  for (const auto& [kind, objects] : input.current) {
    if (input.missing_kinds.count(kind) > 0) continue;
    for (const ObjectPtr& obj : objects) {
      if (obj == nullptr || !obj->is_object() || !obj->contains("metadata")) continue;
      const Key key = KeyOf(kind, NameOf(*obj));
      if (!IsManagedBy(*obj, input.region)) {
        unmanaged.insert(key);
        continue;
      }
      managed[key] = obj.get();
      if (!HasManagedMetadata(*obj, input.region)) bad_metadata.insert(key);
      auto resource = CrToResource(*obj);
      if (!resource.ok() || common::KindOf(*resource) != kind) {
        unreadable.insert(key);
        continue;
      }
      common::Canonicalize(&*resource);
      current.push_back(std::move(*resource));
    }
  }

  // Desired, without the kinds this cluster cannot hold; originals kept for rendering.
  std::vector<v1::Resource> desired;
  std::map<Key, const v1::Resource*> originals;
  desired.reserve(input.desired.size());
  for (const v1::Resource& r : input.desired) {
    const v1::ResourceKind kind = common::KindOf(r);
    const Key key = KeyOf(kind, r.name());
    if (input.missing_kinds.count(kind) > 0 || input.current.count(kind) == 0) {
      plan.refused.push_back(absl::StrCat(common::ResourceId(r),
                                          ": this cluster has no CRD for ",
                                          std::string(common::KindName(kind))));
      ++plan.rejected_missing_kind;
      continue;
    }
    if (unmanaged.count(key) > 0 && managed.count(key) == 0) {
      plan.refused.push_back(absl::StrCat(common::ResourceId(r),
                                          ": a CR of that name exists and is not managed by "
                                          "senren for this region; left untouched"));
      continue;
    }
    originals[key] = &r;
    v1::Resource canonical = r;
    common::Canonicalize(&canonical);
    desired.push_back(std::move(canonical));
  }
  common::SortResources(&current);
  common::SortResources(&desired);

  const common::ResourceSetDiff diff = common::DiffResources(current, desired);
  std::set<Key> planned;
  auto add_apply = [&](const v1::Resource& r, const char* why) {
    const v1::ResourceKind kind = common::KindOf(r);
    const Key key = KeyOf(kind, r.name());
    if (!planned.insert(key).second) return;
    PlannedApply a;
    a.kind = kind;
    a.name = r.name();
    a.object = ResourceToCr(*originals.at(key), context);
    a.create = managed.count(key) == 0;
    a.why = why;
    plan.applies.push_back(std::move(a));
  };
  for (const v1::Resource& r : diff.created) {
    const Key key = KeyOf(common::KindOf(r), r.name());
    add_apply(r, unreadable.count(key) > 0 ? "unreadable" : "missing");
  }
  for (const common::ResourceUpdate& u : diff.updated) add_apply(u.after, "spec differs");
  for (const v1::Resource& r : desired) {
    const Key key = KeyOf(common::KindOf(r), r.name());
    if (bad_metadata.count(key) > 0) add_apply(r, "metadata differs");
  }
  plan.unchanged = desired.size() - plan.applies.size();

  for (const v1::Resource& r : diff.deleted) {
    const v1::ResourceKind kind = common::KindOf(r);
    const Json* obj = managed.at(KeyOf(kind, r.name()));
    plan.deletes.push_back({kind, r.name(), UidOf(*obj)});
  }
  // Managed CRs that do not parse and are not desired are deleted too: the snapshot says
  // they should not exist.
  for (const Key& key : unreadable) {
    if (originals.count(key) > 0) continue;
    const auto kind = static_cast<v1::ResourceKind>(key.first);
    plan.deletes.push_back({kind, key.second, UidOf(*managed.at(key))});
  }
  return plan;
}

}  // namespace senren::regional::plane
