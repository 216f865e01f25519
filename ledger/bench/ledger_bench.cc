// Speed of the ledger on the lab's PostgreSQL (docs/design.md §11). Each benchmark runs
// in a schema of its own. Run:
//   ninja -C build-ledger ledger_bench
//   build-ledger/ledger/ledger_bench --benchmark_out=bench/results/ledger_bench.json
//     --benchmark_out_format=json
// Latency benchmarks report p50/p90/p99/max (ms) as counters besides Google Benchmark's mean.
// The audit ones (BM_*100k) share one region of 100,000 versions, seeded at the first of
// them; SENREN_BENCH_EXPLAIN=1 prints their query plans (EXPLAIN ANALYZE) after seeding:
//   build-ledger/ledger/ledger_bench --benchmark_filter=100k
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "common/diff.h"
#include "common/resources.h"
#include "common/testing/resources.h"
#include "lab/lab_env.h"
#include "ledger/pg_ledger_store.h"
#include "ledger/server.h"
#include "senren/v1/control_plane.grpc.pb.h"
#include "testing/test_schema.h"

namespace senren::ledger {
namespace {

using testing::TestSchema;

using common::testing::FullRedis;

// Every benchmark resource has 3 replicas and its defaults written out, as Canonicalize leaves it.
constexpr uint32_t kReplicas = 3;

v1::ApplyStateRequest SmallState(const std::string& region, uint32_t salt) {
  v1::ApplyStateRequest req;
  req.set_region(region);
  req.set_message("bench");
  *req.add_resources() = FullRedis("sessions", 16 + salt % 100000, kReplicas);
  *req.add_resources() = FullRedis("cache", 512, kReplicas);
  *req.add_resources() = FullRedis("rate-limits", 128, kReplicas);
  return req;
}

void ReportPercentiles(benchmark::State& state, std::vector<double>& ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  state.counters["p50_ms"] = at(0.50);
  state.counters["p90_ms"] = at(0.90);
  state.counters["p99_ms"] = at(0.99);
  state.counters["max_ms"] = ms.back();
  state.counters["n"] = static_cast<double>(ms.size());
}

const WriteContext kCtx{"bench", ""};

// ApplyState of a small state (3 resources) that changes every call, on the store.
void BM_ApplySmallState_Store(benchmark::State& state) {
  TestSchema schema;
  auto store = schema.Store(4);
  std::vector<double> ms;
  uint32_t i = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = store->ApplyState(SmallState("aws:bench", ++i), kCtx);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!r.ok() || !r->changed()) state.SkipWithError("apply failed");
  }
  ReportPercentiles(state, ms);
}
BENCHMARK(BM_ApplySmallState_Store)->Iterations(2000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same through gRPC with a bearer token (in-process server, loopback TCP).
void BM_ApplySmallState_Grpc(benchmark::State& state) {
  TestSchema schema;
  auto store = schema.Store(4);
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  auto auth =
      TokenAuthenticator::FromYaml("tokens: [{token: t, subject: bench, role: writer}]", "bench");
  auto server = LedgerServer::Start(so, store.get(), std::move(*auth));
  auto stub = v1::ControlPlane::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  std::vector<double> ms;
  uint32_t i = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer t");
    v1::ApplyStateResponse resp;
    grpc::Status s = stub->ApplyState(&ctx, SmallState("aws:bench", ++i), &resp);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
  }
  ReportPercentiles(state, ms);
}
BENCHMARK(BM_ApplySmallState_Grpc)->Iterations(2000)->Unit(benchmark::kMillisecond)->UseRealTime();

// Versions per second with N concurrent clients spread over 100 regions, one store.
struct Shared {
  std::mutex mu;
  std::unique_ptr<TestSchema> schema;
  std::unique_ptr<PgLedgerStore> store;
  std::atomic<uint32_t> salt{0};
};
Shared g_shared;

