#pragma once

// The ledger's tamper-evident chain (migration 0005): each version row stores SHA-256
// over its content and change set (`hash`) and its predecessor's hash (`prev_hash`).
// VerifyChain recomputes it with the same SQL function that wrote it.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace senren::ledger {

struct ChainReport {
  uint64_t regions = 0;
  uint64_t versions = 0;
};

// Walks every region's versions (or only `region` when not empty) in order and checks
// that each version's hash matches its content, that prev_hash is the previous version's
// hash ('' for version 1), that versions run 1, 2, ... without a gap and that the head
// row points at the last one. Read-only; the service role may run it.
// DATA_LOSS naming the region and the first version that does not match, and how;
// NOT_FOUND for an unknown `region`; FAILED_PRECONDITION for a schema before migration
// 0005; UNAVAILABLE when PostgreSQL cannot be reached.
absl::StatusOr<ChainReport> VerifyChain(const std::string& uri, const std::string& schema,
                                        const std::string& region);

}  // namespace senren::ledger
