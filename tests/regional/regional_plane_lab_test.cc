// The regional plane in-process against a real lab cluster and the lab's Kafka: the test
// plays the snapshot projector (produces RegionalStates to a unique topic prefix) and the
// controller (writes .status), in a namespace of its own.
#include <gtest/gtest.h>

#include <filesystem>

#include "regional/plane/convert.h"
#include "regional/plane/outbox_relay.h"
#include "regional/plane/regional_plane.h"
#include "regional/plane/snapshot_source.h"
#include "regional/plane/state_cache.h"
#include "regional/plane/status_outbox.h"
#include "regional_lab.h"

namespace senren::regional::plane {
namespace {

namespace fs = std::filesystem;
using lab::Aerospike;
using lab::Eventually;
using lab::Redis;
using lab::State;

class RegionalPlaneLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& env = senren::testing::Lab();
    region_ = env.clusters[0].region;
    cluster_ = env.clusters[0].cluster;
    prefix_ = senren::testing::UniqueName("rplane");
    client_ = lab::LabClient(0);
    ns_ = std::make_unique<lab::ScopedNamespace>(client_.get(), senren::testing::UniqueName("rp"));
    states_ = std::make_unique<lab::StateProducer>(prefix_);
    dir_ = fs::temp_directory_path() / senren::testing::UniqueName("rplane-data");
    fs::create_directories(dir_);
    ASSERT_TRUE(kafka::EnsureTopic({env.kafka_brokers},
                                   {prefix_ + "-status", 12, 1, {{"cleanup.policy", "compact"}}})
                    .ok());
    StartPlane();
  }

  void StartPlane() {
    const auto& env = senren::testing::Lab();
    RocksDbStateCacheOptions co;
    co.path = (dir_ / "cache").string();
    auto cache = RocksDbStateCache::Open(co);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = std::move(*cache);
    auto outbox = SqliteStatusOutbox::Open((dir_ / "outbox.sqlite").string());
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    outbox_ = std::move(*outbox);
    auto producer = kafka::Producer::Create({env.kafka_brokers});
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(*producer);
    relay_ = std::make_unique<OutboxRelay>(outbox_.get(), producer_.get(),
                                           OutboxRelayOptions{prefix_ + "-status"});
    relay_->Start();
    source_ = std::make_unique<KafkaSnapshotSource>(kafka::Connection{env.kafka_brokers},
                                                    prefix_ + "-state", region_);
    source_->RequireSignatures(states_->verifier());
    RegionalPlaneOptions o;
    o.region = region_;
    o.cluster = cluster_;
    o.ns = ns_->name();
    o.heartbeat_interval = std::chrono::seconds(1);
    o.resync_interval = std::chrono::seconds(120);  // drift must be fixed by the watch
    plane_ = std::make_unique<RegionalPlane>(o, client_.get(), source_.get(), cache_.get(),
                                             outbox_.get(), [this] { relay_->Notify(); });
    ASSERT_TRUE(plane_->Start().ok());
  }

  void TearDown() override {
    if (plane_) plane_->Stop();
    if (relay_) relay_->Stop();
    plane_.reset();
    relay_.reset();
    ns_.reset();
    fs::remove_all(dir_);
  }

  std::optional<Json> Get(const std::string& name,
                          const kube::Resource& r = kube::resources::RedisDatabases()) {
    auto got = client_->Get(r, ns_->name(), name);
    if (!got.ok()) return std::nullopt;
    return *got;
  }

  std::string region_, cluster_, prefix_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<lab::ScopedNamespace> ns_;
  std::unique_ptr<lab::StateProducer> states_;
  fs::path dir_;
  std::unique_ptr<RocksDbStateCache> cache_;
  std::unique_ptr<SqliteStatusOutbox> outbox_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<KafkaSnapshotSource> source_;
  std::unique_ptr<RegionalPlane> plane_;
};

