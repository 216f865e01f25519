// The controller loop against FakeKubeClient (an in-memory apiserver); the test plays the
// StatefulSet controller by writing the StatefulSet's status. The same behaviour on real
// apiservers with kwok: tests/kube/controller_test.cc.
#include "regional/controller/controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "regional/kube/errors.h"
#include "regional/kube/testing/fake_clock.h"
#include "regional/kube/testing/fake_kube_client.h"

namespace senren::regional::controller {
namespace {

using kube::testing::FakeKubeClient;
using ::testing::HasSubstr;
namespace resources = kube::resources;

Json Redis(const std::string& name, int replicas) {
  return {{"apiVersion", "senren.io/v1alpha1"},
          {"kind", "RedisDatabase"},
          {"metadata", {{"name", name}, {"labels", {{"senren.io/region", "aws.us-east-1"}}}}},
          {"spec", {{"memoryMb", 256}, {"replicas", replicas}}}};
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ControllerOptions options;
    options.ns = "senren";
    options.workers = 2;
    options.min_backoff = std::chrono::milliseconds(1);
    options.max_backoff = std::chrono::milliseconds(20);
    controller_ = std::make_unique<Controller>(&kube_, options, &metrics_);
  }
  void TearDown() override { controller_->Stop(); }

  // Waits until `pred` (which reads the cluster) holds, re-checking it after each write the
  // controller (or the test) makes; false after a minute, a bound against hangs, not a
  // speed check. The controller runs on the real clock: its retries (1 .. 20 ms backoff)
  // are writes too. Exact delays are WorkQueue's unit tests, on a FakeClock.
  bool Eventually(const std::function<bool()>& pred) { return kube_.WaitFor(pred); }

  Json Get(const kube::Resource& r, const std::string& name) {
    auto got = kube_.Get(r, "senren", name);
    return got.ok() ? *got : Json();
  }
  std::string Phase(const kube::Resource& r, const std::string& name) {
    Json cr = Get(r, name);
    return cr.is_null() || !cr.contains("status") ? "" : cr["status"].value("phase", "");
  }
  // What the StatefulSet controller and kwok do: all pods ready at the current revision.
  void MakeStatefulSetReady(const std::string& name) {
    ASSERT_TRUE(Eventually([&] { return !Get(resources::StatefulSets(), name).is_null(); }));
    Json sts = Get(resources::StatefulSets(), name);
    int replicas = sts["spec"]["replicas"];
    sts["status"] = {{"observedGeneration", sts["metadata"]["generation"]},
                     {"replicas", replicas},
                     {"readyReplicas", replicas},
                     {"updatedReplicas", replicas},
                     {"currentRevision", "r"},
                     {"updateRevision", "r"}};
    ASSERT_TRUE(kube_.UpdateStatus(resources::StatefulSets(), "senren", sts).ok());
  }

  FakeKubeClient kube_;
  Metrics metrics_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(ControllerTest, CreatesOwnedChildrenAndReportsReady) {
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("cache", 3)).ok());
  controller_->Start();
  ASSERT_TRUE(controller_->WaitForSync(std::chrono::seconds(30)));
  ASSERT_TRUE(
      Eventually([&] { return Phase(resources::RedisDatabases(), "cache") == "Provisioning"; }));
  Json sts = Get(resources::StatefulSets(), "redis-cache");
  const std::string uid = Get(resources::RedisDatabases(), "cache")["metadata"]["uid"];
  EXPECT_EQ(sts["metadata"]["ownerReferences"][0]["uid"], uid);
  EXPECT_EQ(sts["metadata"]["labels"]["senren.io/region"], "aws.us-east-1");
  EXPECT_FALSE(Get(resources::Services(), "redis-cache").is_null());
  EXPECT_FALSE(Get(resources::Services(), "redis-cache-headless").is_null());
  Json pdb = Get(resources::PodDisruptionBudgets(), "redis-cache");
  ASSERT_FALSE(pdb.is_null());
  EXPECT_EQ(pdb["metadata"]["ownerReferences"][0]["uid"], uid);
  EXPECT_EQ(pdb["metadata"]["labels"]["app.kubernetes.io/managed-by"], "senren-controller");
  EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
  EXPECT_EQ(pdb["spec"]["selector"], sts["spec"]["selector"]);

