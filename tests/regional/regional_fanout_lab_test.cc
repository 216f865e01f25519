// The region's partition of {prefix}-state moves when the topic grows (docs/design.md §4,
// "Fan-out"), on a real lab cluster and the lab's Kafka. A running plane must follow its
// region to the new partition, read it to its end before applying anything, and never
// apply a version older than the one the cluster has — even when the new partition holds
// only stale versions of the region, or nothing of it yet. A plane started with a cache
// whose position is in the old partition must not roll back either.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"
#include "projections/snapshot_projector.h"
#include "regional/plane/convert.h"
#include "regional/plane/regional_plane.h"
#include "regional/plane/snapshot_source.h"
#include "regional/plane/state_cache.h"
#include "regional/plane/status_outbox.h"
#include "regional_lab.h"
#include "testing/test_schema.h"

namespace senren::regional::plane {
namespace {

namespace fs = std::filesystem;
using lab::Json;
using lab::Redis;
using lab::State;

constexpr int kOldCount = 2;
constexpr int kNewCount = 6;

// Version v of the region: db-1 … db-v, so applying any older version would delete a CR.
v1::RegionalState Version(const std::string& region, uint64_t v) {
  std::vector<v1::Resource> resources;
  for (uint64_t i = 1; i <= v; ++i) resources.push_back(Redis("db-" + std::to_string(i), 64));
  return State(region, v, std::move(resources));
}

// A region name whose partition under kOldCount differs from the one under kNewCount.
std::string RegionThatMoves() {
  for (;;) {
    std::string region = "lab:" + senren::testing::UniqueName("fanout");
    if (kafka::PartitionForKey(region, kOldCount) != kafka::PartitionForKey(region, kNewCount)) {
      return region;
    }
  }
}

// Plays the snapshot projector with explicit partitions: a stale record can be put in the
// new partition, as an older layout (or a replayed signed snapshot) would have left it.
// Creates {prefix}-state with kOldCount partitions; deletes it when destroyed.
class PartitionedStates {
 public:
  explicit PartitionedStates(std::string topic) : topic_(std::move(topic)) {
    kafka::TopicSpec spec{topic_, kOldCount, 1, {{"cleanup.policy", "compact"}}};
    if (!kafka::EnsureTopic(Connection(), spec).ok()) std::abort();
    auto signer = common::SnapshotSigner::Generate();
    if (!signer.ok()) std::abort();
    signer_ = std::move(*signer);
    auto verifier = common::SnapshotVerifier::FromPems({signer_->PublicKeyPem()});
    if (!verifier.ok()) std::abort();
    verifier_ = std::move(*verifier);
    NewProducer();
  }
  ~PartitionedStates() {
    producer_.reset();
    kafka::DeleteTopic(Connection(), topic_).IgnoreError();
  }

  // Signed as the projector signs; returns the offset it landed at.
  int64_t Publish(const v1::RegionalState& state, int32_t partition) {
    kafka::Record r{
        topic_,
        state.region(),
        state.SerializeAsString(),
        {{"senren-version", std::to_string(state.version())}, {"senren-region", state.region()}}};
    r.partition = partition;
    auto sig = signer_->Sign(*r.value);
    if (!sig.ok()) std::abort();
    r.headers.push_back({common::kSnapshotKeyIdHeader, sig->key_id});
    r.headers.push_back({common::kSnapshotSignatureHeader, sig->signature});
    return Produce(std::move(r));
  }

  // What the projector leaves in a moved region's old partition.
  int64_t PublishTombstone(const std::string& region, int32_t partition) {
    kafka::Record r{topic_, region, std::nullopt, {}};
    r.partition = partition;
    return Produce(std::move(r));
  }

  // As `kafka-topics --alter --partitions`.
  void Grow(int count) {
    auto grown = kafka::GrowPartitions(Connection(), topic_, count);
    ASSERT_TRUE(grown.ok()) << grown.status();
    ASSERT_EQ(*grown, count);
    NewProducer();  // one whose metadata shows the new partitions
  }

  std::shared_ptr<const common::SnapshotVerifier> verifier() const { return verifier_; }

 private:
  int64_t Produce(kafka::Record r) {
    const int32_t partition = r.partition;
    std::atomic<int64_t> offset{-1};
    std::atomic<int32_t> landed{-1};
    if (!producer_
             ->Produce(r,
                       [&](const kafka::Delivery& d) {
                         if (d.status.ok()) {
                           landed = d.partition;
                           offset = d.offset;
                         }
                       })
             .ok()) {
      std::abort();
    }
    if (!producer_->Flush(std::chrono::seconds(10)).ok()) std::abort();
    EXPECT_EQ(landed.load(), partition) << "key " << r.key;
    return offset.load();
  }

