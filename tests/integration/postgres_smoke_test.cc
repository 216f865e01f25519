// The lab's PostgreSQL answers, and pg/ round-trips rows (text and bytea) through it.
#include <gtest/gtest.h>
#include <unistd.h>

#include "lab/lab_env.h"
#include "pg/session.h"

namespace senren {
namespace {

TEST(PostgresSmoke, RoundTripsRowsInOwnSchema) {
  const auto& lab = testing::Lab();
  pg::ConnectionOptions options;
  options.uri = lab.postgres_owner_uri;  // creates a schema: the owner may, the service may not
  auto conn = pg::Session::Open(options);
  ASSERT_TRUE(conn.ok()) << conn.status();
  const std::string schema = "smoke_" + std::to_string(::getpid());
  {
    pg::Transaction tx = (*conn)->Begin();
    tx.Exec("drop schema if exists " + schema + " cascade");
    tx.Exec("create schema " + schema);
    tx.Exec("create table " + schema + ".t (k text primary key, v bytea not null)");
    tx.ExecParams("insert into " + schema + ".t values ($1, $2), ($3, $4)", "a",
                  pg::Param::Bytes(std::string("\x00\x01", 2)), "b", pg::Param::Bytes("zz"));
    tx.Commit();
  }
  pg::Transaction tx = (*conn)->Begin();
  auto rows = tx.Exec("select k, v from " + schema + ".t order by k");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0].as<std::string>(), "a");
  EXPECT_EQ(rows[0][1].Bytes(), std::string("\x00\x01", 2));
  EXPECT_EQ(rows[1][1].Bytes(), "zz");
  EXPECT_EQ(tx.Exec("show server_version_num")[0][0].as<int>() / 10000, 15);
  tx.Exec("drop schema " + schema + " cascade");
  tx.Commit();
}

}  // namespace
}  // namespace senren
