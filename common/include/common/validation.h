#pragma once

// Validation of the docs/design.md §7 contract: region keys, resource names and spec bounds.
// Every error is INVALID_ARGUMENT and names the resource ("RedisDatabase/sessions") and
// the field ("spec.memory_mb") so a person can fix the input.

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "senren/v1/resources.pb.h"

namespace senren::common {

// Every bound, pattern and choice below comes from the rules table (common/rules.h).

// A region key cloud:region, e.g. "aws:us-east-1".
absl::Status ValidateRegionKey(std::string_view region);

// DNS-1123 label: 1..63 of [a-z0-9-], starting and ending with an alphanumeric.
bool IsDns1123Label(std::string_view name);

// One resource: name, kind and every spec bound. Expects a canonicalized resource
// (common::Canonicalize) so defaults are filled.
absl::Status ValidateResource(const v1::Resource& resource);

// A region's complete resource set: each resource, no duplicate (kind, name), at most
// the table's resources_per_region.
absl::Status ValidateResourceSet(const std::vector<v1::Resource>& resources);

}  // namespace senren::common
