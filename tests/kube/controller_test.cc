// senren-controller on the lab's real apiservers, where kwok makes pods Running and Ready:
// CR → StatefulSet → Ready with host/port; spec change rolls, one pod at a time, Redis
// replicas before the primary; a PodDisruptionBudget per database; hand edits are put back;
// deleting the CR removes its children (owner references + the garbage collector), never a
// same-named object it did not create; the binary survives a kill -9 mid-reconcile and hands
// over leadership through its Lease.
#include "regional/controller/controller.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kube_lab.h"
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
            {"labels",
             {{"app.kubernetes.io/managed-by", "senren"}, {"senren.io/region", "aws.us-east-1"}}},
            {"annotations", {{"senren.io/state-version", "1"}}}}},
          {"spec", {{"memoryMb", memory_mb}, {"replicas", replicas}, {"persistence", "rdb"}}}};
}

Json Aerospike(const std::string& name, int size) {
  return {{"apiVersion", "senren.io/v1alpha1"},
          {"kind", "AerospikeCluster"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"size", size},
            {"namespaces",
             Json::array({{{"name", "users"}, {"replicationFactor", 2}, {"memoryMb", 256}},
                          {{"name", "events"},
                           {"replicationFactor", 1},
                           {"memoryMb", 64},
                           {"storage", "device"}}})}}}};
}

// Everything a write to an object would change: its metadata (resourceVersion, labels,
// annotations, ownerReferences, managedFields) and its spec.
Json Fingerprint(const Json& object) {
  return {{"metadata", object.value("metadata", Json::object())},
          {"spec", object.value("spec", Json::object())}};
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

  void StartInProcess(std::chrono::seconds resync = std::chrono::seconds(30)) {
    ControllerOptions options;
    options.ns = ns_;
    options.resync = resync;
    // kwok's pods have no migrations to wait out: a short settle keeps scale-downs quick.
    options.scale_down_settle = std::chrono::seconds(2);
    controller_ = std::make_unique<Controller>(client_.get(), options, &metrics_);
    controller_->Start();
    ASSERT_TRUE(controller_->WaitForSync(std::chrono::seconds(30)));
  }

  // Starts the senren-controller binary for this namespace; its log goes to a file.
  pid_t StartBinary(const std::string& identity) {
    const std::string log = ::testing::TempDir() + "/" + ns_ + "-" + identity + ".log";
    std::vector<std::string> args = {SENREN_CONTROLLER_BIN,
                                     "--kinds",
                                     "redis,aerospike",
                                     "--kubeconfig",
                                     labtest::KubeconfigPath(0),
                                     "--namespace",
                                     ns_,
                                     "--identity",
                                     identity};
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
    })) << "every reconcile of a converged "
        << name << " writes something";
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
  ASSERT_TRUE(labtest::Eventually(
      [&] { return !Get(resources::StatefulSets(), "redis-cache").is_null(); }));
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
  Json pdb = Get(resources::PodDisruptionBudgets(), "redis-cache");
  ASSERT_FALSE(pdb.is_null());
  EXPECT_EQ(pdb["metadata"]["ownerReferences"][0]["kind"], "RedisDatabase");
  EXPECT_EQ(pdb["metadata"]["ownerReferences"][0]["uid"],
            Get(resources::RedisDatabases(), "cache")["metadata"]["uid"]);
  EXPECT_EQ(pdb["metadata"]["labels"]["app.kubernetes.io/managed-by"], "senren-controller");
  EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
  // Converged means quiet: once the caches caught up, a reconcile applies nothing and
  // writes no status (so the apiserver's defaults never look like drift).
  ExpectQuiet(Kind::kRedisDatabase, "cache");
  const std::string pdb_applies = "kind=\"RedisDatabase\",child=\"PodDisruptionBudget\"";
  const double pdb_applied = metrics_.Value("senren_controller_child_applies_total", pdb_applies);
  EXPECT_GE(pdb_applied, 1);

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
  EXPECT_EQ(sts["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"],
            "256Mi");
  EXPECT_EQ(Get(resources::RedisDatabases(), "cache")["status"]["readyReplicas"], 3);
  // The budget does not depend on the replica count: not written again.
  EXPECT_EQ(metrics_.Value("senren_controller_child_applies_total", pdb_applies), pdb_applied);
  // The disruption controller finds the three pods through its selector.
  EXPECT_TRUE(labtest::Eventually([&] {
    Json now = Get(resources::PodDisruptionBudgets(), "redis-cache");
    return now.contains("status") && now["status"].value("expectedPods", 0) == 3 &&
           now["status"].value("disruptionsAllowed", 0) == 1;
  })) << Get(resources::PodDisruptionBudgets(), "redis-cache").dump();

  // A hand edit of a child is put back.
  sts["spec"]["replicas"] = 5;
  ASSERT_TRUE(client_->Update(resources::StatefulSets(), ns_, sts).ok());
  EXPECT_TRUE(labtest::Eventually(
      [&] { return Get(resources::StatefulSets(), "redis-cache")["spec"]["replicas"] == 3; }));
  ASSERT_TRUE(client_->Delete(resources::Services(), ns_, "redis-cache", {}).ok());
  EXPECT_TRUE(
      labtest::Eventually([&] { return !Get(resources::Services(), "redis-cache").is_null(); }));

  // Deleting the CR removes its children.
  ASSERT_TRUE(client_->Delete(resources::RedisDatabases(), ns_, "cache", {}).ok());
  EXPECT_TRUE(labtest::Eventually([&] {
    return Get(resources::StatefulSets(), "redis-cache").is_null() &&
           Get(resources::PodDisruptionBudgets(), "redis-cache").is_null() &&
           Get(resources::Services(), "redis-cache").is_null() &&
           Get(resources::Services(), "redis-cache-headless").is_null();
  })) << "garbage collector did not remove the children";
  EXPECT_GT(metrics_.Value("senren_controller_reconciles_total",
                           "kind=\"RedisDatabase\",result=\"success\""),
            0);
}

