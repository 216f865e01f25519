// Status history on the lab's PostgreSQL, through the status projector's store
// (NewPgStatusStore, on a service-role session as the projector's) and GetStatus(at):
// heartbeats of a steady cluster keep it fresh in the past without a row per heartbeat,
// a silence stays stale, and retention keeps what GetStatus(at) needs however old.
// Times are injected through the changes' own timestamps (heartbeat_at, observed_at), as
// the projector takes them from the messages: no sleeps.
#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "ledger/pg_ledger_store.h"
#include "pg/session.h"
#include "projections/status_ports.h"
#include "projections/status_read_model.h"
#include "senren/v1/status.pb.h"
#include "testing/test_schema.h"

namespace senren::projections {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Matcher;

constexpr char kRegion[] = "aws:us-east-1";
constexpr char kTopic[] = "history-status";
constexpr double kDay = 86400;

google::protobuf::Timestamp At(double seconds) {
  return TimeUtil::NanosecondsToTimestamp(std::llround(seconds * 1e9));
}

// Whole seconds, a little in the past: the times the tests build are all before now.
double Now() {
  return std::floor(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

class StatusHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_ = schema_.Store();
    v1::ApplyStateRequest apply;
    apply.set_region(kRegion);
    auto* r = apply.add_resources();
    r->set_name("sessions");
    r->mutable_redis_database()->set_memory_mb(64);
    ASSERT_TRUE(ledger_->ApplyState(apply, {}).ok());
    session_ = schema_.Connect();
    store_ = NewPgStatusStore(session_.get(), kTopic);
    auto model = NewPgStatusReadModel({schema_.uri(), schema_.name(), 2}, nullptr);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
  }

  StatusChange Report(const std::string& cluster, uint64_t applied, double at,
                      uint32_t interval = 10) {
    StatusChange c;
    c.type = StatusChange::Type::kCluster;
    c.topic = kTopic;
    c.offset = next_offset_++;
    c.key = {kRegion, cluster, v1::RESOURCE_KIND_UNSPECIFIED, ""};
    c.at = at;
    c.report.set_region(kRegion);
    c.report.set_cluster(cluster);
    c.report.set_applied_version(applied);
    c.report.set_result(v1::APPLY_RESULT_APPLIED);
    c.report.set_resources_total(1);
    c.report.set_resources_ready(1);
    c.report.set_heartbeat_interval_seconds(interval);
    *c.report.mutable_heartbeat_at() = At(at);
    c.payload = c.report.SerializeAsString();
    return c;
  }

  StatusChange Resource(const std::string& name, bool ready, double at) {
    StatusChange c;
    c.type = StatusChange::Type::kResource;
    c.topic = kTopic;
    c.offset = next_offset_++;
    c.key = {kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, name};
    c.at = at;
    c.resource.set_region(kRegion);
    c.resource.set_cluster("prod");
    c.resource.set_kind(v1::RESOURCE_KIND_REDIS_DATABASE);
    c.resource.set_name(name);
    c.resource.set_ready(ready);
    c.resource.set_state_version(1);
    *c.resource.mutable_observed_at() = At(at);
    c.payload = c.resource.SerializeAsString();
    return c;
  }

  StatusChange Gone(const std::string& name, double at) {
    StatusChange c;
    c.type = StatusChange::Type::kResourceGone;
    c.topic = kTopic;
    c.offset = next_offset_++;
    c.key = {kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, name};
    c.at = at;
    return c;
  }

  StatusChange ClusterGone(const std::string& cluster, double at) {
    StatusChange c;
    c.type = StatusChange::Type::kClusterGone;
    c.topic = kTopic;
    c.offset = next_offset_++;
    c.key = {kRegion, cluster, v1::RESOURCE_KIND_UNSPECIFIED, ""};
    c.at = at;
    return c;
  }

  // Stores `changes` in batches of up to 500, as the projector does.
  void Apply(std::vector<StatusChange> changes) {
    for (size_t i = 0; i < changes.size(); i += 500) {
      StatusBatch batch;
      for (size_t j = i; j < changes.size() && j < i + 500; ++j) {
        batch.next_offsets[0] = changes[j].offset + 1;
        batch.changes.push_back(std::move(changes[j]));
      }
      auto applied = store_->Apply(batch);
      ASSERT_TRUE(applied.ok()) << applied.status();
    }
  }

  // Reports of `cluster` every `interval` seconds from `from` to `to`, both included.
  void Heartbeats(const std::string& cluster, uint64_t applied, double from, double to,
                  uint32_t interval = 10) {
    std::vector<StatusChange> changes;
    for (double t = from; t <= to; t += interval)
      changes.push_back(Report(cluster, applied, t, interval));
    Apply(std::move(changes));
  }

  v1::GetStatusResponse StatusAt(double at) {
    v1::GetStatusRequest req;
    req.set_region(kRegion);
    *req.mutable_at() = At(at);
    auto got = model_->GetStatus(req);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : v1::GetStatusResponse();
  }

  // The one cluster of an answer (fails the test when there is not exactly one).
  v1::ClusterStatus OnlyCluster(const v1::GetStatusResponse& r) {
    EXPECT_EQ(r.clusters_size(), 1) << r.DebugString();
    return r.clusters_size() == 1 ? r.clusters(0) : v1::ClusterStatus();
  }

  int Rows(const std::string& where = "true") {
    auto rows = schema_.Query("SELECT count(*) FROM status_history WHERE " + where);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? (*rows)[0][0].as<int>() : -1;
  }

  ledger::testing::TestSchema schema_;
  std::unique_ptr<ledger::PgLedgerStore> ledger_;
  std::unique_ptr<pg::Session> session_;
  std::unique_ptr<StatusStore> store_;
  std::unique_ptr<StatusReadModel> model_;
  int64_t next_offset_ = 0;
};

// A cluster reporting the same state every 10 s for 10 minutes is fresh at any time in
// those minutes, and stale once its heartbeats stopped; its 61 reports are one row. Before
// heartbeats reached history, GetStatus(at) judged the cluster by the heartbeat of its last
// change only: stale 30 s after it however long the cluster kept beating.
TEST_F(StatusHistoryTest, SteadyClusterIsFreshWhileItBeatAndStaleAfter) {
  const double t0 = Now() - 3600;
  Heartbeats("prod", 1, t0, t0 + 600);
  EXPECT_EQ(Rows(), 1);

  for (double at : {t0, t0 + 45, t0 + 300, t0 + 599.5, t0 + 600, t0 + 629}) {
    SCOPED_TRACE(at - t0);
    auto cluster = OnlyCluster(StatusAt(at));
    EXPECT_FALSE(cluster.stale());
    EXPECT_EQ(cluster.applied_version(), 1u);
    EXPECT_LE(cluster.heartbeat_age_seconds(), 30.0);
    EXPECT_LE(TimeUtil::TimestampToSeconds(cluster.heartbeat_at()), static_cast<int64_t>(at));
  }
  // The heartbeat at t0 + 600 was the last: stale once 3 periods have passed.
  auto silent = OnlyCluster(StatusAt(t0 + 700));
  EXPECT_TRUE(silent.stale());
  EXPECT_NEAR(silent.heartbeat_age_seconds(), 100.0, 0.01);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(silent.heartbeat_at()), static_cast<int64_t>(t0 + 600));
  EXPECT_TRUE(OnlyCluster(StatusAt(t0 + 3000)).stale());
  // Before its first report there is no cluster.
  EXPECT_EQ(StatusAt(t0 - 1).clusters_size(), 0);
}