  static kafka::Connection Connection() { return {senren::testing::Lab().kafka_brokers}; }
  void NewProducer() {
    producer_.reset();
    auto p = kafka::Producer::Create(Connection());
    if (!p.ok()) std::abort();
    producer_ = std::move(*p);
  }

  const std::string topic_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<common::SnapshotSigner> signer_;
  std::shared_ptr<const common::SnapshotVerifier> verifier_;
};

// Records the namespace's RedisDatabase deletes and decreases of the state-version
// annotation, from a list taken when made.
class CrRecorder {
 public:
  CrRecorder(kube::KubeClient* client, std::string ns) : client_(client), ns_(std::move(ns)) {
    auto list = client_->ListAll(kube::resources::RedisDatabases(), ns_, {});
    if (!list.ok()) std::abort();
    for (const Json& o : list->items) versions_[o["metadata"]["name"]] = StateVersionOf(o);
    thread_ = std::thread([this, rv = list->resource_version] { Run(rv); });
  }
  ~CrRecorder() { Stop(); }
  void Stop() {
    cancel_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> harm() const {
    absl::MutexLock lock(&mu_);
    return harm_;
  }

 private:
  void Run(std::string rv) {
    while (!cancel_.load()) {
      kube::WatchOptions wo;
      wo.resource_version = rv;
      wo.timeout = std::chrono::seconds(60);
      absl::Status s = client_->Watch(
          kube::resources::RedisDatabases(), ns_, wo,
          [&](const kube::WatchEvent& e) {
            const std::string v = e.object["metadata"].value("resourceVersion", "");
            if (!v.empty()) rv = v;
            if (e.type == kube::WatchEventType::kBookmark) return true;
            const std::string name = e.object["metadata"].value("name", "");
            absl::MutexLock lock(&mu_);
            if (e.type == kube::WatchEventType::kDeleted) {
              harm_.push_back("deleted " + name);
              versions_.erase(name);
              return true;
            }
            const uint64_t now = StateVersionOf(e.object);
            auto it = versions_.find(name);
            if (it != versions_.end() && now < it->second) {
              harm_.push_back(name + ": state-version " + std::to_string(it->second) + " → " +
                              std::to_string(now));
            }
            versions_[name] = now;
            return true;
          },
          &cancel_);
      if (absl::IsOutOfRange(s)) {
        absl::MutexLock lock(&mu_);
        harm_.push_back("watch expired (410): events may be missing");
        return;
      }
    }
  }

  kube::KubeClient* const client_;
  const std::string ns_;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> versions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> harm_ ABSL_GUARDED_BY(mu_);
};

struct Plane {
  std::unique_ptr<RocksDbStateCache> cache;
  std::unique_ptr<SqliteStatusOutbox> outbox;
  std::unique_ptr<KafkaSnapshotSource> source;
  std::unique_ptr<RegionalPlane> plane;
};

class RegionalFanoutLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    region_ = RegionThatMoves();
    old_partition_ = kafka::PartitionForKey(region_, kOldCount);
    new_partition_ = kafka::PartitionForKey(region_, kNewCount);
    prefix_ = senren::testing::UniqueName("rfanout");
    client_ = lab::LabClient(0);
    ns_ = std::make_unique<lab::ScopedNamespace>(client_.get(), senren::testing::UniqueName("rf"));
    states_ = std::make_unique<PartitionedStates>(prefix_ + "-state");
    root_ = fs::temp_directory_path() / senren::testing::UniqueName("rfanout-data");
  }
  void TearDown() override {
    StopPlanes();
    ns_.reset();
    states_.reset();
    fs::remove_all(root_);
  }
  void StopPlanes() {
    for (auto& p : planes_) {
      if (p.plane) p.plane->Stop();
    }
    planes_.clear();
  }

