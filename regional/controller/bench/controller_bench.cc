// senren-controller on a lab cluster (kwok): CR created → StatefulSet exists and CR created
// → status Ready, p50/p90/p99 over --n CRs created one after another; with --bulk N, N CRs
// created at once → time until all are Ready and the process's memory; with --steady S
// (default 60) the writes per minute of the converged --n CRs, plus max(2, n/10) Redis with
// aof and as many Aerospike clusters with a device namespace, over S seconds (0 expected:
// a converged CR costs no write), at the resync period --resync (default 30 s). The
// controller runs in this process (same code as the binary), in a namespace of its own.
//
//   controller_bench [--n 100] [--bulk 0] [--bulk-timeout 600] [--kubeconfig PATH]
//                    [--steady 60] [--resync 30] [--out bench/results]
//
// Writes bench/results/controller_<case>.json (p50, p90, p99, max, n) and prints a table.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "regional/controller/controller.h"
#include "regional/kube/curl_kube_client.h"
#include "regional/kube/informer.h"

namespace {

using senren::regional::controller::Controller;
using senren::regional::controller::ControllerOptions;
using senren::regional::controller::Metrics;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
namespace kube = senren::regional::kube;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

long RssMb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) / 1024;
  }
  return 0;
}

// Times of first sighting, filled by informer callbacks.
struct Sightings {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Clock::time_point> sts;    // by CR name
  std::map<std::string, Clock::time_point> ready;  // by CR name
};

Json Redis(const std::string& name, int memory_mb = 64) {
  return {{"apiVersion", "senren.io/v1alpha1"},
          {"kind", "RedisDatabase"},
          {"metadata", {{"name", name}}},
          {"spec", {{"memoryMb", memory_mb}, {"replicas", 1}}}};
}

// The kinds of children the latency CRs do not have: claim templates (Redis aof) and an
// Aerospike cluster's ConfigMap and claims, for the steady phase.
Json RedisAof(const std::string& name) {
  Json cr = Redis(name, 1024);
  cr["spec"]["persistence"] = "aof";
  cr["spec"]["replicas"] = 2;
  return cr;
}

Json AerospikeDevice(const std::string& name) {
  return {
      {"apiVersion", "senren.io/v1alpha1"},
      {"kind", "AerospikeCluster"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"size", 2},
        {"namespaces", Json::array({{{"name", "cache"}, {"replicationFactor", 2}, {"memoryMb", 64}},
                                    {{"name", "disk"},
                                     {"replicationFactor", 2},
                                     {"memoryMb", 1024},
                                     {"storage", "device"}}})}}}};
}