  MakeStatefulSetReady("redis-cache");
  ASSERT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "cache") == "Ready"; }));
  Json status = Get(resources::RedisDatabases(), "cache")["status"];
  EXPECT_EQ(status["ready"], true);
  EXPECT_EQ(status["host"], "redis-cache.senren.svc.cluster.local");
  EXPECT_EQ(status["port"], 6379);
  EXPECT_EQ(status["readyReplicas"], 3);
  EXPECT_EQ(status["observedGeneration"], 1);

  // Level-triggered but quiet: once the caches caught up with our own writes, reconciling
  // a converged CR sends no write to the apiserver, five times in a row. (A worker still
  // busy with an event from before may write meanwhile, from a cache that had not caught
  // up: that round does not count, and its write wakes Eventually for another.)
  const std::string key = Controller::QueueKey(Kind::kRedisDatabase, "senren", "cache");
  ASSERT_TRUE(Eventually([&] {
    const int64_t changes = kube_.Changes();
    for (int i = 0; i < 5; ++i) {
      if (!controller_->Reconcile(key).ok()) return false;
    }
    return kube_.Changes() == changes;
  }));
  EXPECT_GT(metrics_.Value("senren_controller_reconciles_total",
                           "kind=\"RedisDatabase\",result=\"success\""),
            0);
}

TEST_F(ControllerTest, SpecChangeRollsAndHandEditIsPutBack) {
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("roll", 1)).ok());
  controller_->Start();
  MakeStatefulSetReady("redis-roll");
  ASSERT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "roll") == "Ready"; }));

  Json cr = Get(resources::RedisDatabases(), "roll");
  cr["spec"]["replicas"] = 2;
  ASSERT_TRUE(kube_.Update(resources::RedisDatabases(), "senren", cr).ok());
  ASSERT_TRUE(Eventually(
      [&] { return Get(resources::StatefulSets(), "redis-roll")["spec"]["replicas"] == 2; }));
  ASSERT_TRUE(
      Eventually([&] { return Phase(resources::RedisDatabases(), "roll") == "Provisioning"; }));
  MakeStatefulSetReady("redis-roll");
  ASSERT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "roll") == "Ready"; }));
  EXPECT_EQ(Get(resources::RedisDatabases(), "roll")["status"]["observedGeneration"], 2);

  Json sts = Get(resources::StatefulSets(), "redis-roll");
  sts["spec"]["replicas"] = 7;  // kubectl edit
  ASSERT_TRUE(kube_.Update(resources::StatefulSets(), "senren", sts).ok());
  EXPECT_TRUE(Eventually(
      [&] { return Get(resources::StatefulSets(), "redis-roll")["spec"]["replicas"] == 2; }));
  ASSERT_TRUE(kube_.Delete(resources::Services(), "senren", "redis-roll", {}).ok());
  EXPECT_TRUE(Eventually([&] { return !Get(resources::Services(), "redis-roll").is_null(); }))
      << "a deleted child is recreated";

  // The budget follows the same rules: a looser hand edit is put back, a deleted one
  // comes back.
  Json pdb = Get(resources::PodDisruptionBudgets(), "redis-roll");
  ASSERT_FALSE(pdb.is_null());
  pdb["spec"]["maxUnavailable"] = "100%";
  ASSERT_TRUE(kube_.Update(resources::PodDisruptionBudgets(), "senren", pdb).ok());
  EXPECT_TRUE(Eventually([&] {
    return Get(resources::PodDisruptionBudgets(), "redis-roll")["spec"]["maxUnavailable"] == 1;
  }));
  ASSERT_TRUE(kube_.Delete(resources::PodDisruptionBudgets(), "senren", "redis-roll", {}).ok());
  EXPECT_TRUE(
      Eventually([&] { return !Get(resources::PodDisruptionBudgets(), "redis-roll").is_null(); }));
}

TEST_F(ControllerTest, InvalidSpecIsFailedWithTheReason) {
  Json asc = {{"apiVersion", "senren.io/v1alpha1"},
              {"kind", "AerospikeCluster"},
              {"metadata", {{"name", "shrunk"}}},
              {"spec",
               {{"size", 1},
                {"namespaces",
                 Json::array({{{"name", "users"}, {"replicationFactor", 2}, {"memoryMb", 64}}})}}}};
  ASSERT_TRUE(kube_.Create(resources::AerospikeClusters(), "senren", asc).ok());
  controller_->Start();
  ASSERT_TRUE(
      Eventually([&] { return Phase(resources::AerospikeClusters(), "shrunk") == "Failed"; }));
  Json status = Get(resources::AerospikeClusters(), "shrunk")["status"];
  EXPECT_THAT(status["message"].get<std::string>(),
              HasSubstr("replicationFactor: 2 exceeds size 1"));
  EXPECT_EQ(status["conditions"][2]["reason"], "InvalidSpec");
  EXPECT_TRUE(Get(resources::StatefulSets(), "aerospike-shrunk").is_null()) << "nothing is created";
}

