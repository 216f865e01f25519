#pragma once

// Builders of senren.v1.Resource values for tests, shared by every component's tests and
// benchmarks (library senren_common_testing, header-only, test-only).
//
// Two families, so that a test states how much of the spec it cares about:
//   Redis / Aerospike          set only what their parameters give; every other field is
//                              left unset, so Canonicalize and the defaults of design §7
//                              still have work to do.
//   FullRedis / FullAerospike  also write the defaulted fields out (version, persistence,
//                              storage), as a user who spells out every field does.
// In proto3 a zero scalar is the same as an unset field, so passing 0 leaves it unset.

#include <cstdint>
#include <string>

#include "senren/v1/resources.pb.h"

namespace senren::common::testing {

// A RedisDatabase `name` with memory_mb and replicas set; nothing else.
// Default: memory_mb 64, replicas 0 (unset).
inline v1::Resource Redis(const std::string& name, uint32_t memory_mb = 64, uint32_t replicas = 0) {
  v1::Resource r;
  r.set_name(name);
  auto* spec = r.mutable_redis_database();
  spec->set_memory_mb(memory_mb);
  spec->set_replicas(replicas);
  return r;
}

// An AerospikeCluster `name` of `size` nodes with one namespace "users" (replication_factor,
// namespace_memory_mb); version and storage unset.
// Default: replication_factor 1, namespace_memory_mb 64.
inline v1::Resource Aerospike(const std::string& name, uint32_t size,
                              uint32_t replication_factor = 1, uint32_t namespace_memory_mb = 64) {
  v1::Resource r;
  r.set_name(name);
  auto* spec = r.mutable_aerospike_cluster();
  spec->set_size(size);
  auto* ns = spec->add_namespaces();
  ns->set_name("users");
  ns->set_replication_factor(replication_factor);
  ns->set_memory_mb(namespace_memory_mb);
  return r;
}

// Redis(name, memory_mb, replicas) with version "7.2" and persistence NONE written out.
// Default: memory_mb 512, replicas 1.
inline v1::Resource FullRedis(const std::string& name, uint32_t memory_mb = 512,
                              uint32_t replicas = 1) {
  v1::Resource r = Redis(name, memory_mb, replicas);
  r.mutable_redis_database()->set_version("7.2");
  r.mutable_redis_database()->set_persistence(v1::REDIS_PERSISTENCE_NONE);
  return r;
}

// Aerospike(name, size, replication_factor, 1024) with version "7.1" and the namespace's
// storage MEMORY written out.
// Default: size 3, replication_factor 2.
inline v1::Resource FullAerospike(const std::string& name, uint32_t size = 3,
                                  uint32_t replication_factor = 2) {
  v1::Resource r = Aerospike(name, size, replication_factor, /*namespace_memory_mb=*/1024);
  r.mutable_aerospike_cluster()->set_version("7.1");
  r.mutable_aerospike_cluster()->mutable_namespaces(0)->set_storage(v1::AEROSPIKE_STORAGE_MEMORY);
  return r;
}

}  // namespace senren::common::testing
