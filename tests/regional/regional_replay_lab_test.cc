// A regional plane that lost its cache, on a real lab cluster and the lab's Kafka: its
// partition still holds many versions of its region (compaction keeps the active segment
// whole) among megabytes of other regions' records. Started without a cache it must read
// up to the partition's end first and put only the newest version in place: replaying the
// old versions would delete, or roll back, every CR added since (docs/design.md §5).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "regional/plane/convert.h"
#include "regional/plane/regional_plane.h"
#include "regional/plane/snapshot_source.h"
#include "regional/plane/state_cache.h"
#include "regional/plane/status_outbox.h"
#include "regional_lab.h"

namespace senren::regional::plane {
namespace {

namespace fs = std::filesystem;
using lab::Json;
using lab::Redis;
using lab::State;

constexpr uint64_t kNewest = 14;

// Version v of the test's region: db-1 … db-v (each version adds one), and the newest
// also grows db-1, so replaying any older version would delete or downgrade something.
v1::RegionalState VersionOfRegion(const std::string& region, uint64_t v) {
  std::vector<v1::Resource> resources;
  resources.push_back(Redis("db-1", v == kNewest ? 128 : 64));
  for (uint64_t i = 2; i <= v; ++i) resources.push_back(Redis("db-" + std::to_string(i), 64));
  return State(region, v, std::move(resources));
}

// Records every event of the namespace's RedisDatabases from a list taken before the plane
// starts: creations, deletes, and decreases of the state-version annotation of a CR.
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
  std::vector<std::string> deletes() const {
    absl::MutexLock lock(&mu_);
    return deletes_;
  }
  std::vector<std::string> decreases() const {
    absl::MutexLock lock(&mu_);
    return decreases_;
  }
  std::vector<std::string> creates() const {
    absl::MutexLock lock(&mu_);
    return creates_;
  }
  size_t events() const {
    absl::MutexLock lock(&mu_);
    return events_;
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
            ++events_;
            if (e.type == kube::WatchEventType::kDeleted) {
              deletes_.push_back(name);
              versions_.erase(name);
              return true;
            }
            const uint64_t now = StateVersionOf(e.object);
            if (e.type == kube::WatchEventType::kAdded) {
              creates_.push_back(name + " at state-version " + std::to_string(now));
            }
            auto it = versions_.find(name);
            if (it != versions_.end() && now < it->second) {
              decreases_.push_back(name + ": " + std::to_string(it->second) + " → " +
                                   std::to_string(now));
            }
            versions_[name] = now;
            return true;
          },
          &cancel_);
      if (absl::IsOutOfRange(s)) {
        // The watch cannot resume: any event may have been missed, so the record is void.
        absl::MutexLock lock(&mu_);
        decreases_.push_back("watch expired (410): events may be missing");
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
  std::vector<std::string> deletes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> decreases_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> creates_ ABSL_GUARDED_BY(mu_);
  size_t events_ ABSL_GUARDED_BY(mu_) = 0;
};

// One plane in-process with its own data dir.
struct Plane {
  std::unique_ptr<RocksDbStateCache> cache;
  std::unique_ptr<SqliteStatusOutbox> outbox;
  std::unique_ptr<KafkaSnapshotSource> source;
  std::unique_ptr<RegionalPlane> plane;
};

class RegionalReplayLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    region_ = "lab:" + senren::testing::UniqueName("replay");
    prefix_ = senren::testing::UniqueName("rreplay");
    client_ = lab::LabClient(0);
    ns_ = std::make_unique<lab::ScopedNamespace>(client_.get(), senren::testing::UniqueName("rr"));
    states_ = std::make_unique<lab::StateProducer>(prefix_);
    root_ = fs::temp_directory_path() / senren::testing::UniqueName("rreplay-data");
  }
  void TearDown() override {
    for (auto& p : planes_) {
      if (p.plane) p.plane->Stop();
    }
    planes_.clear();
    ns_.reset();
    fs::remove_all(root_);
  }

  // Starts a plane on data dir `name`: a fresh one (no cache), or the one a stopped plane
  // left (its cache).
  Plane& StartPlane(const std::string& name) {
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
    p.source->RequireSignatures(states_->verifier());
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

  // Another key's records in the region's partition, as a shared topic has them.
  void PublishOtherRegionRecords(int count, size_t bytes) {
    const int partition = kafka::PartitionForKey(region_, 12);
    std::string key;
    for (int i = 0; key.empty(); ++i) {
      const std::string k = "lab:neighbour-" + std::to_string(i);
      if (kafka::PartitionForKey(k, 12) == partition) key = k;
    }
    std::mt19937_64 rng(42);
    for (int n = 0; n < count; ++n) {
      std::string value(bytes, '\0');
      for (char& c : value) c = static_cast<char>(rng());  // incompressible, like real states
      states_->PublishRaw(key, value);
    }
  }

  std::optional<Json> Get(const std::string& name) {
    auto got = client_->Get(kube::resources::RedisDatabases(), ns_->name(), name);
    if (!got.ok()) return std::nullopt;
    return *got;
  }

  std::string region_, prefix_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<lab::ScopedNamespace> ns_;
  std::unique_ptr<lab::StateProducer> states_;
  fs::path root_;
  std::vector<Plane> planes_;
};

