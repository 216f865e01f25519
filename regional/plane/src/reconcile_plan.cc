#include "regional/plane/reconcile_plan.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
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
  v.kind = std::string(common::KindName(kind));
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

namespace {

// (kind, name) order, the order of common::ResourceLess.
struct KindName {
  int kind;
  absl::string_view name;
  bool operator<(const KindName& o) const { return kind != o.kind ? kind < o.kind : name < o.name; }
};

KindName KindNameOf(const v1::Resource& r) {
  return {static_cast<int>(common::KindOf(r)), r.name()};
}

// Sorts `v` by ResourceLess, and `parallel` with it, unless already sorted (informer stores
// list CRs by name, snapshots are sorted by (kind, name): the usual case costs one pass).
template <typename T>
void SortTogether(std::vector<v1::Resource>* v, std::vector<T>* parallel) {
  if (std::is_sorted(v->begin(), v->end(), common::ResourceLess)) return;
  std::vector<size_t> idx(v->size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(),
            [&](size_t a, size_t b) { return common::ResourceLess((*v)[a], (*v)[b]); });
  std::vector<v1::Resource> sorted;
  std::vector<T> sorted_parallel;
  sorted.reserve(v->size());
  sorted_parallel.reserve(v->size());
  for (size_t i : idx) {
    sorted.push_back(std::move((*v)[i]));
    sorted_parallel.push_back(std::move((*parallel)[i]));
  }
  *v = std::move(sorted);
  *parallel = std::move(sorted_parallel);
}

// Index of `key` in `v` (sorted by ResourceLess), or -1.
long Find(const std::vector<v1::Resource>& v, const KindName& key) {
  auto it = std::lower_bound(v.begin(), v.end(), key, [](const v1::Resource& r, const KindName& k) {
    return KindNameOf(r) < k;
  });
  if (it == v.end() || KindNameOf(*it).kind != key.kind || it->name() != key.name) return -1;
  return it - v.begin();
}

}  // namespace

ReconcilePlan PlanReconcile(const PlanInput& input) {
  ReconcilePlan plan;
  plan.desired_total = input.desired.size();
  const CrContext context{input.region, input.ns, input.version, input.traceparent};
  // Keys view names owned by the CrViews and by input.desired, which outlive the plan.
  using ViewKey = std::pair<int, absl::string_view>;

  // Current managed CRs, as canonical resources (with their views, in parallel), and what
  // else the namespace holds.
  size_t total = 0;
  for (const auto& [kind, objects] : input.current) total += objects.size();
  std::vector<CrView> locals;  // derivations when there is no cache; never reallocated
  locals.reserve(input.cache != nullptr ? 0 : total);
  std::vector<v1::Resource> current;
  std::vector<const CrView*> current_views;
  current.reserve(total);
  current_views.reserve(total);
  std::vector<const CrView*> unreadable;  // managed CRs whose spec does not parse
  absl::flat_hash_set<ViewKey> unreadable_keys;
  absl::flat_hash_set<ViewKey> unmanaged;     // CRs of other owners, never touched
  absl::flat_hash_set<ViewKey> bad_metadata;  // managed CRs missing a label or annotation
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
        current_views.push_back(view);
      } else {
        unreadable.push_back(view);
        unreadable_keys.insert(key);
      }
    }
  }
  if (input.cache != nullptr) input.cache->Sweep();
  SortTogether(&current, &current_views);
  auto is_managed = [&](const ViewKey& key) {
    return unreadable_keys.contains(key) || Find(current, {key.first, key.second}) >= 0;
  };

  // Desired, without the kinds this cluster cannot hold; originals kept for rendering.
  std::vector<v1::Resource> desired;
  std::vector<const v1::Resource*> originals;  // parallel to `desired`
  desired.reserve(input.desired.size());
  originals.reserve(input.desired.size());
  for (const v1::Resource& r : input.desired) {
    const v1::ResourceKind kind = common::KindOf(r);
    if (input.missing_kinds.count(kind) > 0 || input.current.count(kind) == 0) {
      plan.refused.push_back(absl::StrCat(common::ResourceId(r), ": this cluster has no CRD for ",
                                          std::string(common::KindName(kind))));
      ++plan.rejected_missing_kind;
      continue;
    }
    const ViewKey key{static_cast<int>(kind), r.name()};
    if (!unmanaged.empty() && unmanaged.contains(key) && !is_managed(key)) {
      plan.refused.push_back(absl::StrCat(common::ResourceId(r),
                                          ": a CR of that name exists and is not managed by "
                                          "senren for this region; left untouched"));
      continue;
    }
    originals.push_back(&r);
    desired.push_back(r);
    common::Canonicalize(&desired.back());
  }
  SortTogether(&desired, &originals);

  const common::ResourceSetDiff diff = common::DiffResources(current, desired);
  absl::flat_hash_set<ViewKey> planned;
  auto add_apply = [&](const v1::Resource& r, const char* why) {
    const long i = Find(desired, KindNameOf(r));
    const v1::Resource& original = *originals[static_cast<size_t>(i)];
    const ViewKey key{static_cast<int>(common::KindOf(r)), original.name()};
    if (!planned.insert(key).second) return;
    PlannedApply a;
    a.kind = common::KindOf(r);
    a.name = r.name();
    a.object = ResourceToCr(original, context);
    a.create = !is_managed(key);
    a.why = why;
    plan.applies.push_back(std::move(a));
  };
  for (const v1::Resource& r : diff.created) {
    add_apply(r, unreadable_keys.contains(ViewKey{static_cast<int>(common::KindOf(r)), r.name()})
                     ? "unreadable"
                     : "missing");
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
    const long i = Find(current, KindNameOf(r));
    plan.deletes.push_back(
        {common::KindOf(r), r.name(), current_views[static_cast<size_t>(i)]->uid});
  }
  // Managed CRs that do not parse and are not desired are deleted too: the snapshot says
  // they should not exist.
  for (const CrView* view : unreadable) {
    const auto kind = common::KindFromName(view->kind);
    if (Find(desired, {static_cast<int>(kind), view->name}) >= 0) continue;
    plan.deletes.push_back({kind, view->name, view->uid});
  }
  return plan;
}

}  // namespace senren::regional::plane
