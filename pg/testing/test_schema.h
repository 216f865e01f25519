#pragma once

// TestSchema: a fresh, migrated PostgreSQL schema of its own on the lab, dropped when the
// object goes away. For integration tests and benchmarks of anything built on Senren's
// schema, so tests never share tables. Migrated as the lab's schema owner, with the
// grants of the lab's service role, which uri() connects as (as senren-ledger does);
// Exec and Query run as the owner, ExecAsService as the service role.

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
  TestSchema()
      : uri_(senren::testing::Lab().postgres_uri),
        owner_uri_(senren::testing::Lab().postgres_owner_uri) {
    name_ = senren::testing::UniqueName("ledger_t");
    for (char& c : name_) {
      if (c == '-') c = '_';
    }
    const std::string service = UriUser(uri_);
    auto v = Migrate(owner_uri_, name_, service == UriUser(owner_uri_) ? "" : service);
    if (!v.ok()) throw std::runtime_error(std::string(v.status().message()));
  }
  ~TestSchema() {
    ConnectionOptions o;
    o.uri = owner_uri_;
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
  // The service role's URI (what the ledger and the projectors connect with).
  const std::string& uri() const { return uri_; }
  // The schema owner's URI (migrations).
  const std::string& owner_uri() const { return owner_uri_; }
  // Connection options for this schema (search_path = the schema), as the service role.
  ConnectionOptions options() const {
    ConnectionOptions o;
    o.uri = uri_;
    o.schema = name_;
    return o;
  }

  // A session of its own with search_path = the schema, as the service role (or, with
  // as_owner, the owner). Throws when it cannot connect.
  std::unique_ptr<Session> Connect(bool as_owner = false) const {
    ConnectionOptions o = options();
    if (as_owner) o.uri = owner_uri_;
    auto s = Session::Open(o);
    if (!s.ok()) throw std::runtime_error(std::string(s.status().message()));
    return std::move(*s);
  }

  // Runs SQL in a transaction of its own on the schema as the owner; the error names the
  // SQLSTATE and carries PostgreSQL's message.
  absl::Status Exec(const std::string& sql) const { return Run(sql, /*as_owner=*/true); }
  // The same as the service role.
  absl::Status ExecAsService(const std::string& sql) const { return Run(sql, /*as_owner=*/false); }

  // The rows of `sql`, run on the schema as the owner.
  absl::StatusOr<Result> Query(const std::string& sql) const {
    std::unique_ptr<Session> session = Connect(/*as_owner=*/true);
    absl::StatusOr<Result> rows = absl::UnknownError("not run");
    absl::Status s = session->Run("run a test query", "", TxKind::kNone, [&](Transaction& tx) {
      rows = tx.Exec(sql);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return rows;
  }

 private:
  absl::Status Run(const std::string& sql, bool as_owner) const {
    return Connect(as_owner)->Run("run test SQL", "", TxKind::kReadWrite, [&](Transaction& tx) {
      tx.Exec(sql);
      return absl::OkStatus();
    });
  }

  std::string uri_;
  std::string owner_uri_;
  std::string name_;
};

}  // namespace senren::pg::testing