  // verify: the plane trusts only states_'s key (the projector of the last test signs none).
  Plane& StartPlane(const std::string& name, bool verify = true,
                    std::chrono::milliseconds partition_check = std::chrono::milliseconds(200)) {
    const auto& env = senren::testing::Lab();
    const fs::path dir = root_ / name;
    fs::create_directories(dir);
    Plane p;
    RocksDbStateCacheOptions co;
    co.path = (dir / "cache").string();
    auto cache = RocksDbStateCache::Open(co);
    if (!cache.ok()) std::abort();
    p.cache = std::move(*cache);
    auto outbox = SqliteStatusOutbox::Open((dir / "outbox.sqlite").string());
    if (!outbox.ok()) std::abort();
    p.outbox = std::move(*outbox);
    p.source = std::make_unique<KafkaSnapshotSource>(kafka::Connection{env.kafka_brokers},
                                                     prefix_ + "-state", region_);
    if (verify) p.source->RequireSignatures(states_->verifier());
    p.source->SetPartitionCheckInterval(partition_check);
    RegionalPlaneOptions o;
    o.region = region_;
    o.cluster = "prod";
    o.ns = ns_->name();
    o.heartbeat_interval = std::chrono::seconds(1);
    p.plane = std::make_unique<RegionalPlane>(o, client_.get(), p.source.get(), p.cache.get(),
                                              p.outbox.get());
    if (!p.plane->Start().ok()) std::abort();
    planes_.push_back(std::move(p));
    return planes_.back();
  }

  bool Exists(const std::string& name) {
    return client_->Get(kube::resources::RedisDatabases(), ns_->name(), name).ok();
  }

