// The status projector and read model on the lab's PostgreSQL and Kafka: status
// messages become GetStatus answers and WatchStatus events, garbage is counted and
// skipped, tombstones remove, and history answers "as it was then".
#include "projections/status_projector.h"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <random>
#include <thread>

#include "kafka/kafka.h"
#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"
#include "pg/session.h"
#include "projections/status_keys.h"
#include "projections/status_read_model.h"
#include "senren/v1/status.pb.h"
#include "testing/test_schema.h"

namespace senren::projections {
namespace {

// Protobuf's TimeUtil::GetCurrentTime() has whole seconds only.
google::protobuf::Timestamp NowTimestamp() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kRegion[] = "aws:us-east-1";

class StatusProjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& lab = testing::Lab();
    prefix_ = testing::UniqueName("status");
    store_ = schema_.Store();
    v1::ApplyStateRequest apply;
    apply.set_region(kRegion);
    auto* r = apply.add_resources();
    r->set_name("sessions");
    r->mutable_redis_database()->set_memory_mb(64);
    ASSERT_TRUE(store_->ApplyState(apply, {}).ok());

    StatusProjectorOptions po;
    po.postgres_uri = lab.postgres_uri;
    po.schema = schema_.name();
    po.kafka = {lab.kafka_brokers};
    po.topic_prefix = prefix_;
    po.partitions = 3;
    auto projector = StatusProjector::Create(po, &hub_);
    ASSERT_TRUE(projector.ok());
    projector_ = std::move(*projector);
    ASSERT_TRUE(projector_->Start().ok());
    auto model = NewPgStatusReadModel({lab.postgres_uri, schema_.name(), 2}, &hub_);
    ASSERT_TRUE(model.ok());
    model_ = std::move(*model);
    auto producer = kafka::Producer::Create({lab.kafka_brokers});
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(*producer);
  }

  void TearDown() override { projector_->Stop(); }

  void Send(const std::string& key, const std::optional<std::string>& value) {
    ASSERT_TRUE(
        producer_
            ->Produce({StatusTopic(prefix_), key, value, {}},
                      [](const kafka::Delivery& d) { EXPECT_TRUE(d.status.ok()) << d.status; })
            .ok());
    ASSERT_TRUE(producer_->Flush(seconds(10)).ok());
  }

  void SendResource(const std::string& name, bool ready, uint64_t version) {
    v1::ResourceStatus s;
    s.set_region(kRegion);
    s.set_cluster("prod");
    s.set_kind(v1::RESOURCE_KIND_REDIS_DATABASE);
    s.set_name(name);
    s.set_ready(ready);
    s.set_host(name + ".senren.svc.cluster.local");
    s.set_port(6379);
    s.set_phase(ready ? v1::PHASE_READY : v1::PHASE_PROVISIONING);
    s.set_state_version(version);
    *s.mutable_observed_at() = NowTimestamp();
    Send(ResourceStatusKey(kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, name),
         s.SerializeAsString());
  }

  void SendReport(uint64_t applied, uint32_t ready) {
    v1::ClusterReport r;
    r.set_region(kRegion);
    r.set_cluster("prod");
    r.set_applied_version(applied);
    r.set_result(v1::APPLY_RESULT_APPLIED);
    r.set_resources_total(1);
    r.set_resources_ready(ready);
    r.set_heartbeat_interval_seconds(10);
    *r.mutable_heartbeat_at() = NowTimestamp();
    Send(ClusterReportKey(kRegion, "prod"), r.SerializeAsString());
  }

