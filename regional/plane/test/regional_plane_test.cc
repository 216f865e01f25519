// The reconcile loop against an in-memory apiserver (FakeKubeClient) and in-memory
// snapshot source, cache and outbox.
#include "regional/plane/regional_plane.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>

#include "absl/strings/str_cat.h"
#include "regional/kube/testing/fake_clock.h"
#include "regional/kube/testing/fake_kube_client.h"
#include "regional/plane/testing/fakes.h"
#include "test_util.h"

namespace senren::regional::plane {
namespace {

using kube::testing::FakeClock;
using kube::testing::FakeKubeClient;
using testing::Aerospike;
using testing::FakeSnapshotSource;
using testing::InMemoryStateCache;
using testing::InMemoryStatusOutbox;
using testing::Redis;
using testing::State;

constexpr char kRegion[] = "aws:us-east-1";
// A bound against hangs, not a speed check.
constexpr absl::Duration kWait = absl::Seconds(60);

// A cluster without the AerospikeCluster CRD: every call on that kind is a 404.
class NoAerospikeKube : public FakeKubeClient {
 public:
  absl::StatusOr<kube::ObjectList> List(const kube::Resource& r, const std::string& ns,
                                        const kube::ListOptions& o) override {
    if (r.plural == "aerospikeclusters") return NotFound();
    return FakeKubeClient::List(r, ns, o);
  }
  absl::Status Watch(const kube::Resource& r, const std::string& ns, const kube::WatchOptions& o,
                     const kube::WatchHandler& h, const std::atomic<bool>* cancel) override {
    if (r.plural == "aerospikeclusters") return NotFound();
    return FakeKubeClient::Watch(r, ns, o, h, cancel);
  }
  absl::StatusOr<Json> Apply(const kube::Resource& r, const std::string& ns, const Json& obj,
                             const kube::ApplyOptions& o) override {
    if (r.plural == "aerospikeclusters") return NotFound();
    return FakeKubeClient::Apply(r, ns, obj, o);
  }

 private:
  static absl::Status NotFound() {
    return absl::NotFoundError(
        "HTTP 404 NotFound: the server could not find the requested resource");
  }
};

// The plane's timers (heartbeat, resync, retry backoff, the source's reconnect) run on a
// FakeClock that only the test moves; the tests wait for the plane's threads through the
// fakes (a CR written, a record put) and the plane's own waits (version, stats, idle).
class RegionalPlaneTest : public ::testing::Test {
 protected:
  std::unique_ptr<RegionalPlane> NewPlane(kube::KubeClient* kube = nullptr,
                                          std::function<bool()> may_write = nullptr) {
    RegionalPlaneOptions o;
    o.may_write = std::move(may_write);
    o.region = kRegion;
    o.cluster = "prod";
    o.ns = "senren";
    o.heartbeat_interval = std::chrono::milliseconds(100);
    o.resync_interval = std::chrono::milliseconds(60000);
    o.retry_backoff = std::chrono::milliseconds(50);
    o.poll_timeout = std::chrono::milliseconds(20);
    o.clock = &clock_;
    return std::make_unique<RegionalPlane>(o, kube != nullptr ? kube : &kube_, &source_, &cache_,
                                           &outbox_);
  }

  std::optional<Json> Cr(const std::string& name,
                         const kube::Resource& r = kube::resources::RedisDatabases()) {
    auto got = kube_.Get(r, "senren", name);
    if (!got.ok()) return std::nullopt;
    return *got;
  }

  // The last ClusterReport among `records`.
  static std::optional<v1::ClusterReport> LastReportIn(const std::vector<OutboxRecord>& records) {
    std::optional<v1::ClusterReport> out;
    for (const auto& rec : records) {
      if (rec.key == "aws:us-east-1/prod" && rec.value.has_value()) {
        v1::ClusterReport r;
        if (r.ParseFromString(*rec.value)) out = r;
      }
    }
    return out;
  }
  // The last ClusterReport put in the outbox.
  std::optional<v1::ClusterReport> LastReport() { return LastReportIn(outbox_.All()); }
  // Waits until the last ClusterReport put satisfies `pred`.
  bool ReportEventually(const std::function<bool(const v1::ClusterReport&)>& pred) {
    return outbox_.WaitFor([&](const std::vector<OutboxRecord>& all) {
      auto r = LastReportIn(all);
      return r.has_value() && pred(*r);
    });
  }
  // Waits until `pred`, which reads the cluster, holds.
  bool KubeEventually(const std::function<bool()>& pred) { return kube_.WaitFor(pred); }

