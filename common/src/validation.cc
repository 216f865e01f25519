#include "common/validation.h"

#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/resources.h"

namespace senren::common {
namespace {

constexpr uint32_t kMinMemoryMb = 16;
constexpr uint32_t kMaxMemoryMb = 1'048'576;
constexpr uint32_t kMaxRedisReplicas = 9;
constexpr uint32_t kMaxAerospikeSize = 32;
constexpr size_t kMaxVersionLength = 32;
constexpr size_t kMaxEvictionPolicyLength = 64;

absl::Status FieldError(const v1::Resource& resource, std::string_view field,
                        std::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("resource ", ResourceId(resource), ": field ", std::string(field), ": ",
                   std::string(problem)));
}

std::string OutOfBounds(uint64_t value, uint64_t lo, uint64_t hi) {
  return absl::StrCat(value, " is out of bounds ", lo, "..", hi);
}

bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// "7.2", "7.2.4", "6": digits and dots.
bool IsVersionString(std::string_view v) {
  if (v.empty() || v.size() > kMaxVersionLength) return false;
  if (v.front() == '.' || v.back() == '.') return false;
  for (char c : v) {
    if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

bool IsEvictionPolicy(std::string_view p) {
  static const std::set<std::string_view> kPolicies = {
      "noeviction",     "allkeys-lru",    "allkeys-lfu",  "allkeys-random",
      "volatile-lru",   "volatile-lfu",   "volatile-random", "volatile-ttl"};
  return kPolicies.contains(p);
}

absl::Status ValidateRedis(const v1::Resource& r) {
  const auto& s = r.redis_database();
  if (s.memory_mb() < kMinMemoryMb || s.memory_mb() > kMaxMemoryMb) {
    return FieldError(r, "spec.memory_mb", OutOfBounds(s.memory_mb(), kMinMemoryMb, kMaxMemoryMb));
  }
  if (s.replicas() < 1 || s.replicas() > kMaxRedisReplicas) {
    return FieldError(r, "spec.replicas", OutOfBounds(s.replicas(), 1, kMaxRedisReplicas));
  }
  if (!IsVersionString(s.version())) {
    return FieldError(r, "spec.version",
                      absl::StrCat("\"", s.version(), "\" is not a version like \"7.2\""));
  }
  if (!v1::RedisPersistence_IsValid(s.persistence())) {
    return FieldError(r, "spec.persistence",
                      absl::StrCat(static_cast<int>(s.persistence()),
                                   " is not one of none, rdb, aof"));
  }
  if (!s.eviction_policy().empty() &&
      (s.eviction_policy().size() > kMaxEvictionPolicyLength ||
       !IsEvictionPolicy(s.eviction_policy()))) {
    return FieldError(r, "spec.eviction_policy",
                      absl::StrCat("\"", s.eviction_policy(),
                                   "\" is not a Redis maxmemory-policy (noeviction, "
                                   "allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, "
                                   "volatile-lfu, volatile-random, volatile-ttl)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAerospike(const v1::Resource& r) {
  const auto& s = r.aerospike_cluster();
  if (s.size() < 1 || s.size() > kMaxAerospikeSize) {
    return FieldError(r, "spec.size", OutOfBounds(s.size(), 1, kMaxAerospikeSize));
  }
  if (!IsVersionString(s.version())) {
    return FieldError(r, "spec.version",
                      absl::StrCat("\"", s.version(), "\" is not a version like \"7.1\""));
  }
  if (s.namespaces().empty()) {
    return FieldError(r, "spec.namespaces", "at least one namespace is required");
  }
  std::set<std::string> names;
  for (int i = 0; i < s.namespaces_size(); ++i) {
    const auto& ns = s.namespaces(i);
    const std::string field = absl::StrCat("spec.namespaces[", i, "]");
    if (!IsDns1123Label(ns.name())) {
      return FieldError(r, field + ".name",
                        absl::StrCat("\"", ns.name(),
                                     "\" is not a DNS-1123 label (a-z, 0-9, '-', at most 63)"));
    }
    if (!names.insert(ns.name()).second) {
      return FieldError(r, field + ".name", absl::StrCat("duplicate namespace \"", ns.name(), "\""));
    }
    if (ns.replication_factor() < 1 || ns.replication_factor() > s.size()) {
      return FieldError(r, field + ".replication_factor",
                        OutOfBounds(ns.replication_factor(), 1, s.size()) +
                            " (1..size of the cluster)");
    }
    if (ns.memory_mb() < kMinMemoryMb || ns.memory_mb() > kMaxMemoryMb) {
      return FieldError(r, field + ".memory_mb",
                        OutOfBounds(ns.memory_mb(), kMinMemoryMb, kMaxMemoryMb));
    }
    if (!v1::AerospikeStorage_IsValid(ns.storage())) {
      return FieldError(r, field + ".storage",
                        absl::StrCat(static_cast<int>(ns.storage()), " is not one of memory, device"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRegionKey(std::string_view region) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "field region: \"", std::string(region),
        "\" is not a region key cloud:region (^[a-z][a-z0-9]*:[a-z0-9-]+$), e.g. aws:us-east-1"));
  };
  const size_t colon = region.find(':');
  if (colon == std::string_view::npos || colon == 0 || region.size() > 253) return bad();
  const std::string_view cloud = region.substr(0, colon);
  const std::string_view rest = region.substr(colon + 1);
  if (!(cloud[0] >= 'a' && cloud[0] <= 'z')) return bad();
  for (char c : cloud) {
    if (!IsAlnumLower(c)) return bad();
  }
  if (rest.empty()) return bad();
  for (char c : rest) {
    if (!IsAlnumLower(c) && c != '-') return bad();
  }
  return absl::OkStatus();
}

bool IsDns1123Label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!IsAlnumLower(name.front()) || !IsAlnumLower(name.back())) return false;
  for (char c : name) {
    if (!IsAlnumLower(c) && c != '-') return false;
  }
  return true;
}

absl::Status ValidateResource(const v1::Resource& resource) {
  if (!IsDns1123Label(resource.name())) {
    return FieldError(resource, "name",
                      absl::StrCat("\"", resource.name(),
                                   "\" is not a DNS-1123 label (a-z, 0-9, '-', starts and ends "
                                   "alphanumeric, at most 63 characters)"));
  }
  switch (resource.spec_case()) {
    case v1::Resource::kRedisDatabase:
      return ValidateRedis(resource);
    case v1::Resource::kAerospikeCluster:
      return ValidateAerospike(resource);
    case v1::Resource::SPEC_NOT_SET:
      break;
  }
  return FieldError(resource, "spec",
                    "no spec set: one of redis_database, aerospike_cluster is required");
}

absl::Status ValidateResourceSet(const std::vector<v1::Resource>& resources) {
  if (resources.size() > kMaxResourcesPerRegion) {
    return absl::InvalidArgumentError(absl::StrCat("field resources: ", resources.size(),
                                                   " resources; a region holds at most ",
                                                   kMaxResourcesPerRegion));
  }
  std::set<std::pair<int, std::string>> seen;
  for (const auto& r : resources) {
    if (absl::Status s = ValidateResource(r); !s.ok()) return s;
    if (!seen.emplace(static_cast<int>(KindOf(r)), r.name()).second) {
      return FieldError(r, "name", "duplicate: the name is used twice for this kind");
    }
  }
  return absl::OkStatus();
}

}  // namespace senren::common