// Heartbeats that come back after a silence, with nothing else changed, start a row of
// their own, so the silence stays stale in history; a change starts one too.
TEST_F(StatusHistoryTest, SilenceBetweenHeartbeatsStaysStale) {
  const double t0 = Now() - 3600;
  Heartbeats("prod", 1, t0, t0 + 100);
  Heartbeats("prod", 1, t0 + 500, t0 + 600);
  EXPECT_EQ(Rows(), 2);
  EXPECT_FALSE(OnlyCluster(StatusAt(t0 + 100)).stale());
  EXPECT_FALSE(OnlyCluster(StatusAt(t0 + 125)).stale());
  EXPECT_TRUE(OnlyCluster(StatusAt(t0 + 131)).stale());
  EXPECT_TRUE(OnlyCluster(StatusAt(t0 + 499)).stale());
  EXPECT_FALSE(OnlyCluster(StatusAt(t0 + 500)).stale());
  EXPECT_FALSE(OnlyCluster(StatusAt(t0 + 550)).stale());

  Heartbeats("prod", 2, t0 + 610, t0 + 700);
  EXPECT_EQ(Rows(), 3);
  EXPECT_EQ(OnlyCluster(StatusAt(t0 + 605)).applied_version(), 1u);
  auto changed = OnlyCluster(StatusAt(t0 + 690));
  EXPECT_EQ(changed.applied_version(), 2u);
  EXPECT_FALSE(changed.stale());

  // A heartbeat older than the last one (a plane's clock behind the previous plane's)
  // changes nothing.
  Apply({Report("prod", 2, t0 + 650)});
  EXPECT_EQ(Rows(), 3);
  EXPECT_FALSE(OnlyCluster(StatusAt(t0 + 720)).stale());
  EXPECT_TRUE(OnlyCluster(StatusAt(t0 + 731)).stale());
}

