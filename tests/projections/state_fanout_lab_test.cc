// {prefix}-state's partition count on the lab's PostgreSQL and Kafka (docs/design.md §4,
// "Fan-out"): the topic is created with the configured count; a projector started with a
// larger count grows an existing topic, and a leading projector notices a growth made by
// someone else (kafka-topics --alter); either way every region's newest version ends up in
// the partition its key maps to under the new count, where regional planes look for it.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "kafka/kafka.h"
#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"
#include "projections/snapshot_projector.h"
#include "senren/v1/state.pb.h"
#include "testing/test_schema.h"

namespace senren::projections {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

v1::ApplyStateRequest Apply(const std::string& region, int memory_mb) {
  v1::ApplyStateRequest r;
  r.set_region(region);
  r.set_author("test");
  auto* res = r.add_resources();
  res->set_name("db");
  res->mutable_redis_database()->set_memory_mb(memory_mb);
  res->mutable_redis_database()->set_replicas(1);
  return r;
}

kafka::Connection Kafka() { return {testing::Lab().kafka_brokers}; }

// What {prefix}-state holds: per region, the newest version found in each partition.
using Layout = std::map<std::string, std::map<int32_t, uint64_t>>;
// Per region, the partitions holding a tombstone of it.
using Tombstones = std::map<std::string, std::set<int32_t>>;

class StateFanoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prefix_ = testing::UniqueName("fanout");
    store_ = schema_.Store();
  }
  void TearDown() override { kafka::DeleteTopic(Kafka(), StateTopic(prefix_)).IgnoreError(); }

  std::unique_ptr<SnapshotProjector> NewProjector(int partitions) {
    SnapshotProjectorOptions o;
    o.publish_timeout = seconds(2);
    o.lease = milliseconds(500);
    o.lock_retry = milliseconds(200);
    o.partition_check_interval = milliseconds(200);
    o.postgres_uri = testing::Lab().postgres_uri;
    o.schema = schema_.name();
    o.kafka = Kafka();
    o.topic_prefix = prefix_;
    o.partitions = partitions;
    auto p = SnapshotProjector::Create(o, store_.get());
    EXPECT_TRUE(p.ok()) << p.status();
    return std::move(*p);
  }

  // Reads every partition from the beginning until `done(layout)` or 30 s pass.
  Layout ReadUntil(const std::function<bool(const Layout&)>& done,
                   Tombstones* tombstones = nullptr) {
    auto count = kafka::PartitionCount(Kafka(), StateTopic(prefix_));
    EXPECT_TRUE(count.ok()) << count.status();
    auto consumer = kafka::Consumer::Create(Kafka());
    EXPECT_TRUE(consumer.ok());
    std::vector<kafka::PartitionOffset> parts;
    for (int p = 0; p < *count; ++p)
      parts.push_back({StateTopic(prefix_), p, kafka::PartitionOffset::kBeginning});
    EXPECT_TRUE((*consumer)->Assign(parts).ok());
    Layout layout;
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (!done(layout) && std::chrono::steady_clock::now() < deadline) {
      auto m = (*consumer)->Poll(milliseconds(100));
      EXPECT_TRUE(m.ok()) << m.status();
      if (!m.ok() || !*m) continue;
      if (!(*m)->value.has_value()) {
        if (tombstones != nullptr) (*tombstones)[(*m)->key].insert((*m)->partition);
        continue;
      }
      v1::RegionalState s;
      EXPECT_TRUE(s.ParseFromString(*(*m)->value));
      EXPECT_EQ(s.region(), (*m)->key);
      uint64_t& v = layout[s.region()][(*m)->partition];
      v = std::max<uint64_t>(v, s.version());
    }
    return layout;
  }

  // True when every region of `newest` has its newest version in its partition under
  // `count`.
  static bool InPlace(const Layout& layout, const std::map<std::string, uint64_t>& newest,
                      int count) {
    for (const auto& [region, version] : newest) {
      auto it = layout.find(region);
      if (it == layout.end()) return false;
      auto p = it->second.find(kafka::PartitionForKey(region, count));
      if (p == it->second.end() || p->second < version) return false;
    }
    return true;
  }

  // Applies a version to each of `n` regions (two to every third); returns the newest.
  std::map<std::string, uint64_t> ApplyRegions(int n) {
    std::map<std::string, uint64_t> newest;
    for (int i = 0; i < n; ++i) {
      const std::string region = "lab:fanout-" + std::to_string(i);
      EXPECT_TRUE(store_->ApplyState(Apply(region, 64), {}).ok());
      newest[region] = 1;
      if (i % 3 == 0) {
        EXPECT_TRUE(store_->ApplyState(Apply(region, 128), {}).ok());
        newest[region] = 2;
      }
    }
    return newest;
  }

  ledger::testing::TestSchema schema_;
  std::string prefix_;
  std::unique_ptr<ledger::PgLedgerStore> store_;
};

TEST_F(StateFanoutTest, TopicIsCreatedWithTheConfiguredPartitionCount) {
  auto projector = NewProjector(7);
  ASSERT_TRUE(projector->Start().ok());
  auto count = kafka::PartitionCount(Kafka(), StateTopic(prefix_));
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 7);
  const auto newest = ApplyRegions(12);
  const Layout layout = ReadUntil([&](const Layout& l) { return InPlace(l, newest, 7); });
  EXPECT_TRUE(InPlace(layout, newest, 7));
  for (const auto& [region, parts] : layout) {
    for (const auto& [partition, version] : parts) {
      EXPECT_EQ(partition, kafka::PartitionForKey(region, 7)) << region << " v" << version;
    }
  }
  EXPECT_EQ(projector->Stats().partitions, 7);
}

