#pragma once

// Migrate: brings a schema to the migrations this build embeds (migrations/sql).

#include <string>

#include "absl/status/statusor.h"

namespace senren::pg {

// Applies the migrations this build knows that the database lacks (in `schema`, created
// when missing), in one transaction, one migrator per schema at a time, and returns the
// schema version. `uri` connects as the schema's owner (the role that may create and
// alter its tables). With `service_role`, that role gets the grants the service needs
// (migration 0004's senren_grant_service: INSERT/SELECT on the ledger, no UPDATE,
// DELETE or TRUNCATE of history). A schema already at this build's version is left as
// it is without needing any privilege, so a service connecting as itself may call it
// too. FAILED_PRECONDITION when the database is newer than this build, naming both
// versions; UNAVAILABLE when it cannot connect.
absl::StatusOr<int> Migrate(const std::string& uri, const std::string& schema,
                            const std::string& service_role = "");

// The user a libpq URI or conninfo connects as ("" when it names none).
std::string UriUser(const std::string& uri);

// The schema version recorded in the database (0 when none).
absl::StatusOr<int> SchemaVersion(const std::string& uri, const std::string& schema);

}  // namespace senren::pg
