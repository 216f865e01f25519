#pragma once

// TestSchema: a fresh, migrated PostgreSQL schema of its own on the lab, dropped when the
// object goes away. For integration tests and benchmarks of anything built on Senren's
// schema, so tests never share tables.

#include <memory>
#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lab/lab_env.h"
#include "pg/migrate.h"
#include "pg/options.h"
#include "pg/session.h"

namespace senren::pg::testing {

class TestSchema {
 public:
  // Throws when the lab's PostgreSQL cannot be migrated: a test without its schema
  // cannot run.
  TestSchema() : uri_(senren::testing::Lab().postgres_uri) {
    name_ = senren::testing::UniqueName("ledger_t");
    for (char& c : name_) {
      if (c == '-') c = '_';
    }
    auto v = Migrate(uri_, name_);
    if (!v.ok()) throw std::runtime_error(std::string(v.status().message()));
  }
  ~TestSchema() {
    ConnectionOptions o;
    o.uri = uri_;
    auto session = Session::Open(o);
    if (!session.ok()) return;
    (*session)
        ->Run("drop the test schema", "", TxKind::kReadWrite,
              [&](Transaction& tx) {
                tx.Exec("DROP SCHEMA IF EXISTS " + QuoteIdent(name_) + " CASCADE");
                return absl::OkStatus();
              })
        .IgnoreError();
  }
  TestSchema(const TestSchema&) = delete;
  TestSchema& operator=(const TestSchema&) = delete;

  const std::string& name() const { return name_; }
  const std::string& uri() const { return uri_; }
  // Connection options for this schema (search_path = the schema).
  ConnectionOptions options() const {
    ConnectionOptions o;
    o.uri = uri_;
    o.schema = name_;
    return o;
  }

  // A session of its own with search_path = the schema. Throws when it cannot connect.
  std::unique_ptr<Session> Connect() const {
    auto s = Session::Open(options());
    if (!s.ok()) throw std::runtime_error(std::string(s.status().message()));
    return std::move(*s);
  }

  // Runs SQL in a transaction of its own on the schema; the error names the SQLSTATE and
  // carries PostgreSQL's message.
  absl::Status Exec(const std::string& sql) const {
    return Connect()->Run("run test SQL", "", TxKind::kReadWrite, [&](Transaction& tx) {
      tx.Exec(sql);
      return absl::OkStatus();
    });
  }

  // The rows of `sql`, run on the schema.
  absl::StatusOr<Result> Query(const std::string& sql) const {
    std::unique_ptr<Session> session = Connect();
    absl::StatusOr<Result> rows = absl::UnknownError("not run");
    absl::Status s = session->Run("run a test query", "", TxKind::kNone, [&](Transaction& tx) {
      rows = tx.Exec(sql);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return rows;
  }

 private:
  std::string uri_;
  std::string name_;
};

}  // namespace senren::pg::testing
