#include "pg/migrate.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "internal.h"
#include "migrations/migrations.h"
#include "pg/sqlstate.h"

namespace senren::pg {
namespace {

// One session of its own, with the URI as given plus the connect timeout.
absl::StatusOr<int> WithSession(const std::string& uri, std::string_view op,
                                absl::FunctionRef<absl::StatusOr<int>(Transaction&)> fn) {
  ConnectionOptions options;
  options.uri = uri;
  auto session = Session::Open(options);
  if (!session.ok()) return session.status();
  absl::StatusOr<int> result = absl::UnknownError("not run");
  absl::Status s = (*session)->Run(op, "", TxKind::kReadWrite, [&](Transaction& tx) -> absl::Status {
    result = fn(tx);
    return result.status();
  });
  if (!s.ok()) return s;
  return result;
}

}  // namespace

absl::StatusOr<int> Migrate(const std::string& uri, const std::string& schema) {
  return WithSession(uri, "migrate the schema", [&](Transaction& tx) -> absl::StatusOr<int> {
    // One migrator per schema at a time, even across processes.
    tx.ExecParams("SELECT pg_advisory_xact_lock(hashtext($1))", "senren_migrations:" + schema);
    tx.Exec("CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(schema));
    tx.Exec("SET LOCAL search_path TO " + QuoteIdent(schema));
    tx.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    const int current = tx.ExecParams1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
    const int latest = migrations::LatestVersion();
    if (current > latest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database schema ", schema, " is at migration ", current,
          " but this senren-ledger knows migrations up to ", latest, "; run a newer senren-ledger"));
    }
    int applied = current;
    for (const auto& m : migrations::All()) {
      if (m.version <= current) continue;
      tx.Exec(m.sql);
      tx.ExecParams("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name);
      applied = m.version;
      spdlog::info("migrations: applied {} to schema {}", m.name, schema);
    }
    return applied;
  });
}

absl::StatusOr<int> SchemaVersion(const std::string& uri, const std::string& schema) {
  return WithSession(uri, "read the schema version", [&](Transaction& tx) -> absl::StatusOr<int> {
    auto exists = tx.ExecParams1("SELECT to_regclass($1) IS NOT NULL", QuoteIdent(schema) + ".schema_migrations");
    if (!exists[0].as<bool>()) return 0;
    return tx.ExecParams1("SELECT coalesce(max(version), 0) FROM " + QuoteIdent(schema) + ".schema_migrations")[0]
        .as<int>();
  });
}

}  // namespace senren::pg
