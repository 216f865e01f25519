// The snapshot projector on the lab's PostgreSQL and Kafka: every region's newest
// version reaches {prefix}-state, in its key's partition, even when a version commits
// late; two projectors never both lead.
#include "projections/snapshot_projector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "common/snapshot_signature.h"
#include "kafka/kafka.h"
#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"
#include "pg/session.h"
#include "senren/v1/state.pb.h"
#include "testing/test_schema.h"

namespace senren::projections {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

v1::ApplyStateRequest Apply(const std::string& region,
                            std::initializer_list<std::pair<std::string, int>> redis) {
  v1::ApplyStateRequest r;
  r.set_region(region);
  r.set_author("test");
  for (const auto& [name, mb] : redis) {
    auto* res = r.add_resources();
    res->set_name(name);
    res->mutable_redis_database()->set_memory_mb(mb);
    res->mutable_redis_database()->set_replicas(1);
  }
  return r;
}

class SnapshotProjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prefix_ = testing::UniqueName("proj");
    store_ = schema_.Store();
  }

  std::unique_ptr<SnapshotProjector> NewProjector(
      std::chrono::milliseconds publish_timeout = seconds(5),
      std::shared_ptr<const common::SnapshotSigner> signer = nullptr) {
    SnapshotProjectorOptions o;
    o.signer = std::move(signer);
    o.publish_timeout = publish_timeout;
    o.lease = milliseconds(500);
    o.lock_retry = milliseconds(200);
    o.postgres_uri = testing::Lab().postgres_uri;
    o.schema = schema_.name();
    o.kafka = {testing::Lab().kafka_brokers};
    o.topic_prefix = prefix_;
    o.partitions = 4;
    auto p = SnapshotProjector::Create(o, store_.get());
    EXPECT_TRUE(p.ok()) << p.status();
    return std::move(*p);
  }

  // Reads {prefix}-state until every region in `want` shows at least its version there.
  std::map<std::string, v1::RegionalState> ReadUntil(const std::map<std::string, uint64_t>& want) {
    auto consumer = kafka::Consumer::Create({testing::Lab().kafka_brokers});
    EXPECT_TRUE(consumer.ok());
    std::vector<kafka::PartitionOffset> parts;
    for (int p = 0; p < 4; ++p)
      parts.push_back({StateTopic(prefix_), p, kafka::PartitionOffset::kBeginning});
    EXPECT_TRUE((*consumer)->Assign(parts).ok());
    std::map<std::string, v1::RegionalState> latest;
    auto done = [&] {
      for (const auto& [region, version] : want) {
        auto it = latest.find(region);
        if (it == latest.end() || it->second.version() < version) return false;
      }
      return true;
    };
    auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      auto m = (*consumer)->Poll(milliseconds(100));
      EXPECT_TRUE(m.ok()) << m.status();
      if (!m.ok() || !*m) continue;
      v1::RegionalState s;
      EXPECT_TRUE(s.ParseFromString(*(*m)->value));
      EXPECT_EQ(s.region(), (*m)->key);
      EXPECT_EQ((*m)->partition, kafka::PartitionForKey((*m)->key, 4));
      EXPECT_EQ((*m)->HeaderValue("senren-version"), std::to_string(s.version()));
      latest[s.region()] = s;
    }
    return latest;
  }

  ledger::testing::TestSchema schema_;
  std::string prefix_;
  std::unique_ptr<ledger::PgLedgerStore> store_;
};

