// The lab's PostgreSQL answers, and libpqxx round-trips rows through it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <pqxx/pqxx>

#include "lab/lab_env.h"

namespace senren {
namespace {

TEST(PostgresSmoke, RoundTripsRowsInOwnSchema) {
  const auto& lab = testing::Lab();
  pqxx::connection conn(lab.postgres_uri);
  const std::string schema = "smoke_" + std::to_string(::getpid());
  {
    pqxx::work tx(conn);
    tx.exec0("drop schema if exists " + schema + " cascade");
    tx.exec0("create schema " + schema);
    tx.exec0("create table " + schema + ".t (k text primary key, v bytea not null)");
    tx.exec_params0("insert into " + schema + ".t values ($1, $2), ($3, $4)", "a",
                    pqxx::binarystring(std::string("\x00\x01", 2)), "b",
                    pqxx::binarystring(std::string("zz")));
    tx.commit();
  }
  pqxx::work tx(conn);
  auto rows = tx.exec("select k, v from " + schema + ".t order by k");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0].as<std::string>(), "a");
  EXPECT_EQ(pqxx::binarystring(rows[0][1]).str(), std::string("\x00\x01", 2));
  EXPECT_EQ(pqxx::binarystring(rows[1][1]).str(), "zz");
  EXPECT_EQ(tx.exec1("show server_version_num")[0].as<int>() / 10000, 15);
  tx.exec0("drop schema " + schema + " cascade");
  tx.commit();
}

}  // namespace
}  // namespace senren
