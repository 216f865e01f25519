#include "common/validation.h"

#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/resources.h"
#include "common/rules.h"

namespace senren::common {
namespace {

absl::Status FieldError(const v1::Resource& resource, std::string_view field,
                        std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("resource ", ResourceId(resource), ": field ",
                                                 std::string(field), ": ", std::string(problem)));
}

std::string OutOfBounds(int64_t value, const IntRule& rule) {
  return absl::StrCat(value, " is out of bounds ", rule.minimum, "..", rule.maximum);
}

std::string BadVersion(std::string_view v, const StringRule& rule, std::string_view example) {
  return absl::StrCat("\"", std::string(v), "\" is not a version like \"", std::string(example),
                      "\" (", rule.pattern, ", at most ", rule.max_length, " characters)");
}

// storage_gb 0 and an empty storage_class are unset: derived from memory, the cluster's
// default StorageClass.
absl::Status ValidateStorage(const v1::Resource& r, uint32_t storage_gb,
                             const std::string& storage_class, const IntRule& gb_rule,
                             const StringRule& class_rule) {
  if (storage_gb != 0 && !gb_rule.Contains(storage_gb)) {
    return FieldError(r, "spec.storage_gb", OutOfBounds(storage_gb, gb_rule) + " (0: derived)");
  }
  if (!storage_class.empty() && !class_rule.Matches(storage_class)) {
    return FieldError(
        r, "spec.storage_class",
        absl::StrCat("\"", storage_class, "\" is not a StorageClass name (", class_rule.pattern,
                     ", at most ", class_rule.max_length, " characters)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRedis(const v1::Resource& r) {
  const auto& rules = GetRules().redis;
  const auto& s = r.redis_database();
  if (!rules.memory_mb.Contains(s.memory_mb())) {
    return FieldError(r, "spec.memory_mb", OutOfBounds(s.memory_mb(), rules.memory_mb));
  }
  if (!rules.replicas.Contains(s.replicas())) {
    return FieldError(r, "spec.replicas", OutOfBounds(s.replicas(), rules.replicas));
  }
  if (!rules.version.Matches(s.version())) {
    return FieldError(r, "spec.version", BadVersion(s.version(), rules.version, "7.2"));
  }
  if (!v1::RedisPersistence_IsValid(s.persistence())) {
    return FieldError(
        r, "spec.persistence",
        absl::StrCat(static_cast<int>(s.persistence()), " is not one of none, rdb, aof"));
  }
  if (!s.eviction_policy().empty() && !rules.eviction_policy.Contains(s.eviction_policy())) {
    return FieldError(
        r, "spec.eviction_policy",
        absl::StrCat("\"", s.eviction_policy(), "\" is not a Redis maxmemory-policy (",
                     rules.eviction_policy.Joined(), ")"));
  }
  return ValidateStorage(r, s.storage_gb(), s.storage_class(), rules.storage_gb,
                         rules.storage_class);
}

absl::Status ValidateAerospike(const v1::Resource& r) {
  const auto& rules = GetRules().aerospike;
  const auto& ns_rules = GetRules().aerospike_namespace;
  const auto& s = r.aerospike_cluster();
  if (!rules.size.Contains(s.size())) {
    return FieldError(r, "spec.size", OutOfBounds(s.size(), rules.size));
  }
  if (!rules.version.Matches(s.version())) {
    return FieldError(r, "spec.version", BadVersion(s.version(), rules.version, "7.1"));
  }
  if (!rules.namespaces.Contains(s.namespaces_size())) {
    return FieldError(
        r, "spec.namespaces",
        absl::StrCat(s.namespaces_size(), " namespaces; between ", rules.namespaces.minimum,
                     " and ", rules.namespaces.maximum, " are required"));
  }
  std::set<std::string> names;
  for (int i = 0; i < s.namespaces_size(); ++i) {
    const auto& ns = s.namespaces(i);
    const std::string field = absl::StrCat("spec.namespaces[", i, "]");
    if (!ns_rules.name.Matches(ns.name())) {
      return FieldError(
          r, field + ".name",
          absl::StrCat("\"", ns.name(), "\" is not a DNS-1123 label (a-z, 0-9, '-', at most 63)"));
    }
    if (!names.insert(ns.name()).second) {
      return FieldError(r, field + ".name",
                        absl::StrCat("duplicate namespace \"", ns.name(), "\""));
    }
    const IntRule rf{ns_rules.replication_factor.minimum,
                     std::min<int64_t>(ns_rules.replication_factor.maximum, s.size())};
    if (!rf.Contains(ns.replication_factor())) {
      return FieldError(r, field + ".replication_factor",
                        OutOfBounds(ns.replication_factor(), rf) + " (1..size of the cluster)");
    }
    if (!ns_rules.memory_mb.Contains(ns.memory_mb())) {
      return FieldError(r, field + ".memory_mb", OutOfBounds(ns.memory_mb(), ns_rules.memory_mb));
    }
    if (!v1::AerospikeStorage_IsValid(ns.storage())) {
      return FieldError(
          r, field + ".storage",
          absl::StrCat(static_cast<int>(ns.storage()), " is not one of memory, device"));
    }
  }
  return ValidateStorage(r, s.storage_gb(), s.storage_class(), rules.storage_gb,
                         rules.storage_class);
}

}  // namespace

absl::Status ValidateRegionKey(std::string_view region) {
  const StringRule& rule = GetRules().region;
  if (!rule.Matches(region)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field region: \"", std::string(region), "\" is not a region key cloud:region (",
        rule.pattern, ", at most ", rule.max_length, " characters), e.g. aws:us-east-1"));
  }
  return absl::OkStatus();
}

bool IsDns1123Label(std::string_view name) { return GetRules().name.Matches(name); }

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
  if (resources.size() > GetRules().max_resources_per_region) {
    return absl::InvalidArgumentError(absl::StrCat("field resources: ", resources.size(),
                                                   " resources; a region holds at most ",
                                                   GetRules().max_resources_per_region));
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
