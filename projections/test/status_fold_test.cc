// StatusFold with fakes: upserts, tombstones, history keyed by position, offsets with the
// batch, bad and unknown messages skipped and counted, a value the database refuses
// skipped alone, and a new leader resuming from the stored offsets.
#include "projections/status_fold.h"

#include <gtest/gtest.h>

#include "projections/status_keys.h"
#include "projections/testing/fakes.h"

namespace senren::projections {
namespace {

using std::chrono::milliseconds;

constexpr char kRegion[] = "aws:us-east-1";
constexpr int64_t kNowMs = 1'764'633'600'000;  // 2025-12-02

std::string Resource(const std::string& name, uint32_t ready_replicas,
                     int64_t observed_seconds = 1'764'633'600) {
  v1::ResourceStatus s;
  s.set_region(kRegion);
  s.set_cluster("prod");
  s.set_kind(v1::RESOURCE_KIND_REDIS_DATABASE);
  s.set_name(name);
  s.set_ready_replicas(ready_replicas);
  s.mutable_observed_at()->set_seconds(observed_seconds);
  return s.SerializeAsString();
}

std::string Report(uint64_t applied, int64_t heartbeat_seconds) {
  v1::ClusterReport r;
  r.set_region(kRegion);
  r.set_cluster("prod");
  r.set_applied_version(applied);
  r.mutable_heartbeat_at()->set_seconds(heartbeat_seconds);
  return r.SerializeAsString();
}

std::string Key(const std::string& name) {
  return ResourceStatusKey(kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, name);
}

class StatusFoldTest : public ::testing::Test {
 protected:
  void SetUp() override { store_.AddRegion(kRegion, 7); }

  std::unique_ptr<StatusFold> NewFold(int batch_max = 500) {
    auto fold =
        std::make_unique<StatusFold>("status", batch_max, &store_, &source_, &hub_, &counters_);
    EXPECT_TRUE(fold->Resume().ok());
    return fold;
  }

  // Steps until the source has nothing more (a bounded number of times).
  void Drain(StatusFold& fold) {
    for (int i = 0; i < 100; ++i) {
      const uint64_t before = counters_.consumed;
      ASSERT_TRUE(fold.Step(milliseconds(0)).ok());
      if (counters_.consumed == before) return;
    }
  }

