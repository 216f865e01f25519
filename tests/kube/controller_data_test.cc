// What senren-controller does for the data of a database, on the lab's real apiservers
// (kwok starts the pods, the host-path provisioner binds the claims): a Redis database with
// aof persistence gets a bound claim per pod, a client Service that reaches the primary
// only and a read Service for every pod; a memory change rolls the pods onto the same
// claims; scaling down keeps the claims. An Aerospike device namespace keeps its file on
// the pod's claim. Scaling an Aerospike cluster down removes one node at a time, each only
// once the others are ready again (migrations done).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "kube_lab.h"
#include "regional/controller/controller.h"
#include "regional/kube/errors.h"

namespace senren::regional::controller {
namespace {

namespace labtest = kube::labtest;
namespace resources = kube::resources;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

const kube::Resource kClaims{"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true};
const kube::Resource kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
                                     true};

// A CR as senren-regional writes it: managed-by senren, the region label, the state version.
Json Cr(const std::string& kind, const std::string& name, Json spec) {
  return {{"apiVersion", "senren.io/v1alpha1"},
          {"kind", kind},
          {"metadata",
           {{"name", name},
            {"labels",
             {{"app.kubernetes.io/managed-by", "senren"}, {"senren.io/region", "aws.us-east-1"}}},
            {"annotations", {{"senren.io/state-version", "1"}}}}},
          {"spec", std::move(spec)}};
}

bool PodReady(const Json& pod) {
  if (!pod.contains("status") || pod["status"].value("phase", "") != "Running") return false;
  for (const Json& c : pod["status"].value("conditions", Json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

class ControllerDataLabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto client = labtest::ClusterClient(0);
    absl::Status s = labtest::InstallCrds(client.get());
    ASSERT_TRUE(s.ok()) << s;
  }
  void SetUp() override {
    client_ = labtest::ClusterClient(0);
    ns_ = labtest::CreateNamespace(client_.get(), "ctl-data");
  }
  // Deleting the namespace deletes the CRs, their children and the claims; the lab's
  // StorageClass deletes each claim's volume with it.
  void TearDown() override {
    if (controller_) controller_->Stop();
    labtest::DeleteNamespace(client_.get(), ns_);
  }

  void StartController(ControllerOptions options = {}) {
    options.ns = ns_;
    controller_ = std::make_unique<Controller>(client_.get(), options, &metrics_);
    controller_->Start();
    ASSERT_TRUE(controller_->WaitForSync(std::chrono::seconds(30)));
  }

  Json Get(const kube::Resource& r, const std::string& name) {
    auto got = client_->Get(r, ns_, name);
    return got.ok() ? *got : Json();
  }
  bool Ready(const kube::Resource& r, const std::string& name, int64_t generation) {
    Json cr = Get(r, name);
    if (cr.is_null() || !cr.contains("status")) return false;
    const Json& st = cr["status"];
    return st.value("ready", false) && st.value("phase", "") == "Ready" &&
           st.value("observedGeneration", int64_t{0}) == generation;
  }
  std::vector<Json> List(const kube::Resource& r, const std::string& selector) {
    kube::ListOptions options;
    options.label_selector = selector;
    auto got = client_->List(r, ns_, options);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? got->items : std::vector<Json>{};
  }
  // name → uid of the claims of a database.
  std::map<std::string, std::string> Claims(const std::string& instance) {
    std::map<std::string, std::string> out;
    for (const Json& c : List(kClaims, "app.kubernetes.io/instance=" + instance)) {
      out[c["metadata"]["name"]] = c["metadata"]["uid"];
    }
    return out;
  }
  bool AllBound(const std::string& instance, size_t count) {
    std::vector<Json> claims = List(kClaims, "app.kubernetes.io/instance=" + instance);
    return claims.size() == count && std::all_of(claims.begin(), claims.end(), [](const Json& c) {
             return c.contains("status") && c["status"].value("phase", "") == "Bound";
           });
  }
  // The pods a Service reaches, by the endpoint slices the endpoint-slice controller keeps.
  std::set<std::string> Backends(const std::string& service) {
    std::set<std::string> pods;
    for (const Json& slice : List(kEndpointSlices, "kubernetes.io/service-name=" + service)) {
      for (const Json& e : slice.value("endpoints", Json::array())) {
        if (e.contains("targetRef")) pods.insert(e["targetRef"].value("name", ""));
      }
    }
    return pods;
  }
  // The claim pod `pod` mounts as its volume "data"; empty when none.
  std::string DataClaimOf(const std::string& pod) {
    Json p = Get(resources::Pods(), pod);
    if (p.is_null()) return "";
    for (const Json& v : p["spec"].value("volumes", Json::array())) {
      if (v.value("name", "") == "data" && v.contains("persistentVolumeClaim")) {
        return v["persistentVolumeClaim"].value("claimName", "");
      }
    }
    return "";
  }

  std::unique_ptr<kube::CurlKubeClient> client_;
  std::string ns_;
  Metrics metrics_;
  std::unique_ptr<Controller> controller_;
};

// The "done when" for Redis, in one database's life: aof with 3 replicas → 3 bound
// claims, writes to the primary only; 128 → 192 MiB rolls every pod onto the claims it had
// (same claim uids); 3 → 1 keeps all three claims.
TEST_F(ControllerDataLabTest, RedisAofKeepsItsClaimsThroughARollAndAScaleDown) {
  StartController();
  ASSERT_TRUE(client_
                  ->Create(resources::RedisDatabases(), ns_,
                           Cr("RedisDatabase", "orders",
                              {{"memoryMb", 128}, {"replicas", 3}, {"persistence", "aof"}}))
                  .ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::RedisDatabases(), "orders", 1); }))
      << Get(resources::RedisDatabases(), "orders").dump();
  EXPECT_TRUE(labtest::Eventually([&] { return AllBound("orders", 3); }))
      << "claims: " << Json(List(kClaims, "app.kubernetes.io/instance=orders")).dump();
  const std::map<std::string, std::string> claims = Claims("orders");
  ASSERT_EQ(claims.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const std::string claim = absl::StrCat("data-redis-orders-", i);
    EXPECT_TRUE(claims.contains(claim)) << claim;
    EXPECT_EQ(DataClaimOf(absl::StrCat("redis-orders-", i)), claim);
  }
  Json sts = Get(resources::StatefulSets(), "redis-orders");
  EXPECT_EQ(sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"], "Retain");
  EXPECT_EQ(sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"], "Retain");
  const std::string script = sts["spec"]["template"]["spec"]["containers"][0]["command"][2];
  EXPECT_TRUE(absl::StrContains(script, "--appendonly yes")) << script;

  // Routing, as the cluster resolves it: the client Service's endpoints are pod 0 alone,
  // the read Service's are all three.
  Json status = Get(resources::RedisDatabases(), "orders")["status"];
  EXPECT_EQ(status["host"], "redis-orders." + ns_ + ".svc.cluster.local");
  EXPECT_EQ(status["readHost"], "redis-orders-read." + ns_ + ".svc.cluster.local");
  EXPECT_TRUE(labtest::Eventually([&] {
    return Backends("redis-orders") == std::set<std::string>{"redis-orders-0"} &&
           Backends("redis-orders-read").size() == 3;
  })) << "client: "
      << Json(Backends("redis-orders")).dump()
      << " read: " << Json(Backends("redis-orders-read")).dump();
  EXPECT_THAT(Backends("redis-orders-read"),
              UnorderedElementsAre("redis-orders-0", "redis-orders-1", "redis-orders-2"));

  // A memory change rolls every pod; the new pods mount the same claims.
  std::map<std::string, std::string> pod_uids;
  for (int i = 0; i < 3; ++i) {
    const std::string pod = absl::StrCat("redis-orders-", i);
    pod_uids[pod] = Get(resources::Pods(), pod)["metadata"]["uid"];
  }
  Json cr = Get(resources::RedisDatabases(), "orders");
  cr["spec"]["memoryMb"] = 192;
  ASSERT_TRUE(client_->Update(resources::RedisDatabases(), ns_, cr).ok());
  ASSERT_TRUE(labtest::Eventually([&] {
    if (!Ready(resources::RedisDatabases(), "orders", 2)) return false;
    for (const auto& [pod, uid] : pod_uids) {
      Json p = Get(resources::Pods(), pod);
      if (p.is_null() || p["metadata"]["uid"] == uid || !PodReady(p) ||
          p["spec"]["containers"][0]["resources"]["requests"]["memory"] != "192Mi") {
        return false;
      }
    }
    return true;
  })) << Get(resources::RedisDatabases(), "orders").dump();
  EXPECT_EQ(Claims("orders"), claims) << "a claim was recreated by the roll";
  EXPECT_TRUE(AllBound("orders", 3));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(DataClaimOf(absl::StrCat("redis-orders-", i)), absl::StrCat("data-redis-orders-", i));
  }
  EXPECT_EQ(Backends("redis-orders"), std::set<std::string>{"redis-orders-0"});

  // 3 → 1: pods 1 and 2 go, their claims stay.
  cr = Get(resources::RedisDatabases(), "orders");
  cr["spec"]["replicas"] = 1;
  ASSERT_TRUE(client_->Update(resources::RedisDatabases(), ns_, cr).ok());
  ASSERT_TRUE(labtest::Eventually([&] {
    return Ready(resources::RedisDatabases(), "orders", 3) &&
           Get(resources::Pods(), "redis-orders-1").is_null() &&
           Get(resources::Pods(), "redis-orders-2").is_null();
  })) << Get(resources::RedisDatabases(), "orders").dump();
  EXPECT_EQ(Get(resources::StatefulSets(), "redis-orders")["spec"]["replicas"], 1);
  EXPECT_EQ(Claims("orders"), claims) << "scaling down deleted or recreated a claim";
  EXPECT_TRUE(AllBound("orders", 3));
}

// The "done when" for Aerospike: a device namespace gets a claim per pod, and the
// rendered aerospike.conf puts its file on the path where the pods mount that claim.
TEST_F(ControllerDataLabTest, AerospikeDeviceNamespaceKeepsItsFileOnTheClaim) {
  StartController();
  Json spec = {
      {"size", 2},
      {"namespaces", Json::array({{{"name", "cache"}, {"replicationFactor", 2}, {"memoryMb", 128}},
                                  {{"name", "ledger"},
                                   {"replicationFactor", 2},
                                   {"memoryMb", 256},
                                   {"storage", "device"}}})}};
  ASSERT_TRUE(
      client_->Create(resources::AerospikeClusters(), ns_, Cr("AerospikeCluster", "accounts", spec))
          .ok());
  ASSERT_TRUE(labtest::Eventually([&] {
    return Ready(resources::AerospikeClusters(), "accounts", 1);
  })) << Get(resources::AerospikeClusters(), "accounts").dump();
  EXPECT_TRUE(labtest::Eventually([&] { return AllBound("accounts", 2); }))
      << "claims: " << Json(List(kClaims, "app.kubernetes.io/instance=accounts")).dump();

  // The claim template "data" is mounted (not an emptyDir) at the directory of the file.
  Json sts = Get(resources::StatefulSets(), "aerospike-accounts");
  ASSERT_EQ(sts["spec"]["volumeClaimTemplates"].size(), 1u);
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data");
  const Json& pod_spec = sts["spec"]["template"]["spec"];
  for (const Json& v : pod_spec["volumes"]) EXPECT_NE(v["name"], "data") << v.dump();
  std::string mount_path;
  for (const Json& m : pod_spec["containers"][0]["volumeMounts"]) {
    if (m["name"] == "data") mount_path = m["mountPath"];
  }
  ASSERT_FALSE(mount_path.empty());

  // aerospike.conf: namespace ledger → storage-engine device with a file under the mount
  // path, of a size that fits the bound claim; namespace cache stays in memory.
  const std::string conf =
      Get(resources::ConfigMaps(), "aerospike-accounts-conf")["data"]["aerospike.conf"];
  // Namespace blocks come last: each runs until the next one.
  std::map<std::string, std::vector<std::string>> blocks;  // namespace → its lines
  std::string current;
  for (absl::string_view raw : absl::StrSplit(conf, '\n')) {
    const std::string line(absl::StripAsciiWhitespace(raw));
    if (absl::StartsWith(line, "namespace ")) {
      current = std::string(absl::StripSuffix(line.substr(10), " {"));
    }
    if (!current.empty()) blocks[current].push_back(line);
  }
  ASSERT_TRUE(blocks.contains("ledger")) << conf;
  ASSERT_TRUE(blocks.contains("cache")) << conf;
  EXPECT_THAT(blocks["cache"], ::testing::Contains("storage-engine memory {")) << conf;
  std::vector<std::string> files;
  int64_t filesize_mb = 0;
  for (const std::string& line : blocks["ledger"]) {
    if (absl::StartsWith(line, "file ")) files.push_back(line.substr(5));
    if (absl::StartsWith(line, "filesize ")) {
      ASSERT_TRUE(absl::SimpleAtoi(absl::StripSuffix(line.substr(9), "M"), &filesize_mb)) << line;
    }
  }
  EXPECT_THAT(blocks["ledger"], ::testing::Contains("storage-engine device {")) << conf;
  ASSERT_THAT(files, ElementsAre(mount_path + "/ledger.dat")) << conf;
  EXPECT_GT(filesize_mb, 0);
  for (int i = 0; i < 2; ++i) {
    const std::string claim = absl::StrCat("data-aerospike-accounts-", i);
    EXPECT_EQ(DataClaimOf(absl::StrCat("aerospike-accounts-", i)), claim);
    Json c = Get(kClaims, claim);
    const std::string capacity = c["status"]["capacity"].value("storage", "");
    const auto bytes = ParseQuantity(capacity);
    ASSERT_TRUE(bytes.has_value()) << c.dump();
    EXPECT_LE(static_cast<long double>(filesize_mb) * 1024 * 1024, *bytes)
        << "the file does not fit the claim: " << capacity;
  }
}

// The data-loss case: an AerospikeCluster of 5 nodes, replication factor 2, scaled to 2.
// With podManagementPolicy Parallel the StatefulSet alone would delete pods 4, 3 and 2 at
// once, and every partition whose two copies were on two of them would be gone. The test
// plays Aerospike's readiness probe: each time a pod is deleted, the remaining pods turn
// not ready (their partitions migrate) and ready again a little later. Replaying every pod
// event, no pod may start going down while another is not ready or still terminating.
TEST_F(ControllerDataLabTest, AerospikeScaleDownTakesOneNodeAtATimeAfterMigrations) {
  ControllerOptions options;
  options.scale_down_settle = std::chrono::seconds(5);
  StartController(options);
  Json spec = {{"size", 5},
               {"namespaces",
                Json::array({{{"name", "users"}, {"replicationFactor", 2}, {"memoryMb", 128}}})}};
  ASSERT_TRUE(
      client_->Create(resources::AerospikeClusters(), ns_, Cr("AerospikeCluster", "wide", spec))
          .ok());
  ASSERT_TRUE(labtest::Eventually([&] { return Ready(resources::AerospikeClusters(), "wide", 1); }))
      << Get(resources::AerospikeClusters(), "wide").dump();
  const std::string selector = "app.kubernetes.io/instance=wide";
  kube::ListOptions list;
  list.label_selector = selector;
  auto pods = client_->List(resources::Pods(), ns_, list);
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->items.size(), 5u);