// A removed cluster (its report tombstoned) is in answers before its removal and in none
// after, however long ago; the trim then drops its rows like a resource's. Before, its
// tombstone never reached history and the trim kept its last row: every later
// GetStatus(at) showed it, stale, for ever.
TEST_F(StatusHistoryTest, RemovedClusterLeavesThePastAnswers) {
  const double t0 = Now() - 3600;
  Heartbeats("prod", 1, t0, t0 + 100);
  Heartbeats("shadow", 1, t0, t0 + 100);
  Apply({ClusterGone("shadow", t0 + 105)});
  EXPECT_EQ(StatusAt(t0 + 100).clusters_size(), 2);
  auto after = StatusAt(t0 + 110);
  ASSERT_EQ(after.clusters_size(), 1) << after.DebugString();
  EXPECT_EQ(after.clusters(0).cluster(), "prod");
  EXPECT_EQ(Rows("cluster = 'shadow' AND payload IS NULL"), 1);
  // Back again: a new row after the tombstone.
  Apply({Report("shadow", 2, t0 + 200)});
  auto back = StatusAt(t0 + 210);
  ASSERT_EQ(back.clusters_size(), 2);
  EXPECT_EQ(back.clusters(1).applied_version(), 2u);
}

// Two clusters, one silent: each is judged by its own heartbeats, and the stale limit is
// the cluster's own heartbeat period.
TEST_F(StatusHistoryTest, EachClusterByItsOwnHeartbeats) {
  const double t0 = Now() - 3600;
  Heartbeats("prod", 1, t0, t0 + 600);
  Heartbeats("shadow", 1, t0, t0 + 60, 60);
  Apply({Report("shadow", 1, t0 + 300, 60)});  // 240 s after its last beat: > 3 × 60 s
  auto at = StatusAt(t0 + 200);
  ASSERT_EQ(at.clusters_size(), 2);
  EXPECT_EQ(at.clusters(0).cluster(), "prod");
  EXPECT_FALSE(at.clusters(0).stale());
  EXPECT_EQ(at.clusters(1).cluster(), "shadow");
  EXPECT_FALSE(at.clusters(1).stale());  // 140 s of silence, under 180
  auto later = StatusAt(t0 + 250);
  ASSERT_EQ(later.clusters_size(), 2);
  EXPECT_TRUE(later.clusters(1).stale());
  EXPECT_EQ(Rows("cluster = 'shadow'"), 2);
}

// Retention (30 days) keeps, per cluster and resource, the newest row older than the
// cutoff: a resource unchanged for 40 days and a cluster that beat hourly for 40 days
// without a change still answer GetStatus(at) for every `at` of the last 30 days. Older
// rows of a key that changed later go; so does a resource whose newest old row is its
// tombstone. Before, the trim deleted every row older than 30 days, and with it the only
// row of anything unchanged that long.
TEST_F(StatusHistoryTest, RetentionKeepsTheRowInForceAtTheCutoff) {
  const double now = Now();
  Apply({
      Resource("sessions", true, now - 40 * kDay),  // unchanged for 40 days
      Resource("carts", false, now - 50 * kDay),    // goes
      Resource("carts", true, now - 40 * kDay),     // stays: in force at the cutoff
      Resource("carts", false, now - 2 * kDay),     // stays: within the retention
      Resource("old", true, now - 45 * kDay),       // goes
      Gone("old", now - 35 * kDay),                 // goes: gone before the cutoff
  });
  Heartbeats("prod", 1, now - 40 * kDay, now - 3600, 3600);
  EXPECT_EQ(Rows(), 7);
  EXPECT_EQ(Rows("kind = 0"), 1);

  auto trimmed = store_->Trim(std::chrono::hours(24 * 30));
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  EXPECT_EQ(*trimmed, 3u);
  EXPECT_EQ(Rows(), 4);
  auto again = store_->Trim(std::chrono::hours(24 * 30));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0u);

  for (double at : {now - 30 * kDay + 60, now - 10 * kDay, now - 1800}) {
    SCOPED_TRACE((now - at) / kDay);
    auto s = StatusAt(at);
    ASSERT_EQ(s.resources_size(), 2) << s.DebugString();
    EXPECT_EQ(s.resources(0).name(), "carts");
    EXPECT_EQ(s.resources(0).ready(), at < now - 2 * kDay);
    EXPECT_EQ(s.resources(1).name(), "sessions");
    EXPECT_TRUE(s.resources(1).ready());
    auto cluster = OnlyCluster(s);
    EXPECT_FALSE(cluster.stale());
    EXPECT_EQ(cluster.applied_version(), 1u);
  }
}

