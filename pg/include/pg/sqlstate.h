#pragma once

// The one table from PostgreSQL's SQLSTATE codes to Senren's canonical codes (gRPC's).
// Callers retry by code only: UNAVAILABLE, ABORTED and DEADLINE_EXCEEDED are worth
// retrying, the rest are not.

#include <string_view>

#include "absl/status/status.h"

namespace senren::pg {

// UNAVAILABLE: class 08 (connection exception), 57P01/57P02/57P03 (server shutting down
//   or starting), 53300 (too many connections).
// ABORTED: 40001 (serialization failure), 40P01 (deadlock detected).
// DEADLINE_EXCEEDED: 57014 (query canceled: statement_timeout).
// ALREADY_EXISTS: 23505 (unique violation).
// INVALID_ARGUMENT: class 22 (data exception: a value out of range, a bad encoding).
// INTERNAL: everything else, e.g. 42501 raised by the ledger's append-only triggers and
//   23000 by its gapless trigger, which only a bug in Senren can reach.
absl::StatusCode CodeForSqlState(std::string_view sqlstate);

// "PostgreSQL failed to <op>[ of region <region>] (SQLSTATE <sqlstate>): <message>" with
// the code of CodeForSqlState; ABORTED adds "; retry". `message` may span lines (libpq's
// do); the Status message is one line.
absl::Status SqlError(std::string_view op, std::string_view region, std::string_view sqlstate,
                      std::string_view message);

// libpq's text with newlines and tabs folded into single spaces, trailing space removed.
std::string OneLine(std::string_view text);

}  // namespace senren::pg