TEST_F(StateFanoutTest, ProjectorStartedWithMorePartitionsGrowsTheTopicAndRepublishesEveryRegion) {
  std::map<std::string, uint64_t> newest;
  {
    auto before = NewProjector(3);
    ASSERT_TRUE(before->Start().ok());
    newest = ApplyRegions(24);
    ASSERT_TRUE(
        InPlace(ReadUntil([&](const Layout& l) { return InPlace(l, newest, 3); }), newest, 3));
    before->Stop();
  }
  // A version applied while no projector runs goes out by the new count too.
  ASSERT_TRUE(store_->ApplyState(Apply("lab:fanout-1", 256), {}).ok());
  newest["lab:fanout-1"] = 2;

  auto after = NewProjector(9);
  ASSERT_TRUE(after->Start().ok());
  auto count = kafka::PartitionCount(Kafka(), StateTopic(prefix_));
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 9);
  Tombstones tombstones;
  auto all_cleared = [&] {
    for (const auto& [region, version] : newest) {
      const int32_t old_p = kafka::PartitionForKey(region, 3);
      if (old_p != kafka::PartitionForKey(region, 9) && tombstones[region].count(old_p) == 0)
        return false;
    }
    return true;
  };
  const Layout layout = ReadUntil(
      [&](const Layout& l) { return InPlace(l, newest, 9) && all_cleared(); }, &tombstones);
  EXPECT_TRUE(InPlace(layout, newest, 9)) << "not every region's newest version is in its "
                                             "partition under 9";
  EXPECT_TRUE(all_cleared()) << "a moved region's old partition got no tombstone";
  int moved = 0;
  for (const auto& [region, parts] : layout) {
    const int32_t old_p = kafka::PartitionForKey(region, 3);
    const int32_t new_p = kafka::PartitionForKey(region, 9);
    if (old_p != new_p) ++moved;
    for (const auto& [partition, version] : parts) {
      EXPECT_TRUE(partition == old_p || partition == new_p)
          << region << " v" << version << " in partition " << partition;
    }
  }
  EXPECT_GE(moved, 10) << "too few regions moved for the test to mean anything";
  EXPECT_EQ(after->Stats().partitions, 9);

  // Fewer asked than the topic has: nothing is taken away.
  after->Stop();
  auto smaller = NewProjector(4);
  ASSERT_TRUE(smaller->Start().ok());
  count = kafka::PartitionCount(Kafka(), StateTopic(prefix_));
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 9);
  for (int i = 0; i < 250 && smaller->Stats().partitions == 0; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(smaller->Stats().partitions, 9);
}

TEST_F(StateFanoutTest, LeadingProjectorFollowsAGrowthMadeByAnotherClient) {
  auto projector = NewProjector(3);
  ASSERT_TRUE(projector->Start().ok());
  auto newest = ApplyRegions(24);
  ASSERT_TRUE(
      InPlace(ReadUntil([&](const Layout& l) { return InPlace(l, newest, 3); }), newest, 3));

  // As kafka-topics --alter --partitions 8.
  auto grown = kafka::GrowPartitions(Kafka(), StateTopic(prefix_), 8);
  ASSERT_TRUE(grown.ok()) << grown.status();
  ASSERT_EQ(*grown, 8);
  for (int i = 0; i < 250 && projector->Stats().partition_changes == 0; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_GE(projector->Stats().partition_changes, 1u);

  // A region that moved, changed after the growth was noticed: its new version goes to the
  // new partition only.
  std::string moved;
  for (const auto& [region, version] : newest) {
    if (kafka::PartitionForKey(region, 3) != kafka::PartitionForKey(region, 8)) moved = region;
  }
  ASSERT_FALSE(moved.empty());
  ASSERT_TRUE(store_->ApplyState(Apply(moved, 512), {}).ok());
  newest[moved] = newest[moved] + 1;

  // Every moved region's old copy gets a tombstone once its new one is confirmed.
  std::map<std::string, int32_t> old_partitions;
  for (const auto& [region, version] : newest) {
    if (kafka::PartitionForKey(region, 3) != kafka::PartitionForKey(region, 8)) {
      old_partitions[region] = kafka::PartitionForKey(region, 3);
    }
  }
  Tombstones tombstones;
  auto all_cleared = [&] {
    for (const auto& [region, partition] : old_partitions) {
      if (tombstones[region].count(partition) == 0) return false;
    }
    return true;
  };
  const Layout layout = ReadUntil(
      [&](const Layout& l) { return InPlace(l, newest, 8) && all_cleared(); }, &tombstones);
  EXPECT_TRUE(InPlace(layout, newest, 8)) << "not every region's newest version is in its "
                                             "partition under 8";
  EXPECT_TRUE(all_cleared()) << "a moved region's old partition got no tombstone";
  for (const auto& [region, parts] : tombstones) {
    for (int32_t partition : parts) {
      EXPECT_NE(partition, kafka::PartitionForKey(region, 8))
          << "a tombstone in " << region << "'s current partition";
    }
  }
  EXPECT_EQ(projector->Stats().tombstones, old_partitions.size());
  auto old_copy = layout.at(moved).find(kafka::PartitionForKey(moved, 3));
  ASSERT_NE(old_copy, layout.at(moved).end());
  EXPECT_LT(old_copy->second, newest[moved]) << "a version made after the growth went to the "
                                                "old partition";
  for (int i = 0; i < 250 && projector->Stats().partitions != 8; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(projector->Stats().partitions, 8);
  EXPECT_TRUE(projector->Stats().leader);
}

}  // namespace
}  // namespace senren::projections