TEST_F(RegionalReplayLabTest, CachelessPlaneReplayingManyVersionsDeletesAndDowngradesNothing) {
  // The partition: v1 … v12, 4 MiB of a neighbour's records, v13, v14, 4 MiB more.
  for (uint64_t v = 1; v <= 12; ++v) states_->Publish(VersionOfRegion(region_, v));
  PublishOtherRegionRecords(16, 256 * 1024);
  states_->Publish(VersionOfRegion(region_, 13));
  states_->Publish(VersionOfRegion(region_, kNewest));
  PublishOtherRegionRecords(16, 256 * 1024);

  // The cluster at the newest version, put there by a plane whose cache is then lost.
  {
    Plane& first = StartPlane("first");
    ASSERT_TRUE(first.plane->WaitForVersion(kNewest, absl::Seconds(60)));
    first.plane->Stop();
    planes_.clear();
    fs::remove_all(root_ / "first");
  }
  std::map<std::string, uint64_t> stamped;  // the CRs' state-version as the cluster has them
  for (uint64_t i = 1; i <= kNewest; ++i) {
    auto cr = Get("db-" + std::to_string(i));
    ASSERT_TRUE(cr.has_value()) << "db-" << i;
    stamped["db-" + std::to_string(i)] = StateVersionOf(*cr);
  }

  CrRecorder recorder(client_.get(), ns_->name());
  Plane& plane = StartPlane("second");
  ASSERT_TRUE(plane.plane->WaitForVersion(kNewest, absl::Seconds(60)));
  // Room for the watch to deliver anything the plane wrote.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  recorder.Stop();

  EXPECT_TRUE(recorder.deletes().empty())
      << "deleted: " << ::testing::PrintToString(recorder.deletes());
  EXPECT_TRUE(recorder.decreases().empty())
      << "state-version decreased: " << ::testing::PrintToString(recorder.decreases());
  EXPECT_EQ(plane.plane->stats().deletes, 0);
  EXPECT_EQ(plane.plane->stats().applies, 0);  // the cluster already had the newest version
  EXPECT_EQ(plane.plane->stats().applied_version, kNewest);
  // Only the newest version was reconciled: the local history has it alone.
  auto history = plane.cache->History(100);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].version, kNewest);
  EXPECT_EQ((*history)[0].deleted, 0u);

  for (uint64_t i = 1; i <= kNewest; ++i) {
    auto cr = Get("db-" + std::to_string(i));
    ASSERT_TRUE(cr.has_value()) << "db-" << i;
    EXPECT_EQ((*cr)["spec"]["memoryMb"], i == 1 ? 128 : 64) << "db-" << i;
    EXPECT_EQ(StateVersionOf(*cr), stamped["db-" + std::to_string(i)]) << "db-" << i;
  }
}

// A hand-over back to a plane with an older cache (docs/reliability.md, the rollback a
// chaos run found): plane "first" applies version 1 and stops; plane "second" applies
// version 2, whose only change is a delete, so no CR carries state-version 2; then "first"
// starts again with version 1 in its cache. The cluster's applied-version record must keep
// it from putting version 1 back, even for the moment before Kafka brings version 2.
TEST_F(RegionalReplayLabTest, HandOverBackToAnOlderCacheRecreatesNothingADeleteOnlyVersionRemoved) {
  states_->Publish(State(region_, 1, {Redis("kept", 64), Redis("dropped", 64)}));
  {
    Plane& first = StartPlane("first");
    ASSERT_TRUE(first.plane->WaitForVersion(1, absl::Seconds(60)));
    first.plane->Stop();
    planes_.clear();  // closes its cache, which stays on disk at version 1
  }
  {
    Plane& second = StartPlane("second");
    ASSERT_TRUE(second.plane->WaitForVersion(1, absl::Seconds(60)));
    states_->Publish(State(region_, 2, {Redis("kept", 64)}));
    ASSERT_TRUE(second.plane->WaitForVersion(2, absl::Seconds(60)));
    EXPECT_EQ(second.plane->stats().deletes, 1);
    second.plane->Stop();
    planes_.clear();
  }
  ASSERT_FALSE(Get("dropped").has_value());
  auto kept = Get("kept");
  ASSERT_TRUE(kept.has_value());
  ASSERT_EQ(StateVersionOf(*kept), 1u) << "version 2 left no stamp on any CR";

  CrRecorder recorder(client_.get(), ns_->name());
  Plane& back = StartPlane("first");
  ASSERT_TRUE(back.plane->WaitForVersion(2, absl::Seconds(60)));
  ASSERT_TRUE(back.plane->WaitForIdle(absl::Seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // room for the watch to deliver
  recorder.Stop();

  EXPECT_TRUE(recorder.creates().empty())
      << "re-created: " << ::testing::PrintToString(recorder.creates());
  EXPECT_TRUE(recorder.deletes().empty())
      << "deleted: " << ::testing::PrintToString(recorder.deletes());
  EXPECT_TRUE(recorder.decreases().empty())
      << "state-version decreased: " << ::testing::PrintToString(recorder.decreases());
  const PlaneStats st = back.plane->stats();
  EXPECT_EQ(st.applies, 0);
  EXPECT_EQ(st.deletes, 0);
  EXPECT_GE(st.old_versions_ignored, 1) << "the cached version 1 was refused";
  EXPECT_EQ(st.applied_version, 2u);
  EXPECT_FALSE(Get("dropped").has_value());
}

}  // namespace
}  // namespace senren::regional::plane
