#pragma once

// StatusReadModel: the query side of status (docs/design.md §8 GetStatus, WatchStatus, and the
// convergence part of ListRegions) over the tables the StatusProjector writes.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "projections/status_hub.h"
#include "senren/v1/control_plane.pb.h"

namespace senren::projections {

// Per region: clusters that reported and how many have applied the current version.
struct RegionConvergence {
  std::vector<std::string> clusters;
  uint32_t converged = 0;
};

// Thread-safe. Errors: NOT_FOUND (region unknown), INVALID_ARGUMENT (bad resource
// filter), UNAVAILABLE (PostgreSQL unreachable; retry).
class StatusReadModel {
 public:
  virtual ~StatusReadModel() = default;

  // Now, or with request.at: the desired version at that time and the last status each
  // cluster reported up to then (from status history).
  virtual absl::StatusOr<v1::GetStatusResponse> GetStatus(const v1::GetStatusRequest& request) = 0;

  // Every region that has at least one cluster report.
  virtual absl::StatusOr<std::map<std::string, RegionConvergence>> Convergence() = 0;

  // A stream of the region's status events. With from_version > 0 it first replays the
  // current status of resources observed at versions >= from_version and of clusters
  // that applied such a version, then follows live events. NOT_FOUND for an unknown
  // region.
  virtual absl::StatusOr<std::shared_ptr<StatusHub::Subscription>> Watch(const std::string& region,
                                                                         uint64_t from_version) = 0;
};

struct PgStatusReadModelOptions {
  std::string uri;                // required
  std::string schema = "senren";  // Default: "senren"
  int pool_size = 4;              // Default: 4
};

// hub: where live events come from (the StatusProjector of this process); not owned.
absl::StatusOr<std::unique_ptr<StatusReadModel>> NewPgStatusReadModel(
    PgStatusReadModelOptions options, StatusHub* hub);

}  // namespace senren::projections
