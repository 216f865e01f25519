// Signed snapshots (docs/design.md §4) end to end: senren-regional from this build, trusting
// one public key, on a topic prefix and namespace of its own; the test plays the snapshot
// projector (StateProducer signs with its own key) and a forger who can write the state
// topic. Forged higher versions (unsigned, signed by another key, a trusted key id over
// another key's signature) change nothing in the cluster and are reported in the
// ClusterReport and the metrics; the next properly signed version applies.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

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

class RegionalSignatureLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& env = senren::testing::Lab();
    region_ = env.clusters[0].region;
    cluster_ = env.clusters[0].cluster;
    prefix_ = senren::testing::UniqueName("rsig");
    client_ = lab::LabClient(0);
    ns_ = std::make_unique<lab::ScopedNamespace>(client_.get(), senren::testing::UniqueName("rs"));
    states_ = std::make_unique<lab::StateProducer>(prefix_);
    dir_ = fs::temp_directory_path() / senren::testing::UniqueName("rsig-data");
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

  std::vector<std::string> BaseArgs() {
    const auto& env = senren::testing::Lab();
    return {SENREN_REGIONAL_BIN,
            "--region",
            region_,
            "--cluster",
            cluster_,
            "--kubeconfig",
            env.clusters[0].kubeconfig,
            "--brokers",
            env.kafka_brokers,
            "--topic-prefix",
            prefix_,
            "--namespace",
            ns_->name(),
            "--data-dir",
            (dir_ / "data").string(),
            "--heartbeat-interval",
            "1",
            "--metrics-listen",
            "127.0.0.1:0"};
  }
  std::string Log() { return ReadFile((dir_ / "regional.log").string()); }

  // The port the plane's /metrics is on, from its log (it binds port 0).
  int MetricsPort() {
    std::smatch m;
    const std::string log = Log();
    static const std::regex kListening(R"(/metrics, /healthz and /readyz on 127\.0\.0\.1:(\d+))");
    return std::regex_search(log, m, kListening) ? std::stoi(m[1]) : 0;
  }
  // The value of one sample of /metrics ("" when absent).
  std::string Metric(const std::string& sample) {
    const std::string body = RunOutput(
        "curl -s --max-time 2 http://127.0.0.1:" + std::to_string(MetricsPort()) + "/metrics");
    for (size_t at = body.find(sample + " "); at != std::string::npos;
         at = body.find(sample + " ", at + 1)) {
      if (at == 0 || body[at - 1] == '\n') {
        const size_t from = at + sample.size() + 1;
        return body.substr(from, body.find('\n', from) - from);
      }
    }
    return "";
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
  std::string ResourceVersionOf(const std::string& name) {
    auto cr = Get(name);
    return cr ? (*cr)["metadata"].value("resourceVersion", "") : "";
  }

  std::string region_, cluster_, prefix_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<lab::ScopedNamespace> ns_;
  std::unique_ptr<lab::StateProducer> states_;
  fs::path dir_;
  pid_t pid_ = -1;
};