TEST_F(ControllerTest, AerospikeGetsAConfigMap) {
  Json asc = {{"apiVersion", "senren.io/v1alpha1"},
              {"kind", "AerospikeCluster"},
              {"metadata", {{"name", "profiles"}}},
              {"spec",
               {{"size", 3},
                {"namespaces",
                 Json::array({{{"name", "users"}, {"replicationFactor", 2}, {"memoryMb", 64}}})}}}};
  ASSERT_TRUE(kube_.Create(resources::AerospikeClusters(), "senren", asc).ok());
  controller_->Start();
  MakeStatefulSetReady("aerospike-profiles");
  ASSERT_TRUE(
      Eventually([&] { return Phase(resources::AerospikeClusters(), "profiles") == "Ready"; }));
  Json cm = Get(resources::ConfigMaps(), "aerospike-profiles-conf");
  EXPECT_THAT(cm["data"]["aerospike.conf"].get<std::string>(), HasSubstr("replication-factor 2"));
  EXPECT_EQ(Get(resources::AerospikeClusters(), "profiles")["status"]["port"], 3000);
  Json pdb = Get(resources::PodDisruptionBudgets(), "aerospike-profiles");
  EXPECT_EQ(pdb["metadata"]["ownerReferences"][0]["kind"], "AerospikeCluster");
  EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
}

TEST_F(ControllerTest, RejectedChildShowsInConditionsThenRecovers) {
  kube_.FailAlways(
      "statefulsets",
      kube::ApiError(
          "apply", "senren/statefulsets/quota", 403,
          R"({"kind":"Status","reason":"Forbidden","message":"statefulsets \"quota\" is forbidden: exceeded quota: compute"})"),
      "apply");
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("quota", 1)).ok());
  controller_->Start();
  ASSERT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "quota") == "Failed"; }));
  Json status = Get(resources::RedisDatabases(), "quota")["status"];
  EXPECT_THAT(status["message"].get<std::string>(), HasSubstr("exceeded quota"));
  EXPECT_EQ(status["conditions"][2]["reason"], "ChildApplyFailed");
  // Retried with backoff; once the quota allows it, the next attempt goes through.
  EXPECT_TRUE(Eventually([&] { return kube_.Calls("apply", "statefulsets") >= 3; }));
  kube_.ClearFailures();
  ASSERT_TRUE(
      Eventually([&] { return Phase(resources::RedisDatabases(), "quota") == "Provisioning"; }));
}

TEST_F(ControllerTest, ChildOwnedBySomeoneElseIsNotTaken) {
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata",
               {{"name", "redis-taken-headless"},
                {"labels", {{"app.kubernetes.io/managed-by", "senren-controller"}}}}},
              {"spec", {{"clusterIP", "None"}}}};
  ASSERT_TRUE(kube_.Create(resources::Services(), "senren", svc).ok());
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("taken", 1)).ok());
  controller_->Start();
  ASSERT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "taken") == "Failed"; }));
  EXPECT_THAT(Get(resources::RedisDatabases(), "taken")["status"]["message"].get<std::string>(),
              HasSubstr("not owned by this RedisDatabase"));
  EXPECT_FALSE(
      Get(resources::Services(), "redis-taken-headless")["metadata"].contains("ownerReferences"));
}