TEST_F(SnapshotProjectorTest, PublishesNewestVersionOfEveryRegion) {
  auto projector = NewProjector();
  ASSERT_TRUE(projector->Start().ok());
  ASSERT_TRUE(store_->ApplyState(Apply("aws:us-east-1", {{"a", 64}}), {}).ok());
  ASSERT_TRUE(store_->ApplyState(Apply("aws:us-east-1", {{"a", 128}, {"b", 64}}), {}).ok());
  ASSERT_TRUE(store_->ApplyState(Apply("gcp:us-central1", {{"c", 32}}), {}).ok());

  auto latest = ReadUntil({{"aws:us-east-1", 2}, {"gcp:us-central1", 1}});
  ASSERT_EQ(latest["aws:us-east-1"].version(), 2u);
  ASSERT_EQ(latest["aws:us-east-1"].resources_size(), 2);
  EXPECT_EQ(latest["aws:us-east-1"].resources(0).redis_database().memory_mb(), 128u);
  EXPECT_EQ(latest["gcp:us-central1"].version(), 1u);

  // Progress is recorded only after Kafka confirmed: eventually both regions are there.
  auto conn = schema_.Connect();
  std::map<std::string, int64_t> progress;
  for (int i = 0; i < 100 && progress.size() < 2; ++i) {
    progress.clear();
    pg::Transaction n = conn->Begin(pg::TxKind::kNone);
    for (const auto& row : n.Exec("SELECT region, published_version FROM snapshot_progress")) {
      progress[row[0].as<std::string>()] = row[1].as<int64_t>();
    }
    if (progress["aws:us-east-1"] != 2) progress.clear();
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(progress["aws:us-east-1"], 2);
  EXPECT_EQ(progress["gcp:us-central1"], 1);
  EXPECT_TRUE(projector->Stats().leader);
}

TEST_F(SnapshotProjectorTest, WithASigningKeyEveryStateIsSignedOverItsExactBytes) {
  auto signer = common::SnapshotSigner::Generate();
  ASSERT_TRUE(signer.ok());
  const std::string key_id = (*signer)->key_id();
  auto verifier = common::SnapshotVerifier::FromPems({(*signer)->PublicKeyPem()});
  ASSERT_TRUE(verifier.ok());
  auto projector = NewProjector(seconds(5), *std::move(signer));
  ASSERT_TRUE(projector->Start().ok());
  ASSERT_TRUE(store_->ApplyState(Apply("aws:signed-1", {{"a", 64}}), {}).ok());
  ASSERT_TRUE(store_->ApplyState(Apply("aws:signed-1", {{"a", 128}}), {}).ok());

  auto consumer = kafka::Consumer::Create({testing::Lab().kafka_brokers});
  ASSERT_TRUE(consumer.ok());
  const int32_t partition = kafka::PartitionForKey("aws:signed-1", 4);
  ASSERT_TRUE((*consumer)
                  ->Assign({{StateTopic(prefix_), partition, kafka::PartitionOffset::kBeginning}})
                  .ok());
  uint64_t newest = 0;
  int verified = 0;
  for (auto deadline = std::chrono::steady_clock::now() + seconds(30);
       newest < 2 && std::chrono::steady_clock::now() < deadline;) {
    auto m = (*consumer)->Poll(milliseconds(100));
    ASSERT_TRUE(m.ok()) << m.status();
    if (!*m) continue;
    const kafka::Message& msg = **m;
    EXPECT_EQ(msg.HeaderValue(common::kSnapshotKeyIdHeader), key_id);
    const common::SignatureCheck check =
        (*verifier)->Verify(*msg.value, msg.HeaderValue(common::kSnapshotKeyIdHeader),
                            msg.HeaderValue(common::kSnapshotSignatureHeader));
    EXPECT_TRUE(check.ok()) << check.detail;
    std::string changed = *msg.value;
    changed.back() ^= 0x01;
    EXPECT_EQ((*verifier)
                  ->Verify(changed, msg.HeaderValue(common::kSnapshotKeyIdHeader),
                           msg.HeaderValue(common::kSnapshotSignatureHeader))
                  .verdict,
              common::SignatureVerdict::kBadSignature);
    v1::RegionalState state;
    ASSERT_TRUE(state.ParseFromString(*msg.value));
    newest = std::max<uint64_t>(newest, state.version());
    ++verified;
  }
  EXPECT_EQ(newest, 2u);
  EXPECT_GE(verified, 1);
}

TEST_F(SnapshotProjectorTest, VersionThatCommitsLateIsStillPublished) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:late-1", {{"x", 64}}), {}).ok());
  auto projector = NewProjector();
  ASSERT_TRUE(projector->Start().ok());
  ReadUntil({{"aws:late-1", 1}});

  // Hold the region's head row: the next apply to it waits, and commits after another
  // region's later apply has been published.
  auto blocker = schema_.Connect();
  pg::Transaction hold = blocker->Begin();
  // FOR NO KEY UPDATE, the lock the ledger's writers take: it holds the next apply back
  // but not the projector's progress insert (its foreign key check takes KEY SHARE, which
  // FOR UPDATE would block until the hold ends).
  hold.Exec("SELECT 1 FROM regions WHERE region = 'aws:late-1' FOR NO KEY UPDATE");
  auto late = std::async(std::launch::async, [&] {
    return store_->ApplyState(Apply("aws:late-1", {{"x", 128}}), {}).ok();
  });
  std::this_thread::sleep_for(milliseconds(200));
  ASSERT_TRUE(store_->ApplyState(Apply("gcp:early-1", {{"y", 64}}), {}).ok());
  ReadUntil({{"gcp:early-1", 1}});
  hold.Commit();
  ASSERT_TRUE(late.get());

  auto latest = ReadUntil({{"aws:late-1", 2}, {"gcp:early-1", 1}});
  EXPECT_EQ(latest["aws:late-1"].version(), 2u);
  EXPECT_EQ(latest["aws:late-1"].resources(0).redis_database().memory_mb(), 128u);
}