// Memory in whole GiB comes back from the apiserver as "2Gi", not "2048Mi": a converged
// database must still cost no write, resync after resync. The client Service reaches the
// primary only, the read Service every pod.
TEST_F(ControllerLabTest, SteadyRedisOfWholeGibibytesIsNeverRewrittenAndRoutesWritesToThePrimary) {
  StartInProcess(std::chrono::seconds(1));
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("steady", 2, 2048)).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "steady"); }))
      << Get(resources::RedisDatabases(), "steady").dump();
  Json status = Get(resources::RedisDatabases(), "steady")["status"];
  EXPECT_EQ(status["host"], "redis-steady." + ns_ + ".svc.cluster.local");
  EXPECT_EQ(status["readHost"], "redis-steady-read." + ns_ + ".svc.cluster.local");
  EXPECT_EQ(Get(resources::Services(),
                "redis-steady")["spec"]["selector"]["statefulset.kubernetes.io/pod-name"],
            "redis-steady-0");
  Json read = Get(resources::Services(), "redis-steady-read");
  ASSERT_FALSE(read.is_null());
  EXPECT_FALSE(read["spec"]["selector"].contains("statefulset.kubernetes.io/pod-name"));
  // The primary's pod carries the label the client Service selects (set by the
  // StatefulSet controller, not by senren-controller).
  Json pod0 = Get(resources::Pods(), "redis-steady-0");
  EXPECT_EQ(pod0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "redis-steady-0");
  Json sts = Get(resources::StatefulSets(), "redis-steady");
  EXPECT_EQ(sts["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"],
            "2Gi");
  ExpectQuiet(Kind::kRedisDatabase, "steady");

  const std::string success = "kind=\"RedisDatabase\",result=\"success\"";
  const int64_t applies = controller_->child_applies();
  const int64_t writes = controller_->status_writes();
  const double reconciles = metrics_.Value("senren_controller_reconciles_total", success);
  const std::string cr_version =
      Get(resources::RedisDatabases(), "steady")["metadata"]["resourceVersion"];
  const int64_t sts_generation = sts["metadata"]["generation"];
  std::map<std::string, std::string> svc_versions;
  for (const char* name : {"redis-steady", "redis-steady-read", "redis-steady-headless"}) {
    svc_versions[name] = Get(resources::Services(), name)["metadata"]["resourceVersion"];
  }
  // The disruption controller writes the budget's status; only its spec and metadata are
  // the controller's, and a write of those would bump the generation or the managedFields.
  const Json pdb = Get(resources::PodDisruptionBudgets(), "redis-steady");
  ASSERT_FALSE(pdb.is_null());
  // Five resyncs (one a second) reconcile the database five more times.
  ASSERT_TRUE(labtest::Eventually([&] {
    return metrics_.Value("senren_controller_reconciles_total", success) >= reconciles + 5;
  }));
  EXPECT_EQ(controller_->child_applies(), applies) << "a steady database was re-applied";
  EXPECT_EQ(controller_->status_writes(), writes) << "a steady status was rewritten";
  EXPECT_EQ(Get(resources::RedisDatabases(), "steady")["metadata"]["resourceVersion"], cr_version);
  EXPECT_EQ(Get(resources::StatefulSets(), "redis-steady")["metadata"]["generation"],
            sts_generation);
  for (const auto& [name, version] : svc_versions) {
    EXPECT_EQ(Get(resources::Services(), name)["metadata"]["resourceVersion"], version) << name;
  }
  EXPECT_EQ(Fingerprint(Get(resources::PodDisruptionBudgets(), "redis-steady")), Fingerprint(pdb))
      << "a steady PodDisruptionBudget was rewritten";
}