  std::string region_, prefix_;
  int32_t old_partition_ = -1, new_partition_ = -1;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<lab::ScopedNamespace> ns_;
  std::unique_ptr<PartitionedStates> states_;
  fs::path root_;
  std::vector<Plane> planes_;
};

// The dangerous order: the old partition holds the region's newest version at offsets the
// new partition never reaches; after the growth the new partition first holds only a stale
// version (v2 < v3), then the projector's republish (v3), then a new version (v4).
TEST_F(RegionalFanoutLabTest, RunningPlaneFollowsItsRegionAndNeverAppliesAnOlderVersion) {
  for (uint64_t v = 1; v <= 3; ++v) states_->Publish(Version(region_, v), old_partition_);
  for (int i = 0; i < 8; ++i) states_->Publish(Version(region_, 3), old_partition_);
  Plane& p = StartPlane("a");
  ASSERT_TRUE(p.plane->WaitForVersion(3, absl::Seconds(60)));
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  ASSERT_EQ(p.source->partition(), old_partition_);
  const int64_t ignored_before = p.plane->stats().old_versions_ignored;

  CrRecorder recorder(client_.get(), ns_->name());
  states_->Grow(kNewCount);
  states_->Publish(Version(region_, 2), new_partition_);  // stale: must never be applied
  ASSERT_TRUE(lab::Eventually([&] { return p.source->partition() == new_partition_; }))
      << "the plane's source did not move to partition " << new_partition_;
  ASSERT_TRUE(lab::Eventually([&] {
    const PlaneStats st = p.plane->stats();
    return st.caught_up && st.old_versions_ignored > ignored_before;
  })) << "the stale version 2 of the new partition was not read";
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(p.plane->stats().applied_version, 3u);
  EXPECT_TRUE(Exists("db-3")) << "version 2 was applied: db-3 is gone";

  // The projector's republish of the newest version, then a new version, in the new partition.
  states_->Publish(Version(region_, 3), new_partition_);
  states_->Publish(Version(region_, 4), new_partition_);
  ASSERT_TRUE(p.plane->WaitForVersion(4, absl::Seconds(60)));
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // room for the watch to deliver
  recorder.Stop();
  EXPECT_TRUE(recorder.harm().empty()) << ::testing::PrintToString(recorder.harm());
  const PlaneStats st = p.plane->stats();
  EXPECT_EQ(st.applied_version, 4u);
  EXPECT_EQ(st.deletes, 0);
  EXPECT_GE(st.old_versions_ignored, ignored_before + 2) << "v2 and the republished v3";
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(Exists("db-" + std::to_string(i))) << i;
  auto history = p.cache->History(100);
  ASSERT_TRUE(history.ok());
  for (const auto& h : *history) EXPECT_NE(h.version, 2u) << "version 2 was reconciled";
}

// The projector republishes a moved region into its new partition and then leaves a
// tombstone in the old one. A plane still reading the old partition takes the tombstone
// for what it is: it deletes nothing, counts no bad message, and follows the region at
// once — its periodic partition check is an hour away here, so only the tombstone can
// move it.
TEST_F(RegionalFanoutLabTest, TheTombstoneInTheOldPartitionMovesThePlaneAtOnce) {
  for (uint64_t v = 1; v <= 3; ++v) states_->Publish(Version(region_, v), old_partition_);
  Plane& p = StartPlane("a", true, std::chrono::hours(1));
  ASSERT_TRUE(p.plane->WaitForVersion(3, absl::Seconds(60)));
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  ASSERT_EQ(p.source->partition(), old_partition_);

  CrRecorder recorder(client_.get(), ns_->name());
  states_->Grow(kNewCount);
  states_->Publish(Version(region_, 3), new_partition_);  // the projector's republish
  states_->Publish(Version(region_, 4), new_partition_);  // and the next version
  states_->PublishTombstone(region_, old_partition_);
  ASSERT_TRUE(p.plane->WaitForVersion(4, absl::Seconds(60)))
      << "the plane did not follow its region after the tombstone; it reads partition "
      << p.source->partition();
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // room for the watch to deliver
  recorder.Stop();
  EXPECT_TRUE(recorder.harm().empty()) << ::testing::PrintToString(recorder.harm());
  EXPECT_EQ(p.source->partition(), new_partition_);
  const PlaneStats st = p.plane->stats();
  EXPECT_EQ(st.bad_messages, 0) << "the projector's tombstone was counted as a bad message";
  EXPECT_EQ(st.deletes, 0);
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(Exists("db-" + std::to_string(i))) << i;
}

// A plane stopped at version 3 with its position in the old partition; while it is down
// the topic grows and the new partition receives only stale versions. Started on that
// cache it treats the position as missing, reads the new partition to its end, keeps
// version 3 and applies the next version when it comes.
TEST_F(RegionalFanoutLabTest, PlaneStartedWithACacheOfTheOldPartitionDoesNotRollBack) {
  for (uint64_t v = 1; v <= 3; ++v) states_->Publish(Version(region_, v), old_partition_);
  {
    Plane& first = StartPlane("a");
    ASSERT_TRUE(first.plane->WaitForVersion(3, absl::Seconds(60)));
    ASSERT_TRUE(first.plane->WaitForIdle(absl::Seconds(30)));
    StopPlanes();
  }
  {
    RocksDbStateCacheOptions co;
    co.path = (root_ / "a" / "cache").string();
    auto cache = RocksDbStateCache::Open(co);
    ASSERT_TRUE(cache.ok()) << cache.status();
    auto cached = (*cache)->Load();
    ASSERT_TRUE(cached.ok() && cached->has_value());
    ASSERT_EQ((*cached)->state.version(), 3u);
    ASSERT_EQ((*cached)->partition, old_partition_);
  }
  states_->Grow(kNewCount);
  // Stale versions at offsets 0, 1, 2 of the new partition: at and after the cached offset
  // (2) taken as if it were this partition's, version 1 would come next.
  states_->Publish(Version(region_, 2), new_partition_);
  states_->Publish(Version(region_, 1), new_partition_);
  states_->Publish(Version(region_, 2), new_partition_);
  states_->Publish(Version(region_, 1), new_partition_);

  CrRecorder recorder(client_.get(), ns_->name());
  Plane& p = StartPlane("a");
  ASSERT_TRUE(lab::Eventually([&] { return p.plane->stats().caught_up; }));
  ASSERT_EQ(p.source->partition(), new_partition_);
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  {
    const PlaneStats st = p.plane->stats();
    EXPECT_EQ(st.applied_version, 3u);
    EXPECT_GE(st.old_versions_ignored, 4) << "every stale version of the new partition";
    EXPECT_EQ(st.deletes, 0);
  }
  states_->Publish(Version(region_, 4), new_partition_);
  ASSERT_TRUE(p.plane->WaitForVersion(4, absl::Seconds(60)));
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  recorder.Stop();
  EXPECT_TRUE(recorder.harm().empty()) << ::testing::PrintToString(recorder.harm());
  EXPECT_EQ(p.plane->stats().deletes, 0);
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(Exists("db-" + std::to_string(i))) << i;
}

// A plane without cache after the move, on a cluster at version 3 (its CRs and its
// applied-version record say so): the new partition holds only version 2. Nothing is
// written until version 4 arrives.
TEST_F(RegionalFanoutLabTest, CachelessPlaneOnTheNewPartitionKeepsTheClustersNewerVersion) {
  for (uint64_t v = 1; v <= 3; ++v) states_->Publish(Version(region_, v), old_partition_);
  {
    Plane& first = StartPlane("a");
    ASSERT_TRUE(first.plane->WaitForVersion(3, absl::Seconds(60)));
    ASSERT_TRUE(first.plane->WaitForIdle(absl::Seconds(30)));
    StopPlanes();
  }
  states_->Grow(kNewCount);
  states_->Publish(Version(region_, 2), new_partition_);

  CrRecorder recorder(client_.get(), ns_->name());
  Plane& p = StartPlane("fresh");
  ASSERT_TRUE(lab::Eventually([&] { return p.plane->stats().caught_up; }));
  ASSERT_EQ(p.source->partition(), new_partition_);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  {
    const PlaneStats st = p.plane->stats();
    EXPECT_EQ(st.applies, 0);
    EXPECT_EQ(st.deletes, 0);
    EXPECT_GE(st.old_versions_ignored, 1);
    EXPECT_TRUE(Exists("db-3"));
  }
  states_->Publish(Version(region_, 4), new_partition_);
  ASSERT_TRUE(p.plane->WaitForVersion(4, absl::Seconds(60)));
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  recorder.Stop();
  EXPECT_TRUE(recorder.harm().empty()) << ::testing::PrintToString(recorder.harm());
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(Exists("db-" + std::to_string(i))) << i;
}

}  // namespace
}  // namespace senren::regional::plane

