#include "version_cache.h"

namespace senren::ledger {

ResourcesPtr VersionCache::Get(const std::string& region, uint64_t version) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(region);
  if (it == entries_.end() || it->second.first != version) return nullptr;
  return it->second.second;
}

void VersionCache::Put(const std::string& region, uint64_t version, ResourcesPtr resources) {
  if (max_regions_ == 0) return;
  std::lock_guard lock(mu_);
  auto it = entries_.find(region);
  if (it != entries_.end()) {
    if (it->second.first < version) it->second = {version, std::move(resources)};
    return;
  }
  if (entries_.size() >= max_regions_) entries_.erase(entries_.begin());
  entries_.emplace(region, std::make_pair(version, std::move(resources)));
}

}  // namespace senren::ledger