// What a rolling update does to a Redis database, as the lab's StatefulSet controller
// carries it out: pods are replaced one at a time from the highest ordinal down, each only
// while every other pod is ready, so the replicas (pods 2 and 1) roll before the primary
// (pod 0), and the primary goes down last, once, with both replicas up to date.
TEST_F(ControllerLabTest, RollingUpdateReplacesReplicasOneByOneBeforeThePrimary) {
  StartInProcess();
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("roll", 3)).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "roll"); }))
      << Get(resources::RedisDatabases(), "roll").dump();

  kube::ListOptions list;
  list.label_selector = "app.kubernetes.io/instance=roll";
  auto pods = client_->List(resources::Pods(), ns_, list);
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->items.size(), 3u);
  absl::Mutex mu;
  std::vector<kube::WatchEvent> events;  // every pod event of the roll, in etcd order
  std::atomic<bool> cancel{false};
  std::thread watcher([&] {
    kube::WatchOptions options;
    options.label_selector = list.label_selector;
    options.resource_version = pods->resource_version;
    options.allow_bookmarks = false;
    absl::Status watched = client_->Watch(
        resources::Pods(), ns_, options,
        [&](const kube::WatchEvent& e) {
          absl::MutexLock lock(&mu);
          events.push_back(e);
          return true;
        },
        &cancel);
    EXPECT_TRUE(watched.ok() || absl::IsCancelled(watched)) << watched;
  });

  Json cr = Get(resources::RedisDatabases(), "roll");
  cr["spec"]["memoryMb"] = 192;
  ASSERT_TRUE(client_->Update(resources::RedisDatabases(), ns_, cr).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "roll", 2); }))
      << Get(resources::RedisDatabases(), "roll").dump();
  cancel = true;
  watcher.join();

  // Replay the events: the state of each pod when another one starts to go down.
  struct PodState {
    std::string uid;
    bool ready = false;
    bool terminating = false;
  };
  auto state_of = [](const Json& pod) {
    PodState st;
    st.uid = pod["metadata"].value("uid", "");
    st.terminating = pod["metadata"].contains("deletionTimestamp");
    if (pod.contains("status")) {
      for (const Json& c : pod["status"].value("conditions", Json::array())) {
        if (c.value("type", "") == "Ready") st.ready = c.value("status", "") == "True";
      }
    }
    return st;
  };
  std::string trace;  // for a failure message: the events, one a line
  std::map<std::string, PodState> live;
  for (const Json& pod : pods->items) live[pod["metadata"]["name"]] = state_of(pod);
  std::vector<std::string> taken_down;   // each pod incarnation that went, in order
  std::vector<std::string> interrupted;  // those of them that were ready (serving)
  std::set<std::string> seen_going;      // uids
  absl::MutexLock lock(&mu);
  for (const kube::WatchEvent& e : events) {
    const std::string name = e.object["metadata"].value("name", "");
    const PodState st = state_of(e.object);
    const Json& meta = e.object["metadata"];
    absl::StrAppend(&trace, kube::WatchEventTypeName(e.type), " ", name, " uid=", st.uid, " rev=",
                    meta.value("labels", Json::object()).value("controller-revision-hash", ""),
                    " ready=", st.ready, " terminating=", st.terminating,
                    " phase=", e.object.value("status", Json::object()).value("phase", ""), "\n");
    const bool going = e.type == kube::WatchEventType::kDeleted || st.terminating;
    if (going && seen_going.insert(st.uid).second) {
      taken_down.push_back(name);
      const auto was = live.find(name);
      if (was != live.end() && was->second.uid == st.uid && was->second.ready) {
        interrupted.push_back(name);
      }
      for (const auto& [other, other_state] : live) {
        if (other == name) continue;
        EXPECT_TRUE(other_state.ready && !other_state.terminating)
            << name << " went down while " << other << " was "
            << (other_state.terminating ? "terminating" : "not ready");
      }
    }
    if (e.type == kube::WatchEventType::kDeleted) {
      live.erase(name);
    } else {
      live[name] = st;
    }
  }
  // The StatefulSet controller sometimes replaces a pod's replacement once more before it
  // became ready (recreated at the old revision, or deleted again from a stale cache: seen
  // on the lab about one roll in five), so a pod may go down twice in a row, never out of
  // turn; each pod is interrupted (taken down while ready) exactly once.
  std::vector<std::string> turns;
  for (const std::string& name : taken_down) {
    if (turns.empty() || turns.back() != name) turns.push_back(name);
  }
  EXPECT_EQ(turns, (std::vector<std::string>{"redis-roll-2", "redis-roll-1", "redis-roll-0"}))
      << trace;
  EXPECT_EQ(interrupted, (std::vector<std::string>{"redis-roll-2", "redis-roll-1", "redis-roll-0"}))
      << trace;
  for (const char* name : {"redis-roll-0", "redis-roll-1", "redis-roll-2"}) {
    EXPECT_EQ(
        Get(resources::Pods(), name)["spec"]["containers"][0]["resources"]["requests"]["memory"],
        "192Mi")
        << name;
  }
}

