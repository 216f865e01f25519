#pragma once

#include <string>
#include <vector>

#include "senren/v1/state.pb.h"

namespace senren::regional::plane::testing {

inline v1::Resource Redis(const std::string& name, uint32_t memory_mb, uint32_t replicas = 0) {
  v1::Resource r;
  r.set_name(name);
  r.mutable_redis_database()->set_memory_mb(memory_mb);
  if (replicas != 0) r.mutable_redis_database()->set_replicas(replicas);
  return r;
}

inline v1::Resource Aerospike(const std::string& name, uint32_t size) {
  v1::Resource r;
  r.set_name(name);
  auto* s = r.mutable_aerospike_cluster();
  s->set_size(size);
  auto* ns = s->add_namespaces();
  ns->set_name("users");
  ns->set_replication_factor(1);
  ns->set_memory_mb(64);
  return r;
}

inline v1::RegionalState State(const std::string& region, uint64_t version,
                               std::vector<v1::Resource> resources) {
  v1::RegionalState s;
  s.set_region(region);
  s.set_version(version);
  for (auto& r : resources) *s.add_resources() = std::move(r);
  s.set_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  return s;
}

}  // namespace senren::regional::plane::testing