  FakeClock clock_;
  FakeKubeClient kube_;
  FakeSnapshotSource source_;
  InMemoryStateCache cache_;
  InMemoryStatusOutbox outbox_;
};

TEST_F(RegionalPlaneTest, SnapshotBecomesLabelledCrsAndANewVersionUpdatesAndDeletes) {
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64), Redis("b", 64), Aerospike("p", 1)}));
  ASSERT_TRUE(plane->WaitForVersion(1, absl::Seconds(5)));
  auto a = Cr("a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "senren");
  EXPECT_EQ((*a)["metadata"]["labels"]["senren.io/region"], "aws.us-east-1");
  EXPECT_EQ((*a)["metadata"]["annotations"]["senren.io/state-version"], "1");
  EXPECT_TRUE(Cr("p", kube::resources::AerospikeClusters()).has_value());

  source_.Push(State(kRegion, 2, {Redis("a", 128), Aerospike("p", 1)}));
  ASSERT_TRUE(plane->WaitForVersion(2, absl::Seconds(5)));
  EXPECT_EQ((*Cr("a"))["spec"]["memoryMb"], 128);
  EXPECT_EQ((*Cr("a"))["metadata"]["annotations"]["senren.io/state-version"], "2");
  EXPECT_FALSE(Cr("b").has_value());
  // Unchanged resources keep the version that last wrote them.
  EXPECT_EQ((*Cr("p", kube::resources::AerospikeClusters()))["metadata"]["annotations"]
                                                            ["senren.io/state-version"],
            "1");

  auto history = cache_.History(10);
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].version, 2u);
  EXPECT_EQ((*history)[0].updated, 1u);
  EXPECT_EQ((*history)[0].deleted, 1u);
  EXPECT_EQ((*history)[1].created, 3u);
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.applied_version() == 2 && r.result() == v1::APPLY_RESULT_APPLIED &&
           r.resources_total() == 2;
  }));
  plane->Stop();
}

TEST_F(RegionalPlaneTest, OlderOrSameVersionAndBadMessagesAreIgnored) {
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 5, {Redis("a", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(5, absl::Seconds(5)));
  source_.PushBad();
  source_.Push(State(kRegion, 4, {}));  // older: must not delete "a"
  source_.Push(State(kRegion, 5, {}));
  source_.Push(State(kRegion, 6, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(6, absl::Seconds(5)));
  EXPECT_TRUE(Cr("a").has_value());
  EXPECT_TRUE(Cr("b").has_value());
  EXPECT_EQ(plane->stats().bad_messages, 1);
  EXPECT_EQ(plane->stats().old_versions_ignored, 2);
  EXPECT_EQ(cache_.History(10)->size(), 2u);
}

TEST_F(RegionalPlaneTest, ASnapshotRefusedForItsSignatureChangesNothingAndIsReportedAtOnce) {
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 5, {Redis("a", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(5, kWait));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  const size_t reports_before = outbox_.All().size();
  // What the real source does with a forged v6 that would delete "a": it never reaches
  // the plane, only its rejection does.
  source_.PushRejected("unsigned", "the snapshot at t/0@1 (version 6) was refused: unsigned");
  // The report goes out without the fake clock moving to the next heartbeat.
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.rejected_snapshots() == 1 &&
           r.last_rejected_snapshot() ==
               "the snapshot at t/0@1 (version 6) was refused: unsigned" &&
           r.applied_version() == 5 && r.result() == v1::APPLY_RESULT_APPLIED;
  }));
  EXPECT_GT(outbox_.All().size(), reports_before);
  source_.PushRejected("bad_signature", "bad");
  ASSERT_TRUE(
      plane->WaitForStats([](const PlaneStats& s) { return s.rejected_snapshots == 2; }, kWait));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  const PlaneStats st = plane->stats();
  EXPECT_EQ(st.applied_version, 5u);
  EXPECT_EQ(st.snapshots_received, 1);
  EXPECT_EQ(st.rejected_by_verdict,
            (std::map<std::string, int64_t>{{"bad_signature", 1}, {"unsigned", 1}}));
  EXPECT_EQ(st.last_rejected_snapshot, "bad");
  EXPECT_TRUE(Cr("a").has_value());
  // The next trusted version applies as usual.
  source_.Push(State(kRegion, 6, {Redis("b", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(6, kWait));
  EXPECT_FALSE(Cr("a").has_value());
  EXPECT_TRUE(Cr("b").has_value());
  plane->Stop();
}

// Version v of a region that grows by one resource per version: r1 … rv.
v1::RegionalState Growing(uint64_t v) {
  std::vector<v1::Resource> resources;
  for (uint64_t i = 1; i <= v; ++i) resources.push_back(Redis("r" + std::to_string(i), 64));
  return State(kRegion, v, std::move(resources));
}

TEST_F(RegionalPlaneTest, CachelessStartAppliesOnlyTheNewestVersionOfTheBacklog) {
  // The cluster is at version 12; the plane lost its cache; the partition holds v1 … v12
  // among other regions' records.
  for (uint64_t i = 1; i <= 12; ++i) {
    Json cr = ResourceToCr(Redis("r" + std::to_string(i), 64), {kRegion, "senren", i, ""});
    ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", cr).ok());
  }
  for (uint64_t v = 1; v <= 12; ++v) {
    source_.Push(Growing(v));
    source_.PushOther();
  }
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  ASSERT_TRUE(plane->WaitForVersion(12, absl::Seconds(5)));
  EXPECT_EQ(kube_.Calls("delete", "redisdatabases"), 0);
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 0);  // already in place
  auto history = cache_.History(100);
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].version, 12u);
  const PlaneStats st = plane->stats();
  EXPECT_TRUE(st.caught_up);
  EXPECT_EQ(st.old_versions_ignored, 11);
  EXPECT_EQ(st.floor_version, 12u);
}

