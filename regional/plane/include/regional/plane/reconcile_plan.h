#pragma once

// The pure heart of the regional plane: desired (a RegionalState) vs current (the CRs in
// the namespace) → what to apply, what to delete, what to refuse. No I/O; tested with
// plain values.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "regional/plane/convert.h"
#include "senren/v1/resources.pb.h"

namespace senren::regional::plane {

using ObjectPtr = std::shared_ptr<const Json>;

// What the plan needs of one current CR, derived from its JSON. Derivation (conversion,
// canonicalization, label checks) is most of a plan's cost, so a CrViewCache keeps it per
// (kind, name) and recomputes only when the CR's resourceVersion changes.
struct CrView {
  std::string name;          // metadata.name
  std::string kind;          // "RedisDatabase", ...
  bool managed = false;      // IsManagedBy(region)
  bool metadata_ok = false;  // HasManagedMetadata(region)
  bool readable = false;     // the spec converts
  v1::Resource canonical;    // when readable: CrToResource + Canonicalize
  std::string uid;
};

// Memo of CrViews for one region. Not thread-safe: owned by the one thread that plans.
class CrViewCache {
 public:
  const CrView& View(v1::ResourceKind kind, const Json& cr, const std::string& region);
  // Drops entries not looked up since the last call (CRs that are gone).
  void Sweep();
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string resource_version;
    CrView view;
    bool used = false;
  };
  absl::node_hash_map<std::pair<int, std::string>, Entry> entries_;  // stable references
};

// Derives the CrView of `cr` without a cache.
CrView MakeCrView(v1::ResourceKind kind, const Json& cr, const std::string& region);

struct PlanInput {
  std::string region;
  std::string ns;
  uint64_t version = 0;     // of the desired state; stamped on every CR the plan writes
  std::string traceparent;  // of the desired state
  // The complete desired set (any order; unique (kind, name)).
  std::vector<v1::Resource> desired;
  // Every CR of the namespace (managed or not), per kind whose CRD the cluster has.
  std::map<v1::ResourceKind, std::vector<ObjectPtr>> current;
  // Kinds the cluster has no CRD for: their desired resources are rejected, nothing of
  // theirs is created or deleted.
  std::set<v1::ResourceKind> missing_kinds;
  // Optional memo of CR derivations across plans (nullptr: derive every time).
  CrViewCache* cache = nullptr;
};

struct PlannedApply {
  v1::ResourceKind kind = v1::RESOURCE_KIND_UNSPECIFIED;
  std::string name;
  Json object;          // the complete applied configuration (ResourceToCr)
  bool create = false;  // no managed CR of that name exists
  std::string why;      // "missing", "spec differs", "metadata differs", "unreadable"
};

struct PlannedDelete {
  v1::ResourceKind kind = v1::RESOURCE_KIND_UNSPECIFIED;
  std::string name;
  std::string uid;  // delete precondition: only the incarnation the plan saw
};

struct ReconcilePlan {
  std::vector<PlannedApply> applies;
  std::vector<PlannedDelete> deletes;
  // "Kind/name: reason" of desired resources the plan will not write: the kind has no
  // CRD here, or an unmanaged CR already holds the name (never touched).
  std::vector<std::string> refused;
  size_t rejected_missing_kind = 0;  // of `refused`, because of a missing CRD
  size_t unchanged = 0;
  size_t desired_total = 0;

  bool empty() const { return applies.empty() && deletes.empty(); }
};

// Computes the plan. Only CRs IsManagedBy(region) are ever deleted or updated; a CR
// without the plane's labels that holds a desired name is reported in `refused`. Equal
// specs (after common::Canonicalize of both sides, so CRD defaults compare equal) with
// complete metadata are left alone: repeating a plan on its own result is empty.
// Changed or created CRs are stamped with `version`; unchanged CRs keep the version that
// last wrote them. O((|desired| + |current|) log n).
ReconcilePlan PlanReconcile(const PlanInput& input);

// "RedisDatabase/sessions".
std::string KindSlashName(v1::ResourceKind kind, const std::string& name);

}  // namespace senren::regional::plane
