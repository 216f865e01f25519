// Connection strings and session setup, built without a server.
#include "pg/options.h"

#include <gtest/gtest.h>

namespace senren::pg {
namespace {

// Options with only the connect timeout, so each test shows the parameter it is about.
ConnectionOptions Uri(std::string uri) {
  ConnectionOptions o;
  o.uri = std::move(uri);
  o.keepalives_idle = o.keepalives_interval = std::chrono::seconds(0);
  o.keepalives_count = 0;
  o.tcp_user_timeout = std::chrono::milliseconds(0);
  return o;
}

TEST(ConnectionString, AddsTheConnectTimeoutToAUri) {
  EXPECT_EQ(ConnectionString(Uri("postgresql://u:p@h:1/db")),
            "postgresql://u:p@h:1/db?connect_timeout=5");
  EXPECT_EQ(ConnectionString(Uri("postgresql://h/db?sslmode=disable")),
            "postgresql://h/db?sslmode=disable&connect_timeout=5");
}

TEST(ConnectionString, AddsTheConnectTimeoutToKeyValueConninfo) {
  EXPECT_EQ(ConnectionString(Uri("host=h dbname=db")), "host=h dbname=db connect_timeout=5");
}

TEST(ConnectionString, AnExplicitSettingInTheUriWins) {
  EXPECT_EQ(ConnectionString(Uri("postgresql://h/db?connect_timeout=2")),
            "postgresql://h/db?connect_timeout=2");
}

TEST(ConnectionString, ZeroAddsNothing) {
  ConnectionOptions o = Uri("postgresql://h/db");
  o.connect_timeout = std::chrono::seconds(0);
  EXPECT_EQ(ConnectionString(o), "postgresql://h/db");
}

TEST(ConnectionString, KeepalivesWhenAsked) {
  ConnectionOptions o = Uri("postgresql://h/db");
  o.keepalives_idle = std::chrono::seconds(30);
  o.keepalives_interval = std::chrono::seconds(10);
  o.keepalives_count = 3;
  EXPECT_EQ(ConnectionString(o),
            "postgresql://h/"
            "db?connect_timeout=5&keepalives_idle=30&keepalives_interval=10&keepalives_count=3");
}

TEST(ConnectionString, KeepalivesAndTcpUserTimeoutByDefault) {
  ConnectionOptions o;
  o.uri = "postgresql://h/db";
  EXPECT_EQ(ConnectionString(o),
            "postgresql://h/db?connect_timeout=5&keepalives_idle=10&keepalives_interval=5&"
            "keepalives_count=3&tcp_user_timeout=20000");
  o.uri = "host=h tcp_user_timeout=1000";
  EXPECT_EQ(
      ConnectionString(o),
      "host=h tcp_user_timeout=1000 connect_timeout=5 keepalives_idle=10 keepalives_interval=5 "
      "keepalives_count=3");
}

TEST(SessionSetup, SearchPathAndStatementTimeout) {
  ConnectionOptions o = Uri("postgresql://h/db");
  EXPECT_EQ(SessionSetup(o), "");
  o.schema = "ledger_t";
  EXPECT_EQ(SessionSetup(o), "SET search_path TO \"ledger_t\"");
  o.statement_timeout = std::chrono::seconds(60);
  EXPECT_EQ(SessionSetup(o), "SET search_path TO \"ledger_t\"; SET statement_timeout TO '60000ms'");
  o.schema.clear();
  EXPECT_EQ(SessionSetup(o), "SET statement_timeout TO '60000ms'");
}

TEST(QuoteIdent, DoublesQuotes) {
  EXPECT_EQ(QuoteIdent("senren"), "\"senren\"");
  EXPECT_EQ(QuoteIdent("a\"b"), "\"a\"\"b\"");
}

TEST(RedactUri, NeverShowsThePassword) {
  EXPECT_EQ(RedactUri("postgresql://senren:secret@127.0.0.1:55432/senren?connect_timeout=5"),
            "127.0.0.1:55432/senren");
  EXPECT_EQ(RedactUri("postgresql://127.0.0.1/db"), "127.0.0.1/db");
}

}  // namespace
}  // namespace senren::pg