  testing::FakeStatusStore store_;
  testing::FakeStatusSource source_;
  StatusHub hub_;
  StatusCounters counters_;
};

TEST_F(StatusFoldTest, UpsertsTombstonesHistoryAndOffsetsInOneBatch) {
  auto watch = hub_.Subscribe(kRegion);
  source_.Push(0, Key("sessions"), Resource("sessions", 1), kNowMs);
  source_.Push(0, Key("sessions"), Resource("sessions", 3), kNowMs);
  source_.Push(1, Key("carts"), Resource("carts", 1), kNowMs);
  source_.Push(1, Key("carts"), std::nullopt, kNowMs);
  source_.Push(2, ClusterReportKey(kRegion, "prod"), Report(7, 1'764'633'600), kNowMs);
  auto fold = NewFold();
  ASSERT_TRUE(fold->Step(milliseconds(0)).ok());

  EXPECT_EQ(store_.applies(), 1) << "one transaction for the batch";
  auto resources = store_.Resources();
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources.begin()->second.ready_replicas(), 3u);
  EXPECT_EQ(store_.Clusters().size(), 1u);
  EXPECT_EQ(store_.History().size(), 5u);
  EXPECT_EQ(store_.Offsets().value(), (std::map<int32_t, int64_t>{{0, 2}, {1, 2}, {2, 1}}));
  EXPECT_EQ(counters_.applied, 5u);
  EXPECT_EQ(counters_.bad_messages, 0u);

  // Watchers see each change after the commit, with the region's desired version.
  std::vector<v1::StatusEvent> events;
  while (auto e = watch->Next(milliseconds(0))) events.push_back(*e);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].desired_version(), 7u);
  EXPECT_EQ(events[3].resource_removed(), "prod/RedisDatabase/carts");
  EXPECT_EQ(events[4].cluster().applied_version(), 7u);
}

TEST_F(StatusFoldTest, HeartbeatOnlyReportIsStoredButNotHistory) {
  source_.Push(0, ClusterReportKey(kRegion, "prod"), Report(7, 1'764'633'600), kNowMs);
  source_.Push(0, ClusterReportKey(kRegion, "prod"), Report(7, 1'764'633'610), kNowMs);
  source_.Push(0, ClusterReportKey(kRegion, "prod"), Report(8, 1'764'633'620), kNowMs);
  auto fold = NewFold();
  Drain(*fold);
  EXPECT_EQ(store_.History().size(), 2u);
  EXPECT_EQ(store_.Clusters().begin()->second.heartbeat_at().seconds(), 1'764'633'620);
}

TEST_F(StatusFoldTest, BadMessagesAndUnknownRegionsAreSkippedAndCounted) {
  source_.Push(0, "not-a-key", std::string("x"), kNowMs);
  source_.Push(0, Key("sessions"), std::string("\xff\xff", 2), kNowMs);
  source_.Push(0, std::string("aws:us-east-1/pr\xc3\x28od"), Report(1, 1),
               kNowMs);  // bad UTF-8 in the key
  source_.Push(0, Key("sessions"), Resource("sessions", 1, 10'000'000'000'000),
               kNowMs);                                            // observed_at 1e13 s
  source_.Push(0, Key("sessions"), Resource("other", 1), kNowMs);  // value of another key
  source_.Push(0, ClusterReportKey("gcp:nowhere-1", "prod"), std::string("y"),
               kNowMs);  // unknown region first
  source_.Push(0, ClusterReportKey("gcp:nowhere-1", "prod"), std::nullopt, kNowMs);
  source_.Push(0, ClusterReportKey("gcp:nowhere-1", "shadow"), std::nullopt, kNowMs);
  source_.Push(0, Key("sessions"), Resource("sessions", 2), kNowMs);
  auto fold = NewFold();
  Drain(*fold);
  EXPECT_EQ(counters_.bad_messages, 5u);
  EXPECT_EQ(counters_.unknown_region, 3u);
  EXPECT_EQ(counters_.applied, 1u);
  ASSERT_EQ(store_.Resources().size(), 1u);
  EXPECT_EQ(store_.Resources().begin()->second.ready_replicas(), 2u);
  // Skipped messages move the offset too: a restart does not read them again.
  EXPECT_EQ(store_.Offsets().value(), (std::map<int32_t, int64_t>{{0, 9}}));
}

TEST_F(StatusFoldTest, ValueTheDatabaseRefusesIsSkippedAloneAndTheRestApplied) {
  store_.RefuseIf([](const StatusChange& c) { return c.key.name == "poison"; });
  source_.Push(0, Key("a"), Resource("a", 1), kNowMs);
  source_.Push(0, Key("poison"), Resource("poison", 1), kNowMs);
  source_.Push(1, Key("b"), Resource("b", 1), kNowMs);
  source_.Push(1, "garbage", std::string("z"), kNowMs);
  auto fold = NewFold();
  ASSERT_TRUE(fold->Step(milliseconds(0)).ok());
  EXPECT_EQ(store_.Resources().size(), 2u);
  EXPECT_EQ(counters_.bad_messages, 2u);
  EXPECT_EQ(counters_.one_by_one, 1u);
  EXPECT_EQ(counters_.applied, 2u);
  EXPECT_EQ(store_.Offsets().value(), (std::map<int32_t, int64_t>{{0, 2}, {1, 2}}));

  // The fold goes on past it.
  source_.Push(0, Key("a"), Resource("a", 3), kNowMs);
  ASSERT_TRUE(fold->Step(milliseconds(0)).ok());
  EXPECT_EQ(store_.Offsets().value().at(0), 3);
}

TEST_F(StatusFoldTest, StoreFailureEndsTheTermWithoutMovingOffsets) {
  source_.Push(0, Key("a"), Resource("a", 1), kNowMs);
  auto fold = NewFold();
  store_.FailNext(absl::UnavailableError("connection lost"), 1);
  // The region lookup or the batch fails: nothing stored, the error ends the term.
  EXPECT_EQ(fold->Step(milliseconds(0)).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store_.Offsets().value().empty());
  EXPECT_TRUE(store_.Resources().empty());
}

TEST_F(StatusFoldTest, NewLeaderResumesFromStoredOffsetsAndRedeliveryAddsNothing) {
  source_.Push(0, Key("a"), Resource("a", 1), kNowMs);
  source_.Push(1, Key("b"), Resource("b", 1), kNowMs);
  {
    auto first = NewFold();
    Drain(*first);
  }
  const auto history = store_.History();
  source_.Push(0, Key("a"), Resource("a", 2), kNowMs);

  auto second = NewFold();
  EXPECT_EQ(source_.started_at(), (std::map<int32_t, int64_t>{{0, 1}, {1, 1}}));
  Drain(*second);
  EXPECT_EQ(store_.History().size(), history.size() + 1);
  EXPECT_EQ(counters_.consumed, 3u) << "read a folded message again";

  // Offsets stored behind (a leader that lost its session before the offsets of a
  // folded batch were visible): the redelivery changes nothing in history.
  testing::FakeStatusSource replay;
  replay.Push(0, Key("a"), Resource("a", 1), kNowMs);
  replay.Push(0, Key("a"), Resource("a", 2), kNowMs);
  StatusFold third("status", 500, &store_, &replay, nullptr, &counters_);
  ASSERT_TRUE(replay.Start({}).ok());
  ASSERT_TRUE(third.Step(milliseconds(0)).ok());
  EXPECT_EQ(store_.History().size(), history.size() + 1);
  EXPECT_EQ(store_.Resources()
                .at({kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, "a"})
                .ready_replicas(),
            2u);
}

TEST_F(StatusFoldTest, BatchesAreBoundedByBatchMax) {
  for (int i = 0; i < 7; ++i)
    source_.Push(0, Key("a"), Resource("a", static_cast<uint32_t>(i)), kNowMs);
  auto fold = NewFold(/*batch_max=*/3);
  ASSERT_TRUE(fold->Step(milliseconds(0)).ok());
  EXPECT_EQ(store_.Offsets().value().at(0), 3);
  Drain(*fold);
  EXPECT_EQ(store_.Offsets().value().at(0), 7);
  EXPECT_EQ(store_.applies(), 3);
}

}  // namespace
}  // namespace senren::projections
