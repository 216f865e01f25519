// Bounded waits of PgLedgerStore on the lab's PostgreSQL: a server that stops answering
// (a partition, played by a proxy that stops forwarding without closing) is UNAVAILABLE
// soon, for a whole batch at once, and the store recovers when it answers again; writers
// piling up on one hot region leave connections for the others.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "ledger_test_util.h"
#include "tcp_proxy.h"

namespace senren::ledger {
namespace {

using testing::Apply;
using ::testing::HasSubstr;
using testing::Redis;
using testing::TestSchema;

const WriteContext kCtx{"test-author", ""};
// Only keeps a broken build from hanging the suite; the waits under test are far shorter.
constexpr auto kNoHang = std::chrono::seconds(60);

// The schema's URI with the host and port of `proxy`.
std::string ViaProxy(const TestSchema& schema, const testing::TcpProxy& proxy) {
  std::string uri = schema.uri();
  const std::string from = "127.0.0.1:55432";
  const auto at = uri.find(from);
  if (at == std::string::npos) throw std::runtime_error("lab URI without " + from + ": " + uri);
  uri.replace(at, from.size(), "127.0.0.1:" + std::to_string(proxy.port()));
  // New connections through a proxy that forwards nothing give up soon.
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=2";
}

std::unique_ptr<PgLedgerStore> ShortWaitStore(const TestSchema& schema, const std::string& uri,
                                              int write_transactions = 4) {
  PgLedgerStoreOptions o;
  o.uri = uri;
  o.schema = schema.name();
  o.pool_size = 8;
  o.max_write_transactions = write_transactions;
  o.statement_timeout = std::chrono::seconds(1);
  o.call_timeout = std::chrono::seconds(2);
  o.wait_timeout = std::chrono::seconds(5);
  auto store = PgLedgerStore::Create(o);
  if (!store.ok()) throw std::runtime_error(std::string(store.status().message()));
  return std::move(*store);
}

template <typename F>
auto WithinNoHang(F&& f) {
  auto future = std::async(std::launch::async, std::forward<F>(f));
  if (future.wait_for(kNoHang) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within " << kNoHang.count() << " s";
    std::abort();  // the call is stuck: nothing below could run
  }
  return future.get();
}

TEST(PgBoundedWaits, AServerThatStopsAnsweringIsUnavailableAndTheStoreRecovers) {
  TestSchema schema;
  testing::TcpProxy proxy(55432);
  auto store = ShortWaitStore(schema, ViaProxy(schema, proxy));
  ASSERT_TRUE(store->ApplyState(Apply("aws:x", {Redis("a")}), kCtx).ok());

  proxy.Forward(false);
  auto applied =
      WithinNoHang([&] { return store->ApplyState(Apply("aws:x", {Redis("b")}), kCtx); });
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kUnavailable) << applied.status();
  auto read = WithinNoHang([&] { return store->GetState("aws:x", 0); });
  EXPECT_EQ(read.status().code(), absl::StatusCode::kUnavailable) << read.status();

  proxy.Forward(true);
  auto again = store->ApplyState(Apply("aws:x", {Redis("b")}), kCtx);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->version(), 2u);
  EXPECT_EQ(store->GetState("aws:x", 0)->version(), 2u);
}

// With one write transaction at a time, writers of eight regions queue behind the first
// and share the next transaction: when that one cannot reach the server, all of them get
// its UNAVAILABLE at once. Retried one by one, each would try (and wait) again.
TEST(PgBoundedWaits, ABatchThatCannotReachTheServerFailsAllItsIntentsAtOnce) {
  TestSchema schema;
  testing::TcpProxy proxy(55432);
  auto store = ShortWaitStore(schema, ViaProxy(schema, proxy),
                              /*write_transactions=*/1);
  constexpr int kWriters = 8;
  for (int i = 0; i < kWriters; ++i) {
    ASSERT_TRUE(store->ApplyState(Apply("aws:r" + std::to_string(i), {Redis("a")}), kCtx).ok());
  }
  const PgLedgerStoreStats before = store->Stats();
  const int accepted_before = proxy.accepted();

  proxy.Forward(false);
  std::vector<absl::StatusCode> codes(kWriters);
  WithinNoHang([&] {
    std::vector<std::thread> writers;
    for (int i = 0; i < kWriters; ++i) {
      writers.emplace_back([&, i] {
        codes[i] = store->ApplyState(Apply("aws:r" + std::to_string(i), {Redis("b")}), kCtx)
                       .status()
                       .code();
      });
    }
    for (auto& t : writers) t.join();
    return true;
  });
  for (int i = 0; i < kWriters; ++i) EXPECT_EQ(codes[i], absl::StatusCode::kUnavailable) << i;
  // Each attempt to reach the server is a transaction abandoned at call_timeout or a
  // new connection that could not be opened: a few transactions, not one per writer.
  const uint64_t attempts = store->Stats().call_timeouts - before.call_timeouts +
                            static_cast<uint64_t>(proxy.accepted() - accepted_before);
  EXPECT_LT(attempts, static_cast<uint64_t>(kWriters));

  proxy.Forward(true);
  for (int i = 0; i < kWriters; ++i) {
    auto r = store->ApplyState(Apply("aws:r" + std::to_string(i), {Redis("b")}), kCtx);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->version(), 2u);
  }
}

// Sixteen writers wait for one region whose head row another transaction holds; with a
// pool of four connections, another region still applies at once: the writers of the hot
// region wait in the store, and only one of them holds a connection.
TEST(PgBoundedWaits, WritersPilingOnOneRegionLeaveConnectionsForOtherRegions) {
  TestSchema schema;
  auto store = schema.Store(/*pool_size=*/4);
  ASSERT_TRUE(store->ApplyState(Apply("aws:hot", {Redis("a")}), kCtx).ok());
  auto c = schema.Connect();
  pg::Transaction holder = c->Begin();
  holder.ExecParams1("SELECT current_version FROM regions WHERE region = 'aws:hot' FOR UPDATE");

  constexpr int kHot = 16;
  std::atomic<int> hot_ok{0};
  std::vector<std::thread> hot;
  for (int i = 0; i < kHot; ++i) {
    hot.emplace_back([&, i] {
      auto r =
          store->ApplyState(Apply("aws:hot", {Redis("a", static_cast<uint32_t>(32 + i))}), kCtx);
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) ++hot_ok;
    });
  }
  // Let them pile up (no assertion depends on how long this takes).
  while (store->Stats().pool_in_use < 1) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  auto cold =
      WithinNoHang([&] { return store->ApplyState(Apply("aws:cold", {Redis("a")}), kCtx); });
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_EQ(cold->version(), 1u);
  EXPECT_EQ(store->Stats().pool_in_use, 1);  // the one hot writer waiting on the row lock

  holder.Commit();
  for (auto& t : hot) t.join();
  EXPECT_EQ(hot_ok.load(), kHot);
  EXPECT_EQ(store->GetState("aws:hot", 0)->version(), 1u + kHot);
}

}  // namespace
}  // namespace senren::ledger