// Persistence on a running database: the claim templates cannot change in place, so the
// StatefulSet is recreated (pods orphaned, then adopted); the claims bind through the lab's
// default StorageClass and outlive the database.
TEST_F(ControllerLabTest, PersistenceTurnedOnGetsRetainedClaims) {
  const kube::Resource claims{"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true};
  StartInProcess();
  Json cr = Redis("keep", 2);
  cr["spec"]["persistence"] = "none";
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, cr).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "keep"); }))
      << Get(resources::RedisDatabases(), "keep").dump();
  EXPECT_FALSE(
      Get(resources::StatefulSets(), "redis-keep")["spec"].contains("volumeClaimTemplates"));
  const std::string first_uid = Get(resources::StatefulSets(), "redis-keep")["metadata"]["uid"];

  cr = Get(resources::RedisDatabases(), "keep");
  cr["spec"]["persistence"] = "aof";
  cr["spec"]["storageGb"] = 3;
  ASSERT_TRUE(client_->Update(resources::RedisDatabases(), ns_, cr).ok());
  ASSERT_TRUE(labtest::Eventually([&] {
    Json sts = Get(resources::StatefulSets(), "redis-keep");
    return !sts.is_null() && sts["metadata"]["uid"] != first_uid &&
           Ready(resources::RedisDatabases(), "keep", 2);
  })) << Get(resources::RedisDatabases(), "keep").dump();
  Json sts = Get(resources::StatefulSets(), "redis-keep");
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "3Gi");
  EXPECT_EQ(sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"], "Retain");
  for (const char* name : {"data-redis-keep-0", "data-redis-keep-1"}) {
    EXPECT_TRUE(labtest::Eventually([&] {
      Json claim = Get(claims, name);
      return !claim.is_null() && claim["status"].value("phase", "") == "Bound";
    })) << name
        << ": " << Get(claims, name).dump();
  }
  ExpectQuiet(Kind::kRedisDatabase, "keep");

  // Another size: the pods already mount their claims, so they are orphaned and adopted by
  // the new StatefulSet, not restarted.
  const std::string second_uid = sts["metadata"]["uid"];
  const std::string pod_uid = Get(resources::Pods(), "redis-keep-0")["metadata"]["uid"];
  cr = Get(resources::RedisDatabases(), "keep");
  cr["spec"]["storageGb"] = 4;
  ASSERT_TRUE(client_->Update(resources::RedisDatabases(), ns_, cr).ok());
  ASSERT_TRUE(labtest::Eventually([&] {
    Json now = Get(resources::StatefulSets(), "redis-keep");
    return !now.is_null() && now["metadata"]["uid"] != second_uid &&
           Ready(resources::RedisDatabases(), "keep", 3);
  })) << Get(resources::RedisDatabases(), "keep").dump();
  EXPECT_EQ(Get(resources::StatefulSets(), "redis-keep")["spec"]["volumeClaimTemplates"][0]["spec"]
                                                        ["resources"]["requests"]["storage"],
            "4Gi");
  EXPECT_EQ(Get(resources::Pods(), "redis-keep-0")["metadata"]["uid"], pod_uid) << "restarted";
  ExpectQuiet(Kind::kRedisDatabase, "keep");

  // Deleting the database keeps its data.
  ASSERT_TRUE(client_->Delete(resources::RedisDatabases(), ns_, "keep", {}).ok());
  ASSERT_TRUE(
      labtest::Eventually([&] { return Get(resources::StatefulSets(), "redis-keep").is_null(); }));
  EXPECT_FALSE(Get(claims, "data-redis-keep-0").is_null());
  EXPECT_FALSE(Get(claims, "data-redis-keep-1").is_null());
}