TEST_F(RegionalPlaneTest, NothingIsWrittenWhileCatchingUp) {
  Json a = ResourceToCr(Redis("a", 64), {kRegion, "senren", 5, ""});
  Json b = ResourceToCr(Redis("b", 64), {kRegion, "senren", 5, ""});
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", a).ok());
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", b).ok());
  source_.SetCatchUpEnd(50);  // the partition's end is far behind what arrived so far
  source_.Push(State(kRegion, 1, {}));
  source_.Push(State(kRegion, 2, {Redis("a", 32)}));
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  ASSERT_TRUE(
      plane->WaitForStats([](const PlaneStats& st) { return st.snapshots_received == 2; }, kWait));
  // Whatever those two snapshots would have triggered has run by now.
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 0);
  EXPECT_EQ(kube_.Calls("delete", "redisdatabases"), 0);
  EXPECT_FALSE(plane->stats().caught_up);
  EXPECT_EQ(plane->stats().applied_version, 0u);

  source_.Push(State(kRegion, 6, {Redis("a", 64), Redis("b", 64), Redis("c", 64)}));
  ASSERT_TRUE(
      plane->WaitForStats([](const PlaneStats& st) { return st.snapshots_received == 3; }, kWait));
  for (int i = 3; i < 50; ++i) source_.PushOther();
  ASSERT_TRUE(plane->WaitForVersion(6, absl::Seconds(5)));
  EXPECT_EQ(kube_.Calls("delete", "redisdatabases"), 0);
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 1);  // c; a and b are in place
  EXPECT_EQ((*Cr("a"))["spec"]["memoryMb"], 64);
  EXPECT_TRUE(Cr("c").has_value());
  ASSERT_EQ(cache_.History(10)->size(), 1u);
}

