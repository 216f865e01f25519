// Speed of the projections on the lab (docs/design.md §11), each in a schema and topic
// prefix of its own:
//   apply_commit_to_snapshot_consumed   ApplyState returned (committed) → a consumer of
//                                       {prefix}-state has the version (goal p50 ≤ 20 ms, p99 ≤ 100
//                                       ms)
//   status_produced_to_get_status       a ResourceStatus produced → GetStatus shows it (same goal)
//   regions_1000_published              1,000 regions with one change each → all on the topic
//   heartbeat_batch_500                 500 heartbeat-only cluster reports folded in one
//                                       transaction (the status store, 1,000 clusters), with
//                                       the history rows and row updates they cost per minute
// Run: tools/bench projections [n] [heartbeats]   (JSON: bench/results/projections.json;
// with `heartbeats`, only that one)
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <set>
#include <thread>

#include "kafka/kafka.h"
#include "lab/bench_stats.h"
#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"
#include "pg/session.h"
#include "projections/snapshot_projector.h"
#include "projections/status_keys.h"
#include "projections/status_ports.h"
#include "projections/status_projector.h"
#include "projections/status_read_model.h"
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

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "projections_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(std::string(what) + ": " + v.status().ToString());
  return std::move(*v);
}

v1::ApplyStateRequest Apply(const std::string& region, uint32_t mb) {
  v1::ApplyStateRequest r;
  r.set_region(region);
  auto* res = r.add_resources();
  res->set_name("sessions");
  res->mutable_redis_database()->set_memory_mb(mb);
  res->mutable_redis_database()->set_replicas(3);
  return r;
}

struct Env {
  ledger::testing::TestSchema schema;
  std::string prefix;
  std::unique_ptr<ledger::PgLedgerStore> store;
  StatusHub hub;
  std::unique_ptr<SnapshotProjector> snapshot;
  std::unique_ptr<StatusProjector> status;
  std::unique_ptr<StatusReadModel> model;

  Env() {
    const auto& lab = testing::Lab();
    prefix = testing::UniqueName("pbench");
    store = schema.Store();
    SnapshotProjectorOptions po;
    po.postgres_uri = lab.postgres_uri;
    po.schema = schema.name();
    po.kafka = {lab.kafka_brokers};
    po.topic_prefix = prefix;
    snapshot = Must(SnapshotProjector::Create(po, store.get()), "snapshot projector");
    StatusProjectorOptions to;
    to.postgres_uri = lab.postgres_uri;
    to.schema = schema.name();
    to.kafka = {lab.kafka_brokers};
    to.topic_prefix = prefix;
    status = Must(StatusProjector::Create(to, &hub), "status projector");
    if (auto s = snapshot->Start(); !s.ok()) Die(s.ToString());
    if (auto s = status->Start(); !s.ok()) Die(s.ToString());
    model = Must(NewPgStatusReadModel({lab.postgres_uri, schema.name(), 2}, &hub), "read model");
  }
  ~Env() {
    snapshot->Stop();
    status->Stop();
  }
};

// A consumer of every partition of {prefix}-state, from the end.
std::unique_ptr<kafka::Consumer> StateConsumer(const std::string& prefix, int64_t from) {
  const auto& lab = testing::Lab();
  auto consumer = Must(kafka::Consumer::Create({lab.kafka_brokers}), "consumer");
  int n = Must(kafka::PartitionCount({lab.kafka_brokers}, StateTopic(prefix)), "partitions");
  std::vector<kafka::PartitionOffset> parts;
  for (int p = 0; p < n; ++p) parts.push_back({StateTopic(prefix), p, from});
  if (auto s = consumer->Assign(parts); !s.ok()) Die(s.ToString());
  return consumer;
}