TEST_F(ControllerLabTest, AerospikeWithConfigMapBecomesReady) {
  StartInProcess();
  ASSERT_TRUE(client_->Create(resources::AerospikeClusters(), ns_, Aerospike("profiles", 3)).ok());
  ASSERT_TRUE(labtest::Eventually([&] {
    return Ready(resources::AerospikeClusters(), "profiles");
  })) << Get(resources::AerospikeClusters(), "profiles").dump();
  Json status = Get(resources::AerospikeClusters(), "profiles")["status"];
  EXPECT_EQ(status["port"], 3000);
  EXPECT_EQ(status["readyReplicas"], 3);
  ExpectQuiet(Kind::kAerospikeCluster, "profiles");
  // kwok runs no process, so nothing here executes the readiness probe: the apiserver
  // keeps it as rendered (kAerospikeReadinessCommand, run against a stand-in asinfo in
  // regional/controller/test/render_test.cc), and the client Service publishes the pods
  // while they migrate.
  EXPECT_EQ(
      Get(resources::StatefulSets(), "aerospike-profiles")["spec"]["template"]["spec"]["containers"]
                                                          [0]["readinessProbe"]["exec"]["command"],
      Json::array({"sh", "-c", kAerospikeReadinessCommand}));
  EXPECT_EQ(Get(resources::Services(), "aerospike-profiles")["spec"]["publishNotReadyAddresses"],
            true);
  Json pdb = Get(resources::PodDisruptionBudgets(), "aerospike-profiles");
  EXPECT_EQ(pdb["metadata"]["ownerReferences"][0]["kind"], "AerospikeCluster");
  EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
  Json cm = Get(resources::ConfigMaps(), "aerospike-profiles-conf");
  ASSERT_FALSE(cm.is_null());
  EXPECT_THAT(cm["data"]["aerospike.conf"].get<std::string>(), HasSubstr("namespace users {"));
  EXPECT_THAT(cm["data"]["aerospike.conf"].get<std::string>(), HasSubstr("storage-engine device"));

  // Scale down to 2 keeps replicationFactor 2 ≤ size: accepted and rolled.
  Json cr = Get(resources::AerospikeClusters(), "profiles");
  cr["spec"]["size"] = 2;
  ASSERT_TRUE(client_->Update(resources::AerospikeClusters(), ns_, cr).ok());
  ASSERT_TRUE(
      labtest::Eventually([&] { return Ready(resources::AerospikeClusters(), "profiles", 2); }));
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

// Objects a person made, unlabelled, under the names senren-controller would give the
// children of a CR: the CR fails naming them and they are never written, adopted or
// garbage-collected with the CR.
TEST_F(ControllerLabTest, ForeignObjectsNamedLikeChildrenAreNeverTaken) {
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "redis-held-svc"}, {"labels", {{"app", "users-own"}}}}},
              {"spec",
               {{"selector", {{"app", "users-own"}}},
                {"ports", Json::array({{{"name", "http"}, {"port", 8080}}})}}}};
  ASSERT_TRUE(client_->Create(resources::Services(), ns_, svc).ok());
  Json sts = {{"apiVersion", "apps/v1"},
              {"kind", "StatefulSet"},
              {"metadata", {{"name", "redis-held-sts"}, {"labels", {{"app", "users-own"}}}}},
              {"spec",
               {{"replicas", 0},
                {"serviceName", "users-own"},
                {"selector", {{"matchLabels", {{"app", "users-own"}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", "users-own"}}}}},
                  {"spec",
                   {{"containers",
                     Json::array({{{"name", "app"}, {"image", "example.com/users-own:1"}}})}}}}}}}};
  ASSERT_TRUE(client_->Create(resources::StatefulSets(), ns_, sts).ok());
  // The StatefulSet controller writes the status of a new StatefulSet: wait until it has
  // settled, so only a write of senren-controller could change the resourceVersion.
  Json before_sts;
  ASSERT_TRUE(labtest::Eventually([&] {
    Json now = Get(resources::StatefulSets(), "redis-held-sts");
    const bool settled = now.contains("status") &&
                         now["status"].value("observedGeneration", int64_t{0}) == 1 &&
                         Fingerprint(now) == before_sts;
    before_sts = Fingerprint(now);
    if (!settled) std::this_thread::sleep_for(std::chrono::seconds(1));
    return settled;
  }));
  const Json before_svc = Fingerprint(Get(resources::Services(), "redis-held-svc"));

  StartInProcess();
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("held-svc", 1)).ok());
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("held-sts", 1)).ok());
  for (const auto& [cr, what] :
       {std::pair<std::string, std::string>{"held-svc", "Service " + ns_ + "/redis-held-svc"},
        {"held-sts", "StatefulSet " + ns_ + "/redis-held-sts"}}) {
    ASSERT_TRUE(labtest::Eventually(
        [&] {
          Json got = Get(resources::RedisDatabases(), cr);
          return got.contains("status") && got["status"].value("phase", "") == "Failed";
        },
        std::chrono::seconds(60)))
        << cr << " did not fail: " << Get(resources::RedisDatabases(), cr).dump();
    Json status = Get(resources::RedisDatabases(), cr)["status"];
    EXPECT_THAT(status["message"].get<std::string>(), HasSubstr(what));
    EXPECT_THAT(status["message"].get<std::string>(), HasSubstr("not owned by this RedisDatabase"));
    EXPECT_EQ(status["conditions"][2]["reason"], "ChildConflict");
    EXPECT_EQ(status["ready"], false);
  }
  // Retries (with backoff) and a resync's worth of reconciles must not write them either.
  const std::string key = Controller::QueueKey(Kind::kRedisDatabase, ns_, "held-svc");
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(controller_->Reconcile(key).ok());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(Fingerprint(Get(resources::Services(), "redis-held-svc")), before_svc);
  EXPECT_EQ(Fingerprint(Get(resources::StatefulSets(), "redis-held-sts")), before_sts);

  // Deleting the CRs lets the garbage collector take what the controller made (the
  // Services of held-sts) and nothing else.
  ASSERT_TRUE(client_->Delete(resources::RedisDatabases(), ns_, "held-svc", {}).ok());
  ASSERT_TRUE(client_->Delete(resources::RedisDatabases(), ns_, "held-sts", {}).ok());
  ASSERT_TRUE(labtest::Eventually([&] {
    return Get(resources::RedisDatabases(), "held-svc").is_null() &&
           Get(resources::RedisDatabases(), "held-sts").is_null() &&
           Get(resources::Services(), "redis-held-sts").is_null() &&
           Get(resources::Services(), "redis-held-sts-headless").is_null() &&
           Get(resources::Services(), "redis-held-svc-headless").is_null();
  })) << "the garbage collector did not remove the controller's own children";
  EXPECT_EQ(Fingerprint(Get(resources::Services(), "redis-held-svc")), before_svc);
  EXPECT_EQ(Fingerprint(Get(resources::StatefulSets(), "redis-held-sts")), before_sts);
}