bool CrReady(kube::KubeClient* kc, const kube::Resource& r, const std::string& ns,
             const std::string& name) {
  auto got = kc->Get(r, ns, name);
  return got.ok() && got->contains("status") && (*got)["status"].value("ready", false);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 100;
  int bulk = 0;
  int bulk_timeout_s = 600;
  int steady_s = 60;
  int resync_s = 30;
  std::string kubeconfig;
  std::string out_dir = "bench/results";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--bulk")) bulk = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--bulk-timeout")) bulk_timeout_s = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--kubeconfig")) kubeconfig = argv[i + 1];
    if (!std::strcmp(argv[i], "--out")) out_dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--steady")) steady_s = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--resync")) resync_s = std::atoi(argv[i + 1]);
  }
  if (kubeconfig.empty()) {
    const char* kcs = std::getenv("SENREN_KUBECONFIGS");
    if (kcs != nullptr && *kcs != '\0') {
      kubeconfig = std::string(kcs).substr(0, std::string(kcs).find(' '));
    } else {
      kubeconfig =
          std::string(std::getenv("HOME")) + "/.senren/lab/kube/aws-us-east-1-prod/kubeconfig";
    }
  }
  auto config = kube::LoadKubeConfig(kubeconfig);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 1;
  }
  auto client = kube::CurlKubeClient::Create(*config);
  if (!client.ok()) return 1;
  kube::KubeClient* kc = client->get();
  const std::string ns = "bench-ctl-" + std::to_string(::getpid());
  auto created_ns =
      kc->Create(kube::resources::Namespaces(), "",
                 {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  if (!created_ns.ok()) {
    std::fprintf(stderr, "%s\n", created_ns.status().ToString().c_str());
    return 1;
  }

  Sightings seen;
  kube::InformerOptions cr_opts;
  cr_opts.resource = kube::resources::RedisDatabases();
  cr_opts.ns = ns;
  kube::Informer crs(kc, cr_opts);
  auto on_cr = [&](const kube::ObjectPtr& o) {
    if (!o->contains("status") || !(*o)["status"].value("ready", false)) return;
    std::lock_guard<std::mutex> lock(seen.mu);
    seen.ready.emplace((*o)["metadata"].value("name", ""), Clock::now());
    seen.cv.notify_all();
  };
  crs.AddEventHandlers(
      {on_cr, [&](const kube::ObjectPtr&, const kube::ObjectPtr& o) { on_cr(o); }, nullptr});
  kube::InformerOptions sts_opts;
  sts_opts.resource = kube::resources::StatefulSets();
  sts_opts.ns = ns;
  kube::Informer sts(kc, sts_opts);
  sts.AddEventHandlers({[&](const kube::ObjectPtr& o) {
                          const Json labels = (*o)["metadata"].value("labels", Json::object());
                          std::lock_guard<std::mutex> lock(seen.mu);
                          seen.sts.emplace(labels.value("app.kubernetes.io/instance", ""),
                                           Clock::now());
                          seen.cv.notify_all();
                        },
                        nullptr, nullptr});
  crs.Start();
  sts.Start();
  crs.WaitForSync(std::chrono::seconds(30));
  sts.WaitForSync(std::chrono::seconds(30));

  Metrics metrics;
  ControllerOptions options;
  options.ns = ns;
  options.resync = std::chrono::seconds(resync_s);
  Controller controller(kc, options, &metrics);
  controller.Start();
  controller.WaitForSync(std::chrono::seconds(30));

  std::vector<double> to_sts;
  std::vector<double> to_ready;
  for (int i = 0; i < n; ++i) {
    const std::string name = "lat-" + std::to_string(i);
    const auto t0 = Clock::now();
    // Half in whole GiB, which the apiserver returns as "1Gi": the steady phase shows
    // whether that reads back as drift.
    auto c = kc->Create(kube::resources::RedisDatabases(), ns, Redis(name, i % 2 == 0 ? 1024 : 64));
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
      return 1;
    }
    std::unique_lock<std::mutex> lock(seen.mu);
    if (!seen.cv.wait_for(lock, std::chrono::seconds(120),
                          [&] { return seen.ready.contains(name); })) {
      std::fprintf(stderr, "%s did not become ready\n", name.c_str());
      return 1;
    }
    to_sts.push_back(std::chrono::duration<double, std::milli>(seen.sts[name] - t0).count());
    to_ready.push_back(std::chrono::duration<double, std::milli>(seen.ready[name] - t0).count());
  }

  std::filesystem::create_directories(out_dir);
  std::printf("%-36s %9s %9s %9s %9s %6s\n", "controller_bench (ms)", "p50", "p90", "p99", "max",
              "n");
  auto report = [&](const std::string& name, const std::vector<double>& ms) {
    const double p50 = Percentile(ms, 0.5), p90 = Percentile(ms, 0.9), p99 = Percentile(ms, 0.99),
                 mx = ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end());
    std::printf("%-36s %9.1f %9.1f %9.1f %9.1f %6zu\n", name.c_str(), p50, p90, p99, mx, ms.size());
    Json j = {{"name", name}, {"unit", "ms"}, {"p50", p50},    {"p90", p90},
              {"p99", p99},   {"max", mx},    {"n", ms.size()}};
    std::ofstream(out_dir + "/controller_" + name + ".json") << j.dump(2) << "\n";
  };
  report("cr_to_statefulset", to_sts);
  report("cr_to_ready", to_ready);
  std::fflush(stdout);

  if (steady_s > 0) {
    // Beside the n latency CRs, m Redis with aof (claim templates) and m Aerospike clusters
    // with a device namespace (ConfigMap, claims): every kind of child the controller writes.
    const int m = std::max(2, n / 10);
    std::vector<std::pair<kube::Resource, std::string>> extra;
    for (int i = 0; i < m; ++i) {
      const std::string aof = "aof-" + std::to_string(i), asd = "asd-" + std::to_string(i);
      if (!kc->Create(kube::resources::RedisDatabases(), ns, RedisAof(aof)).ok() ||
          !kc->Create(kube::resources::AerospikeClusters(), ns, AerospikeDevice(asd)).ok()) {
        std::fprintf(stderr, "cannot create the steady phase's CRs\n");
        return 1;
      }
      extra.push_back({kube::resources::RedisDatabases(), aof});
      extra.push_back({kube::resources::AerospikeClusters(), asd});
    }
    for (const auto& [resource, name] : extra) {
      const auto deadline = Clock::now() + std::chrono::seconds(180);
      while (!CrReady(kc, resource, ns, name)) {
        if (Clock::now() > deadline) {
          std::fprintf(stderr, "%s did not become ready\n", name.c_str());
          return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    // Steady state: every CR Ready, nothing changes; each resync reconciles all of them.
    // A converged controller writes nothing (no child apply, no status write).
    auto successes = [&] {
      return metrics.Value("senren_controller_reconciles_total",
                           "kind=\"RedisDatabase\",result=\"success\"") +
             metrics.Value("senren_controller_reconciles_total",
                           "kind=\"AerospikeCluster\",result=\"success\"");
    };
    // The last status writes of the extra CRs (Ready) may still be on their way.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const int64_t applies = controller.child_applies();
    const int64_t writes = controller.status_writes();
    const double reconciles = successes();
    std::this_thread::sleep_for(std::chrono::seconds(steady_s));
    const double minutes = steady_s / 60.0;
    const double writes_per_min = static_cast<double>(controller.child_applies() - applies +
                                                      controller.status_writes() - writes) /
                                  minutes;
    const double reconciles_per_min = (successes() - reconciles) / minutes;
    const int steady_n = n + 2 * m;
    std::printf("steady %d CRs over %d s (resync %d s): %.1f writes/min, %.1f reconciles/min\n",
                steady_n, steady_s, resync_s, writes_per_min, reconciles_per_min);
    std::fflush(stdout);
    Json j = {{"name", "steady"},
              {"n", steady_n},
              {"seconds", steady_s},
              {"resync_seconds", resync_s},
              {"writes_per_minute", writes_per_min},
              {"reconciles_per_minute", reconciles_per_min}};
    std::ofstream(out_dir + "/controller_steady.json") << j.dump(2) << "\n";
  }

  if (bulk > 0) {
    const auto t0 = Clock::now();
    std::vector<std::thread> creators;
    std::atomic<int> next{0};
    for (int t = 0; t < 8; ++t) {
      creators.emplace_back([&] {
        for (int i = next++; i < bulk; i = next++) {
          kc->Create(kube::resources::RedisDatabases(), ns, Redis("bulk-" + std::to_string(i)))
              .status()
              .IgnoreError();
        }
      });
    }
    for (auto& t : creators) t.join();
    const double created_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::unique_lock<std::mutex> lock(seen.mu);
    // Every StatefulSet exists: the controller's own throughput.
    seen.cv.wait_for(lock, std::chrono::seconds(bulk_timeout_s),
                     [&] { return seen.sts.size() >= static_cast<size_t>(n + bulk); });
    const double all_sts_s = std::chrono::duration<double>(Clock::now() - t0).count();
    // Every CR Ready: also the StatefulSet controller, scheduler and kwok.
    seen.cv.wait_for(lock, std::chrono::seconds(bulk_timeout_s),
                     [&] { return seen.ready.size() >= static_cast<size_t>(n + bulk); });
    const double all_ready_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const size_t ready = seen.ready.size() - static_cast<size_t>(n);
    lock.unlock();
    const long rss = RssMb();
    std::printf("bulk %d CRs: created in %.1f s, all StatefulSets after %.1f s, %zu ready after "
                "%.1f s, process RSS %ld MiB\n",
                bulk, created_s, all_sts_s, ready, all_ready_s, rss);
    std::fflush(stdout);
    Json j = {{"name", "bulk"},
              {"n", bulk},
              {"ready", ready},
              {"created_seconds", created_s},
              {"all_statefulsets_seconds", all_sts_s},
              {"all_ready_seconds", all_ready_s},
              {"rss_mib", rss},
              {"note", "RSS of the bench process: controller plus the bench's own two informers"}};
    std::ofstream(out_dir + "/controller_bulk_" + std::to_string(bulk) + ".json")
        << j.dump(2) << "\n";
  }
  controller.Stop();
  crs.Stop();
  sts.Stop();
  kc->Delete(kube::resources::Namespaces(), "", ns, {}).IgnoreError();
  return 0;
}
