#pragma once

// Shared helpers of the ledger's integration tests: a schema of its own per test on the
// lab's PostgreSQL, and resource builders.

#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"
#include "senren/v1/control_plane.pb.h"

namespace senren::ledger::testing {

inline v1::Resource Redis(const std::string& name, uint32_t memory_mb = 64) {
  v1::Resource r;
  r.set_name(name);
  r.mutable_redis_database()->set_memory_mb(memory_mb);
  return r;
}

inline v1::ApplyStateRequest Apply(const std::string& region, std::vector<v1::Resource> resources,
                                   const std::string& message = "") {
  v1::ApplyStateRequest req;
  req.set_region(region);
  for (auto& r : resources) *req.add_resources() = std::move(r);
  req.set_message(message);
  return req;
}

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