void BM_ApplyThroughput(benchmark::State& state) {
  if (state.thread_index() == 0) {
    std::lock_guard lock(g_shared.mu);
    g_shared.schema = std::make_unique<TestSchema>();
    g_shared.store = g_shared.schema->Store(16, 4096, static_cast<int>(state.range(0)));
  }
  // Google Benchmark starts the timed loop of all threads together, after setup.
  uint64_t done = 0;
  for (auto _ : state) {
    PgLedgerStore* store = nullptr;
    {
      std::lock_guard lock(g_shared.mu);
      store = g_shared.store.get();
    }
    const uint32_t salt = g_shared.salt.fetch_add(1);
    const std::string region = "aws:r" + std::to_string(salt % 100);
    auto r = store->ApplyState(SmallState(region, salt), kCtx);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      break;
    }
    ++done;
  }
  state.SetItemsProcessed(static_cast<int64_t>(done));
  if (state.thread_index() == 0) {
    // Every thread has left its loop (the loop's end is a barrier): drop store and schema.
    std::lock_guard lock(g_shared.mu);
    g_shared.store.reset();
    g_shared.schema.reset();
  }
}
// Arg: PgLedgerStoreOptions::max_write_transactions (group commit), pool 16.
BENCHMARK(BM_ApplyThroughput)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Arg(16)
    ->Threads(32)
    ->Iterations(100)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Materializing a version of 10,000 resources from PostgreSQL (no cache): version 63 of a
// region whose version 1 created 10,000 resources and each later version updated 10, so it
// reads the most change sets a version can need (checkpoint interval 64).
void BM_Materialize10k(benchmark::State& state) {
  TestSchema schema;
  auto writer = schema.Store(2);
  std::vector<v1::Resource> rs;
  for (int i = 0; i < 10000; ++i) {
    rs.push_back(FullRedis("db-" + std::to_string(100000 + i), 64, kReplicas));
  }
  uint64_t version = 0;
  for (int v = 1; v <= 63; ++v) {
    if (v > 1) {
      for (int k = 0; k < 10; ++k) {
        rs[static_cast<size_t>((v * 10 + k) % 10000)].mutable_redis_database()->set_memory_mb(
            static_cast<uint32_t>(16 + v));
      }
    }
    v1::ApplyStateRequest req;
    req.set_region("aws:big");
    for (const auto& r : rs) *req.add_resources() = r;
    auto r = writer->ApplyState(req, kCtx);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    version = r->version();
  }
  auto cold = schema.Store(1, /*cache=*/0);
  std::vector<double> ms;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto s = cold->GetState("aws:big", version);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!s.ok() || s->resources_size() != 10000) state.SkipWithError("materialize failed");
  }
  ReportPercentiles(state, ms);
}
BENCHMARK(BM_Materialize10k)->Iterations(30)->Unit(benchmark::kMillisecond)->UseRealTime();

// Applying a 10,000-resource state that changes 10 of them (the version write path).
void BM_ApplyLargeState10k(benchmark::State& state) {
  TestSchema schema;
  auto store = schema.Store(2);
  v1::ApplyStateRequest req;
  req.set_region("aws:big");
  for (int i = 0; i < 10000; ++i) {
    *req.add_resources() = FullRedis("db-" + std::to_string(100000 + i), 64, kReplicas);
  }
  (void)store->ApplyState(req, kCtx);
  std::vector<double> ms;
  uint32_t v = 0;
  for (auto _ : state) {
    ++v;
    for (int k = 0; k < 10; ++k) {
      req.mutable_resources((v * 10 + static_cast<uint32_t>(k)) % 10000)
          ->mutable_redis_database()
          ->set_memory_mb(16 + v % 1000);
    }
    auto t0 = std::chrono::steady_clock::now();
    auto r = store->ApplyState(req, kCtx);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
  }
  ReportPercentiles(state, ms);
}
BENCHMARK(BM_ApplyLargeState10k)->Iterations(50)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- Audit (docs/ledger.md "Audit"): a region of 100,000 versions ----
//
// Seeded by SQL in batches (the store would take minutes): version 1 creates 40 Redis
// databases and 10 Aerospike clusters; each later version changes one resource's memory
// (every 500th is a rollback by another author), one version every 5 minutes, four
// authors. Only memory ever changes, so blaming the other fields walks back through every
// version of the resource (about 2,000): the worst case of a blame.
constexpr int kAuditVersions = 100000;
constexpr int kAuditResources = 50;
const char* const kAuditRegion = "aws:audit";
const char* const kAuditAuthors[] = {"alice", "bob", "carol", "dave"};

std::string AuditName(int i) { return (i < 40 ? "db-" : "as-") + std::to_string(i); }

v1::Resource AuditResource(int i, uint32_t memory) {
  return i < 40 ? FullRedis(AuditName(i), memory, kReplicas)
                : common::testing::FullAerospike(AuditName(i), 3, 2);
}

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out = "'\\x";
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out + "'::bytea";
}

