#include "common/resources.h"

#include <algorithm>
#include <tuple>

#include "common/rules.h"

namespace senren::common {

v1::ResourceKind KindOf(const v1::Resource& resource) {
  switch (resource.spec_case()) {
    case v1::Resource::kRedisDatabase:
      return v1::RESOURCE_KIND_REDIS_DATABASE;
    case v1::Resource::kAerospikeCluster:
      return v1::RESOURCE_KIND_AEROSPIKE_CLUSTER;
    case v1::Resource::SPEC_NOT_SET:
      break;
  }
  return v1::RESOURCE_KIND_UNSPECIFIED;
}

std::string_view KindName(v1::ResourceKind kind) {
  switch (kind) {
    case v1::RESOURCE_KIND_REDIS_DATABASE:
      return "RedisDatabase";
    case v1::RESOURCE_KIND_AEROSPIKE_CLUSTER:
      return "AerospikeCluster";
    default:
      return "";
  }
}

v1::ResourceKind KindFromName(std::string_view name) {
  if (name == "RedisDatabase") return v1::RESOURCE_KIND_REDIS_DATABASE;
  if (name == "AerospikeCluster") return v1::RESOURCE_KIND_AEROSPIKE_CLUSTER;
  return v1::RESOURCE_KIND_UNSPECIFIED;
}

std::string ResourceId(const v1::Resource& resource) {
  std::string_view kind = KindName(KindOf(resource));
  std::string id(kind.empty() ? std::string_view("Unknown") : kind);
  id += '/';
  id += resource.name();
  return id;
}

void Canonicalize(v1::Resource* resource) {
  if (resource->has_redis_database()) {
    auto* spec = resource->mutable_redis_database();
    if (spec->replicas() == 0) spec->set_replicas(GetRules().redis.default_replicas);
    if (spec->version().empty()) spec->set_version(GetRules().redis.default_version);
    if (spec->persistence() == v1::REDIS_PERSISTENCE_UNSPECIFIED) {
      spec->set_persistence(v1::REDIS_PERSISTENCE_NONE);
    }
  } else if (resource->has_aerospike_cluster()) {
    auto* spec = resource->mutable_aerospike_cluster();
    if (spec->version().empty()) spec->set_version(GetRules().aerospike.default_version);
    for (auto& ns : *spec->mutable_namespaces()) {
      if (ns.replication_factor() == 0) {
        ns.set_replication_factor(GetRules().aerospike_namespace.default_replication_factor);
      }
      if (ns.storage() == v1::AEROSPIKE_STORAGE_UNSPECIFIED) {
        ns.set_storage(v1::AEROSPIKE_STORAGE_MEMORY);
      }
    }
  }
}

bool ResourceLess(const v1::Resource& a, const v1::Resource& b) {
  const int ka = static_cast<int>(KindOf(a));
  const int kb = static_cast<int>(KindOf(b));
  return std::tie(ka, a.name()) < std::tie(kb, b.name());
}

void SortResources(std::vector<v1::Resource>* resources) {
  std::sort(resources->begin(), resources->end(), ResourceLess);
}

bool SameResource(const v1::Resource& a, const v1::Resource& b) {
  if (a.ByteSizeLong() != b.ByteSizeLong()) return false;
  return a.SerializeAsString() == b.SerializeAsString();
}

}  // namespace senren::common