// The dangerous case: a person's object without our labels is invisible to the child
// caches, so only a look at the name itself keeps it from being taken.
TEST_F(ControllerTest, UnlabelledObjectsNamedLikeChildrenAreNeverTaken) {
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "redis-mine"}, {"labels", {{"app", "users-own"}}}}},
              {"spec", {{"selector", {{"app", "users-own"}}}}}};
  ASSERT_TRUE(kube_.Create(resources::Services(), "senren", svc).ok());
  Json sts = {{"apiVersion", "apps/v1"},
              {"kind", "StatefulSet"},
              {"metadata",
               {{"name", "redis-theirs"},
                {"ownerReferences", Json::array({{{"apiVersion", "apps/v1"},
                                                  {"kind", "Deployment"},
                                                  {"name", "users-own"},
                                                  {"uid", "uid-users-own"},
                                                  {"controller", true}}})}}},
              {"spec", {{"replicas", 4}}}};
  ASSERT_TRUE(kube_.Create(resources::StatefulSets(), "senren", sts).ok());
  const Json svc_before = Get(resources::Services(), "redis-mine");
  const Json sts_before = Get(resources::StatefulSets(), "redis-theirs");
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("mine", 1)).ok());
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("theirs", 1)).ok());
  controller_->Start();
  ASSERT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "mine") == "Failed"; }));
  ASSERT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "theirs") == "Failed"; }));
  Json mine = Get(resources::RedisDatabases(), "mine")["status"];
  EXPECT_THAT(mine["message"].get<std::string>(),
              HasSubstr("Service senren/redis-mine already exists and is not owned by this "
                        "RedisDatabase (it has no controller ownerReference)"));
  EXPECT_EQ(mine["conditions"][2]["reason"], "ChildConflict");
  EXPECT_THAT(Get(resources::RedisDatabases(), "theirs")["status"]["message"].get<std::string>(),
              HasSubstr("StatefulSet senren/redis-theirs already exists and is not owned by this "
                        "RedisDatabase (it is controlled by Deployment users-own)"));
  // Retried with backoff, and never written.
  const std::string key = Controller::QueueKey(Kind::kRedisDatabase, "senren", "mine");
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(controller_->Reconcile(key).ok());
  EXPECT_EQ(Get(resources::Services(), "redis-mine"), svc_before);
  EXPECT_EQ(Get(resources::StatefulSets(), "redis-theirs"), sts_before);
  EXPECT_TRUE(Get(resources::StatefulSets(), "redis-mine").is_null()) << "stops at the conflict";

  // Once the person removes their object, the name is free and the CR gets its child.
  ASSERT_TRUE(kube_.Delete(resources::Services(), "senren", "redis-mine", {}).ok());
  const std::string uid = Get(resources::RedisDatabases(), "mine")["metadata"]["uid"];
  EXPECT_TRUE(Eventually([&] {
    Json now = Get(resources::Services(), "redis-mine");
    return !now.is_null() && now["metadata"].contains("ownerReferences") &&
           now["metadata"]["ownerReferences"][0]["uid"] == uid;
  }));
  EXPECT_TRUE(
      Eventually([&] { return Phase(resources::RedisDatabases(), "mine") == "Provisioning"; }));
}

// Labels can be removed by hand; the controller ownerReference carrying the CR's uid still
// says the child is ours, so it is written (and labelled) again, not refused.
TEST_F(ControllerTest, OwnChildWithoutLabelsIsRelabelled) {
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("bare", 1)).ok());
  const std::string uid = Get(resources::RedisDatabases(), "bare")["metadata"]["uid"];
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata",
               {{"name", "redis-bare"},
                {"ownerReferences", Json::array({{{"apiVersion", "senren.io/v1alpha1"},
                                                  {"kind", "RedisDatabase"},
                                                  {"name", "bare"},
                                                  {"uid", uid},
                                                  {"controller", true}}})}}},
              {"spec", {{"selector", {{"app", "stale"}}}}}};
  ASSERT_TRUE(kube_.Create(resources::Services(), "senren", svc).ok());
  controller_->Start();
  ASSERT_TRUE(
      Eventually([&] { return Phase(resources::RedisDatabases(), "bare") == "Provisioning"; }));
  Json now = Get(resources::Services(), "redis-bare");
  EXPECT_EQ(now["metadata"]["labels"]["app.kubernetes.io/managed-by"], "senren-controller");
  EXPECT_EQ(now["spec"]["selector"]["app.kubernetes.io/instance"], "bare");
}

