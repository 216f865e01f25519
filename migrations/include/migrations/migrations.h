#pragma once

// The PostgreSQL schema of Senren as ordered migrations, embedded at build time from
// migrations/sql/NNNN_name.sql. Applied by pg::Migrate (senren-ledger migrate, and
// at serve start); recorded in the table schema_migrations.

#include <string_view>
#include <vector>

namespace senren::migrations {

struct Migration {
  int version;            // NNNN of the file name; 1, 2, 3, ... without gaps
  std::string_view name;  // file name without .sql
  std::string_view sql;
};

// Every migration, in version order.
const std::vector<Migration>& All();

// Version of the newest migration this build knows.
int LatestVersion();

}  // namespace senren::migrations
