// regional_bench: the regional plane's pure hot path (docs/design.md §11: diff of 10,000 resources
// ≤ 10 ms). No lab needed. Writes bench/results/regional_<case>.json (p50, p90, p99, max, n,
// in milliseconds) and prints a table.
//
//   regional_bench [--n 200] [--resources 10000] [--out bench/results]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/diff.h"
#include "common/resources.h"
#include "regional/plane/reconcile_plan.h"

namespace {

using senren::v1::Resource;
namespace plane = senren::regional::plane;

struct Result {
  std::string name;
  std::vector<double> ms;       // thread CPU time
  std::vector<double> wall_ms;  // wall clock
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Thread CPU time per call: on a shared 2-core machine wall time mostly measures the other
// processes; the wall-clock p50 is reported beside it.
Result Measure(const std::string& name, int n, const std::function<void()>& f) {
  f();  // warm-up
  Result r{name, {}, {}};
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = ThreadCpuMs();
    f();
    r.ms.push_back(ThreadCpuMs() - c0);
    r.wall_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return r;
}

std::vector<Resource> Unsorted(int count, int changed_every);

// A region's resources in RegionalState order (sorted by kind, name).
std::vector<Resource> Region(int count, int changed_every) {
  std::vector<Resource> out = Unsorted(count, changed_every);
  senren::common::SortResources(&out);
  return out;
}

std::vector<Resource> Unsorted(int count, int changed_every) {
  std::vector<Resource> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    Resource r;
    char name[32];
    std::snprintf(name, sizeof name, "res-%06d", i);
    r.set_name(name);
    const bool changed = changed_every > 0 && i % changed_every == 0;
    if (i % 5 == 0) {
      auto* s = r.mutable_aerospike_cluster();
      s->set_size(3);
      auto* ns = s->add_namespaces();
      ns->set_name("users");
      ns->set_replication_factor(2);
      ns->set_memory_mb(changed ? 2048 : 1024);
    } else {
      auto* s = r.mutable_redis_database();
      s->set_memory_mb(changed ? 1024 : 512);
      s->set_replicas(3);
      s->set_version("7.2");
      s->set_persistence(senren::v1::REDIS_PERSISTENCE_RDB);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 200;
  int count = 10000;
  std::string out_dir = "bench/results";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--resources")) count = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--out")) out_dir = argv[i + 1];
  }

  // 1. common::DiffResources of two sorted canonical sets, 1 % of them changed.
  std::vector<Resource> before = Region(count, 0);
  std::vector<Resource> after = Region(count, 100);
  senren::common::SortResources(&before);
  senren::common::SortResources(&after);
  std::vector<Result> results;
  size_t sink = 0;
  results.push_back(Measure("diff_" + std::to_string(count), n,
                            [&] { sink += senren::common::DiffResources(before, after).size(); }));

  // 2. The plane's whole plan step: desired snapshot vs the CRs of the cluster (JSON as the
  //    informer holds them), conversion and canonicalization included. Steady state: nothing
  //    to do; and 1 % changed.
  plane::PlanInput input;
  input.region = "aws:us-east-1";
  input.ns = "senren";
  input.version = 2;
  input.desired = Region(count, 0);
  for (const auto& r : Region(count, 0)) {
    plane::Json cr = plane::ResourceToCr(r, {input.region, input.ns, 1, ""});
    cr["metadata"]["uid"] = "uid-" + r.name();
    cr["metadata"]["resourceVersion"] = "100";
    input.current[senren::common::KindOf(r)].push_back(
        std::make_shared<const plane::Json>(std::move(cr)));
  }
  results.push_back(Measure("plan_" + std::to_string(count) + "_unchanged", n,
                            [&] { sink += plane::PlanReconcile(input).unchanged; }));
  input.desired = Region(count, 100);
  results.push_back(Measure("plan_" + std::to_string(count) + "_1pct_changed", n,
                            [&] { sink += plane::PlanReconcile(input).applies.size(); }));
  // As the plane runs it: CR derivations memoized across reconciles (CrViewCache).
  plane::CrViewCache cache;
  input.cache = &cache;
  input.desired = Region(count, 0);
  results.push_back(Measure("plan_" + std::to_string(count) + "_unchanged_cached", n,
                            [&] { sink += plane::PlanReconcile(input).unchanged; }));
  input.desired = Region(count, 100);
  results.push_back(Measure("plan_" + std::to_string(count) + "_1pct_changed_cached", n,
                            [&] { sink += plane::PlanReconcile(input).applies.size(); }));

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  std::printf("%-34s %8s %8s %8s %8s %6s %10s\n", "regional_bench (CPU ms)", "p50", "p90", "p99",
              "max", "n", "wall p50");
  for (const Result& r : results) {
    const double p50 = Percentile(r.ms, 0.50), p90 = Percentile(r.ms, 0.90),
                 p99 = Percentile(r.ms, 0.99), mx = *std::max_element(r.ms.begin(), r.ms.end());
    const double wall50 = Percentile(r.wall_ms, 0.50);
    std::printf("%-34s %8.3f %8.3f %8.3f %8.3f %6zu %10.3f\n", r.name.c_str(), p50, p90, p99, mx,
                r.ms.size(), wall50);
    nlohmann::json j = {{"benchmark", "regional_" + r.name},
                        {"unit", "ms (thread CPU time)"},
                        {"p50", p50},
                        {"p90", p90},
                        {"p99", p99},
                        {"max", mx},
                        {"n", r.ms.size()},
                        {"wall_p50", wall50}};
    std::ofstream(out_dir + "/regional_" + r.name + ".json") << j.dump(2) << "\n";
  }
  return sink == 0 ? 1 : 0;
}
