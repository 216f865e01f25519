#pragma once

// FakeLedgerStore: an in-memory LedgerStore with the same rules as PgLedgerStore (it
// uses apply_rules.h), for unit tests of components built on a LedgerStore (the API,
// projectors). Thread-safe; everything is lost when it is destroyed.

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "ledger/apply_rules.h"
#include "ledger/ledger_store.h"

namespace senren::ledger::testing {

class FakeLedgerStore final : public LedgerStore {
 public:
  explicit FakeLedgerStore(MassDeleteGuard guard = {}) : guard_(guard) {}

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

  // Fault injection: the next `count` calls (any method) fail with `status`.
  void FailNextCalls(absl::Status status, int count);

 private:
  struct Version {
    v1::VersionInfo info;
    std::vector<v1::Resource> resources;
  };
  struct Region {
    std::vector<Version> versions;  // versions[i] is version i + 1
    std::map<std::string, std::pair<std::string, v1::ApplyStateResponse>> keys;
  };

  absl::Status Injected() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::ApplyStateResponse> Append(const std::string& region,
                                                std::vector<v1::Resource> desired,
                                                v1::VersionInfo info,
                                                std::optional<uint64_t> expected, bool allow_empty,
                                                bool allow_mass_delete)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const std::vector<v1::Resource>& At(const Region& r, uint64_t version) const;

  const MassDeleteGuard guard_;
  std::mutex mu_;
  std::map<std::string, Region> regions_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_status_ ABSL_GUARDED_BY(mu_);
  int fail_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t clock_ ABSL_GUARDED_BY(mu_) = 1'700'000'000;
};

}  // namespace senren::ledger::testing