TEST_F(SnapshotProjectorTest, OnlyOneOfTwoProjectorsLeads) {
  auto first = NewProjector();
  auto second = NewProjector();
  ASSERT_TRUE(first->Start().ok());
  for (int i = 0; i < 100 && !first->Stats().leader; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(second->Start().ok());
  ASSERT_TRUE(store_->ApplyState(Apply("aws:lead-1", {{"z", 64}}), {}).ok());
  ReadUntil({{"aws:lead-1", 1}});
  EXPECT_TRUE(first->Stats().leader);
  EXPECT_FALSE(second->Stats().leader);
  EXPECT_EQ(second->Stats().published, 0u);

  // The leader goes away: the other takes over and publishes what comes next.
  first->Stop();
  ASSERT_TRUE(store_->ApplyState(Apply("aws:lead-1", {{"z", 128}}), {}).ok());
  auto latest = ReadUntil({{"aws:lead-1", 2}});
  EXPECT_EQ(latest["aws:lead-1"].version(), 2u);
  EXPECT_TRUE(second->Stats().leader);
}

// The lab's broker is stopped while a region is applied four times: the ledger keeps
// accepting, and when the broker is back the projector publishes the newest state, not
// every version. Stops the shared broker for a few seconds: every Kafka client of the lab
// has to ride it out.
TEST_F(SnapshotProjectorTest, BrokerDownLedgerKeepsAcceptingAndNewestStateGoesOut) {
  const auto& lab = testing::Lab();
  auto projector = NewProjector();
  ASSERT_TRUE(projector->Start().ok());
  ASSERT_TRUE(store_->ApplyState(Apply("aws:down-1", {{"a", 64}}), {}).ok());
  ReadUntil({{"aws:down-1", 1}});

  std::ifstream pid_file(lab.lab_dir + "/pids/kafka.pid");
  pid_t pid = 0;
  ASSERT_TRUE(pid_file >> pid) << "no recorded pid of the lab's Kafka";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);  // a crash, and no wait for a controlled shutdown
  for (int i = 0; i < 300 && ::kill(pid, 0) == 0; ++i)
    std::this_thread::sleep_for(milliseconds(100));
  ASSERT_NE(::kill(pid, 0), 0) << "Kafka did not stop";

  for (int mb : {128, 256, 512, 1024}) {
    auto r = store_->ApplyState(Apply("aws:down-1", {{"a", mb}}), {});
    ASSERT_TRUE(r.ok()) << r.status();
    std::this_thread::sleep_for(milliseconds(400));
  }
  std::this_thread::sleep_for(milliseconds(1500));  // the projector gives up waiting and purges
  ASSERT_EQ(
      std::system((std::string(SENREN_SOURCE_DIR) + "/tools/lab up --no-quickstart --no-build >&2")
                      .c_str()),
      0);

  auto latest = ReadUntil({{"aws:down-1", 5}});
  EXPECT_EQ(latest["aws:down-1"].version(), 5u);
  EXPECT_EQ(latest["aws:down-1"].resources(0).redis_database().memory_mb(), 1024u);

  // Which versions reached the topic: 1 before the outage, then the newest only (a
  // publish that was already on the wire when the broker went away may add one).
  auto consumer = kafka::Consumer::Create({lab.kafka_brokers});
  ASSERT_TRUE(consumer.ok());
  const int32_t p = kafka::PartitionForKey("aws:down-1", 4);
  ASSERT_TRUE(
      (*consumer)->Assign({{StateTopic(prefix_), p, kafka::PartitionOffset::kBeginning}}).ok());
  std::vector<uint64_t> versions;
  for (int idle = 0; idle < 20;) {
    auto m = (*consumer)->Poll(milliseconds(100));
    ASSERT_TRUE(m.ok());
    if (!*m) {
      ++idle;
      continue;
    }
    v1::RegionalState s;
    ASSERT_TRUE(s.ParseFromString(*(*m)->value));
    if (s.region() == "aws:down-1") versions.push_back(s.version());
  }
  ASSERT_FALSE(versions.empty());
  EXPECT_EQ(versions.front(), 1u);
  EXPECT_EQ(versions.back(), 5u);
  EXPECT_LE(versions.size(), 3u) << "published every version instead of the newest: "
                                 << ::testing::PrintToString(versions);
  EXPECT_GE(projector->Stats().purges, 1u);
}