TEST_F(RegionalPlaneTest, AVersionOlderThanTheCrsIsNeverApplied) {
  // No cache, but the cluster's CRs were written by version 9.
  Json a = ResourceToCr(Redis("a", 64), {kRegion, "senren", 9, ""});
  Json b = ResourceToCr(Redis("b", 64), {kRegion, "senren", 4, ""});
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", a).ok());
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", b).ok());
  source_.Push(State(kRegion, 3, {Redis("a", 16)}));  // the newest the partition still has
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  ASSERT_TRUE(plane->WaitForStats([](const PlaneStats& st) { return st.old_versions_ignored == 1; },
                                  kWait));
  EXPECT_EQ(plane->stats().floor_version, 9u);
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 0);
  EXPECT_EQ(kube_.Calls("delete", "redisdatabases"), 0);
  EXPECT_EQ(plane->stats().applied_version, 0u);
  EXPECT_TRUE(cache_.History(10)->empty());

  // The same version as the floor applies (the plane lost its cache right after writing).
  source_.Push(State(kRegion, 9, {Redis("a", 64), Redis("c", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(9, absl::Seconds(5)));
  EXPECT_FALSE(Cr("b").has_value());
  EXPECT_TRUE(Cr("c").has_value());
  EXPECT_EQ(StateVersionOf(*Cr("a")), 9u);
}

TEST_F(RegionalPlaneTest, TheCacheIsAFloorForKafkaAndTheCrsAreAFloorForTheCache) {
  // The cache holds version 7; the plane wrote version 8 to the cluster and died before
  // saving it. Kafka answers only with older versions (a recreated topic).
  CachedSnapshot cached{State(kRegion, 7, {Redis("a", 64)}), 0, 3};
  ASSERT_TRUE(cache_.Save(cached, HistoryEntry{}).ok());
  Json a = ResourceToCr(Redis("a", 64), {kRegion, "senren", 7, ""});
  Json b = ResourceToCr(Redis("b", 64), {kRegion, "senren", 8, ""});
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", a).ok());
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", b).ok());
  source_.Push(State(kRegion, 2, {}));
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  // The cached v7 is refused (it would delete b, added by v8); Kafka's v2 is below both.
  ASSERT_TRUE(plane->WaitForStats(
      [](const PlaneStats& st) {
        return st.caught_up && st.old_versions_ignored == 2 && st.floor_version == 8;
      },
      kWait))
      << plane->stats().old_versions_ignored;
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(kube_.Calls("delete", "redisdatabases"), 0);
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 0);
  EXPECT_TRUE(Cr("b").has_value());

  source_.Push(State(kRegion, 8, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(8, absl::Seconds(5)));
  EXPECT_EQ(kube_.Calls("delete", "redisdatabases"), 0);
  EXPECT_EQ((*cache_.History(1))[0].version, 8u);
}

// The cluster's applied-version record (AppliedRecordName) as another plane left it.
Json AppliedRecord(const std::string& version, bool ours = true) {
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", AppliedRecordName(kRegion)}, {"namespace", "senren"}}},
             {"data", {{"version", version}}}};
  if (ours) {
    cm["metadata"]["labels"] = {{kManagedByLabel, kManagedByValue},
                                {kRegionLabel, RegionLabelValue(kRegion)}};
  }
  return cm;
}

TEST_F(RegionalPlaneTest, TheAppliedRecordIsAFloorWhenNoCrCarriesTheNewestVersion) {
  // This plane cached version 5; another plane then applied version 9, which only deleted
  // b: no CR carries 9, the record does.
  CachedSnapshot cached{State(kRegion, 5, {Redis("a", 64), Redis("b", 64)}), 0, 3};
  ASSERT_TRUE(cache_.Save(cached, HistoryEntry{}).ok());
  ASSERT_TRUE(kube_
                  .Create(kube::resources::RedisDatabases(), "senren",
                          ResourceToCr(Redis("a", 64), {kRegion, "senren", 5, ""}))
                  .ok());
  ASSERT_TRUE(kube_.Create(kube::resources::ConfigMaps(), "senren", AppliedRecord("9")).ok());
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  ASSERT_TRUE(plane->WaitForStats([](const PlaneStats& st) { return st.old_versions_ignored == 1; },
                                  kWait));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(plane->stats().floor_version, 9u);
  EXPECT_EQ(plane->stats().applied_record_version, 9u);
  EXPECT_FALSE(Cr("b").has_value()) << "the cached version 5 put b back";
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 0);
  EXPECT_EQ(kube_.Calls("update", "configmaps"), 0);

  source_.Push(State(kRegion, 9, {Redis("a", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(9, kWait));
  EXPECT_FALSE(Cr("b").has_value());
  EXPECT_EQ(kube_.Calls("update", "configmaps"), 0) << "the record already had 9";
}

TEST_F(RegionalPlaneTest, EachNewVersionRaisesTheAppliedRecordBeforeAnyCrIsWritten) {
  // While the record cannot be written, no CR is.
  kube_.FailAlways("configmaps", absl::UnavailableError("HTTP 503"), "create");
  const kube::Clock::TimePoint t0 = clock_.Now();
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(clock_.BlockUntilWaiting(t0 + std::chrono::milliseconds(50)));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(kube_.Calls("create", "configmaps"), 1);
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 0);
  EXPECT_EQ(plane->stats().applied_version, 0u);
  kube_.ClearFailures();
  clock_.AdvanceTo(t0 + std::chrono::milliseconds(50));  // the retry
  ASSERT_TRUE(plane->WaitForVersion(1, kWait));
  auto record = kube_.Get(kube::resources::ConfigMaps(), "senren", AppliedRecordName(kRegion));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ((*record)["data"]["version"], "1");
  EXPECT_TRUE(IsManagedBy(*record, kRegion));

  // A version that only deletes raises it too.
  source_.Push(State(kRegion, 2, {Redis("a", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(2, kWait));
  EXPECT_FALSE(Cr("b").has_value());
  EXPECT_EQ(StateVersionOf(*Cr("a")), 1u);
  record = kube_.Get(kube::resources::ConfigMaps(), "senren", AppliedRecordName(kRegion));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ((*record)["data"]["version"], "2");
  EXPECT_EQ(plane->stats().applied_record_version, 2u);
}

TEST_F(RegionalPlaneTest, ARecordRaisedBySomeoneElseIsCaughtBeforeAnyCrIsWritten) {
  // The plane skips reading the record before recording a new version over the record it
  // wrote itself; the update is conditional on it. Another plane raises the record to 9 in
  // between (it led for a while and applied 9, which only deleted b), then version 3
  // arrives here: nothing of version 3 may be written.
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(1, kWait));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  // Recording version 2 reads nothing: the record as version 1 wrote it is the basis.
  kube_.FailAlways("configmaps", absl::UnavailableError("HTTP 503"), "get");
  source_.Push(State(kRegion, 2, {Redis("a", 96), Redis("b", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(2, kWait));
  kube_.ClearFailures();
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  const int gets_before_3 = kube_.Calls("get", "configmaps");

  auto record = kube_.Get(kube::resources::ConfigMaps(), "senren", AppliedRecordName(kRegion));
  ASSERT_TRUE(record.ok());
  (*record)["data"]["version"] = "9";
  ASSERT_TRUE(kube_.Update(kube::resources::ConfigMaps(), "senren", *record).ok());
  ASSERT_TRUE(kube_.Delete(kube::resources::RedisDatabases(), "senren", "b", {}).ok());
  ASSERT_TRUE(KubeEventually([&] { return !Cr("b").has_value(); }));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  const int applies = kube_.Calls("apply", "redisdatabases");

  source_.Push(State(kRegion, 3, {Redis("a", 128), Redis("b", 64)}));
  ASSERT_TRUE(
      plane->WaitForStats([](const PlaneStats& st) { return st.snapshots_received == 3; }, kWait));
  // The conditional update fails; the retry reads the record.
  for (int i = 0; i < 60 && plane->stats().floor_version != 9; ++i) {
    ASSERT_TRUE(plane->WaitForIdle(kWait));
    clock_.Advance(std::chrono::seconds(1));
  }
  ASSERT_EQ(plane->stats().floor_version, 9u)
      << "the plane never read the record another writer raised";
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), applies) << "version 3 wrote a CR";
  EXPECT_FALSE(Cr("b").has_value()) << "version 3 rolled back version 9's delete";
  EXPECT_EQ((*Cr("a"))["spec"]["memoryMb"], 96);
  EXPECT_EQ(plane->stats().applied_version, 2u);
  record = kube_.Get(kube::resources::ConfigMaps(), "senren", AppliedRecordName(kRegion));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ((*record)["data"]["version"], "9");
  EXPECT_GT(kube_.Calls("get", "configmaps"), gets_before_3) << "the conflict was not re-read";
}

TEST_F(RegionalPlaneTest, ItsOwnWritesSeenByTheInformersCostNoOtherReconcile) {
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64), Redis("b", 64), Aerospike("p", 1)}));
  ASSERT_TRUE(plane->WaitForVersion(1, kWait));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  source_.Push(State(kRegion, 2, {Redis("a", 96), Redis("b", 96), Aerospike("p", 2)}));
  ASSERT_TRUE(plane->WaitForVersion(2, kWait));
  // Every write's watch event has arrived.
  ASSERT_TRUE(KubeEventually([&] { return StateVersionOf(*Cr("a")) == 2; }));
  ASSERT_TRUE(
      plane->WaitForStats([](const PlaneStats& st) { return st.status_records >= 6; }, kWait));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(plane->stats().reconciles, 2) << "an echo of the plane's own write reconciled again";
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 4);

  // A hand edit still does.
  Json edited = *Cr("b");
  edited["spec"]["memoryMb"] = 32;
  ASSERT_TRUE(kube_.Update(kube::resources::RedisDatabases(), "senren", edited).ok());
  ASSERT_TRUE(KubeEventually([&] { return (*Cr("b"))["spec"]["memoryMb"] == 96; }));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(plane->stats().reconciles, 3);
}

