#include "ledger/pg_ledger_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pg_ledger_store_impl.h"

namespace senren::ledger {

void PrepareStatements(pg::Session& session) {
  session.Prepare("lock_head",
                  "INSERT INTO regions (region) VALUES ($1) ON CONFLICT (region) DO UPDATE "
                  "SET region = EXCLUDED.region RETURNING current_version");
  session.Prepare("head", "SELECT current_version FROM regions WHERE region = $1");
  session.Prepare(
      "get_idem",
      "SELECT request_hash, response FROM idempotency_keys WHERE region = $1 AND key = $2");
  session.Prepare("insert_idem",
                  "INSERT INTO idempotency_keys (region, key, request_hash, response) "
                  "VALUES ($1, $2, $3, $4)");
  session.Prepare("insert_checkpoint",
                  "INSERT INTO checkpoints (region, version, resources) VALUES ($1, $2, $3)");
  session.Prepare("checkpoint_at",
                  "SELECT version, resources FROM checkpoints WHERE region = $1 AND version <= $2 "
                  "ORDER BY version DESC LIMIT 1");
  session.Prepare(
      "changes_between",
      "SELECT version, kind, name, spec FROM changes WHERE region = $1 AND version > $2 "
      "AND version <= $3 ORDER BY version");
  session.Prepare("version_info",
                  absl::StrCat("SELECT ", kVersionColumns,
                               " FROM versions WHERE region = $1 AND version = $2"));
  session.Prepare("regions", "SELECT region, current_version, resource_count, "
                             "(extract(epoch from updated_at) * 1000000)::bigint FROM regions "
                             "WHERE current_version > 0 ORDER BY region");
}

PgLedgerStore::Impl::Impl(PgLedgerStoreOptions options, std::unique_ptr<pg::Pool> pool)
    : options_(std::move(options)), pool_(std::move(pool)), cache_(options_.state_cache_regions) {}

PgLedgerStoreStats PgLedgerStore::Impl::Stats() const {
  const pg::PoolStats p = pool_->Stats();
  PgLedgerStoreStats s;
  s.pool_size = p.size;
  s.pool_in_use = p.in_use;
  s.pool_open = p.open;
  s.reconnects = p.reconnects;
  s.call_timeouts = p.call_timeouts;
  s.versions_appended = versions_appended_.load();
  return s;
}

absl::Status PgLedgerStore::Impl::NoSuchVersion(const std::string& region, uint64_t v,
                                                uint64_t head) {
  if (head == 0) {
    return absl::NotFoundError(absl::StrCat("region ", region, " has no versions; no version ", v));
  }
  return absl::NotFoundError(
      absl::StrCat("region ", region, " has versions 1..", head, "; no version ", v));
}

uint64_t PgLedgerStore::Impl::Head(pg::Transaction& tx, const std::string& region) {
  auto rows = tx.ExecPrepared("head", region);
  return rows.empty() ? 0 : rows[0][0].as<uint64_t>();
}

absl::StatusOr<std::unique_ptr<PgLedgerStore>> PgLedgerStore::Create(PgLedgerStoreOptions options) {
  if (options.uri.empty()) return absl::InvalidArgumentError("PostgreSQL URI is required");
  if (options.schema.empty()) return absl::InvalidArgumentError("schema is required");
  if (options.pool_size < 1) return absl::InvalidArgumentError("pool_size must be >= 1");
  pg::PoolOptions po;
  po.connection.uri = options.uri;
  po.connection.schema = options.schema;
  // A hung statement must not hold a pooled connection (and its caller) forever.
  po.connection.statement_timeout = options.statement_timeout;
  po.call_timeout = options.call_timeout;
  po.acquire_timeout = options.wait_timeout;
  po.size = options.pool_size;
  po.on_open = PrepareStatements;
  auto pool = pg::Pool::Create(std::move(po));
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<PgLedgerStore>(
      new PgLedgerStore(std::make_unique<Impl>(std::move(options), std::move(*pool))));
}

PgLedgerStore::PgLedgerStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgLedgerStore::~PgLedgerStore() = default;

absl::StatusOr<v1::ApplyStateResponse> PgLedgerStore::ApplyState(
    const v1::ApplyStateRequest& request, const WriteContext& context) {
  return impl_->ApplyState(request, context);
}
absl::StatusOr<v1::PlanStateResponse> PgLedgerStore::PlanState(
    const v1::ApplyStateRequest& request) {
  return impl_->PlanState(request);
}
absl::StatusOr<v1::ApplyStateResponse> PgLedgerStore::Rollback(const v1::RollbackRequest& request,
                                                               const WriteContext& context) {
  return impl_->Rollback(request, context);
}
absl::StatusOr<v1::RegionalState> PgLedgerStore::GetState(const std::string& region,
                                                          uint64_t version) {
  return impl_->GetState(region, version);
}
absl::StatusOr<v1::ListRegionsResponse> PgLedgerStore::ListRegions() {
  return impl_->ListRegions();
}
absl::StatusOr<v1::GetHistoryResponse> PgLedgerStore::GetHistory(
    const v1::GetHistoryRequest& request) {
  return impl_->GetHistory(request);
}
absl::StatusOr<v1::DiffVersionsResponse> PgLedgerStore::DiffVersions(
    const v1::DiffVersionsRequest& request) {
  return impl_->DiffVersions(request);
}
absl::StatusOr<v1::BlameResponse> PgLedgerStore::Blame(const v1::BlameRequest& request) {
  return impl_->Blame(request);
}
PgLedgerStoreStats PgLedgerStore::Stats() const { return impl_->Stats(); }

}  // namespace senren::ledger
