#pragma once

// PgLedgerStore::Impl, shared by the store's sources, split by concern as RocksDB's
// db_impl_*.cc are:
//   pg_ledger_store.cc        creation, the session setup (prepared statements), stats
//   pg_ledger_store_read.cc   GetState, ListRegions, DiffVersions, PlanState,
//                             materializing a version (checkpoint + change sets)
//   pg_ledger_store_history.cc  GetHistory (filters, paging) and Blame: the audit queries
//   pg_ledger_store_write.cc  ApplyState, Rollback: group commit and the append
//   version_cache.cc          the newest materialized version per region
// The pool, the SQLSTATE table and the migrations are pg/'s.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/diff.h"
#include "ledger/pg_ledger_store.h"
#include "pg/pool.h"
#include "pg/session.h"
#include "version_cache.h"

namespace senren::ledger {

// What an append asks for, after validation.
struct Intent {
  std::string region;
  Resources resources;  // canonical, sorted, valid
  v1::Origin origin = v1::ORIGIN_APPLY;
  uint64_t rollback_of = 0;
  std::string author;
  std::string message;
  std::string idempotency_key;
  std::string fingerprint;
  std::string traceparent;
  std::optional<uint64_t> expected_version;
  bool allow_empty = false;
  bool allow_mass_delete = false;
};

// The answer of a write transaction, plus the state to cache once it committed.
struct WriteResult {
  v1::ApplyStateResponse response;
  uint64_t new_version = 0;  // 0 when nothing was appended
  ResourcesPtr new_state;
  // In a batch: the region was locked by someone else; nothing done, run it alone.
  bool deferred = false;
};

// Columns of a version's metadata, in the order ReadVersionInfo expects.
inline constexpr const char* kVersionColumns =
    "version, author, message, (extract(epoch from created_at) * 1000000)::bigint, origin, "
    "rollback_of, idempotency_key, traceparent, created_count, updated_count, deleted_count, "
    "resource_count";

// Microseconds since the epoch (as the queries return times) into `ts`.
void SetTimestamp(int64_t micros, google::protobuf::Timestamp* ts);
// A row of kVersionColumns.
v1::VersionInfo ReadVersionInfo(const std::string& region, const pg::Row& row);

// Prepares the store's statements on a new session.
void PrepareStatements(pg::Session& session);

class PgLedgerStore::Impl {
 public:
  Impl(PgLedgerStoreOptions options, std::unique_ptr<pg::Pool> pool);

  // pg_ledger_store_write.cc
  absl::StatusOr<v1::ApplyStateResponse> ApplyState(const v1::ApplyStateRequest& request,
                                                    const WriteContext& context);
  absl::StatusOr<v1::ApplyStateResponse> Rollback(const v1::RollbackRequest& request,
                                                  const WriteContext& context);

  // pg_ledger_store_read.cc
  absl::StatusOr<v1::PlanStateResponse> PlanState(const v1::ApplyStateRequest& request);
  absl::StatusOr<v1::RegionalState> GetState(const std::string& region, uint64_t version);
  absl::StatusOr<v1::ListRegionsResponse> ListRegions();
  absl::StatusOr<v1::DiffVersionsResponse> DiffVersions(const v1::DiffVersionsRequest& request);

  // pg_ledger_store_history.cc
  absl::StatusOr<v1::GetHistoryResponse> GetHistory(const v1::GetHistoryRequest& request);
  absl::StatusOr<v1::BlameResponse> Blame(const v1::BlameRequest& request);

  PgLedgerStoreStats Stats() const;

 private:
  static std::optional<uint64_t> Expected(const v1::ApplyStateRequest& r) {
    if (!r.has_expected_version()) return std::nullopt;
    return r.expected_version();
  }
  static absl::Status NoSuchVersion(const std::string& region, uint64_t v, uint64_t head);
  static uint64_t Head(pg::Transaction& tx, const std::string& region);

  // Runs `fn` in a transaction on the pool (pg::Pool::Run: one retry on a connection
  // broken before its commit; UNAVAILABLE "outcome unknown" when it broke during it).
  template <typename T, typename Fn>
  absl::StatusOr<T> RunTx(std::string_view op, const std::string& region, Fn&& fn) {
    return pool_->Run<T>(op, region, pg::TxKind::kReadWrite, std::forward<Fn>(fn));
  }