const TestSchema& AuditSchema() {
  // Dropped at exit, with the process's other statics.
  static std::unique_ptr<TestSchema> schema = [] {
    auto s = std::make_unique<TestSchema>();
    auto t0 = std::chrono::steady_clock::now();
    std::vector<uint32_t> memory(kAuditResources, 64);
    std::string sql;
    auto flush = [&] {
      if (sql.empty()) return;
      if (absl::Status st = s->ExecAsService(sql); !st.ok()) {
        throw std::runtime_error(std::string(st.message()));
      }
      sql.clear();
    };
    auto version_row = [&](int v, const char* author, int origin, int rollback_of, int created,
                           int updated) {
      absl::StrAppend(&sql,
                      "INSERT INTO versions (region, version, author, message, created_at, "
                      "origin, rollback_of, created_count, updated_count, deleted_count, "
                      "resource_count) VALUES ('",
                      kAuditRegion, "', ", v, ", '", author, "', 'change ", v,
                      "', timestamptz '2026-01-01 00:00:00+00' + ", v, " * interval '5 minutes', ",
                      origin, ", ", rollback_of, ", ", created, ", ", updated, ", 0, ",
                      kAuditResources, "); UPDATE regions SET current_version = ", v,
                      " WHERE region = '", kAuditRegion, "';\n");
    };
    absl::StrAppend(&sql, "INSERT INTO regions (region) VALUES ('", kAuditRegion, "');\n");
    for (int i = 0; i < kAuditResources; ++i) {
      v1::Resource r = AuditResource(i, memory[static_cast<size_t>(i)]);
      absl::StrAppend(&sql, "INSERT INTO changes VALUES ('", kAuditRegion, "', 1, ",
                      static_cast<int>(common::KindOf(r)), ", '", r.name(), "', ",
                      Hex(r.SerializeAsString()), ");\n");
    }
    version_row(1, "alice", 1, 0, kAuditResources, 0);
    uint32_t rng = 12345;
    for (int v = 2; v <= kAuditVersions; ++v) {
      rng = rng * 1103515245 + 12345;
      const int i = static_cast<int>((rng >> 8) % 40);  // a Redis database
      const bool rollback = v % 500 == 0;
      memory[static_cast<size_t>(i)] = rollback ? 64 : 64 + 16 * ((rng >> 16) % 60 + 1);
      v1::Resource r = AuditResource(i, memory[static_cast<size_t>(i)]);
      absl::StrAppend(&sql, "INSERT INTO changes VALUES ('", kAuditRegion, "', ", v, ", 1, '",
                      r.name(), "', ", Hex(r.SerializeAsString()), ");\n");
      version_row(v, rollback ? "dave" : kAuditAuthors[(rng >> 4) % 3], rollback ? 2 : 1,
                  rollback ? 1 : 0, 0, 1);
      if (v % 500 == 0) flush();
    }
    flush();
    // What autovacuum does to insert-only tables: statistics and the visibility map (so
    // scans of changes_by_resource stay index-only).
    (void)s->Query("VACUUM (ANALYZE) versions");
    (void)s->Query("VACUUM (ANALYZE) changes");
    std::fprintf(stderr, "audit bench: seeded %d versions in %.1f s\n", kAuditVersions,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (std::getenv("SENREN_BENCH_EXPLAIN") != nullptr) {
      const std::string r = kAuditRegion;
      for (const std::string& q : {
               "SELECT version FROM versions v WHERE v.region = '" + r +
                   "' AND v.version <= 9223372036854775807 AND v.author = 'carol' ORDER BY "
                   "v.version DESC LIMIT 21",
               "SELECT v.version, c.spec, (SELECT p.spec FROM changes p WHERE p.region = "
               "c.region AND p.kind = c.kind AND p.name = c.name AND p.version < c.version ORDER "
               "BY p.version DESC LIMIT 1) FROM changes c JOIN versions v ON v.region = c.region "
               "AND v.version = c.version WHERE c.region = '" +
                   r +
                   "' AND c.kind = 1 AND c.name = 'db-7' AND c.version <= 9223372036854775807 "
                   "ORDER BY c.version DESC LIMIT 21",
               "SELECT version, spec FROM changes WHERE region = '" + r +
                   "' AND kind = 1 AND name = 'db-7' AND version >= 1 AND version < "
                   "9223372036854775807 AND octet_length(spec) <= 2000 ORDER BY version DESC LIMIT "
                   "1024",
               "SELECT t.version FROM versions t WHERE t.region = '" + r +
                   "' AND t.created_at <= timestamptz '2026-06-01 00:00:00+00' ORDER BY "
                   "t.created_at DESC LIMIT 1",
           }) {
        auto plan = s->Query("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + q);
        if (!plan.ok()) continue;
        std::fprintf(stderr, "\n%s\n", q.c_str());
        for (const auto& row : *plan)
          std::fprintf(stderr, "  %s\n", row[0].as<std::string>().c_str());
      }
    }
    return s;
  }();
  return *schema;
}

// What an audit call costs on the 100,000-version region: `call` gets a random resource
// index in 0..39 each iteration.
template <typename Fn>
void RunAudit(benchmark::State& state, Fn&& call) {
  auto store = AuditSchema().Store(2, /*cache=*/0);
  std::vector<double> ms;
  uint32_t rng = 777;
  for (auto _ : state) {
    rng = rng * 1103515245 + 12345;
    const int i = static_cast<int>((rng >> 8) % 40);
    auto t0 = std::chrono::steady_clock::now();
    absl::Status s = call(*store, i);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
  ReportPercentiles(state, ms);
}

// `history REGION --resource RedisDatabase/db-N`: the newest 20 changes of one resource,
// each with the spec before it.
void BM_ResourceHistory100k(benchmark::State& state) {
  RunAudit(state, [](PgLedgerStore& store, int i) -> absl::Status {
    v1::GetHistoryRequest req;
    req.set_region(kAuditRegion);
    req.set_resource("RedisDatabase/" + AuditName(i));
    auto page = store.GetHistory(req);
    if (!page.ok()) return page.status();
    if (page->changes_size() != 20) return absl::InternalError("expected a full page");
    return absl::OkStatus();
  });
}
BENCHMARK(BM_ResourceHistory100k)->Iterations(500)->Unit(benchmark::kMillisecond)->UseRealTime();

// `history REGION --author carol --since T`: one author's newest 20 versions in a window.
void BM_AuthorHistory100k(benchmark::State& state) {
  RunAudit(state, [](PgLedgerStore& store, int i) -> absl::Status {
    v1::GetHistoryRequest req;
    req.set_region(kAuditRegion);
    req.set_author(kAuditAuthors[i % 3]);
    // Some day in the region's year of versions.
    req.mutable_since()->set_seconds(1767225600 + (i % 30) * 86400 * 10);
    auto page = store.GetHistory(req);
    if (!page.ok()) return page.status();
    if (page->versions_size() != 20) return absl::InternalError("expected a full page");
    return absl::OkStatus();
  });
}
BENCHMARK(BM_AuthorHistory100k)->Iterations(500)->Unit(benchmark::kMillisecond)->UseRealTime();

// `blame REGION RedisDatabase/db-N`: memory_mb is found within a few versions; replicas,
// version and persistence only at the creation, ~2,000 versions of the resource back.
void BM_Blame100k(benchmark::State& state) {
  RunAudit(state, [](PgLedgerStore& store, int i) -> absl::Status {
    v1::BlameRequest req;
    req.set_region(kAuditRegion);
    req.set_resource("RedisDatabase/" + AuditName(i));
    auto blame = store.Blame(req);
    if (!blame.ok()) return blame.status();
    if (blame->created_by().version() != 1) return absl::InternalError("wrong creation");
    return absl::OkStatus();
  });
}
BENCHMARK(BM_Blame100k)->Iterations(300)->Unit(benchmark::kMillisecond)->UseRealTime();

// The pure diff of two 10,000-resource sets (docs/design.md §11: ≤ 10 ms).
void BM_Diff10k(benchmark::State& state) {
  std::vector<v1::Resource> before;
  std::vector<v1::Resource> after;
  for (int i = 0; i < 10000; ++i) {
    before.push_back(FullRedis("db-" + std::to_string(100000 + i), 64, kReplicas));
    after.push_back(
        FullRedis("db-" + std::to_string(100000 + i), i % 100 == 0 ? 128 : 64, kReplicas));
  }
  for (auto _ : state) {
    auto d = common::DiffResources(before, after);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_Diff10k)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace senren::ledger

BENCHMARK_MAIN();