// History stays append-only but for a cluster report's seen_until, which only moves
// forward, for the owner and the service role alike.
TEST_F(StatusHistoryTest, HistoryRefusesEveryUpdateButSeenUntilForward) {
  const double t0 = Now() - 3600;
  Heartbeats("prod", 1, t0, t0 + 100);
  Apply({Resource("sessions", true, t0)});
  const std::string cluster_row = " WHERE kind = 0";
  for (const std::string& sql : {
           "UPDATE status_history SET payload = '\\x00'::bytea" + cluster_row,
           "UPDATE status_history SET recorded_at = recorded_at - interval '1 day'" + cluster_row,
           "UPDATE status_history SET seen_until = seen_until - interval '1 second'" + cluster_row,
           "UPDATE status_history SET seen_until = NULL" + cluster_row,
           std::string("UPDATE status_history SET seen_until = now() WHERE kind <> 0"),
       }) {
    SCOPED_TRACE(sql);
    for (bool owner : {true, false}) {
      absl::Status s = owner ? schema_.Exec(sql) : schema_.ExecAsService(sql);
      EXPECT_FALSE(s.ok());
      // The trigger refuses it; the service role may not even try a column but seen_until.
      const Matcher<std::string> refused =
          owner ? Matcher<std::string>(HasSubstr("append-only"))
                : AnyOf(HasSubstr("append-only"), HasSubstr("permission denied"));
      EXPECT_THAT(std::string(s.message()), refused);
    }
  }
  EXPECT_TRUE(
      schema_
          .ExecAsService("UPDATE status_history SET seen_until = seen_until + interval '1 second'" +
                         cluster_row)
          .ok());
}

// The store remembers each cluster's last stored report, so a heartbeat costs no read
// of it. A batch the database refuses leaves nothing behind, in that memory either: the
// same report again afterwards is a change (an event and a history row of its own), not
// a heartbeat of a report that was never stored.
TEST_F(StatusHistoryTest, RefusedBatchLeavesNoReportBehind) {
  const double t0 = Now() - 3600;
  Heartbeats("prod", 1, t0, t0 + 20);
  StatusBatch refused;
  refused.changes.push_back(Report("prod", 2, t0 + 30));
  refused.changes.push_back(Resource("\xff", true, t0 + 30));  // not UTF-8: SQLSTATE 22021
  refused.next_offsets[0] = next_offset_;
  auto r = store_->Apply(refused);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_EQ(OnlyCluster(StatusAt(t0 + 35)).applied_version(), 1u);

  StatusBatch again;
  again.changes.push_back(Report("prod", 2, t0 + 40));
  again.changes.push_back(Report("prod", 2, t0 + 50));  // its heartbeat
  again.next_offsets[0] = next_offset_;
  auto applied = store_->Apply(again);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_THAT(applied->visible, ::testing::ElementsAre(true, false));
  EXPECT_EQ(Rows("kind = 0"), 2);
  EXPECT_EQ(OnlyCluster(StatusAt(t0 + 35)).applied_version(), 1u);
  auto now = OnlyCluster(StatusAt(t0 + 55));
  EXPECT_EQ(now.applied_version(), 2u);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(now.heartbeat_at()), static_cast<int64_t>(t0 + 50));
}

}  // namespace
}  // namespace senren::projections
