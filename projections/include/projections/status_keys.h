#pragma once

// Keys of the {prefix}-status topic (docs/design.md §4), parsed and built without I/O:
//   {region}/{cluster}/{kind}/{name}  senren.v1.ResourceStatus, tombstone when gone
//   {region}/{cluster}                senren.v1.ClusterReport

#include <optional>
#include <string>

#include "senren/v1/resources.pb.h"

namespace senren::projections {

struct StatusKey {
  std::string region;
  std::string cluster;
  // RESOURCE_KIND_UNSPECIFIED for a cluster key.
  v1::ResourceKind kind = v1::RESOURCE_KIND_UNSPECIFIED;
  std::string name;

  bool IsCluster() const { return kind == v1::RESOURCE_KIND_UNSPECIFIED; }
};

// nullopt when the key has neither shape, an empty part, or an unknown kind.
std::optional<StatusKey> ParseStatusKey(const std::string& key);
std::string ResourceStatusKey(const std::string& region, const std::string& cluster,
                              v1::ResourceKind kind, const std::string& name);
std::string ClusterReportKey(const std::string& region, const std::string& cluster);

}  // namespace senren::projections