  absl::Mutex mu;
  std::vector<kube::WatchEvent> events;  // every pod event, in etcd order
  int deletions = 0;                     // pods gone and not yet "migrated" for
  std::atomic<bool> cancel{false};
  std::thread watcher([&] {
    kube::WatchOptions w;
    w.label_selector = selector;
    w.resource_version = pods->resource_version;
    w.allow_bookmarks = false;
    absl::Status watched = client_->Watch(
        resources::Pods(), ns_, w,
        [&](const kube::WatchEvent& e) {
          absl::MutexLock lock(&mu);
          events.push_back(e);
          if (e.type == kube::WatchEventType::kDeleted) ++deletions;
          return true;
        },
        &cancel);
    EXPECT_TRUE(watched.ok() || absl::IsCancelled(watched)) << watched;
  });
  // Aerospike's part: after a node left (or restarted), the others migrate partitions and
  // their readiness probes fail until that is done; here for 2 s.
  auto probe_client = labtest::ClusterClient(0);
  auto set_ready = [&](const std::vector<std::string>& names, bool ready) {
    for (const std::string& name : names) {
      for (int attempt = 0; attempt < 20; ++attempt) {
        auto pod = probe_client->Get(resources::Pods(), ns_, name);
        if (!pod.ok()) break;  // gone meanwhile
        bool changed = false;
        for (Json& c : (*pod)["status"]["conditions"]) {
          if (c.value("type", "") == "Ready" || c.value("type", "") == "ContainersReady") {
            c["status"] = ready ? "True" : "False";
            changed = true;
          }
        }
        if (!changed) break;  // not started yet: kwok makes it ready when it starts it
        auto updated = probe_client->UpdateStatus(resources::Pods(), ns_, *pod);
        if (updated.ok() || !kube::IsConflict(updated.status())) break;
      }
    }
  };
  std::atomic<int> migrations{0};
  std::thread migrator([&] {
    while (!cancel.load()) {
      {
        absl::MutexLock lock(&mu);
        mu.AwaitWithTimeout(absl::Condition(
                                +[](int* d) { return *d > 0; }, &deletions),
                            absl::Milliseconds(200));
        if (deletions == 0) continue;
        deletions = 0;
      }
      std::vector<std::string> names;
      for (const Json& pod : List(resources::Pods(), selector)) {
        if (!pod["metadata"].contains("deletionTimestamp"))
          names.push_back(pod["metadata"]["name"]);
      }
      set_ready(names, false);
      ++migrations;
      std::this_thread::sleep_for(std::chrono::seconds(2));
      set_ready(names, true);
    }
  });
  absl::Cleanup stop_threads = [&] {
    cancel = true;
    watcher.join();
    migrator.join();
  };