TEST_F(RegionalSignatureLabTest, ForgedHigherVersionsChangeNothingAndTheNextSignedOneApplies) {
  auto args = BaseArgs();
  args.insert(args.end(), {"--snapshot-verify-key", states_->verify_key_path()});
  pid_ = Spawn(args, (dir_ / "regional.log").string());
  ASSERT_GT(pid_, 0);

  states_->Publish(State(region_, 1, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(Eventually([&] { return VersionOf("a") == "1" && VersionOf("b") == "1"; },
                         std::chrono::seconds(60)))
      << Log();
  lab::StatusReader reader(prefix_);
  const std::string report_key = region_ + "/" + cluster_;
  auto report = [&](const std::map<std::string, std::optional<std::string>>& latest) {
    v1::ClusterReport r;
    auto it = latest.find(report_key);
    if (it == latest.end() || !it->second.has_value() || !r.ParseFromString(*it->second)) {
      return std::optional<v1::ClusterReport>();
    }
    return std::optional<v1::ClusterReport>(r);
  };
  ASSERT_TRUE(reader.WaitFor([&](const auto& latest) {
    auto r = report(latest);
    return r && r->applied_version() == 1;
  })) << Log();
  const std::string a_before = ResourceVersionOf("a"), b_before = ResourceVersionOf("b");
  ASSERT_FALSE(a_before.empty());

  // Each forgery is a higher version that would delete both databases.
  auto forger = common::SnapshotSigner::Generate();
  ASSERT_TRUE(forger.ok());
  states_->PublishUnsigned(State(region_, 2, {}));
  states_->PublishSignedBy(**forger, State(region_, 3, {}));
  const v1::RegionalState v4 = State(region_, 4, {Redis("evil", 64)});
  auto forged = (*forger)->Sign(v4.SerializeAsString());
  ASSERT_TRUE(forged.ok());
  states_->PublishWithHeaders(v4, {{common::kSnapshotKeyIdHeader, states_->signer().key_id()},
                                   {common::kSnapshotSignatureHeader, forged->signature}});

  // The plane says why, at once (not at its next heartbeat), and still stands at 1.
  ASSERT_TRUE(reader.WaitFor([&](const auto& latest) {
    auto r = report(latest);
    return r && r->rejected_snapshots() == 3;
  })) << Log();
  const v1::ClusterReport rejected = *report(reader.latest());
  EXPECT_EQ(rejected.applied_version(), 1u);
  EXPECT_EQ(rejected.result(), v1::APPLY_RESULT_APPLIED);
  EXPECT_NE(rejected.last_rejected_snapshot().find("(version 4, as its header claims)"),
            std::string::npos)
      << rejected.last_rejected_snapshot();
  EXPECT_NE(rejected.last_rejected_snapshot().find("does not verify"), std::string::npos)
      << rejected.last_rejected_snapshot();
  EXPECT_EQ(Metric("senren_regional_snapshots_rejected_total{verdict=\"unsigned\"}"), "1") << Log();
  EXPECT_EQ(Metric("senren_regional_snapshots_rejected_total{verdict=\"unknown_key\"}"), "1");
  EXPECT_EQ(Metric("senren_regional_snapshots_rejected_total{verdict=\"bad_signature\"}"), "1");
  EXPECT_EQ(Metric("senren_regional_applied_version{region=\"" + region_ + "\",cluster=\"" +
                   cluster_ + "\"}"),
            "1");
  // What the partition cost the plane: version 1 and the three forgeries at least.
  EXPECT_GE(std::stoll(Metric("senren_regional_state_records_read_total")), 4);
  EXPECT_GT(std::stoll(Metric("senren_regional_state_bytes_read_total")), 0);
  const std::string log = Log();
  EXPECT_NE(log.find("was refused: unsigned: no senren-signature header"), std::string::npos)
      << log;
  EXPECT_NE(log.find("(version 3, as its header claims) was refused: signed with key id \"" +
                     (*forger)->key_id() + "\", not a trusted one"),
            std::string::npos)
      << log;

  // Nothing in the cluster changed: the same objects, not even rewritten.
  EXPECT_EQ(ResourceVersionOf("a"), a_before);
  EXPECT_EQ(ResourceVersionOf("b"), b_before);
  EXPECT_FALSE(Get("evil").has_value());

  // The next properly signed version applies (versions above the forged ones' claims are not
  // needed: the plane never took them as versions at all).
  states_->Publish(State(region_, 2, {Redis("a", 128)}));
  ASSERT_TRUE(Eventually(
      [&] {
        auto a = Get("a");
        return a && (*a)["spec"]["memoryMb"] == 128 && VersionOf("a") == "2" && !Get("b");
      },
      std::chrono::seconds(60)))
      << Log();
  ASSERT_TRUE(reader.WaitFor([&](const auto& latest) {
    auto r = report(latest);
    return r && r->applied_version() == 2 && r->rejected_snapshots() == 3;
  })) << Log();

  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Only trusted versions are in its history.
  const std::string out = RunOutput(std::string(SENREN_REGIONAL_BIN) + " history --data-dir " +
                                    (dir_ / "data").string() + " --output json");
  auto history = Json::parse(out, nullptr, false);
  ASSERT_TRUE(history.is_array()) << out;
  ASSERT_EQ(history.size(), 2u) << out;
  EXPECT_EQ(history[0]["version"], 2);
  EXPECT_EQ(history[1]["version"], 1);
}

TEST_F(RegionalSignatureLabTest, APlaneWithoutAKeyStartsOnlyWhenToldToTrustAnything) {
  std::string cmd;
  for (const std::string& a : BaseArgs()) cmd += "'" + a + "' ";
  const std::string none = RunOutput(cmd + "2>&1; echo \"exit $?\"");
  EXPECT_NE(none.find("no --snapshot-verify-key"), std::string::npos) << none;
  EXPECT_NE(none.find("exit 2"), std::string::npos) << none;
  const std::string both = RunOutput(cmd + "--snapshot-verify-key '" + states_->verify_key_path() +
                                     "' --insecure-unsigned-snapshots 2>&1; echo \"exit $?\"");
  EXPECT_NE(both.find("exclude each other"), std::string::npos) << both;
  EXPECT_NE(both.find("exit 2"), std::string::npos) << both;
  // A private key where the public one belongs is refused, naming the file.
  const fs::path priv = dir_ / "signing.key";
  { std::ofstream(priv) << states_->signer().PrivateKeyPem(); }
  const std::string wrong =
      RunOutput(cmd + "--snapshot-verify-key '" + priv.string() + "' 2>&1; echo \"exit $?\"");
  EXPECT_NE(wrong.find("signing.key: holds a private key"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("exit 2"), std::string::npos) << wrong;

  // Told in so many words, it applies an unsigned snapshot.
  auto args = BaseArgs();
  args.push_back("--insecure-unsigned-snapshots");
  pid_ = Spawn(args, (dir_ / "regional.log").string());
  ASSERT_GT(pid_, 0);
  states_->PublishUnsigned(State(region_, 1, {Redis("plain", 64)}));
  ASSERT_TRUE(Eventually([&] { return VersionOf("plain") == "1"; }, std::chrono::seconds(60)))
      << Log();
  EXPECT_NE(Log().find("--insecure-unsigned-snapshots: snapshots are applied without verifying"),
            std::string::npos);
}

}  // namespace
}  // namespace senren::regional::plane