TEST_F(ControllerTest, SameNameInBothKindsDoesNotCollide) {
  Json asc = {{"apiVersion", "senren.io/v1alpha1"},
              {"kind", "AerospikeCluster"},
              {"metadata", {{"name", "twin"}}},
              {"spec",
               {{"size", 1},
                {"namespaces",
                 Json::array({{{"name", "users"}, {"replicationFactor", 1}, {"memoryMb", 64}}})}}}};
  ASSERT_TRUE(kube_.Create(resources::AerospikeClusters(), "senren", asc).ok());
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("twin", 1)).ok());
  controller_->Start();
  MakeStatefulSetReady("redis-twin");
  MakeStatefulSetReady("aerospike-twin");
  EXPECT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "twin") == "Ready"; }));
  EXPECT_TRUE(Eventually([&] { return Phase(resources::AerospikeClusters(), "twin") == "Ready"; }));
  EXPECT_EQ(Get(resources::AerospikeClusters(), "twin")["status"]["host"],
            "aerospike-twin.senren.svc.cluster.local");
}

TEST_F(ControllerTest, BadImageShowsInConditions) {
  ASSERT_TRUE(kube_.Create(resources::RedisDatabases(), "senren", Redis("badimg", 1)).ok());
  controller_->Start();
  ASSERT_TRUE(
      Eventually([&] { return Phase(resources::RedisDatabases(), "badimg") == "Provisioning"; }));
  // What the kubelet reports for an image that does not exist.
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", "redis-badimg-0"},
                {"labels",
                 {{"app.kubernetes.io/managed-by", "senren-controller"},
                  {"app.kubernetes.io/instance", "badimg"},
                  {"senren.io/owner-kind", "RedisDatabase"}}}}},
              {"status",
               {{"containerStatuses",
                 Json::array({{{"name", "redis"},
                               {"state", {{"waiting", {{"reason", "ErrImagePull"}}}}}}})}}}};
  ASSERT_TRUE(kube_.Create(resources::Pods(), "senren", pod).ok());
  ASSERT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "badimg") == "Failed"; }));
  Json status = Get(resources::RedisDatabases(), "badimg")["status"];
  EXPECT_EQ(status["conditions"][2]["reason"], "ErrImagePull");
  EXPECT_THAT(status["message"].get<std::string>(), HasSubstr("pod redis-badimg-0: ErrImagePull"));
  MakeStatefulSetReady("redis-badimg");  // image fixed, pod ready
  EXPECT_TRUE(Eventually([&] { return Phase(resources::RedisDatabases(), "badimg") == "Ready"; }));
}

