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
  absl::Status s =
      (*session)->Run(op, "", TxKind::kReadWrite, [&](Transaction& tx) -> absl::Status {
        result = fn(tx);
        return result.status();
      });
  if (!s.ok()) return s;
  return result;
}

}  // namespace

absl::StatusOr<int> Migrate(const std::string& uri, const std::string& schema,
                            const std::string& service_role) {
  return WithSession(uri, "migrate the schema", [&](Transaction& tx) -> absl::StatusOr<int> {
    // One migrator per schema at a time, even across processes.
    tx.ExecParams("SELECT pg_advisory_xact_lock(hashtext($1))", "senren_migrations:" + schema);
    const int latest = migrations::LatestVersion();
    auto exists = tx.ExecParams1("SELECT to_regclass($1) IS NOT NULL",
                                 QuoteIdent(schema) + ".schema_migrations");
    int current = 0;
    if (exists[0].as<bool>()) {
      current = tx.ExecParams1("SELECT coalesce(max(version), 0) FROM " + QuoteIdent(schema) +
                               ".schema_migrations")[0]
                    .as<int>();
    }
    if (current > latest) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database schema ", schema, " is at migration ", current,
                       " but this senren-ledger knows migrations up to ", latest,
                       "; run a newer senren-ledger"));
    }
    if (current == latest && service_role.empty()) return current;
    tx.Exec("CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(schema));
    // pg_temp last: the trigger functions keep this search_path (SET ... FROM CURRENT),
    // and a caller's temporary table must never stand in for a ledger table.
    tx.Exec("SET LOCAL search_path TO " + QuoteIdent(schema) + ", pg_temp");
    tx.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    int applied = current;
    for (const auto& m : migrations::All()) {
      if (m.version <= current) continue;
      tx.Exec(m.sql);
      tx.ExecParams("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                    m.name);
      applied = m.version;
      spdlog::info("migrations: applied {} to schema {}", m.name, schema);
    }
    if (!service_role.empty()) {
      tx.ExecParams("SELECT senren_grant_service($1)", service_role);
      spdlog::info("migrations: granted the service role {} its rights on schema {}", service_role,
                   schema);
    }
    return applied;
  });
}

std::string UriUser(const std::string& uri) {
  if (auto scheme = uri.find("://"); scheme != std::string::npos) {
    const std::string rest = uri.substr(scheme + 3);
    const auto at = rest.find('@');
    const auto slash = rest.find('/');
    if (at == std::string::npos || (slash != std::string::npos && slash < at)) return "";
    const std::string userinfo = rest.substr(0, at);
    return userinfo.substr(0, userinfo.find(':'));
  }
  // key=value conninfo
  const auto key = uri.find("user=");
  if (key == std::string::npos || (key > 0 && uri[key - 1] != ' ')) return "";
  const std::string value = uri.substr(key + 5);
  return value.substr(0, value.find(' '));
}

absl::StatusOr<int> SchemaVersion(const std::string& uri, const std::string& schema) {
  return WithSession(uri, "read the schema version", [&](Transaction& tx) -> absl::StatusOr<int> {
    auto exists = tx.ExecParams1("SELECT to_regclass($1) IS NOT NULL",
                                 QuoteIdent(schema) + ".schema_migrations");
    if (!exists[0].as<bool>()) return 0;
    return tx
        .ExecParams1("SELECT coalesce(max(version), 0) FROM " + QuoteIdent(schema) +
                     ".schema_migrations")[0]
        .as<int>();
  });
}

}  // namespace senren::pg