TEST_F(RegionalPlaneTest, AForeignConfigMapHoldingTheRecordsNameIsNeverTouched) {
  const Json foreign = AppliedRecord("not ours", /*ours=*/false);
  ASSERT_TRUE(kube_.Create(kube::resources::ConfigMaps(), "senren", foreign).ok());
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(1, kWait));
  EXPECT_TRUE(Cr("a").has_value()) << "the versions still apply";
  EXPECT_EQ(kube_.Calls("update", "configmaps"), 0);
  EXPECT_EQ(kube_.Calls("apply", "configmaps"), 0);
  auto got = kube_.Get(kube::resources::ConfigMaps(), "senren", AppliedRecordName(kRegion));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"], foreign["data"]);
  EXPECT_FALSE((*got)["metadata"].contains("labels"));
}

TEST_F(RegionalPlaneTest, UnlabelledCrsAreNeverTouched) {
  Json foreign = {{"apiVersion", "senren.io/v1alpha1"},
                  {"kind", "RedisDatabase"},
                  {"metadata", {{"name", "hand-made"}, {"namespace", "senren"}}},
                  {"spec", {{"memoryMb", 16}}}};
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", foreign).ok());
  Json squatter = foreign;
  squatter["metadata"]["name"] = "wanted";
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", squatter).ok());
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("wanted", 64), Redis("mine", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(1, absl::Seconds(5)));
  EXPECT_EQ((*Cr("hand-made"))["spec"]["memoryMb"], 16);
  EXPECT_EQ((*Cr("wanted"))["spec"]["memoryMb"], 16);
  EXPECT_FALSE((*Cr("wanted"))["metadata"].contains("labels"));
  EXPECT_TRUE(Cr("mine").has_value());
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.result() == v1::APPLY_RESULT_PARTIAL &&
           r.reason().find("RedisDatabase/wanted") != std::string::npos;
  }));
  source_.Push(State(kRegion, 2, {}));
  ASSERT_TRUE(plane->WaitForVersion(2, absl::Seconds(5)));
  EXPECT_FALSE(Cr("mine").has_value());
  EXPECT_TRUE(Cr("hand-made").has_value());
  EXPECT_TRUE(Cr("wanted").has_value());
}

