#pragma once

// Migrate: brings a schema to the migrations this build embeds (migrations/sql).

#include <string>

#include "absl/status/statusor.h"

namespace senren::pg {

// Applies the migrations this build knows that the database lacks (in `schema`, created
// when missing), in one transaction, one migrator per schema at a time, and returns the
// schema version. FAILED_PRECONDITION when the database is newer than this build,
// naming both versions; UNAVAILABLE when it cannot connect.
absl::StatusOr<int> Migrate(const std::string& uri, const std::string& schema);

// The schema version recorded in the database (0 when none).
absl::StatusOr<int> SchemaVersion(const std::string& uri, const std::string& schema);

}  // namespace senren::pg