TEST_F(RegionalPlaneLabTest, SnapshotsBecomeCrsUpdatesAndDeletesNeverTouchingOthers) {
  // A CR of someone else in the same namespace, and garbage on the state topic.
  Json foreign = {{"apiVersion", "senren.io/v1alpha1"},
                  {"kind", "RedisDatabase"},
                  {"metadata", {{"name", "hand-made"}}},
                  {"spec", {{"memoryMb", 32}}}};
  ASSERT_TRUE(client_->Create(kube::resources::RedisDatabases(), ns_->name(), foreign).ok());
  states_->PublishRaw(region_, std::string("\xff\x01 definitely not a RegionalState"));
  states_->PublishRaw(region_, State("gcp:europe-west1", 9, {Redis("x", 64)}).SerializeAsString());

  states_->Publish(
      State(region_, 1, {Redis("sessions", 512), Redis("cache", 64), Aerospike("profiles", 2)}));
  ASSERT_TRUE(plane_->WaitForVersion(1, absl::Seconds(30)));
  auto sessions = Get("sessions");
  ASSERT_TRUE(sessions.has_value());
  EXPECT_EQ((*sessions)["spec"]["memoryMb"], 512);
  EXPECT_EQ((*sessions)["spec"]["replicas"], 1);  // the CRD default
  EXPECT_EQ((*sessions)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "senren");
  EXPECT_EQ((*sessions)["metadata"]["labels"]["senren.io/region"], RegionLabelValue(region_));
  EXPECT_EQ((*sessions)["metadata"]["annotations"]["senren.io/state-version"], "1");
  EXPECT_EQ((*sessions)["metadata"]["annotations"]["senren.io/region"], region_);
  bool ours = false;
  for (const auto& mf : (*sessions)["metadata"]["managedFields"]) {
    ours |= mf.value("manager", "") == "senren-regional" && mf.value("operation", "") == "Apply";
  }
  EXPECT_TRUE(ours) << (*sessions)["metadata"]["managedFields"].dump();
  auto profiles = Get("profiles", kube::resources::AerospikeClusters());
  ASSERT_TRUE(profiles.has_value());
  EXPECT_EQ((*profiles)["spec"]["namespaces"][0]["replicationFactor"], 1);
  EXPECT_EQ(plane_->stats().bad_messages, 2);

  states_->Publish(State(region_, 2, {Redis("sessions", 1024), Aerospike("profiles", 2)}));
  ASSERT_TRUE(plane_->WaitForVersion(2, absl::Seconds(30)));
  EXPECT_EQ((*Get("sessions"))["spec"]["memoryMb"], 1024);
  EXPECT_EQ((*Get("sessions"))["metadata"]["annotations"]["senren.io/state-version"], "2");
  EXPECT_TRUE(Eventually([&] { return !Get("cache").has_value(); }));
  auto hand = Get("hand-made");
  ASSERT_TRUE(hand.has_value());
  EXPECT_EQ((*hand)["spec"]["memoryMb"], 32);
  EXPECT_FALSE((*hand)["metadata"].contains("labels"));

  // Re-publishing an applied version changes nothing.
  const int64_t applies = plane_->stats().applies;
  states_->Publish(State(region_, 2, {}));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(Get("sessions").has_value());
  EXPECT_EQ(plane_->stats().applies, applies);

  auto history = cache_->History(10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].version, 2u);
  EXPECT_EQ((*history)[0].deleted, 1u);
  EXPECT_EQ((*history)[0].result, v1::APPLY_RESULT_APPLIED);
}

// Removing the managed-by label takes a CR out of Senren's hands, though it keeps our region
// label and annotations: later versions that change it or drop it never write or delete it.
TEST_F(RegionalPlaneLabTest, CrWithoutTheManagedByLabelIsNeverWrittenOrDeleted) {
  states_->Publish(State(region_, 1, {Redis("kept", 64), Redis("gone", 64), Redis("other", 64)}));
  ASSERT_TRUE(plane_->WaitForVersion(1, absl::Seconds(30)));
  for (const std::string name : {"kept", "gone"}) {
    Json cr = *Get(name);
    cr["metadata"]["labels"].erase("app.kubernetes.io/managed-by");
    ASSERT_TRUE(client_->Update(kube::resources::RedisDatabases(), ns_->name(), cr).ok());
  }
  // The plane has seen the edit once it refuses the desired names held by unmanaged CRs.
  ASSERT_TRUE(Eventually([&] {
    const v1::ClusterReport r = plane_->BuildReport();
    return r.result() == v1::APPLY_RESULT_PARTIAL &&
           r.reason().find("RedisDatabase/kept") != std::string::npos &&
           r.reason().find("RedisDatabase/gone") != std::string::npos;
  })) << plane_->BuildReport().reason();
  const Json kept = *Get("kept");
  const Json gone = *Get("gone");

  states_->Publish(State(region_, 2, {Redis("kept", 128), Redis("gone", 64), Redis("other", 64)}));
  ASSERT_TRUE(plane_->WaitForVersion(2, absl::Seconds(30)));
  states_->Publish(State(region_, 3, {Redis("kept", 128)}));
  ASSERT_TRUE(plane_->WaitForVersion(3, absl::Seconds(30)));
  EXPECT_TRUE(Eventually([&] { return !Get("other").has_value(); }))
      << "a managed CR the snapshot dropped is deleted";
  ASSERT_TRUE(Get("kept").has_value());
  ASSERT_TRUE(Get("gone").has_value()) << "a detached CR was deleted";
  EXPECT_EQ(*Get("kept"), kept) << "a detached CR was written";
  EXPECT_EQ(*Get("gone"), gone) << "a detached CR was written";
  EXPECT_NE(plane_->BuildReport().reason().find("RedisDatabase/kept"), std::string::npos);
}

