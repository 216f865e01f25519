#pragma once

// TestSchema: pg's migrated schema of its own on the lab (pg/testing/test_schema.h),
// with a PgLedgerStore over it. For integration tests and benchmarks of anything built
// on the ledger's schema (ledger, projections).

#include <memory>
#include <stdexcept>
#include <string>

#include "ledger/pg_ledger_store.h"
#include "pg/testing/test_schema.h"

namespace senren::ledger::testing {

class TestSchema : public pg::testing::TestSchema {
 public:
  std::unique_ptr<PgLedgerStore> Store(int pool_size = 4, size_t cache = 4096,
                                       int write_transactions = 4) const {
    PgLedgerStoreOptions o;
    o.max_write_transactions = write_transactions;
    o.uri = uri();
    o.schema = name();
    o.pool_size = pool_size;
    o.state_cache_regions = cache;
    auto s = PgLedgerStore::Create(o);
    if (!s.ok()) throw std::runtime_error(std::string(s.status().message()));
    return std::move(*s);
  }
};

}  // namespace senren::ledger::testing
