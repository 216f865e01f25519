#pragma once

#include <string>
#include <vector>

#include "common/testing/resources.h"
#include "senren/v1/state.pb.h"

namespace senren::regional::plane::testing {

using common::testing::Aerospike;
using common::testing::Redis;

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
