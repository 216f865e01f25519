#pragma once

// TestSchema: a fresh, migrated PostgreSQL schema of its own on the lab, dropped when the
// object goes away, with a PgLedgerStore over it. For integration tests and benchmarks
// of anything built on the ledger's schema (ledger, projections).

#include <memory>
#include <stdexcept>
#include <string>

#include <pqxx/pqxx>

#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"

namespace senren::ledger::testing {

// A fresh, migrated schema, dropped when the object goes away.
class TestSchema {
 public:
  TestSchema() : uri_(senren::testing::Lab().postgres_uri) {
    name_ = senren::testing::UniqueName("ledger_t");
    for (char& c : name_) {
      if (c == '-') c = '_';
    }
    auto v = Migrate(uri_, name_);
    if (!v.ok()) throw std::runtime_error(std::string(v.status().message()));
  }
  ~TestSchema() {
    try {
      pqxx::connection c(uri_);
      pqxx::work tx(c);
      tx.exec0("DROP SCHEMA IF EXISTS \"" + name_ + "\" CASCADE");
      tx.commit();
    } catch (const std::exception&) {
    }
  }
  const std::string& name() const { return name_; }
  const std::string& uri() const { return uri_; }

  std::unique_ptr<PgLedgerStore> Store(int pool_size = 4, size_t cache = 4096,
                                       int write_transactions = 4) const {
    PgLedgerStoreOptions o;
    o.max_write_transactions = write_transactions;
    o.uri = uri_;
    o.schema = name_;
    o.pool_size = pool_size;
    o.state_cache_regions = cache;
    auto s = PgLedgerStore::Create(o);
    if (!s.ok()) throw std::runtime_error(std::string(s.status().message()));
    return std::move(*s);
  }

  // Runs SQL on a connection of its own with search_path = the schema.
  void Exec(const std::string& sql) const {
    pqxx::connection c(uri_);
    pqxx::work tx(c);
    tx.exec0("SET LOCAL search_path TO \"" + name_ + "\"");
    tx.exec(sql);
    tx.commit();
  }

 private:
  std::string uri_;
  std::string name_;
};

}  // namespace senren::ledger::testing
