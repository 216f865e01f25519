#pragma once

// VersionCache: the newest materialized version per region, kept in the process so the
// hot path (apply on top of the head) does not read the region back from PostgreSQL.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "senren/v1/control_plane.pb.h"

namespace senren::ledger {

using Resources = std::vector<v1::Resource>;
using ResourcesPtr = std::shared_ptr<const Resources>;

// Versions never change once committed, so an entry is correct forever; only committed
// versions are put. At most max_regions regions; when full, an arbitrary region makes
// room. Thread-safe.
class VersionCache {
 public:
  // max_regions 0: caches nothing.
  explicit VersionCache(size_t max_regions) : max_regions_(max_regions) {}

  // The resources of `region` at `version`, or nullptr when that is not the cached one.
  ResourcesPtr Get(const std::string& region, uint64_t version) const;

  // Keeps `resources` as `region`'s version `version` unless a newer one is cached.
  void Put(const std::string& region, uint64_t version, ResourcesPtr resources);

 private:
  const size_t max_regions_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::pair<uint64_t, ResourcesPtr>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace senren::ledger
