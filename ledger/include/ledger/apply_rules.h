#pragma once

// The pure rules of ApplyState (docs/design.md §3), shared by every LedgerStore: input
// preparation, guards, request fingerprints and answers. No I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/diff.h"
#include "google/protobuf/repeated_field.h"
#include "senren/v1/control_plane.pb.h"

namespace senren::ledger {

// The blast-radius guard: a version deleting more than `max_delete_share` of a region
// holding at least `min_region_size` resources needs allow_mass_delete.
struct MassDeleteGuard {
  double max_delete_share = 0.5;  // Default: 0.5 (over 50 % is refused)
  uint32_t min_region_size = 10;  // Default: 10
};

// Region key valid, each resource canonicalized (defaults filled) and valid, no duplicate;
// the result is sorted by (kind, name). INVALID_ARGUMENT names the resource and field.
absl::StatusOr<std::vector<v1::Resource>> PrepareResources(
    const std::string& region, const google::protobuf::RepeatedPtrField<v1::Resource>& resources);

// Bytes a version's recorded fields may take. An idempotency key is part of a B-tree key
// (PostgreSQL refuses index rows over ~2.7 KB); the others are bounded so one request
// cannot bloat every history answer.
struct FieldLimits {
  static constexpr size_t kAuthor = 256;
  static constexpr size_t kMessage = 4096;
  static constexpr size_t kIdempotencyKey = 256;
  static constexpr size_t kTraceparent = 256;
};

// INVALID_ARGUMENT naming the field, its size and the limit when author, message,
// idempotency_key or traceparent is longer than FieldLimits allows.
absl::Status CheckRecordedFields(const std::string& author, const std::string& message,
                                 const std::string& idempotency_key,
                                 const std::string& traceparent);

// ABORTED unless `expected` is unset or equals `current`.
absl::Status CheckExpectedVersion(const std::string& region, std::optional<uint64_t> expected,
                                  uint64_t current);

// FAILED_PRECONDITION when the change empties a non-empty region without allow_empty,
// or deletes more than the guard's share without allow_mass_delete (allow_empty also
// permits deleting everything).
absl::Status CheckGuards(const std::string& region, size_t current_size,
                         const common::ResourceSetDiff& diff, size_t desired_size, bool allow_empty,
                         bool allow_mass_delete, const MassDeleteGuard& guard);

// A stable fingerprint of what an ApplyState request asks (region, canonical resources,
// expected_version, author, message, guard flags), to tell a retry from a different
// request reusing an idempotency key.
std::string RequestFingerprint(const std::string& region,
                               const std::vector<v1::Resource>& resources,
                               std::optional<uint64_t> expected_version, const std::string& author,
                               const std::string& message, bool allow_empty,
                               bool allow_mass_delete);

// The diff as the API's ResourceChange list.
std::vector<v1::ResourceChange> ToResourceChanges(const common::ResourceSetDiff& diff);

// Fills created/updated/deleted names of an answer.
void FillNames(const common::ResourceSetDiff& diff, v1::ApplyStateResponse* response);

}  // namespace senren::ledger
