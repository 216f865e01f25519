#include "daemon/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "daemon/health.h"
#include "daemon/metrics.h"

namespace senren::daemon {
namespace {

using ::testing::HasSubstr;

TEST(HttpServer, ServesMetricsHealthAndReadiness) {
  Metrics metrics;
  metrics.Describe("senren_test_total", "counter", "Test.");
  metrics.Add("senren_test_total", Labels({{"result", "ok"}}));
  std::string not_live;
  std::string not_ready = "plane: leading, caches not synced";
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.metrics = [&] { return metrics.Render(); };
  o.not_live = [&] { return not_live; };
  o.not_ready = [&] { return not_ready; };
  auto server = HttpServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  httplib::Client client("127.0.0.1", (*server)->port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body, metrics.Render());
  EXPECT_THAT(res->body, HasSubstr("senren_test_total{result=\"ok\"} 1\n"));

  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");

  res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "plane: leading, caches not synced\n");
  not_ready.clear();
  res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  not_live = "reconcile silent for 10m";
  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "reconcile silent for 10m\n");

  res = client.Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST(HttpServer, ClosesTheConnectionAfterEachResponse) {
  // Probes and scrapers that read to end of stream (curl --http1.0, a raw socket) must
  // not wait for a keep-alive timeout.
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.metrics = [] { return std::string("x 1\n"); };
  auto server = HttpServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_keep_alive(true);
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("Connection"), "close");
}

TEST(HttpServer, RefusesBadAddressesAndTakenPorts) {
  HttpServerOptions o;
  o.listen = "127.0.0.1";
  EXPECT_EQ(HttpServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.listen = "127.0.0.1:99999";
  EXPECT_EQ(HttpServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.listen = "127.0.0.1:0";
  auto first = HttpServer::Start(o);
  ASSERT_TRUE(first.ok()) << first.status();
  o.listen = "127.0.0.1:" + std::to_string((*first)->port());
  EXPECT_EQ(HttpServer::Start(o).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace senren::daemon
