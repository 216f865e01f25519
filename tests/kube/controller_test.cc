// senren-controller on the lab's real apiservers, where kwok makes pods Running and Ready:
// CR → StatefulSet → Ready with host/port; spec change rolls; hand edits are put back;
// deleting the CR removes its children (owner references + the garbage collector); the
// binary survives a kill -9 mid-reconcile and hands over leadership through its Lease.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <thread>

#include "kube_lab.h"
#include "regional/controller/controller.h"
#include "regional/kube/errors.h"

extern char** environ;

namespace senren::regional::controller {
namespace {

namespace labtest = kube::labtest;
namespace resources = kube::resources;
using ::testing::HasSubstr;

Json Redis(const std::string& name, int replicas, int memory_mb = 128) {
  return {{"apiVersion", "senren.io/v1alpha1"},
          {"kind", "RedisDatabase"},
          {"metadata",
           {{"name", name},
            {"labels", {{"app.kubernetes.io/managed-by", "senren"}, {"senren.io/region", "aws.us-east-1"}}},
            {"annotations", {{"senren.io/state-version", "1"}}}}},
          {"spec", {{"memoryMb", memory_mb}, {"replicas", replicas}, {"persistence", "rdb"}}}};
}

Json Aerospike(const std::string& name, int size) {
  return {{"apiVersion", "senren.io/v1alpha1"},
          {"kind", "AerospikeCluster"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"size", size},
            {"namespaces", Json::array({{{"name", "users"}, {"replicationFactor", 2}, {"memoryMb", 256}},
                                        {{"name", "events"}, {"replicationFactor", 1}, {"memoryMb", 64},
                                         {"storage", "device"}}})}}}};
}

class ControllerLabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto client = labtest::ClusterClient(0);
    absl::Status s = labtest::InstallCrds(client.get());
    ASSERT_TRUE(s.ok()) << s;
  }
  void SetUp() override {
    client_ = labtest::ClusterClient(0);
    ns_ = labtest::CreateNamespace(client_.get(), "ctl");
  }
  void TearDown() override {
    if (controller_) controller_->Stop();
    for (pid_t pid : pids_) Kill(pid);
    labtest::DeleteNamespace(client_.get(), ns_);
  }

  void StartInProcess() {
    ControllerOptions options;
    options.ns = ns_;
    controller_ = std::make_unique<Controller>(client_.get(), options, &metrics_);
    controller_->Start();
    ASSERT_TRUE(controller_->WaitForSync(std::chrono::seconds(30)));
  }

  // Starts the senren-controller binary for this namespace; its log goes to a file.
  pid_t StartBinary(const std::string& identity) {
    const std::string log = ::testing::TempDir() + "/" + ns_ + "-" + identity + ".log";
    std::vector<std::string> args = {SENREN_CONTROLLER_BIN, "--kinds", "redis,aerospike",
                                     "--kubeconfig", labtest::KubeconfigPath(0), "--namespace", ns_,
                                     "--identity", identity};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "cannot start " << SENREN_CONTROLLER_BIN;
    pids_.push_back(pid);
    return pid;
  }
  void Kill(pid_t pid, int sig = SIGKILL) {
    if (std::find(pids_.begin(), pids_.end(), pid) == pids_.end()) return;
    ::kill(pid, sig);
    ::waitpid(pid, nullptr, 0);
    std::erase(pids_, pid);
  }

  Json Get(const kube::Resource& r, const std::string& name) {
    auto got = client_->Get(r, ns_, name);
    return got.ok() ? *got : Json();
  }
  bool Ready(const kube::Resource& r, const std::string& name, int64_t generation = 0) {
    Json cr = Get(r, name);
    if (cr.is_null() || !cr.contains("status")) return false;
    const Json& st = cr["status"];
    return st.value("ready", false) && st.value("phase", "") == "Ready" &&
           (generation == 0 || st.value("observedGeneration", int64_t{0}) == generation);
  }

  void ExpectQuiet(Kind kind, const std::string& name) {
    const std::string key = Controller::QueueKey(kind, ns_, name);
    EXPECT_TRUE(labtest::Eventually([&] {
      const int64_t applies = controller_->child_applies();
      const int64_t writes = controller_->status_writes();
      return controller_->Reconcile(key).ok() && controller_->child_applies() == applies &&
             controller_->status_writes() == writes;
    })) << "every reconcile of a converged " << name << " writes something";
  }

  std::unique_ptr<kube::CurlKubeClient> client_;
  std::string ns_;
  Metrics metrics_;
  std::unique_ptr<Controller> controller_;
  std::vector<pid_t> pids_;
};