void ApplyToSnapshot(Env& env, testing::BenchReport& report, int n) {
  auto consumer = StateConsumer(env.prefix, kafka::PartitionOffset::kEnd);
  std::this_thread::sleep_for(milliseconds(500));  // let the consumer reach the end
  std::vector<double> from_commit;
  std::vector<double> from_call;
  for (int i = 0; i < n; ++i) {
    auto call = Clock::now();
    auto r = env.store->ApplyState(Apply("aws:bench-1", 16 + static_cast<uint32_t>(i)), {});
    if (!r.ok()) Die(r.status().ToString());
    auto committed = Clock::now();
    for (;;) {
      auto m = Must(consumer->Poll(milliseconds(1000)), "poll");
      if (!m) {
        if (testing::MillisSince(committed) > 10000)
          Die("version " + std::to_string(r->version()) + " never arrived");
        continue;
      }
      v1::RegionalState s;
      if (s.ParseFromString(*m->value) && s.version() == r->version()) break;
    }
    from_commit.push_back(testing::MillisSince(committed));
    from_call.push_back(testing::MillisSince(call));
    std::this_thread::sleep_for(milliseconds(5));
  }
  report.AddLatency("apply_commit_to_snapshot_consumed", from_commit, "p50<=20ms p99<=100ms");
  report.AddLatency("apply_call_to_snapshot_consumed", from_call);
}

void StatusToGetStatus(Env& env, testing::BenchReport& report, int n) {
  const auto& lab = testing::Lab();
  if (!env.store->ApplyState(Apply("aws:bench-2", 64), {}).ok()) Die("apply");
  auto producer = Must(kafka::Producer::Create({lab.kafka_brokers}), "producer");
  v1::GetStatusRequest req;
  req.set_region("aws:bench-2");
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    v1::ResourceStatus s;
    s.set_region("aws:bench-2");
    s.set_cluster("prod");
    s.set_kind(v1::RESOURCE_KIND_REDIS_DATABASE);
    s.set_name("sessions");
    s.set_ready_replicas(static_cast<uint32_t>(i + 1));
    s.set_state_version(1);
    *s.mutable_observed_at() = NowTimestamp();
    auto start = Clock::now();
    auto st = producer->Produce(
        {StatusTopic(env.prefix),
         ResourceStatusKey("aws:bench-2", "prod", v1::RESOURCE_KIND_REDIS_DATABASE, "sessions"),
         s.SerializeAsString(),
         {}},
        [](const kafka::Delivery&) {});
    if (!st.ok()) Die(st.ToString());
    for (;;) {
      auto got = env.model->GetStatus(req);
      if (got.ok() && got->resources_size() == 1 &&
          got->resources(0).ready_replicas() == s.ready_replicas())
        break;
      if (testing::MillisSince(start) > 10000) Die("status never visible");
      std::this_thread::sleep_for(milliseconds(1));
    }
    ms.push_back(testing::MillisSince(start));
  }
  report.AddLatency("status_produced_to_get_status", ms, "p50<=20ms p99<=100ms");
}

void ThousandRegions(Env& env, testing::BenchReport& report) {
  // From the beginning: an "end" offset resolves lazily, after some regions went out.
  auto consumer = StateConsumer(env.prefix, kafka::PartitionOffset::kBeginning);
  auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&env, w] {
      for (int i = w; i < 1000; i += 8) {
        if (!env.store->ApplyState(Apply("aws:many-" + std::to_string(i), 64), {}).ok())
          Die("apply");
      }
    });
  }
  for (auto& t : writers) t.join();
  const double applied = testing::MillisSince(start);
  std::set<std::string> seen;
  while (seen.size() < 1000) {
    auto m = Must(consumer->Poll(milliseconds(1000)), "poll");
    if (m && m->key.rfind("aws:many-", 0) == 0) seen.insert(m->key);
    if (testing::MillisSince(start) > 120000)
      Die("only " + std::to_string(seen.size()) + " regions arrived");
  }
  report.AddValue("regions_1000_applied", applied, "ms");
  report.AddValue("regions_1000_published", testing::MillisSince(start), "ms");
}