  Json cr = Get(resources::AerospikeClusters(), "wide");
  cr["spec"]["size"] = 2;
  ASSERT_TRUE(client_->Update(resources::AerospikeClusters(), ns_, cr).ok());
  const bool done = labtest::Eventually(
      [&] {
        return Ready(resources::AerospikeClusters(), "wide", 2) &&
               List(resources::Pods(), selector).size() == 2;
      },
      std::chrono::seconds(300));
  std::move(stop_threads).Invoke();
  ASSERT_TRUE(done) << Get(resources::AerospikeClusters(), "wide").dump();
  EXPECT_EQ(Get(resources::StatefulSets(), "aerospike-wide")["spec"]["replicas"], 2);

  // The pods removed for good (deleted, not created again as a roll does), in order.
  std::vector<std::string> removed;
  std::set<std::string> removed_uids;
  {
    absl::MutexLock lock(&mu);
    std::map<std::string, std::string> last_deleted;  // name → uid
    for (const kube::WatchEvent& e : events) {
      const std::string name = e.object["metadata"].value("name", "");
      std::erase(removed, name);
      if (e.type == kube::WatchEventType::kDeleted) {
        removed.push_back(name);
        last_deleted[name] = e.object["metadata"].value("uid", "");
      }
    }
    for (const std::string& name : removed) removed_uids.insert(last_deleted[name]);
  }
  // Replay: the state of every pod when one of those starts to go down. (The roll the new
  // mesh seeds cause before is the StatefulSet controller's, racing with this test's
  // stand-in probe; RollingUpdateReplacesReplicasOneByOneBeforeThePrimary covers rolls.)
  struct PodState {
    std::string uid;
    bool ready = false;
    bool terminating = false;
  };
  auto state_of = [](const Json& pod) {
    PodState st;
    st.uid = pod["metadata"].value("uid", "");
    st.terminating = pod["metadata"].contains("deletionTimestamp");
    st.ready = PodReady(pod);
    return st;
  };
  std::string trace;
  std::map<std::string, PodState> live;
  for (const Json& pod : pods->items) live[pod["metadata"]["name"]] = state_of(pod);
  std::set<std::string> seen_going;  // uids
  absl::MutexLock lock(&mu);
  for (const kube::WatchEvent& e : events) {
    const std::string name = e.object["metadata"].value("name", "");
    const PodState st = state_of(e.object);
    absl::StrAppend(&trace, kube::WatchEventTypeName(e.type), " ", name, " uid=", st.uid,
                    " ready=", st.ready, " terminating=", st.terminating, "\n");
    const bool going = e.type == kube::WatchEventType::kDeleted || st.terminating;
    if (going && removed_uids.contains(st.uid) && seen_going.insert(st.uid).second) {
      for (const auto& [other, other_state] : live) {
        if (other == name) continue;
        EXPECT_TRUE(other_state.ready && !other_state.terminating)
            << name << " went down while " << other << " was "
            << (other_state.terminating ? "terminating" : "not ready (migrating)");
      }
    }
    if (e.type == kube::WatchEventType::kDeleted) {
      live.erase(name);
    } else {
      live[name] = st;
    }
  }
  EXPECT_EQ(seen_going.size(), 3u) << trace;
  EXPECT_THAT(removed, ElementsAre("aerospike-wide-4", "aerospike-wide-3", "aerospike-wide-2"))
      << trace;
  EXPECT_GE(migrations.load(), 3) << trace;
}

}  // namespace
}  // namespace senren::regional::controller