TEST_F(ControllerLabTest, RedisBecomesReadyRollsPutsBackAndIsGarbageCollected) {
  StartInProcess();
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("cache", 1)).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return !Get(resources::StatefulSets(), "redis-cache").is_null(); }));
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "cache"); }))
      << Get(resources::RedisDatabases(), "cache").dump();
  Json status = Get(resources::RedisDatabases(), "cache")["status"];
  EXPECT_EQ(status["host"], "redis-cache." + ns_ + ".svc.cluster.local");
  EXPECT_EQ(status["port"], 6379);
  EXPECT_EQ(status["readyReplicas"], 1);
  EXPECT_EQ(status["observedGeneration"], 1);
  EXPECT_EQ(status["conditions"][0]["type"], "Ready");
  EXPECT_EQ(status["conditions"][0]["status"], "True");
  Json svc = Get(resources::Services(), "redis-cache");
  ASSERT_FALSE(svc.is_null());
  EXPECT_EQ(svc["metadata"]["ownerReferences"][0]["kind"], "RedisDatabase");
  EXPECT_FALSE(Get(resources::Services(), "redis-cache-headless").is_null());
  // Converged means quiet: once the caches caught up, a reconcile applies nothing and
  // writes no status (so the apiserver's defaults never look like drift).
  ExpectQuiet(Kind::kRedisDatabase, "cache");

  // Spec change: replicas 1 → 3 and more memory; the StatefulSet rolls, READY comes back.
  Json cr = Get(resources::RedisDatabases(), "cache");
  cr["spec"]["replicas"] = 3;
  cr["spec"]["memoryMb"] = 256;
  ASSERT_TRUE(client_->Update(resources::RedisDatabases(), ns_, cr).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "cache", 2); }))
      << Get(resources::RedisDatabases(), "cache").dump();
  Json sts = Get(resources::StatefulSets(), "redis-cache");
  EXPECT_EQ(sts["spec"]["replicas"], 3);
  EXPECT_EQ(sts["status"]["readyReplicas"], 3);
  EXPECT_EQ(sts["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"], "256Mi");
  EXPECT_EQ(Get(resources::RedisDatabases(), "cache")["status"]["readyReplicas"], 3);

  // A hand edit of a child is put back.
  sts["spec"]["replicas"] = 5;
  ASSERT_TRUE(client_->Update(resources::StatefulSets(), ns_, sts).ok());
  EXPECT_TRUE(labtest::Eventually([&] { return Get(resources::StatefulSets(), "redis-cache")["spec"]["replicas"] == 3; }));
  ASSERT_TRUE(client_->Delete(resources::Services(), ns_, "redis-cache", {}).ok());
  EXPECT_TRUE(labtest::Eventually([&] { return !Get(resources::Services(), "redis-cache").is_null(); }));

  // Deleting the CR removes its children.
  ASSERT_TRUE(client_->Delete(resources::RedisDatabases(), ns_, "cache", {}).ok());
  EXPECT_TRUE(labtest::Eventually([&] {
    return Get(resources::StatefulSets(), "redis-cache").is_null() &&
           Get(resources::Services(), "redis-cache").is_null() &&
           Get(resources::Services(), "redis-cache-headless").is_null();
  })) << "garbage collector did not remove the children";
  EXPECT_GT(metrics_.Value("senren_controller_reconciles_total",
                           "kind=\"RedisDatabase\",result=\"success\""), 0);
}

TEST_F(ControllerLabTest, AerospikeWithConfigMapBecomesReady) {
  StartInProcess();
  ASSERT_TRUE(client_->Create(resources::AerospikeClusters(), ns_, Aerospike("profiles", 3)).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::AerospikeClusters(), "profiles"); }))
      << Get(resources::AerospikeClusters(), "profiles").dump();
  Json status = Get(resources::AerospikeClusters(), "profiles")["status"];
  EXPECT_EQ(status["port"], 3000);
  EXPECT_EQ(status["readyReplicas"], 3);
  ExpectQuiet(Kind::kAerospikeCluster, "profiles");
  Json cm = Get(resources::ConfigMaps(), "aerospike-profiles-conf");
  ASSERT_FALSE(cm.is_null());
  EXPECT_THAT(cm["data"]["aerospike.conf"].get<std::string>(), HasSubstr("namespace users {"));
  EXPECT_THAT(cm["data"]["aerospike.conf"].get<std::string>(), HasSubstr("storage-engine device"));

  // Scale down to 2 keeps replicationFactor 2 ≤ size: accepted and rolled.
  Json cr = Get(resources::AerospikeClusters(), "profiles");
  cr["spec"]["size"] = 2;
  ASSERT_TRUE(client_->Update(resources::AerospikeClusters(), ns_, cr).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::AerospikeClusters(), "profiles", 2); }));
  EXPECT_EQ(Get(resources::StatefulSets(), "aerospike-profiles")["spec"]["replicas"], 2);
}

