#pragma once

// The pure part of the audit answers (docs/ledger.md "Audit"): resource names, the spec
// fields of a resource as state-file paths, what changed between two specs, and blame
// (which version last set each field). No I/O; shared by every LedgerStore and the CLI.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "senren/v1/control_plane.pb.h"

namespace senren::ledger {

// A resource's identity in a region.
struct ResourceKey {
  v1::ResourceKind kind = v1::RESOURCE_KIND_UNSPECIFIED;
  std::string name;
};

// "RedisDatabase/sessions" -> {REDIS_DATABASE, "sessions"}. INVALID_ARGUMENT naming
// `field` when the kind is unknown or the name is empty.
absl::StatusOr<ResourceKey> ParseResourceKey(std::string_view id, std::string_view field);

// The paths whose value differs between two specs (present in one only counts), sorted.
std::vector<std::string> ChangedFields(const v1::Resource& before, const v1::Resource& after);

// The change a version made to a resource, from the resource before it (nullptr = absent)
// and after it (nullptr = deleted). Both null is a broken invariant of the caller.
v1::ResourceVersionChange ResourceChangeAt(uint64_t version, v1::ResourceKind kind,
                                           const std::string& name, const v1::Resource* before,
                                           const v1::Resource* after);

// Blame by walking a resource's versions from the newest back: each field is set by the
// oldest version of the run of versions, ending at the newest, that all hold its current
// value. A field is attributed as soon as an older version differs, so the walk stops
// once every field is (Done()); the rest, after the walk reached the resource's creation,
// goes to the creating version. Not thread-safe; one walk per blame.
//
//   BlameWalk walk(current, v);
//   for (each older touch, newest first) if (walk.Older(version, spec_or_null)) break;
//   walk.Finish();
class BlameWalk {
 public:
  // `current`: the resource as `version` (the newest version that touched it) left it.
  BlameWalk(const v1::Resource& current, uint64_t version);

  // The next older version that touched the resource; `spec` nullptr = it deleted it
  // (so the newer one created it). Returns Done().
  bool Older(uint64_t version, const v1::Resource* spec);
  // As Older, from the spec's serialization (never null: a delete goes to Older). A
  // serialization seen before in this walk is neither parsed nor compared again: it
  // matched every field still unattributed then, so it matches those left now. A
  // resource's versions often go back and forth between a few specs, so a long walk
  // parses few of them. DATA_LOSS when the bytes do not parse.
  absl::StatusOr<bool> OlderSerialized(uint64_t version, const std::string& spec);
  // No older version touched it: the oldest seen created it.
  void Finish();

  // Every field attributed: older versions cannot change the answer.
  bool Done() const { return unresolved_ == 0; }
  // 0 while the walk has not reached the creation (a delete, or Finish()).
  uint64_t created_version() const { return created_; }
  // Every field of `current`: path -> (value, version that set it; 0 until attributed).
  struct Field {
    nlohmann::json value;
    uint64_t set_by = 0;
  };
  const std::map<std::string, Field>& fields() const { return fields_; }

 private:
  void AttributeRest(uint64_t version);

  std::map<std::string, Field> fields_;
  std::unordered_set<std::string> seen_;
  size_t unresolved_ = 0;
  uint64_t newer_ = 0;
  uint64_t created_ = 0;
};

}  // namespace senren::ledger
