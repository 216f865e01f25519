#pragma once

// Shared helpers of the ledger's integration tests: a schema of its own per test on the
// lab's PostgreSQL, and resource builders.

#include <memory>
#include <string>
#include <vector>

#include "common/testing/resources.h"
#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"
#include "pg/migrate.h"
#include "pg/session.h"
#include "senren/v1/control_plane.pb.h"
#include "testing/test_schema.h"

namespace senren::ledger::testing {

using common::testing::Redis;

inline v1::ApplyStateRequest Apply(const std::string& region, std::vector<v1::Resource> resources,
                                   const std::string& message = "") {
  v1::ApplyStateRequest req;
  req.set_region(region);
  for (auto& r : resources) *req.add_resources() = std::move(r);
  req.set_message(message);
  return req;
}

}  // namespace senren::ledger::testing