TEST_F(ControllerLabTest, QuotaRejectionShowsInConditionsAndClearsWhenLifted) {
  Json quota = {{"apiVersion", "v1"},
                {"kind", "ResourceQuota"},
                {"metadata", {{"name", "no-statefulsets"}}},
                {"spec", {{"hard", {{"count/statefulsets.apps", "0"}}}}}};
  const kube::Resource quotas{"", "v1", "resourcequotas", "ResourceQuota", true};
  ASSERT_TRUE(client_->Create(quotas, ns_, quota).ok());
  // The quota controller must have counted usage before admission enforces it.
  ASSERT_TRUE(labtest::Eventually([&] {
    Json q = Get(quotas, "no-statefulsets");
    return q.contains("status") && q["status"].contains("used");
  }));
  StartInProcess();
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("quota", 1)).ok());
  ASSERT_TRUE(labtest::Eventually([&] {
    Json cr = Get(resources::RedisDatabases(), "quota");
    return cr.contains("status") && cr["status"].value("phase", "") == "Failed";
  })) << Get(resources::RedisDatabases(), "quota").dump();
  Json status = Get(resources::RedisDatabases(), "quota")["status"];
  EXPECT_THAT(status["message"].get<std::string>(), HasSubstr("exceeded quota"));
  EXPECT_EQ(status["conditions"][2]["type"], "Degraded");
  EXPECT_EQ(status["conditions"][2]["status"], "True");
  EXPECT_EQ(status["conditions"][2]["reason"], "ChildApplyFailed");
  EXPECT_EQ(status["ready"], false);

  ASSERT_TRUE(client_->Delete(quotas, ns_, "no-statefulsets", {}).ok());
  EXPECT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "quota"); }))
      << "retried with backoff after the quota was lifted: "
      << Get(resources::RedisDatabases(), "quota").dump();
}

TEST_F(ControllerLabTest, BinaryKilledMidReconcileConvergesAfterRestart) {
  pid_t first = StartBinary("first");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("db" + std::to_string(i), 2)).ok());
  }
  // Kill it as soon as it has started creating children.
  ASSERT_TRUE(labtest::Eventually([&] { return !Get(resources::Services(), "redis-db0-headless").is_null() ||
                                               !Get(resources::Services(), "redis-db4-headless").is_null(); }));
  Kill(first);
  StartBinary("second");
  for (int i = 0; i < 5; ++i) {
    const std::string name = "db" + std::to_string(i);
    EXPECT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), name); }))
        << Get(resources::RedisDatabases(), name).dump();
  }
}

TEST_F(ControllerLabTest, TwoReplicasOneLeaderAndFailover) {
  pid_t a = StartBinary("replica-a");
  ASSERT_TRUE(labtest::Eventually([&] {
    Json lease = Get(resources::Leases(), "senren-controller");
    return !lease.is_null() && lease["spec"].value("holderIdentity", "") == "replica-a";
  }));
  StartBinary("replica-b");
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("led", 1)).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "led"); }));
  EXPECT_EQ(Get(resources::Leases(), "senren-controller")["spec"]["holderIdentity"], "replica-a");

  Kill(a);  // no release: replica-b must wait for the Lease to expire (15 s)
  ASSERT_TRUE(labtest::Eventually([&] {
    return Get(resources::Leases(), "senren-controller")["spec"].value("holderIdentity", "") == "replica-b";
  }));
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("after-failover", 1)).ok());
  EXPECT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "after-failover"); }));
  EXPECT_GE(Get(resources::Leases(), "senren-controller")["spec"].value("leaseTransitions", 0), 1);
}

}  // namespace
}  // namespace senren::regional::controller
