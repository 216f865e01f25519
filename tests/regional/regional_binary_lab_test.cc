// senren-regional as the lab runs it (a subprocess with the lab.sh flags, so under its
// Lease with the default timings): kill -9, a new version while it is down, a restart → it
// converges; `history` shows the local versions.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

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

class RegionalBinaryLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& env = senren::testing::Lab();
    region_ = env.clusters[0].region;
    prefix_ = senren::testing::UniqueName("rbin");
    client_ = lab::LabClient(0);
    ns_ = std::make_unique<lab::ScopedNamespace>(client_.get(), senren::testing::UniqueName("rb"));
    states_ = std::make_unique<lab::StateProducer>(prefix_);
    dir_ = fs::temp_directory_path() / senren::testing::UniqueName("rbin-data");
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    ns_.reset();
    fs::remove_all(dir_);
  }

  void StartBinary() {
    const auto& env = senren::testing::Lab();
    pid_ = Spawn({SENREN_REGIONAL_BIN, "--region", region_, "--cluster", env.clusters[0].cluster,
                  "--kubeconfig", env.clusters[0].kubeconfig, "--brokers", env.kafka_brokers,
                  "--topic-prefix", prefix_, "--namespace", ns_->name(), "--data-dir",
                  (dir_ / "data").string(), "--heartbeat-interval", "1", "--snapshot-verify-key",
                  states_->verify_key_path()},
                 (dir_ / "regional.log").string());
    ASSERT_GT(pid_, 0);
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

  std::string region_, prefix_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<lab::ScopedNamespace> ns_;
  std::unique_ptr<lab::StateProducer> states_;
  fs::path dir_;
  pid_t pid_ = -1;
};

TEST_F(RegionalBinaryLabTest, KilledPlaneConvergesOnRestartAndKeepsItsHistory) {
  StartBinary();
  states_->Publish(State(region_, 1, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(Eventually([&] { return VersionOf("a") == "1" && VersionOf("b") == "1"; },
                         std::chrono::seconds(30)))
      << ReadFile(dir_ / "regional.log");
  // The CRs are written before the version is cached: kill only once it is, or the
  // restart rightly starts from Kafka instead of the cache this test is about.
  ASSERT_TRUE(Eventually(
      [&] {
        return ReadFile(dir_ / "regional.log").find("reconciled version 1") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << ReadFile(dir_ / "regional.log");

  ASSERT_EQ(kill(pid_, SIGKILL), 0);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  // While it is down: a new version, and a hand delete of a managed CR.
  states_->Publish(State(region_, 2, {Redis("a", 128), Redis("c", 64)}));
  ASSERT_TRUE(client_->Delete(kube::resources::RedisDatabases(), ns_->name(), "a", {}).ok());

  StartBinary();
  // The killed plane did not release its Lease: the restarted one (a new identity) leads
  // once it has seen the Lease unrenewed for the lease duration (15 s), as in the lab.
  ASSERT_TRUE(Eventually(
      [&] {
        auto a = Get("a");
        return a && (*a)["spec"]["memoryMb"] == 128 && VersionOf("c") == "2" && !Get("b");
      },
      std::chrono::seconds(45)))
      << ReadFile(dir_ / "regional.log");
  ASSERT_TRUE(Eventually(
      [&] {
        return ReadFile(dir_ / "regional.log").find("from the state cache") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << ReadFile(dir_ / "regional.log");

  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  const std::string out = RunOutput(std::string(SENREN_REGIONAL_BIN) + " history --data-dir " +
                                    (dir_ / "data").string() + " --output json");
  auto history = Json::parse(out, nullptr, false);
  ASSERT_TRUE(history.is_array()) << out;
  ASSERT_EQ(history.size(), 2u) << out;
  EXPECT_EQ(history[0]["version"], 2);
  EXPECT_EQ(history[0]["result"], "applied");
  EXPECT_EQ(history[0]["deleted"], 1);
  EXPECT_EQ(history[1]["version"], 1);
  EXPECT_EQ(history[1]["created"], 2);
  const std::string table = RunOutput(std::string(SENREN_REGIONAL_BIN) + " history --data-dir " +
                                      (dir_ / "data").string());
  EXPECT_NE(table.find("VERSION"), std::string::npos) << table;
  EXPECT_NE(table.find("version 2"), std::string::npos) << table;
}

}  // namespace
}  // namespace senren::regional::plane