// 1,000 clusters beating every 10 s, folded straight into the status store (no Kafka: the
// cost of the store's transaction is what is measured), `rounds` heartbeats each after the
// first report. Heartbeats are history too (migration 0007), compacted: a steady cluster's
// heartbeat moves its newest row's seen_until, so the rows per minute stay 0 and the
// updates per minute are one per heartbeat.
void Heartbeats(testing::BenchReport& report, int rounds) {
  constexpr int kClusters = 1000;
  constexpr int kBatch = 500;
  constexpr char kRegion[] = "aws:bench-3";
  ledger::testing::TestSchema schema;
  if (!schema.Store()->ApplyState(Apply(kRegion, 64), {}).ok()) Die("apply");
  auto session = Must(pg::Session::Open(schema.options()), "session");
  auto store = NewPgStatusStore(session.get(), "bench-heartbeats");
  const double t0 =
      std::floor(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                     .count()) -
      10.0 * (rounds + 1);
  int64_t offset = 0;
  auto round = [&](int r, std::vector<double>* ms) {
    for (int first = 0; first < kClusters; first += kBatch) {
      StatusBatch batch;
      for (int i = first; i < first + kBatch; ++i) {
        StatusChange c;
        c.type = StatusChange::Type::kCluster;
        c.topic = "bench-heartbeats";
        c.offset = offset++;
        c.key = {kRegion, "c" + std::to_string(i), v1::RESOURCE_KIND_UNSPECIFIED, ""};
        c.at = t0 + 10.0 * r;
        c.report.set_region(kRegion);
        c.report.set_cluster(c.key.cluster);
        c.report.set_applied_version(1);
        c.report.set_result(v1::APPLY_RESULT_APPLIED);
        c.report.set_heartbeat_interval_seconds(10);
        c.report.mutable_heartbeat_at()->set_seconds(static_cast<int64_t>(c.at));
        c.payload = c.report.SerializeAsString();
        batch.changes.push_back(std::move(c));
      }
      batch.next_offsets[0] = offset;
      auto start = Clock::now();
      if (auto a = store->Apply(batch); !a.ok()) Die(a.status().ToString());
      if (ms != nullptr) ms->push_back(testing::MillisSince(start));
    }
  };
  // Rows inserted and updated in status_history so far; PostgreSQL counts a session's
  // statistics at its next flush, forced here.
  auto counts = [&] {
    if (auto s = session->Run("flush statistics", "", pg::TxKind::kNone,
                              [](pg::Transaction& tx) {
                                tx.Exec("SELECT pg_stat_force_next_flush()");
                                tx.Exec("SELECT 1");
                                return absl::OkStatus();
                              });
        !s.ok())
      Die(s.ToString());
    auto rows = Must(schema.Query("SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM "
                                  "pg_stat_user_tables WHERE relname = 'status_history' AND "
                                  "schemaname = current_schema()"),
                     "statistics");
    if (rows.empty()) Die("no statistics for status_history");
    return std::array<double, 3>{rows[0][0].as<double>(), rows[0][1].as<double>(),
                                 rows[0][2].as<double>()};
  };
  round(0, nullptr);  // the first report of each cluster: one row each
  const auto before = counts();
  std::vector<double> ms;
  for (int r = 1; r <= rounds; ++r) round(r, &ms);
  const auto after = counts();
  const double minutes = rounds / 6.0;  // a heartbeat every 10 s
  report.AddLatency("heartbeat_batch_500", ms);
  report.AddValue("heartbeat_history_rows_per_min_1000_clusters", (after[0] - before[0]) / minutes,
                  "rows");
  report.AddValue("heartbeat_history_updates_per_min_1000_clusters",
                  (after[1] - before[1]) / minutes, "updates");
  report.AddValue("heartbeat_history_hot_updates_per_min_1000_clusters",
                  (after[2] - before[2]) / minutes, "updates");
}

}  // namespace
}  // namespace senren::projections

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  senren::testing::BenchReport report("projections");
  if (argc > 2 && std::string(argv[2]) == "heartbeats") {
    senren::projections::Heartbeats(report, n);
    report.Write();
    return 0;
  }
  {
    senren::projections::Env env;
    senren::projections::ApplyToSnapshot(env, report, n);
    senren::projections::StatusToGetStatus(env, report, n);
    senren::projections::ThousandRegions(env, report);
  }
  senren::projections::Heartbeats(report, 60);
  report.Write();
  return 0;
}