  // ---- reads (pg_ledger_store_read.cc) ----

  // The resources of `version` (0 = the empty state): the newest checkpoint at or below
  // it plus the change sets after it.
  absl::StatusOr<ResourcesPtr> Materialize(pg::Transaction& tx, const std::string& region,
                                           uint64_t version);
  absl::StatusOr<v1::PlanStateResponse> Plan(const std::string& region, const Resources& desired,
                                             std::optional<uint64_t> expected, bool allow_empty,
                                             bool allow_mass_delete);

  // ---- group commit and the append (pg_ledger_store_write.cc) ----

  // Group commit. Writers queue their intent; a writer that finds a free write slot
  // (max_write_transactions) takes the queued intents of distinct regions, up to
  // kMaxBatch, and appends them in one transaction, then commits once: under load many
  // versions share one WAL flush; alone, a writer commits its own at once. Regions are
  // locked with SKIP LOCKED, so a region held by another transaction never holds up the
  // batch: its intent is deferred and its writer then waits for that region alone,
  // outside the write slots. A failed check of one intent (ABORTED, a guard, ...) is
  // answered to that writer only, as every check precedes every write. A batch whose
  // transaction fails UNAVAILABLE or DEADLINE_EXCEEDED (the server is unreachable or
  // slow) answers that to all its writers at once; one failing otherwise is retried one
  // intent per transaction, so one bad intent fails alone.
  //
  // Before queueing, a writer waits for its region's earlier writers in this process
  // (EnterRegion), outside the pool and the write slots: writers piling up on one hot
  // region hold no connection, so they never starve other regions of one.
  struct Pending {
    const Intent* intent;
    const uint64_t* rollback_to;
    bool taken = false;
    bool done = false;
    bool deferred = false;
    absl::StatusOr<WriteResult> result = absl::UnknownError("not run");
  };

  absl::StatusOr<WriteResult> Write(const Intent& in, const uint64_t* rollback_to);
  // UNAVAILABLE when the region's earlier writers keep it past wait_timeout.
  absl::Status EnterRegion(const std::string& region);
  void LeaveRegion(const std::string& region);
  std::vector<Pending*> TakeBatch(Pending* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(batch_mu_);
  absl::StatusOr<WriteResult> RunAlone(const Pending& p, bool skip_locked);
  void RunBatch(const std::vector<Pending*>& batch);
  absl::StatusOr<v1::ApplyStateResponse> Finish(const std::string& region,
                                                absl::StatusOr<WriteResult> result);
  absl::StatusOr<WriteResult> AppendUnderLock(pg::Transaction& tx, const Intent& in,
                                              const uint64_t* rollback_to, bool skip_locked,
                                              bool savepoint = false);
  static void RecordKey(pg::Transaction& tx, const Intent& in,
                        const v1::ApplyStateResponse& response);
  static void AppendChangeInserts(pg::Transaction& tx, const std::string& region, uint64_t version,
                                  const common::ResourceSetDiff& diff, std::string* sql);

  const PgLedgerStoreOptions options_;
  const std::unique_ptr<pg::Pool> pool_;
  VersionCache cache_;
  std::atomic<uint64_t> versions_appended_{0};

  static constexpr size_t kMaxBatch = 32;
  const int max_leaders_ =
      std::max(1, std::min(options_.pool_size, options_.max_write_transactions));
  std::mutex batch_mu_;
  std::condition_variable batch_cv_;
  std::list<Pending*> queue_ ABSL_GUARDED_BY(batch_mu_);
  int leaders_ ABSL_GUARDED_BY(batch_mu_) = 0;

  // Regions with a writer inside Write, and how many more wait for each.
  struct RegionTurn {
    bool busy = false;
    int waiting = 0;
    std::condition_variable cv;
  };
  std::mutex regions_mu_;
  std::unordered_map<std::string, std::unique_ptr<RegionTurn>> region_turns_
      ABSL_GUARDED_BY(regions_mu_);
};

}  // namespace senren::ledger
