// One writer per cluster (docs/design.md §5): two senren-regional binaries started for the
// same cluster and region (two data dirs, as a rollout or a stuck old pod makes them) —
// exactly one leads and writes, the other writes and reports nothing; kill -9 the writer
// and the other takes over and applies a new version within the lease period; the two
// never lead (nor write) at the same time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>
#include <vector>

#include "regional/plane/regional_plane.h"
#include "regional_lab.h"

namespace senren::regional::plane {
namespace {

namespace fs = std::filesystem;
using lab::Eventually;
using lab::Json;
using lab::ReadFile;
using lab::Redis;
using lab::RunOutput;
using lab::Spawn;
using lab::State;
using Time = std::chrono::system_clock::time_point;

// Short Lease timings keep the test quick; the defaults (15/10/2 s) behave the same.
constexpr int kLeaseSeconds = 6;
constexpr char kRenewDeadline[] = "4";
constexpr char kRetryPeriod[] = "1";

// The times (spdlog's "[2026-12-01 22:53:01.949]", local time) of the log lines holding
// `needle`.
std::vector<Time> LinesAt(const std::string& log, const std::string& needle) {
  std::vector<Time> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) == std::string::npos || line.size() < 25 || line[0] != '[') continue;
    std::tm tm{};
    std::istringstream ts(line.substr(1, 19));
    ts >> std::get_time(&tm, "%Y-%m-%d %H:%M:%S");
    if (ts.fail()) continue;
    tm.tm_isdst = -1;
    const int ms = std::atoi(line.substr(21, 3).c_str());
    out.push_back(std::chrono::system_clock::from_time_t(std::mktime(&tm)) +
                  std::chrono::milliseconds(ms));
  }
  return out;
}

struct Plane {
  std::string identity;
  fs::path dir;
  pid_t pid = -1;
  fs::path log() const { return dir / "regional.log"; }
  fs::path data() const { return dir / "data"; }
};

class RegionalLeaderLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A region of its own (no lab region is touched), on its own topics and namespace.
    region_ = "test:" + senren::testing::UniqueName("leader");
    prefix_ = senren::testing::UniqueName("rlead");
    client_ = lab::LabClient(0);
    ns_ = std::make_unique<lab::ScopedNamespace>(client_.get(), senren::testing::UniqueName("rl"));
    states_ = std::make_unique<lab::StateProducer>(prefix_);
    root_ = fs::temp_directory_path() / senren::testing::UniqueName("rlead-data");
    planes_[0] = {"plane-a", root_ / "a"};
    planes_[1] = {"plane-b", root_ / "b"};
    for (const Plane& p : planes_) fs::create_directories(p.dir);
  }
  void TearDown() override {
    for (Plane& p : planes_) {
      if (p.pid > 0) {
        kill(p.pid, SIGKILL);
        waitpid(p.pid, nullptr, 0);
      }
    }
    ns_.reset();
    fs::remove_all(root_);
  }

  void Start(Plane& p) {
    const auto& env = senren::testing::Lab();
    p.pid = Spawn({SENREN_REGIONAL_BIN,
                   "--region",
                   region_,
                   "--cluster",
                   env.clusters[0].cluster,
                   "--kubeconfig",
                   env.clusters[0].kubeconfig,
                   "--brokers",
                   env.kafka_brokers,
                   "--topic-prefix",
                   prefix_,
                   "--namespace",
                   ns_->name(),
                   "--data-dir",
                   p.data().string(),
                   "--heartbeat-interval",
                   "1",
                   "--identity",
                   p.identity,
                   "--lease-duration",
                   std::to_string(kLeaseSeconds),
                   "--renew-deadline",
                   kRenewDeadline,
                   "--retry-period",
                   kRetryPeriod,
                   "--snapshot-verify-key",
                   states_->verify_key_path()},
                  p.log().string());
    ASSERT_GT(p.pid, 0);
  }

  std::optional<Json> Get(const std::string& name) {
    auto got = client_->Get(kube::resources::RedisDatabases(), ns_->name(), name);
    if (!got.ok()) return std::nullopt;
    return *got;
  }
  std::string VersionOf(const std::string& name) {
    auto cr = Get(name);
    return cr ? (*cr)["metadata"]["annotations"].value("senren.io/state-version", "") : "";
  }
  std::string Holder() {
    auto lease = client_->Get(kube::resources::Leases(), ns_->name(), LeaseName(region_));
    return lease.ok() ? (*lease)["spec"].value("holderIdentity", "") : "";
  }
  // Versions in the plane's local history (what it applied), read beside the running plane.
  Json History(const Plane& p) {
    const std::string out = RunOutput(std::string(SENREN_REGIONAL_BIN) + " history --data-dir " +
                                      p.data().string() + " --output json 2>&1");
    Json parsed = Json::parse(out, nullptr, false);
    return parsed.is_discarded() ? Json(out) : parsed;
  }
  std::string Logs() {
    return "--- plane-a:\n" + ReadFile(planes_[0].log()) + "--- plane-b:\n" +
           ReadFile(planes_[1].log());
  }

  std::string region_, prefix_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<lab::ScopedNamespace> ns_;
  std::unique_ptr<lab::StateProducer> states_;
  fs::path root_;
  std::array<Plane, 2> planes_;
};

