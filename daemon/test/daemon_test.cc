#include "daemon/daemon.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

namespace senren::daemon {
namespace {

TEST(AddDaemonFlags, RegistersTheCommonFlags) {
  CLI::App app;
  DaemonFlags flags;
  AddDaemonFlags(app, flags);
  const char* argv[] = {"d", "--log-level", "debug", "--metrics-listen", "127.0.0.1:0"};
  app.parse(5, const_cast<char**>(argv));
  EXPECT_EQ(flags.log_level, "debug");
  EXPECT_EQ(flags.metrics_listen, "127.0.0.1:0");
  CLI::App bad;
  DaemonFlags other;
  AddDaemonFlags(bad, other);
  const char* bad_argv[] = {"d", "--log-level", "loud"};
  EXPECT_THROW(bad.parse(3, const_cast<char**>(bad_argv)), CLI::ValidationError);
}

TEST(Daemon, ServesItsRegistryAndHealthAndStopsOnSigterm) {
  DaemonFlags flags;
  flags.metrics_listen = "127.0.0.1:0";
  auto d = Daemon::Create("daemon_test", flags);
  ASSERT_TRUE(d.ok()) << d.status();
  (*d)->metrics().Set("senren_test_leader", "", 1);
  (*d)->health().AddReadinessCheck("loop", [] { return std::string(); });
  httplib::Client client("127.0.0.1", (*d)->http_port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_THAT(res->body, ::testing::HasSubstr("senren_test_leader 1\n"));
  res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  // SIGTERM is blocked on every thread since Create, so it waits for WaitForStop
  // instead of ending the test process.
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  int ticks = 0;
  EXPECT_EQ((*d)->WaitForStop([&] { ++ticks; }), SIGTERM);
  EXPECT_TRUE((*d)->stopping());
  res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "stopping\n");
}

TEST(Daemon, RequestStopEndsTheWait) {
  auto d = Daemon::Create("daemon_test", DaemonFlags{});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->http_port(), 0);
  EXPECT_FALSE((*d)->WaitForStopFor(absl::Milliseconds(1)));
  EXPECT_FALSE((*d)->stopping());
  std::thread stopper([&] { (*d)->RequestStop(); });
  EXPECT_EQ((*d)->WaitForStop(), 0);
  stopper.join();
  EXPECT_TRUE((*d)->stopping());
}

}  // namespace
}  // namespace senren::daemon