// 5 → 2 nodes: the StatefulSet loses one pod per step, each only after the remaining pods
// have been ready for the settle time (the test plays the StatefulSet controller and the
// kubelet; the controller's clock moves only when the test says so).
TEST_F(ControllerTest, AerospikeScaleDownRemovesOneNodeAtATimeAfterTheSettleTime) {
  kube::testing::FakeClock clock;
  ControllerOptions options;
  options.ns = "senren";
  options.workers = 2;
  options.min_backoff = std::chrono::milliseconds(1);
  options.max_backoff = std::chrono::milliseconds(20);
  options.clock = &clock;
  options.scale_down_settle = std::chrono::seconds(20);
  controller_ = std::make_unique<Controller>(&kube_, options, &metrics_);
  // Reconciles once more, as often as a stale cache (409) makes it fail.
  auto reconcile = [&] {
    const std::string key = Controller::QueueKey(Kind::kAerospikeCluster, "senren", "big");
    absl::Status s = controller_->Reconcile(key);
    for (int i = 0; i < 100000 && kube::IsConflict(s); ++i) s = controller_->Reconcile(key);
    return s;
  };
  absl::Cleanup stop = [&] { controller_->Stop(); };  // before `clock` goes
  Json asc = {{"apiVersion", "senren.io/v1alpha1"},
              {"kind", "AerospikeCluster"},
              {"metadata", {{"name", "big"}}},
              {"spec",
               {{"size", 5},
                {"namespaces",
                 Json::array({{{"name", "users"}, {"replicationFactor", 2}, {"memoryMb", 64}}})}}}};
  ASSERT_TRUE(kube_.Create(resources::AerospikeClusters(), "senren", asc).ok());
  controller_->Start();
  ASSERT_TRUE(controller_->WaitForSync(std::chrono::seconds(30)));
  for (int i = 0; i < 5; ++i) {
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata",
                 {{"name", absl::StrCat("aerospike-big-", i)},
                  {"labels",
                   {{"app.kubernetes.io/managed-by", "senren-controller"},
                    {"app.kubernetes.io/instance", "big"},
                    {"senren.io/owner-kind", "AerospikeCluster"}}}}},
                {"status",
                 {{"phase", "Running"},
                  {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
    ASSERT_TRUE(kube_.Create(resources::Pods(), "senren", pod).ok());
  }
  MakeStatefulSetReady("aerospike-big");
  ASSERT_TRUE(Eventually([&] { return Phase(resources::AerospikeClusters(), "big") == "Ready"; }));

  auto replicas = [&] {
    return Get(resources::StatefulSets(), "aerospike-big")["spec"]["replicas"];
  };
  const int64_t generation =
      Get(resources::StatefulSets(), "aerospike-big")["metadata"]["generation"];
  Json cr = Get(resources::AerospikeClusters(), "big");
  cr["spec"]["size"] = 2;
  ASSERT_TRUE(kube_.Update(resources::AerospikeClusters(), "senren", cr).ok());
  // The mesh seeds in aerospike.conf follow the size, so the five pods roll first (one at a
  // time, each once migrations are done); the replica count is held meanwhile.
  ASSERT_TRUE(Eventually([&] {
    return Get(resources::StatefulSets(), "aerospike-big")["metadata"]["generation"] > generation;
  }));
  EXPECT_EQ(replicas(), 5);
  MakeStatefulSetReady("aerospike-big");
  ASSERT_TRUE(Eventually([&] {
    Json st = Get(resources::AerospikeClusters(), "big")["status"];
    return st.value("observedGeneration", 0) == 2 &&
           st.value("message", "") == "5/5 replicas ready, removing one at a time down to 2";
  })) << Get(resources::AerospikeClusters(), "big").dump();
  EXPECT_EQ(replicas(), 5);
  auto set_ready = [&](int ordinal, bool ready) {
    Json pod = Get(resources::Pods(), absl::StrCat("aerospike-big-", ordinal));
    pod["status"]["conditions"][0]["status"] = ready ? "True" : "False";
    ASSERT_TRUE(kube_.UpdateStatus(resources::Pods(), "senren", pod).ok());
  };
  // Moves the clock a second at a time, reconciling at each, until the StatefulSet has one
  // pod less than `live`; returns how long that took (the caches catch up meanwhile, so a
  // step may come a little after the settle time, never before it).
  auto seconds_to_step = [&](int live) {
    const kube::Clock::TimePoint ready_at = clock.Now();
    for (int i = 0; i < 600 && replicas() == live; ++i) {
      clock.Advance(std::chrono::seconds(1));
      EXPECT_TRUE(reconcile().ok());
      std::this_thread::yield();
    }
    EXPECT_EQ(replicas(), live - 1) << "one pod per step";
    return std::chrono::duration_cast<std::chrono::seconds>(clock.Now() - ready_at).count();
  };
  for (int live = 5; live > 2; --live) {
    EXPECT_GE(seconds_to_step(live), 20) << "a node went before the others had been ready 20 s";
    // Until the StatefulSet controller has removed the pod, no further step.
    clock.Advance(std::chrono::seconds(60));
    ASSERT_TRUE(reconcile().ok());
    EXPECT_EQ(replicas(), live - 1);
    // The next step waits for the migrations the removal started: pod 0 is not ready (its
    // readiness probe counts partitions left to migrate) before the removed pod goes.
    if (live == 4) set_ready(0, false);
    ASSERT_TRUE(
        kube_.Delete(resources::Pods(), "senren", absl::StrCat("aerospike-big-", live - 1), {})
            .ok());
    MakeStatefulSetReady("aerospike-big");
    if (live == 4) {
      for (int i = 0; i < 120; ++i) {
        clock.Advance(std::chrono::seconds(1));
        ASSERT_TRUE(reconcile().ok());
      }
      EXPECT_EQ(replicas(), 3) << "a node went while another one migrated";
      set_ready(0, true);
    }
  }
  ASSERT_TRUE(Eventually([&] { return Phase(resources::AerospikeClusters(), "big") == "Ready"; }))
      << Get(resources::AerospikeClusters(), "big").dump();
  EXPECT_EQ(replicas(), 2);
  EXPECT_EQ(Get(resources::AerospikeClusters(), "big")["status"]["readyReplicas"], 2);
}

TEST(ParseKindsTest, FlagValues) {
  auto kinds = ParseKinds("redis, aerospike");
  ASSERT_TRUE(kinds.ok());
  EXPECT_EQ(kinds->size(), 2u);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseKinds("redis,memcached").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseKinds("").status()));
}

}  // namespace
}  // namespace senren::regional::controller
