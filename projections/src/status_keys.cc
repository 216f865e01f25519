#include "projections/status_keys.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/resources.h"

namespace senren::projections {

std::optional<StatusKey> ParseStatusKey(const std::string& key) {
  std::vector<std::string> parts = absl::StrSplit(key, '/');
  for (const auto& p : parts) {
    if (p.empty()) return std::nullopt;
  }
  StatusKey k;
  if (parts.size() == 2) {
    k.region = parts[0];
    k.cluster = parts[1];
    return k;
  }
  if (parts.size() == 4) {
    k.region = parts[0];
    k.cluster = parts[1];
    k.kind = common::KindFromName(parts[2]);
    k.name = parts[3];
    if (k.kind == v1::RESOURCE_KIND_UNSPECIFIED) return std::nullopt;
    return k;
  }
  return std::nullopt;
}

std::string ResourceStatusKey(const std::string& region, const std::string& cluster,
                              v1::ResourceKind kind, const std::string& name) {
  return absl::StrCat(region, "/", cluster, "/", std::string(common::KindName(kind)), "/", name);
}

std::string ClusterReportKey(const std::string& region, const std::string& cluster) {
  return absl::StrCat(region, "/", cluster);
}

}  // namespace senren::projections