  // Polls GetStatus until pred holds (or 20 s).
  v1::GetStatusResponse WaitStatus(const std::function<bool(const v1::GetStatusResponse&)>& pred) {
    v1::GetStatusRequest req;
    req.set_region(kRegion);
    v1::GetStatusResponse last;
    for (int i = 0; i < 400; ++i) {
      auto got = model_->GetStatus(req);
      EXPECT_TRUE(got.ok()) << got.status();
      if (got.ok()) {
        last = *got;
        if (pred(last)) return last;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    ADD_FAILURE() << "status never matched; last: " << last.DebugString();
    return last;
  }

  ledger::testing::TestSchema schema_;
  std::string prefix_;
  StatusHub hub_;
  std::unique_ptr<ledger::PgLedgerStore> store_;
  std::unique_ptr<StatusProjector> projector_;
  std::unique_ptr<StatusReadModel> model_;
  std::unique_ptr<kafka::Producer> producer_;
};

TEST_F(StatusProjectorTest, FoldsStatusAndSkipsGarbage) {
  Send("not-a-key", std::string("x"));
  Send(ResourceStatusKey(kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, "sessions"),
       std::string("\xff\xff", 2));
  Send(ClusterReportKey("gcp:nowhere-1", "prod"), std::string("y"));
  SendResource("sessions", true, 1);
  SendReport(1, 1);

  auto status = WaitStatus([](const v1::GetStatusResponse& s) {
    return s.resources_size() == 1 && s.clusters_size() == 1;
  });
  EXPECT_EQ(status.desired_version(), 1u);
  ASSERT_EQ(status.resources_size(), 1);
  EXPECT_TRUE(status.resources(0).ready());
  EXPECT_EQ(status.resources(0).host(), "sessions.senren.svc.cluster.local");
  EXPECT_EQ(status.resources(0).port(), 6379u);
  ASSERT_EQ(status.clusters_size(), 1);
  EXPECT_EQ(status.clusters(0).applied_version(), 1u);
  EXPECT_FALSE(status.clusters(0).stale());
  EXPECT_LT(status.clusters(0).heartbeat_age_seconds(), 60.0);

  auto stats = projector_->Stats();
  EXPECT_EQ(stats.bad_messages, 2u);
  EXPECT_EQ(stats.unknown_region, 1u);

  auto conv = model_->Convergence();
  ASSERT_TRUE(conv.ok());
  ASSERT_EQ(conv->count(kRegion), 1u);
  EXPECT_EQ(conv->at(kRegion).clusters, std::vector<std::string>{"prod"});
  EXPECT_EQ(conv->at(kRegion).converged, 1u);
}

TEST_F(StatusProjectorTest, WatchSeesChangesAndReplaysFromVersion) {
  SendResource("sessions", false, 1);
  WaitStatus([](const v1::GetStatusResponse& s) { return s.resources_size() == 1; });

  auto replay = model_->Watch(kRegion, 1);
  ASSERT_TRUE(replay.ok()) << replay.status();
  auto first = (*replay)->Next(seconds(5));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->resource().name(), "sessions");
  EXPECT_FALSE(first->resource().ready());

  auto live = model_->Watch(kRegion, 0);
  ASSERT_TRUE(live.ok());
  SendResource("sessions", true, 1);
  auto event = (*live)->Next(seconds(20));
  ASSERT_TRUE(event.has_value());
  EXPECT_TRUE(event->resource().ready());
  EXPECT_EQ(event->desired_version(), 1u);

  EXPECT_EQ(model_->Watch("gcp:unknown-1", 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StatusProjectorTest, TombstoneRemovesAndHistoryRemembers) {
  SendResource("sessions", true, 1);
  WaitStatus([](const v1::GetStatusResponse& s) { return s.resources_size() == 1; });
  std::this_thread::sleep_for(milliseconds(50));
  auto before_delete = NowTimestamp();
  std::this_thread::sleep_for(milliseconds(50));
  Send(ResourceStatusKey(kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, "sessions"),
       std::nullopt);
  WaitStatus([](const v1::GetStatusResponse& s) { return s.resources_size() == 0; });

  v1::GetStatusRequest then;
  then.set_region(kRegion);
  *then.mutable_at() = before_delete;
  auto past = model_->GetStatus(then);
  ASSERT_TRUE(past.ok()) << past.status();
  EXPECT_EQ(past->desired_version(), 1u);
  ASSERT_EQ(past->resources_size(), 1);
  EXPECT_TRUE(past->resources(0).ready());

  // A restarted projector resumes after what it folded: history does not grow.
  auto count = [&] {
    auto rows = schema_.Query("SELECT count(*) FROM status_history");
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? (*rows)[0][0].as<int>() : -1;
  };
  const int rows = count();
  projector_->Stop();
  ASSERT_TRUE(projector_->Start().ok());
  SendReport(1, 0);
  WaitStatus([](const v1::GetStatusResponse& s) { return s.clusters_size() == 1; });
  EXPECT_EQ(count(), rows + 1);
}

// 10,000 random and adversarial messages (garbage bytes, keys with invalid UTF-8 or NUL,
// timestamps PostgreSQL cannot store, values of another key, empty keys and values),
// then one good status: it reaches GetStatus and every bad message is counted. Before
// validation, one observed_at of 1e13 s (to_timestamp out of range, SQLSTATE 22008) or
// one tombstone under a key with invalid UTF-8 (22021) aborted the batch's transaction
// and the projector retried it from the same offset forever.
TEST_F(StatusProjectorTest, PoisonMessagesNeverFreezeTheFold) {
  std::mt19937_64 rng(20261202);
  auto bytes = [&rng](size_t max) {
    std::string out(rng() % (max + 1), '\0');
    for (char& c : out) c = static_cast<char>(rng());
    return out;
  };
  const std::string key =
      ResourceStatusKey(kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, "sessions");
  auto status = [](int64_t observed_seconds) {
    v1::ResourceStatus s;
    s.set_region(kRegion);
    s.set_cluster("prod");
    s.set_kind(v1::RESOURCE_KIND_REDIS_DATABASE);
    s.set_name("sessions");
    s.mutable_observed_at()->set_seconds(observed_seconds);
    return s;
  };
  constexpr int kBad = 10000;
  std::atomic<int> delivered{0};
  for (int i = 0; i < kBad; ++i) {
    std::string k;
    std::optional<std::string> v;
    switch (i % 8) {
      case 0:  // garbage
        k = bytes(64);
        v = bytes(256);
        break;
      case 1:  // tombstone under a key with invalid UTF-8 in the cluster
        k = std::string(kRegion) + "/pr\xff" + bytes(4) + "od";
        break;
      case 2:  // tombstone under a resource key with a NUL or invalid UTF-8 in the name
        k = std::string(kRegion) + "/prod/RedisDatabase/s" + std::string(1, '\0') + bytes(3);
        break;
      case 3: {  // observed_at PostgreSQL cannot store
        const int64_t huge[] = {10'000'000'000'000, -62'135'596'801,
                                std::numeric_limits<int64_t>::max(),
                                std::numeric_limits<int64_t>::min(), 253'402'300'800};
        k = key;
        v = status(huge[rng() % 5]).SerializeAsString();
        break;
      }
      case 4: {  // value of another key
        auto s = status(1'764'633'600);
        s.set_name("other-" + std::to_string(i));
        k = key;
        v = s.SerializeAsString();
        break;
      }
      case 5:  // empty key, empty value
        k = "";
        v = std::string();
        break;
      case 6: {  // cluster report with a heartbeat out of range
        v1::ClusterReport r;
        r.set_region(kRegion);
        r.set_cluster("prod");
        r.mutable_heartbeat_at()->set_seconds(-static_cast<int64_t>(rng() % 1'000'000'000'000) - 1);
        k = ClusterReportKey(kRegion, "prod");
        v = r.SerializeAsString();
        break;
      }
      case 7:  // a key of the right shape with garbage parts
        k = bytes(8) + "/" + bytes(8) + "/RedisDatabase/" + bytes(8);
        v = bytes(32);
        break;
    }
    ASSERT_TRUE(producer_
                    ->Produce({StatusTopic(prefix_), k, v, {}},
                              [&delivered](const kafka::Delivery& d) {
                                if (d.status.ok()) ++delivered;
                              })
                    .ok());
  }
  ASSERT_TRUE(producer_->Flush(seconds(60)).ok());
  ASSERT_EQ(delivered, kBad);
  SendResource("sessions", true, 1);

  auto got = WaitStatus([](const v1::GetStatusResponse& s) { return s.resources_size() == 1; });
  ASSERT_EQ(got.resources_size(), 1);
  EXPECT_TRUE(got.resources(0).ready());
  for (int i = 0; i < 400 && projector_->Stats().consumed < kBad + 1; ++i)
    std::this_thread::sleep_for(milliseconds(50));
  auto stats = projector_->Stats();
  EXPECT_EQ(stats.consumed, uint64_t{kBad} + 1);
  EXPECT_EQ(stats.bad_messages, uint64_t{kBad});
  EXPECT_EQ(stats.applied, 1u);
  EXPECT_EQ(stats.unknown_region, 0u);
}

// Two status projectors of one topic: one folds (holds the lock), the other waits; when
// the folding one's session is ended from the server, the other resumes from the stored
// offsets, and history gets no row twice.
TEST_F(StatusProjectorTest, OneOfTwoProjectorsFoldsAndTheOtherTakesOver) {
  for (int i = 0; i < 200 && !projector_->Stats().leader; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(projector_->Stats().leader);
  StatusProjectorOptions po;
  po.postgres_uri = testing::Lab().postgres_uri;
  po.schema = schema_.name();
  po.kafka = {testing::Lab().kafka_brokers};
  po.topic_prefix = prefix_;
  po.partitions = 3;
  auto second = StatusProjector::Create(po, nullptr);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->Start().ok());
  SendResource("sessions", false, 1);
  WaitStatus([](const v1::GetStatusResponse& s) { return s.resources_size() == 1; });
  std::this_thread::sleep_for(milliseconds(1500));  // two lock attempts of the second
  EXPECT_FALSE((*second)->Stats().leader);
  EXPECT_EQ((*second)->Stats().consumed, 0u);

  auto conn = schema_.Connect();
  {
    pg::Transaction n = conn->Begin(pg::TxKind::kNone);
    auto row = n.ExecParams1("SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype "
                             "= 'advisory' AND objsubid = 1 "
                             "AND granted AND database = (SELECT oid FROM pg_database WHERE "
                             "datname = current_database()) "
                             "AND objid = (hashtext($1)::bigint & 4294967295)::oid",
                             "senren_status_projector:" + StatusTopic(prefix_));
    ASSERT_EQ(row[0].as<int>(), 1);
  }
  SendResource("sessions", true, 1);
  auto got = WaitStatus([](const v1::GetStatusResponse& s) {
    return s.resources_size() == 1 && s.resources(0).ready();
  });
  EXPECT_TRUE(got.resources(0).ready());
  auto rows = schema_.Query(
      "SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) FROM status_history");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0][0].as<int>(), 2);
  EXPECT_EQ((*rows)[0][1].as<int>(), 2);
  (*second)->Stop();
}

}  // namespace
}  // namespace senren::projections