// A person detaches a CR the plane made by removing its managed-by label (the region label
// and annotations stay): later versions that change it or drop it never write or delete it.
TEST_F(RegionalPlaneTest, CrDetachedByRemovingTheManagedByLabelIsNeverTouchedAgain) {
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("kept", 64), Redis("gone", 64), Redis("other", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(1, absl::Seconds(5)));
  for (const std::string name : {"kept", "gone"}) {
    Json cr = *Cr(name);
    cr["metadata"]["labels"].erase("app.kubernetes.io/managed-by");
    ASSERT_TRUE(kube_.Update(kube::resources::RedisDatabases(), "senren", cr).ok());
  }
  // The plane has seen the edit once it refuses the desired name held by an unmanaged CR.
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.result() == v1::APPLY_RESULT_PARTIAL &&
           r.reason().find("RedisDatabase/kept") != std::string::npos &&
           r.reason().find("RedisDatabase/gone") != std::string::npos;
  }));
  const Json kept = *Cr("kept");
  const Json gone = *Cr("gone");
  source_.Push(State(kRegion, 2, {Redis("kept", 128), Redis("gone", 64), Redis("other", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(2, absl::Seconds(5)));
  source_.Push(State(kRegion, 3, {Redis("kept", 128)}));
  ASSERT_TRUE(plane->WaitForVersion(3, absl::Seconds(5)));
  EXPECT_FALSE(Cr("other").has_value()) << "a managed CR the snapshot dropped is deleted";
  ASSERT_TRUE(Cr("kept").has_value() && Cr("gone").has_value());
  EXPECT_EQ(*Cr("kept"), kept);
  EXPECT_EQ(*Cr("gone"), gone);
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.applied_version() == 3 && r.result() == v1::APPLY_RESULT_REJECTED &&
           r.reason().find("RedisDatabase/kept") != std::string::npos;
  }));
  plane->Stop();
}

TEST_F(RegionalPlaneTest, NothingIsWrittenOrDeletedWithoutASnapshot) {
  // A labelled CR from an earlier life of the plane; no cache, Kafka silent.
  Json cr = ResourceToCr(Redis("old", 64), {kRegion, "senren", 3, ""});
  ASSERT_TRUE(kube_.Create(kube::resources::RedisDatabases(), "senren", cr).ok());
  source_.FailStart(absl::UnavailableError("no broker"));
  const kube::Clock::TimePoint t0 = clock_.Now();
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  // A second passes: ten heartbeats, each waited for, and the worker with it; the source
  // retries at 0.2 and 0.6 s (its backoff doubles), each retry waited for.
  const auto ms = [t0](int n) { return t0 + std::chrono::milliseconds(n); };
  ASSERT_TRUE(clock_.BlockUntilWaiting(ms(200)));
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(clock_.BlockUntilWaiting(ms(100 * i)));
    clock_.AdvanceTo(ms(100 * i));
    ASSERT_TRUE(plane->WaitForStats(
        [i](const PlaneStats& st) { return st.cluster_reports == i + 1; }, kWait));
    ASSERT_TRUE(plane->WaitForIdle(kWait));
    if (i == 2 || i == 6) {
      ASSERT_TRUE(clock_.BlockUntilWaiting(ms(i == 2 ? 600 : 1400)));
    }
  }
  EXPECT_TRUE(Cr("old").has_value());
  EXPECT_EQ(kube_.Calls("delete", "redisdatabases"), 0);
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 0);
  EXPECT_EQ(source_.starts(), 3);
  // Heartbeats still go out, at version 0, one per interval.
  EXPECT_EQ(plane->stats().cluster_reports, 11);
  auto r = LastReport();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->applied_version(), 0u);
  EXPECT_EQ(r->heartbeat_interval_seconds(), 1u);
}

