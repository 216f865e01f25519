#pragma once

#include <string>

#include "senren/v1/resources.pb.h"

namespace senren::common::testing {

inline v1::Resource Redis(const std::string& name, uint32_t memory_mb = 512, uint32_t replicas = 1) {
  v1::Resource r;
  r.set_name(name);
  auto* s = r.mutable_redis_database();
  s->set_memory_mb(memory_mb);
  s->set_replicas(replicas);
  s->set_version("7.2");
  s->set_persistence(v1::REDIS_PERSISTENCE_NONE);
  return r;
}

inline v1::Resource Aerospike(const std::string& name, uint32_t size = 3, uint32_t rf = 2) {
  v1::Resource r;
  r.set_name(name);
  auto* s = r.mutable_aerospike_cluster();
  s->set_size(size);
  s->set_version("7.1");
  auto* ns = s->add_namespaces();
  ns->set_name("users");
  ns->set_replication_factor(rf);
  ns->set_memory_mb(1024);
  ns->set_storage(v1::AEROSPIKE_STORAGE_MEMORY);
  return r;
}

}  // namespace senren::common::testing
