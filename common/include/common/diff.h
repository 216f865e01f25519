#pragma once

// Diff of two complete resource sets of a region: what a move from `before` to `after`
// creates, updates and deletes. Pure; used by the ledger (ApplyState, DiffVersions) and
// by the regional plane (desired vs current).

#include <string>
#include <vector>

#include "senren/v1/resources.pb.h"

namespace senren::common {

struct ResourceUpdate {
  v1::Resource before;
  v1::Resource after;
};

struct ResourceSetDiff {
  std::vector<v1::Resource> created;    // in `after` only
  std::vector<ResourceUpdate> updated;  // in both, different
  std::vector<v1::Resource> deleted;    // in `before` only

  bool empty() const { return created.empty() && updated.empty() && deleted.empty(); }
  size_t size() const { return created.size() + updated.size() + deleted.size(); }
};

// Both inputs must be sorted by common::ResourceLess with unique (kind, name); the
// result lists each category in that order. O(|before| + |after|).
ResourceSetDiff DiffResources(const std::vector<v1::Resource>& before,
                              const std::vector<v1::Resource>& after);

// "Kind/name" of each entry, in order.
std::vector<std::string> CreatedIds(const ResourceSetDiff& diff);
std::vector<std::string> UpdatedIds(const ResourceSetDiff& diff);
std::vector<std::string> DeletedIds(const ResourceSetDiff& diff);

}  // namespace senren::common