// A plane without the Lease (may_write false) writes no CR and sends no status, not even a
// heartbeat that would overwrite the leader's ClusterReport; once it leads it applies.
TEST_F(RegionalPlaneTest, NothingIsWrittenOrReportedWithoutTheLease) {
  std::atomic<bool> leading{false};
  const kube::Clock::TimePoint t0 = clock_.Now();
  auto plane = NewPlane(nullptr, [&] { return leading.load(); });
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64)}));
  // The reconcile of version 1 was fenced: it retries after retry_backoff.
  ASSERT_TRUE(clock_.BlockUntilWaiting(t0 + std::chrono::milliseconds(50)));
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  for (int i = 1; i <= 3; ++i) {  // heartbeats, fenced too
    ASSERT_TRUE(clock_.BlockUntilWaiting(t0 + i * std::chrono::milliseconds(100)));
    clock_.AdvanceTo(t0 + i * std::chrono::milliseconds(100));
    ASSERT_TRUE(plane->WaitForStats([i](const PlaneStats& st) { return st.writes_fenced >= i + 2; },
                                    kWait));
  }
  ASSERT_TRUE(plane->WaitForIdle(kWait));
  EXPECT_EQ(kube_.Calls("apply", "redisdatabases"), 0);
  EXPECT_FALSE(Cr("a").has_value());
  EXPECT_TRUE(outbox_.All().empty());
  EXPECT_EQ(plane->stats().applied_version, 0u);
  leading = true;
  clock_.Advance(std::chrono::milliseconds(100));  // the next retry
  ASSERT_TRUE(plane->WaitForVersion(1, kWait));
  EXPECT_TRUE(Cr("a").has_value());
  ASSERT_TRUE(
      ReportEventually([](const v1::ClusterReport& r) { return r.applied_version() == 1; }));
  plane->Stop();
}

TEST_F(RegionalPlaneTest, ManyChangesGoOutConcurrentlyAndALostLeaseStopsTheRest) {
  // 40 CRs with 8 applies in flight: every one is written, stamped with the version.
  std::vector<v1::Resource> resources;
  for (int i = 0; i < 40; ++i) resources.push_back(Redis(absl::StrCat("db-", i), 64));
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, resources));
  ASSERT_TRUE(plane->WaitForVersion(1, kWait));
  for (int i = 0; i < 40; ++i) {
    auto cr = Cr(absl::StrCat("db-", i));
    ASSERT_TRUE(cr.has_value()) << i;
    EXPECT_EQ((*cr)["metadata"]["annotations"]["senren.io/state-version"], "1");
  }
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.applied_version() == 1 && r.result() == v1::APPLY_RESULT_APPLIED;
  }));
  plane->Stop();
  const int applied_before = kube_.Calls("apply", "redisdatabases");

  // The Lease is lost after the 10th write of version 2: the rest is not written, and the
  // version is not taken as applied.
  std::atomic<int> asked{0};
  auto fenced_plane = NewPlane(nullptr, [&] { return asked.fetch_add(1) < 12; });
  ASSERT_TRUE(fenced_plane->Start().ok());
  for (auto& r : resources) r.mutable_redis_database()->set_memory_mb(128);
  source_.Push(State(kRegion, 2, resources));
  ASSERT_TRUE(
      fenced_plane->WaitForStats([](const PlaneStats& st) { return st.writes_fenced > 0; }, kWait));
  ASSERT_TRUE(fenced_plane->WaitForIdle(kWait));
  EXPECT_LT(kube_.Calls("apply", "redisdatabases") - applied_before, 40);
  EXPECT_NE(fenced_plane->stats().applied_version, 2u);
  fenced_plane->Stop();
}

TEST(LeaseNameTest, IsAValidObjectNamePerRegion) {
  EXPECT_EQ(LeaseName("aws:us-east-1"), "senren-regional-aws.us-east-1");
  EXPECT_EQ(LeaseName("gcp:europe-west1"), "senren-regional-gcp.europe-west1");
  EXPECT_EQ(LeaseName("Lab_X:Zone 1!"), "senren-regional-lab-x.zone-1");
  EXPECT_LE(LeaseName(std::string(400, 'a')).size(), 253u);
  EXPECT_EQ(AppliedRecordName("aws:us-east-1"), "senren-regional-aws.us-east-1-applied");
  EXPECT_LE(AppliedRecordName(std::string(400, 'a')).size(), 253u);
}

TEST_F(RegionalPlaneTest, HandDeletedOrEditedCrIsPutBackAndReported) {
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(1, absl::Seconds(5)));
  ASSERT_TRUE(plane->WaitForStats([](const PlaneStats& st) { return st.reconciles >= 1; }, kWait));

  ASSERT_TRUE(kube_.Delete(kube::resources::RedisDatabases(), "senren", "a", {}).ok());
  ASSERT_TRUE(KubeEventually([&] { return Cr("a").has_value(); })) << "not recreated";
  Json b = *Cr("b");
  b["spec"]["memoryMb"] = 4096;
  ASSERT_TRUE(kube_.Update(kube::resources::RedisDatabases(), "senren", b).ok());
  ASSERT_TRUE(KubeEventually([&] { return (*Cr("b"))["spec"]["memoryMb"] == 64; }))
      << "not reverted";
  ASSERT_TRUE(
      plane->WaitForStats([](const PlaneStats& st) { return st.drift_corrections >= 2; }, kWait));
  EXPECT_EQ(plane->stats().last_drifted_resource, "RedisDatabase/b");
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.drift_corrections() >= 2 && r.last_drifted_resource() == "RedisDatabase/b";
  }));
}

