#pragma once

// Pure helpers over senren.v1 resources (docs/design.md §7): kinds, identities, canonical form and
// order. No I/O; safe to call from any thread.

#include <string>
#include <string_view>
#include <vector>

#include "senren/v1/resources.pb.h"

namespace senren::common {

// The kind of a resource, from its spec's oneof case (UNSPECIFIED when no spec is set).
v1::ResourceKind KindOf(const v1::Resource& resource);

// "RedisDatabase", "AerospikeCluster"; "" for RESOURCE_KIND_UNSPECIFIED.
std::string_view KindName(v1::ResourceKind kind);

// Inverse of KindName; RESOURCE_KIND_UNSPECIFIED for an unknown name.
v1::ResourceKind KindFromName(std::string_view name);

// "Kind/name", e.g. "RedisDatabase/sessions": how the API and the CLI name a resource.
std::string ResourceId(const v1::Resource& resource);

// Fills documented defaults (replicas 1, version "7.2"/"7.1", persistence NONE, storage
// MEMORY, replication_factor 1) so that two specs meaning the same thing compare equal.
void Canonicalize(v1::Resource* resource);

// Orders resources by (kind, name), the order RegionalState promises.
bool ResourceLess(const v1::Resource& a, const v1::Resource& b);
void SortResources(std::vector<v1::Resource>* resources);

// Byte equality of two resources (their serializations are deterministic: no maps).
bool SameResource(const v1::Resource& a, const v1::Resource& b);

}  // namespace senren::common
