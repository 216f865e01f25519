#include "common/diff.h"

#include "common/resources.h"

namespace senren::common {

ResourceSetDiff DiffResources(const std::vector<v1::Resource>& before,
                              const std::vector<v1::Resource>& after) {
  ResourceSetDiff diff;
  size_t i = 0;
  size_t j = 0;
  while (i < before.size() || j < after.size()) {
    if (j == after.size() || (i < before.size() && ResourceLess(before[i], after[j]))) {
      diff.deleted.push_back(before[i++]);
    } else if (i == before.size() || ResourceLess(after[j], before[i])) {
      diff.created.push_back(after[j++]);
    } else {
      if (!SameResource(before[i], after[j])) diff.updated.push_back({before[i], after[j]});
      ++i;
      ++j;
    }
  }
  return diff;
}

std::vector<std::string> CreatedIds(const ResourceSetDiff& diff) {
  std::vector<std::string> ids;
  ids.reserve(diff.created.size());
  for (const auto& r : diff.created) ids.push_back(ResourceId(r));
  return ids;
}

std::vector<std::string> UpdatedIds(const ResourceSetDiff& diff) {
  std::vector<std::string> ids;
  ids.reserve(diff.updated.size());
  for (const auto& u : diff.updated) ids.push_back(ResourceId(u.after));
  return ids;
}

std::vector<std::string> DeletedIds(const ResourceSetDiff& diff) {
  std::vector<std::string> ids;
  ids.reserve(diff.deleted.size());
  for (const auto& r : diff.deleted) ids.push_back(ResourceId(r));
  return ids;
}

}  // namespace senren::common