TEST_F(RegionalPlaneTest, RestartReconcilesFromTheCacheBeforeKafkaAnswers) {
  {
    auto plane = NewPlane();
    ASSERT_TRUE(plane->Start().ok());
    source_.Push(State(kRegion, 7, {Redis("a", 64)}));
    ASSERT_TRUE(plane->WaitForVersion(7, absl::Seconds(5)));
    plane->Stop();
  }
  ASSERT_TRUE(kube_.Delete(kube::resources::RedisDatabases(), "senren", "a", {}).ok());
  source_.FailStart(absl::UnavailableError("no broker"));
  const kube::Clock::TimePoint t0 = clock_.Now();
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  ASSERT_TRUE(plane->WaitForFirstReconcile(absl::Seconds(5)));
  EXPECT_TRUE(Cr("a").has_value());
  EXPECT_TRUE(plane->stats().first_reconcile_from_cache);
  EXPECT_EQ(plane->stats().applied_version, 7u);
  // The source retries 200 ms after the failed start.
  ASSERT_TRUE(clock_.BlockUntilWaiting(t0 + std::chrono::milliseconds(200)));
  const int starts = source_.starts();  // the first plane's and this one's failed one
  source_.FailStart(absl::OkStatus());
  clock_.AdvanceTo(t0 + std::chrono::milliseconds(200));
  ASSERT_TRUE(plane->WaitForStats([](const PlaneStats& st) { return st.caught_up; }, kWait));
  EXPECT_EQ(source_.starts(), starts + 1);
  ASSERT_TRUE(source_.started_after().has_value());
  EXPECT_EQ(*source_.started_after(), 0);  // resumes after the cached snapshot's offset
}

TEST_F(RegionalPlaneTest, StatusChangesGoToTheOutboxAndGoneResourcesAreTombstoned) {
  auto plane = NewPlane();
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64)}));
  ASSERT_TRUE(plane->WaitForVersion(1, absl::Seconds(5)));
  Json a = *Cr("a");
  a["status"] = {{"ready", true},
                 {"host", "a.senren.svc.cluster.local"},
                 {"port", 6379},
                 {"phase", "Ready"},
                 {"observedGeneration", a["metadata"].value("generation", 1)}};
  ASSERT_TRUE(kube_.UpdateStatus(kube::resources::RedisDatabases(), "senren", a).ok());
  const std::string key = "aws:us-east-1/prod/RedisDatabase/a";
  ASSERT_TRUE(outbox_.WaitFor([&](const std::vector<OutboxRecord>& all) {
    for (const auto& rec : all) {
      v1::ResourceStatus s;
      if (rec.key == key && rec.value && s.ParseFromString(*rec.value) && s.ready() &&
          s.host() == "a.senren.svc.cluster.local" && s.port() == 6379 && s.state_version() == 1) {
        return true;
      }
    }
    return false;
  }));
  // The next heartbeat counts the ready CR.
  clock_.Advance(std::chrono::milliseconds(100));
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.resources_ready() == 1 && r.resources_total() == 1;
  }));
  source_.Push(State(kRegion, 2, {}));
  ASSERT_TRUE(plane->WaitForVersion(2, absl::Seconds(5)));
  ASSERT_TRUE(outbox_.WaitFor([&](const std::vector<OutboxRecord>& all) {
    return std::any_of(all.begin(), all.end(),
                       [&](const OutboxRecord& r) { return r.key == key && !r.value.has_value(); });
  }));
}

TEST_F(RegionalPlaneTest, MissingCrdIsReportedAndTheRestApplies) {
  NoAerospikeKube kube;
  auto plane = NewPlane(&kube);
  ASSERT_TRUE(plane->Start().ok());
  source_.Push(State(kRegion, 1, {Redis("a", 64), Aerospike("p", 1)}));
  ASSERT_TRUE(plane->WaitForVersion(1, absl::Seconds(15)));
  EXPECT_TRUE(kube.Get(kube::resources::RedisDatabases(), "senren", "a").ok());
  ASSERT_TRUE(ReportEventually([](const v1::ClusterReport& r) {
    return r.result() == v1::APPLY_RESULT_PARTIAL &&
           r.reason().find("no CRD for AerospikeCluster") != std::string::npos;
  }));
  EXPECT_EQ((*cache_.History(1))[0].result, v1::APPLY_RESULT_PARTIAL);
  plane->Stop();
}

}  // namespace
}  // namespace senren::regional::plane