// A child whose labels were removed by hand leaves the label-filtered caches (the watch
// says DELETED); its controller ownerReference still says it is the CR's, so it is labelled
// again at once, not refused as someone else's and not left to the resync.
TEST_F(ControllerLabTest, OwnChildWithItsLabelsRemovedIsPutBack) {
  StartInProcess();
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("bare", 1)).ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "bare"); }));
  Json svc = Get(resources::Services(), "redis-bare");
  svc["metadata"].erase("labels");
  ASSERT_TRUE(client_->Update(resources::Services(), ns_, svc).ok());
  EXPECT_TRUE(labtest::Eventually(
      [&] {
        Json now = Get(resources::Services(), "redis-bare");
        return now["metadata"].contains("labels") &&
               now["metadata"]["labels"].value("app.kubernetes.io/managed-by", "") ==
                   "senren-controller";
      },
      std::chrono::seconds(10)))
      << "not relabelled within 10 s (the resync is 30 s: the delete event must do it)";
  EXPECT_TRUE(Ready(resources::RedisDatabases(), "bare"));
}

TEST_F(ControllerLabTest, BinaryKilledMidReconcileConvergesAfterRestart) {
  pid_t first = StartBinary("first");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        client_->Create(resources::RedisDatabases(), ns_, Redis("db" + std::to_string(i), 2)).ok());
  }
  // Kill it as soon as it has started creating children.
  ASSERT_TRUE(labtest::Eventually([&] {
    return !Get(resources::Services(), "redis-db0-headless").is_null() ||
           !Get(resources::Services(), "redis-db4-headless").is_null();
  }));
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
    return Get(resources::Leases(), "senren-controller")["spec"].value("holderIdentity", "") ==
           "replica-b";
  }));
  ASSERT_TRUE(client_->Create(resources::RedisDatabases(), ns_, Redis("after-failover", 1)).ok());
  EXPECT_TRUE(
      labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "after-failover"); }));
  EXPECT_GE(Get(resources::Leases(), "senren-controller")["spec"].value("leaseTransitions", 0), 1);
}

}  // namespace
}  // namespace senren::regional::controller