TEST_F(RegionalLeaderLabTest, TwoPlanesForOneClusterNeverBothWrite) {
  Start(planes_[0]);
  Start(planes_[1]);
  states_->Publish(State(region_, 1, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(Eventually([&] { return VersionOf("a") == "1" && VersionOf("b") == "1"; },
                         std::chrono::seconds(40)))
      << Logs();
  // The writer caches the version after writing the CRs; wait for that too.
  ASSERT_TRUE(Eventually(
      [&] {
        return ReadFile(planes_[0].log()).find("reconciled version 1") != std::string::npos ||
               ReadFile(planes_[1].log()).find("reconciled version 1") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << Logs();
  // Several renewals pass: the standby stays a standby.
  std::this_thread::sleep_for(std::chrono::seconds(3));

  // Exactly one applied version 1, as each plane's own cache records it (read beside
  // the running planes); two planes without a Lease both would.
  const Json history_a = History(planes_[0]);
  const Json history_b = History(planes_[1]);
  auto applied = [](const Json& h) { return h.is_array() && !h.empty(); };
  ASSERT_NE(applied(history_a), applied(history_b))
      << "exactly one plane applied version 1\nplane-a: " << history_a.dump()
      << "\nplane-b: " << history_b.dump() << "\n"
      << Logs();
  Plane& writer = applied(history_a) ? planes_[0] : planes_[1];
  Plane& standby = applied(history_a) ? planes_[1] : planes_[0];
  const Json writer_history = applied(history_a) ? history_a : history_b;
  ASSERT_EQ(writer_history.size(), 1u) << writer_history.dump();
  EXPECT_EQ(writer_history[0]["version"], 1);
  // The writer is the Lease holder; the standby neither led, wrote nor reported.
  EXPECT_EQ(Holder(), writer.identity);
  EXPECT_EQ(LinesAt(ReadFile(writer.log()), " leads ").size(), 1u) << Logs();
  const std::string standby_log = ReadFile(standby.log());
  EXPECT_TRUE(LinesAt(standby_log, " leads ").empty()) << standby_log;
  EXPECT_EQ(standby_log.find("reconciled version"), std::string::npos) << standby_log;
  EXPECT_EQ(standby_log.find("first reconcile"), std::string::npos) << standby_log;

  // kill -9 the writer (no release: the Lease must expire), then a new version.
  ASSERT_EQ(kill(writer.pid, SIGKILL), 0);
  const Time killed_at = std::chrono::system_clock::now();
  waitpid(writer.pid, nullptr, 0);
  writer.pid = -1;
  states_->Publish(State(region_, 2, {Redis("a", 128), Redis("c", 64)}));
  const auto takeover_budget = std::chrono::seconds(kLeaseSeconds + 20);
  ASSERT_TRUE(Eventually(
      [&] {
        auto a = Get("a");
        return a && (*a)["spec"]["memoryMb"] == 128 && VersionOf("c") == "2" && !Get("b");
      },
      takeover_budget))
      << Logs();
  const auto applied_after = std::chrono::system_clock::now() - killed_at;
  EXPECT_LT(applied_after, takeover_budget);
  EXPECT_EQ(Holder(), standby.identity);
  // The plane logs (and caches) the version just after writing its CRs.
  ASSERT_TRUE(Eventually(
      [&] { return ReadFile(standby.log()).find("reconciled version 2") != std::string::npos; },
      std::chrono::seconds(10)))
      << Logs();

  // Leadership intervals: the writer's ends at the kill at the latest; the standby's
  // starts no earlier, and every write of each plane falls inside its own interval.
  const std::string writer_log = ReadFile(writer.log());
  const std::string new_log = ReadFile(standby.log());
  const std::vector<Time> writer_led = LinesAt(writer_log, " leads ");
  const std::vector<Time> new_led = LinesAt(new_log, " leads ");
  ASSERT_EQ(writer_led.size(), 1u) << writer_log;
  ASSERT_EQ(new_led.size(), 1u) << new_log;
  const std::vector<Time> writer_stopped = LinesAt(writer_log, "stopped leading");
  const Time writer_end = writer_stopped.empty() ? killed_at : writer_stopped.front();
  EXPECT_GE(new_led.front(), writer_end) << "the two planes led at the same time\n" << Logs();
  for (const Time& t : LinesAt(writer_log, "reconciled version")) {
    EXPECT_GE(t, writer_led.front());
    EXPECT_LE(t, writer_end);
  }
  const std::vector<Time> new_writes = LinesAt(new_log, "reconciled version");
  ASSERT_FALSE(new_writes.empty()) << new_log;
  for (const Time& t : new_writes) EXPECT_GE(t, new_led.front());
  // The new leader waited for the Lease to expire: about a lease duration after the kill,
  // not much more.
  EXPECT_LT(new_led.front() - killed_at, std::chrono::seconds(kLeaseSeconds + 5)) << new_log;
  const Json new_history = History(standby);
  ASSERT_TRUE(new_history.is_array()) << new_history.dump();
  ASSERT_FALSE(new_history.empty());
  EXPECT_EQ(new_history[0]["version"], 2) << "only the newest version, nothing older";
  std::printf("takeover: led %.1f s and applied version 2 %.1f s after the kill -9 "
              "(lease %d s)\n",
              std::chrono::duration<double>(new_led.front() - killed_at).count(),
              std::chrono::duration<double>(applied_after).count(), kLeaseSeconds);

  // SIGTERM: the leader stops writing, then releases the Lease, and exits 0.
  Plane& leader = standby;
  ASSERT_EQ(kill(leader.pid, SIGTERM), 0);
  int status = 0;
  waitpid(leader.pid, &status, 0);
  leader.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << new_log;
  EXPECT_EQ(Holder(), "") << "released on SIGTERM";
}

}  // namespace
}  // namespace senren::regional::plane