// Ends the session holding `key`'s advisory lock from the server side, as a failover or
// a network cut does: the leader is not asked. Returns how many sessions were ended.
int TerminateLockHolder(ledger::testing::TestSchema& schema, const std::string& key) {
  auto conn = schema.Connect();
  pg::Transaction n = conn->Begin(pg::TxKind::kNone);
  auto row = n.ExecParams1(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND "
      "objsubid = 1 "
      "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND objid = (hashtext($1)::bigint & 4294967295)::oid",
      key);
  return row[0].as<int>();
}

// The leader's PostgreSQL session is ended while it publishes a stream of versions of
// several regions; the standby takes over, and once it has published every region again
// (publish timeout + lease after taking over) the topic's last value of each region is
// its newest version, as the ledger says.
TEST_F(SnapshotProjectorTest, LeaderCutMidPublishLeavesNewestVersionLastOnTheTopic) {
  auto first = NewProjector(seconds(2));
  auto second = NewProjector(seconds(2));
  ASSERT_TRUE(first->Start().ok());
  for (int i = 0; i < 200 && !first->Stats().leader; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(first->Stats().leader);
  ASSERT_TRUE(second->Start().ok());

  const std::vector<std::string> regions = {"aws:cut-1", "aws:cut-2", "gcp:cut-3", "gcp:cut-4"};
  std::atomic<bool> stop{false};
  std::atomic<int> applied{0};
  std::thread writer([&] {
    for (int mb = 64; !stop; ++mb) {
      for (const auto& region : regions) {
        if (store_->ApplyState(Apply(region, {{"a", mb}}), {}).ok()) ++applied;
      }
    }
  });
  while (applied < 40) std::this_thread::sleep_for(milliseconds(5));
  ASSERT_EQ(TerminateLockHolder(schema_, "senren_snapshot_projector:" + StateTopic(prefix_)), 1);
  for (int i = 0; i < 500 && !second->Stats().leader; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(second->Stats().leader) << "the standby did not take over";
  while (applied < 120) std::this_thread::sleep_for(milliseconds(5));
  stop = true;
  writer.join();

  std::map<std::string, uint64_t> newest;
  auto rows = schema_.Query("SELECT region, current_version FROM regions");
  ASSERT_TRUE(rows.ok()) << rows.status();
  for (const auto& row : *rows) newest[row[0].as<std::string>()] = row[1].as<uint64_t>();
  ASSERT_EQ(newest.size(), regions.size());
  for (int i = 0; i < 1000 && !second->Stats().republished_after_takeover; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(second->Stats().republished_after_takeover);
  EXPECT_GE(second->Stats().republished, 1u);
  EXPECT_FALSE(first->Stats().leader);

  // Every record of the topic, in order: the last one of each region is its newest.
  ReadUntil(newest);
  auto consumer = kafka::Consumer::Create({testing::Lab().kafka_brokers});
  ASSERT_TRUE(consumer.ok());
  std::vector<kafka::PartitionOffset> parts;
  for (int p = 0; p < 4; ++p)
    parts.push_back({StateTopic(prefix_), p, kafka::PartitionOffset::kBeginning});
  ASSERT_TRUE((*consumer)->Assign(parts).ok());
  std::map<std::string, uint64_t> last;
  for (int idle = 0; idle < 20;) {
    auto m = (*consumer)->Poll(milliseconds(100));
    ASSERT_TRUE(m.ok());
    if (!*m) {
      ++idle;
      continue;
    }
    idle = 0;
    v1::RegionalState s;
    ASSERT_TRUE(s.ParseFromString(*(*m)->value));
    last[s.region()] = s.version();
  }
  EXPECT_EQ(last, newest);
}

}  // namespace
}  // namespace senren::projections
