#pragma once

// LedgerStore: the append-only, event-sourced store of every version of every region's
// desired state (docs/design.md §3). The gRPC service is a thin layer over it.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "senren/v1/control_plane.pb.h"
#include "senren/v1/state.pb.h"

namespace senren::ledger {

// Who and why, beside the request itself.
struct WriteContext {
  // Recorded when the request names no author (the token's subject).
  std::string default_author;
  // W3C trace context of the request; "" when none.
  std::string traceparent;
};

// Thread-safe: every method may be called from many threads at once. Implementations
// serialize writers of one region and never make writers of different regions wait
// for each other. Error codes are the API's (docs/design.md §8):
//   INVALID_ARGUMENT   bad region key, resource, field or page token (nothing written)
//   NOT_FOUND          unknown region or version
//   ABORTED            expected_version is not the current version (names it)
//   FAILED_PRECONDITION  the empty-region or mass-delete guard refused the change
//   UNAVAILABLE        the database cannot be reached; retry
class LedgerStore {
 public:
  virtual ~LedgerStore() = default;

  // Replaces the region's resource set; appends a version when it changed. With
  // dry_run: validates and diffs, writes nothing (version = the base version).
  virtual absl::StatusOr<v1::ApplyStateResponse> ApplyState(const v1::ApplyStateRequest& request,
                                                            const WriteContext& context) = 0;

  // The diff ApplyState would make against the current version (base_version).
  virtual absl::StatusOr<v1::PlanStateResponse> PlanState(const v1::ApplyStateRequest& request) = 0;

  // Appends a version whose resources equal to_version's (origin ROLLBACK). No version
  // is appended when the current resources already equal them (changed = false).
  virtual absl::StatusOr<v1::ApplyStateResponse> Rollback(const v1::RollbackRequest& request,
                                                          const WriteContext& context) = 0;

  // The region at `version` (0 = current) with its ledger metadata.
  virtual absl::StatusOr<v1::RegionalState> GetState(const std::string& region,
                                                     uint64_t version) = 0;

  // Every region with at least one version, sorted by key.
  virtual absl::StatusOr<v1::ListRegionsResponse> ListRegions() = 0;

  // Versions newest first. page_size default 20, at most 1000; page_token from a previous
  // answer (a version: pages never shift when versions are appended meanwhile). The
  // filters (resource, author, since/until, origin) combine; with a resource, `changes`
  // says what each version did to it. INVALID_ARGUMENT: a bad token, resource or range.
  virtual absl::StatusOr<v1::GetHistoryResponse> GetHistory(
      const v1::GetHistoryRequest& request) = 0;

  // Each field of one resource's spec at `version` (0 = current) with the version that
  // last set it (ledger/audit.h BlameWalk). NOT_FOUND: unknown region or version, or the
  // resource does not exist at that version; INVALID_ARGUMENT: resource is not Kind/name.
  virtual absl::StatusOr<v1::BlameResponse> Blame(const v1::BlameRequest& request) = 0;

  // Per-resource changes from from_version (0 = empty) to to_version.
  virtual absl::StatusOr<v1::DiffVersionsResponse> DiffVersions(
      const v1::DiffVersionsRequest& request) = 0;
};

}  // namespace senren::ledger