TEST_F(RegionalPlaneLabTest, StatusAndClusterReportsReachTheStatusTopic) {
  states_->Publish(State(region_, 1, {Redis("sessions", 512)}));
  ASSERT_TRUE(plane_->WaitForVersion(1, absl::Seconds(30)));
  // Play senren-controller: write .status through the status subresource.
  Json cr = *Get("sessions");
  cr["status"] = {{"ready", true},
                  {"host", "sessions." + ns_->name() + ".svc.cluster.local"},
                  {"readHost", "sessions-read." + ns_->name() + ".svc.cluster.local"},
                  {"port", 6379},
                  {"phase", "Ready"},
                  {"readyReplicas", 1},
                  {"observedGeneration", cr["metadata"]["generation"]}};
  ASSERT_TRUE(client_->UpdateStatus(kube::resources::RedisDatabases(), ns_->name(), cr).ok());

  lab::StatusReader reader(prefix_);
  const std::string key = region_ + "/" + cluster_ + "/RedisDatabase/sessions";
  const std::string report_key = region_ + "/" + cluster_;
  ASSERT_TRUE(reader.WaitFor([&](const auto& latest) {
    auto s = latest.find(key);
    auto r = latest.find(report_key);
    if (s == latest.end() || !s->second || r == latest.end() || !r->second) return false;
    v1::ResourceStatus status;
    v1::ClusterReport report;
    return status.ParseFromString(*s->second) && status.ready() && status.port() == 6379 &&
           report.ParseFromString(*r->second) && report.applied_version() == 1 &&
           report.resources_ready() == 1;
  })) << "no ready status / report on "
      << prefix_ << "-status";
  v1::ResourceStatus status;
  ASSERT_TRUE(status.ParseFromString(*reader.latest().at(key)));
  EXPECT_EQ(status.host(), "sessions." + ns_->name() + ".svc.cluster.local");
  EXPECT_EQ(status.read_host(), "sessions-read." + ns_->name() + ".svc.cluster.local");
  EXPECT_EQ(status.phase(), v1::PHASE_READY);
  EXPECT_EQ(status.state_version(), 1u);
  EXPECT_EQ(status.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  v1::ClusterReport report;
  ASSERT_TRUE(report.ParseFromString(*reader.latest().at(report_key)));
  EXPECT_EQ(report.result(), v1::APPLY_RESULT_APPLIED);
  EXPECT_EQ(report.resources_total(), 1u);
  EXPECT_EQ(report.heartbeat_interval_seconds(), 1u);

  // Heartbeats keep coming.
  const int64_t heartbeat = report.heartbeat_at().seconds();
  ASSERT_TRUE(reader.WaitFor(
      [&](const auto& latest) {
        v1::ClusterReport r;
        return r.ParseFromString(*latest.at(report_key)) && r.heartbeat_at().seconds() > heartbeat;
      },
      std::chrono::seconds(10)));

  // A resource removed by a new version: a tombstone under its key.
  states_->Publish(State(region_, 2, {}));
  ASSERT_TRUE(plane_->WaitForVersion(2, absl::Seconds(30)));
  ASSERT_TRUE(reader.WaitFor([&](const auto& latest) {
    auto s = latest.find(key);
    return s != latest.end() && !s->second.has_value();
  })) << "no tombstone";
  EXPECT_TRUE(Eventually([&] { return *outbox_->Size() == 0; }));  // delivered → deleted
}

TEST_F(RegionalPlaneLabTest, HandDeletedOrEditedCrIsPutBackByTheWatch) {
  states_->Publish(State(region_, 1, {Redis("sessions", 512), Redis("cache", 64)}));
  ASSERT_TRUE(plane_->WaitForVersion(1, absl::Seconds(30)));
  ASSERT_TRUE(client_->Delete(kube::resources::RedisDatabases(), ns_->name(), "cache", {}).ok());
  ASSERT_TRUE(Eventually([&] { return Get("cache").has_value(); }, std::chrono::seconds(5)))
      << "not recreated within 5 s (the resync is 120 s: the watch must do it)";
  Json s = *Get("sessions");
  s["spec"]["memoryMb"] = 2048;
  ASSERT_TRUE(client_->Update(kube::resources::RedisDatabases(), ns_->name(), s).ok());
  ASSERT_TRUE(Eventually([&] { return (*Get("sessions"))["spec"]["memoryMb"] == 512; },
                         std::chrono::seconds(5)));
  // The counter moves once the put-back update has returned, which can be just after the CR
  // already reads 512 again: wait for it rather than read it once.
  EXPECT_TRUE(
      Eventually([&] { return plane_->stats().drift_corrections >= 2; }, std::chrono::seconds(5)))
      << "drift_corrections " << plane_->stats().drift_corrections;
  lab::StatusReader reader(prefix_);
  ASSERT_TRUE(reader.WaitFor([&](const auto& latest) {
    auto r = latest.find(region_ + "/" + cluster_);
    v1::ClusterReport report;
    return r != latest.end() && r->second && report.ParseFromString(*r->second) &&
           report.drift_corrections() >= 2 &&
           report.last_drifted_resource() == "RedisDatabase/sessions";
  }));
}

}  // namespace
}  // namespace senren::regional::plane
