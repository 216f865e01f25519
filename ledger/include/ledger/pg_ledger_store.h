#pragma once

// PgLedgerStore: LedgerStore on PostgreSQL (schema of migrations/, applied by
// pg::Migrate), on a pg::Pool, with prepared statements and an in-process cache of
// materialized versions.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/apply_rules.h"
#include "ledger/ledger_store.h"

namespace senren::ledger {

struct PgLedgerStoreOptions {
  // libpq URI, e.g. postgresql://senren:senren@127.0.0.1:55432/senren. Required.
  std::string uri;
  // PostgreSQL schema holding the tables. Default: "senren".
  std::string schema = "senren";
  // Connections kept open; callers beyond that wait for one. Default: 16.
  int pool_size = 16;
  // A full checkpoint every this many versions. Default: 64.
  uint64_t checkpoint_interval = 64;
  MassDeleteGuard mass_delete;
  // Group commit: at most this many write transactions run at once; writers arriving
  // meanwhile (for other regions) join the next one, so many versions share one commit.
  // Default: 4 (capped at pool_size).
  int max_write_transactions = 4;
  // Regions whose latest materialized version is cached. Default: 4096.
  size_t state_cache_regions = 4096;
  // Bounded waits on PostgreSQL, so an unreachable server answers UNAVAILABLE instead of
  // holding callers for as long as TCP retransmits:
  //   statement_timeout  a statement running longer is cancelled by the server
  //                      (DEADLINE_EXCEEDED). Default: 10 s.
  //   call_timeout       one transaction, commit included, on our side; past it the
  //                      connection is shut down (UNAVAILABLE). Default: 15 s.
  //   wait_timeout       waiting for a free connection, and a writer waiting for its
  //                      region's earlier writers (UNAVAILABLE). Default: 30 s.
  std::chrono::milliseconds statement_timeout{10'000};
  std::chrono::milliseconds call_timeout{15'000};
  std::chrono::milliseconds wait_timeout{30'000};
};

struct PgLedgerStoreStats {
  int pool_size = 0;
  int pool_in_use = 0;
  int pool_open = 0;
  uint64_t versions_appended = 0;
  uint64_t reconnects = 0;
  // Transactions abandoned at call_timeout.
  uint64_t call_timeouts = 0;
};

// Connections that break (PostgreSQL restarted or unreachable) are dropped and reopened
// on the next call; a transaction that broke before its commit is retried once on a new
// connection, otherwise the call answers UNAVAILABLE. Thread-safe.
class PgLedgerStore final : public LedgerStore {
 public:
  // Does not connect: the first call does, so a store made while PostgreSQL is down
  // works once it is back. INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<PgLedgerStore>> Create(PgLedgerStoreOptions options);
  ~PgLedgerStore() override;

  absl::StatusOr<v1::ApplyStateResponse> ApplyState(const v1::ApplyStateRequest& request,
                                                    const WriteContext& context) override;
  absl::StatusOr<v1::PlanStateResponse> PlanState(const v1::ApplyStateRequest& request) override;
  absl::StatusOr<v1::ApplyStateResponse> Rollback(const v1::RollbackRequest& request,
                                                  const WriteContext& context) override;
  absl::StatusOr<v1::RegionalState> GetState(const std::string& region, uint64_t version) override;
  absl::StatusOr<v1::ListRegionsResponse> ListRegions() override;
  absl::StatusOr<v1::GetHistoryResponse> GetHistory(const v1::GetHistoryRequest& request) override;
  absl::StatusOr<v1::BlameResponse> Blame(const v1::BlameRequest& request) override;
  absl::StatusOr<v1::DiffVersionsResponse> DiffVersions(
      const v1::DiffVersionsRequest& request) override;

  PgLedgerStoreStats Stats() const;

  class Impl;

 private:
  explicit PgLedgerStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace senren::ledger