namespace senren::regional::plane {
namespace {

v1::ApplyStateRequest ApplyOf(const v1::RegionalState& state) {
  v1::ApplyStateRequest r;
  r.set_region(state.region());
  r.set_author("test");
  for (const auto& res : state.resources()) *r.add_resources() = res;
  return r;
}

// The whole path: the ledger's snapshot projector publishes, the topic is grown from
// outside while a plane runs, the projector notices and republishes, the plane follows,
// and the next version applied to the ledger reaches the cluster through the new partition.
TEST_F(RegionalFanoutLabTest, ProjectorAndPlaneMeetInTheNewPartitionAfterAGrowth) {
  ledger::testing::TestSchema schema;
  auto store = schema.Store();
  projections::SnapshotProjectorOptions o;
  o.postgres_uri = senren::testing::Lab().postgres_uri;
  o.schema = schema.name();
  o.kafka = {senren::testing::Lab().kafka_brokers};
  o.topic_prefix = prefix_;
  o.partitions = kOldCount;
  o.publish_timeout = std::chrono::seconds(2);
  o.lease = std::chrono::milliseconds(500);
  o.lock_retry = std::chrono::milliseconds(200);
  o.partition_check_interval = std::chrono::milliseconds(300);
  auto projector = projections::SnapshotProjector::Create(o, store.get());
  ASSERT_TRUE(projector.ok()) << projector.status();
  ASSERT_TRUE((*projector)->Start().ok());
  for (uint64_t v = 1; v <= 3; ++v) {
    auto applied = store->ApplyState(ApplyOf(Version(region_, v)), {});
    ASSERT_TRUE(applied.ok()) << applied.status();
    ASSERT_EQ(applied->version(), v);
  }
  Plane& p = StartPlane("a", /*verify=*/false);
  ASSERT_TRUE(p.plane->WaitForVersion(3, absl::Seconds(60)));
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  ASSERT_EQ(p.source->partition(), old_partition_);

  CrRecorder recorder(client_.get(), ns_->name());
  auto grown = kafka::GrowPartitions(o.kafka, prefix_ + "-state", kNewCount);
  ASSERT_TRUE(grown.ok()) << grown.status();
  ASSERT_TRUE(lab::Eventually([&] { return p.source->partition() == new_partition_; }));
  ASSERT_TRUE(lab::Eventually([&] { return (*projector)->Stats().partitions == kNewCount; }));
  auto applied = store->ApplyState(ApplyOf(Version(region_, 4)), {});
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_TRUE(p.plane->WaitForVersion(4, absl::Seconds(60)));
  ASSERT_TRUE(p.plane->WaitForIdle(absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  recorder.Stop();
  EXPECT_TRUE(recorder.harm().empty()) << ::testing::PrintToString(recorder.harm());
  EXPECT_EQ(p.plane->stats().deletes, 0);
  EXPECT_EQ(p.source->partition(), new_partition_);
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(Exists("db-" + std::to_string(i))) << i;
  EXPECT_GE((*projector)->Stats().partition_changes, 1u);
  StopPlanes();
  (*projector)->Stop();
}

}  // namespace
}  // namespace senren::regional::plane
