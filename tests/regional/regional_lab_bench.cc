// regional_lab_bench: the regional plane on the lab (docs/design.md §11).
//  - snapshot published → CRs written and the version cached (in-process plane, lab
//    cluster 0, the lab's Kafka), one changed resource per version;
//  - a CR's .status written → its ResourceStatus read back from {prefix}-status;
//  - restart with a warm cache → first reconcile done.
// Writes bench/results/regional_<case>.json (p50, p90, p99, max, n in ms) and prints a table.
//
//  - the same with K resources changed per version, one CR apply at a time against
//    RegionalPlaneOptions::apply_concurrency at once, alternating in one run.
//
//   eval "$(tools/lab env)"; regional_lab_bench [--n 50] [--resources 200] [--out bench/results]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "regional/plane/outbox_relay.h"
#include "regional/plane/regional_plane.h"
#include "regional/plane/snapshot_source.h"
#include "regional/plane/state_cache.h"
#include "regional/plane/status_outbox.h"
#include "regional_lab.h"

namespace {

namespace fs = std::filesystem;
using namespace senren::regional::plane;  // NOLINT: benchmark driver

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void Report(const std::string& out_dir, const std::string& name, const std::vector<double>& ms) {
  const double p50 = Pct(ms, .5), p90 = Pct(ms, .9), p99 = Pct(ms, .99),
               mx = *std::max_element(ms.begin(), ms.end());
  std::printf("%-36s %9.2f %9.2f %9.2f %9.2f %5zu\n", name.c_str(), p50, p90, p99, mx, ms.size());
  lab::Json j = {{"benchmark", "regional_" + name},
                 {"unit", "ms"},
                 {"p50", p50},
                 {"p90", p90},
                 {"p99", p99},
                 {"max", mx},
                 {"n", ms.size()}};
  std::ofstream(out_dir + "/regional_" + name + ".json") << j.dump(2) << "\n";
}

struct Plane {
  std::unique_ptr<RocksDbStateCache> cache;
  std::unique_ptr<SqliteStatusOutbox> outbox;
  std::unique_ptr<senren::kafka::Producer> producer;
  std::unique_ptr<OutboxRelay> relay;
  std::unique_ptr<KafkaSnapshotSource> source;
  std::unique_ptr<RegionalPlane> plane;
};

std::unique_ptr<Plane> StartPlane(
    senren::regional::kube::KubeClient* client, const fs::path& dir, const std::string& prefix,
    const std::string& ns, std::shared_ptr<const senren::common::SnapshotVerifier> verifier,
    int apply_concurrency = RegionalPlaneOptions{}.apply_concurrency) {
  const auto& env = senren::testing::Lab();
  auto p = std::make_unique<Plane>();
  RocksDbStateCacheOptions co;
  co.path = (dir / "cache").string();
  p->cache = std::move(*RocksDbStateCache::Open(co));
  p->outbox = std::move(*SqliteStatusOutbox::Open((dir / "outbox.sqlite").string()));
  p->producer = std::move(*senren::kafka::Producer::Create({env.kafka_brokers}));
  p->relay = std::make_unique<OutboxRelay>(p->outbox.get(), p->producer.get(),
                                           OutboxRelayOptions{prefix + "-status"});
  p->relay->Start();
  p->source = std::make_unique<KafkaSnapshotSource>(senren::kafka::Connection{env.kafka_brokers},
                                                    prefix + "-state", env.clusters[0].region);
  // Verified as senren-regional verifies: the signature check is part of the measured path.
  p->source->RequireSignatures(std::move(verifier));
  RegionalPlaneOptions o;
  o.region = env.clusters[0].region;
  o.cluster = env.clusters[0].cluster;
  o.ns = ns;
  o.apply_concurrency = apply_concurrency;
  auto* relay = p->relay.get();
  p->plane = std::make_unique<RegionalPlane>(o, client, p->source.get(), p->cache.get(),
                                             p->outbox.get(), [relay] { relay->Notify(); });
  if (!p->plane->Start().ok()) std::abort();
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 50;
  int resources = 200;
  std::string out_dir = "bench/results";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--resources")) resources = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--out")) out_dir = argv[i + 1];
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  const auto& env = senren::testing::Lab();
  const std::string region = env.clusters[0].region;
  const std::string prefix = senren::testing::UniqueName("rbench");
  auto client = lab::LabClient(0);
  lab::ScopedNamespace ns(client.get(), senren::testing::UniqueName("rbench"));
  lab::StateProducer states(prefix);
  senren::kafka::EnsureTopic({env.kafka_brokers},
                             {prefix + "-status", 12, 1, {{"cleanup.policy", "compact"}}})
      .IgnoreError();
  const fs::path dir = fs::temp_directory_path() / senren::testing::UniqueName("rbench-data");
  fs::create_directories(dir);

  auto state = [&](uint64_t version) {
    std::vector<senren::v1::Resource> rs;
    for (int i = 0; i < resources; ++i) {
      // Resource (version % resources) changes with each version.
      const bool bumped = static_cast<uint64_t>(i) == version % static_cast<uint64_t>(resources);
      rs.push_back(
          lab::Redis("r" + std::to_string(i), bumped ? 64 + static_cast<uint32_t>(version) : 64));
    }
    return lab::State(region, version, std::move(rs));
  };

  std::printf("%-36s %9s %9s %9s %9s %5s\n", "regional_lab_bench (ms)", "p50", "p90", "p99", "max",
              "n");
  std::vector<double> consume;
  std::vector<double> status;
  uint64_t version = 1;
  {
    auto p = StartPlane(client.get(), dir, prefix, ns.name(), states.verifier());
    states.Publish(state(version));
    if (!p->plane->WaitForVersion(version, absl::Seconds(120))) std::abort();
    for (int i = 0; i < n; ++i) {
      ++version;
      const auto t0 = std::chrono::steady_clock::now();
      states.Publish(state(version));
      if (!p->plane->WaitForVersion(version, absl::Seconds(30))) std::abort();
      consume.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    // CR status written (as senren-controller does) → its ResourceStatus read back from
    // {prefix}-status.
    lab::StatusReader reader(prefix);
    const std::string key = region + "/" + env.clusters[0].cluster + "/RedisDatabase/r0";
    for (int i = -1; i < n; ++i) {  // i = -1 warms the reader up (assignment, first fetch)
      auto cr = client->Get(senren::regional::kube::resources::RedisDatabases(), ns.name(), "r0");
      if (!cr.ok()) std::abort();
      const std::string message = "bench " + std::to_string(i);
      (*cr)["status"] = {{"ready", i % 2 == 0}, {"phase", "Provisioning"}, {"message", message}};
      const auto t0 = std::chrono::steady_clock::now();
      if (!client->UpdateStatus(senren::regional::kube::resources::RedisDatabases(), ns.name(), *cr)
               .ok()) {
        std::abort();
      }
      const bool seen = reader.WaitFor([&](const auto& latest) {
        auto it = latest.find(key);
        senren::v1::ResourceStatus st;
        return it != latest.end() && it->second && st.ParseFromString(*it->second) &&
               st.message() == message;
      });
      if (!seen) std::abort();
      if (i >= 0)
        status.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
    }
    p->plane->Stop();
    p->relay->Stop();
  }
  Report(out_dir, "snapshot_to_crs_written", consume);
  Report(out_dir, "cr_status_to_status_topic", status);

  // K resources change per version (the K after the previous version's K): one apply at a
  // time against the default concurrency, rounds alternating so both see the same minutes.
  const int parallel = RegionalPlaneOptions{}.apply_concurrency;
  for (int k : {2, 20}) {
    auto changed = [&](uint64_t v) {
      std::vector<senren::v1::Resource> rs;
      for (int i = 0; i < resources; ++i) {
        const uint64_t from = v * static_cast<uint64_t>(k) % static_cast<uint64_t>(resources);
        const bool bumped = (static_cast<uint64_t>(i) + static_cast<uint64_t>(resources) - from) %
                                static_cast<uint64_t>(resources) <
                            static_cast<uint64_t>(k);
        rs.push_back(
            lab::Redis("r" + std::to_string(i), bumped ? 65 + static_cast<uint32_t>(v % 50) : 64));
      }
      return lab::State(region, v, std::move(rs));
    };
    std::map<int, std::vector<double>> by_concurrency;
    for (int round = 0; round < 4; ++round) {
      for (int c : round % 2 == 0 ? std::vector<int>{1, parallel} : std::vector<int>{parallel, 1}) {
        auto p = StartPlane(client.get(), dir, prefix, ns.name(), states.verifier(), c);
        if (!p->plane->WaitForFirstReconcile(absl::Seconds(60))) std::abort();
        for (int i = 0; i < std::max(5, n / 4); ++i) {
          ++version;
          const auto t0 = std::chrono::steady_clock::now();
          states.Publish(changed(version));
          if (!p->plane->WaitForVersion(version, absl::Seconds(60))) std::abort();
          by_concurrency[c].push_back(
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count());
        }
        p->plane->Stop();
        p->relay->Stop();
      }
    }
    for (const auto& [c, ms] : by_concurrency) {
      Report(
          out_dir,
          "snapshot_to_crs_" + std::to_string(2 * k) + "_changed_concurrency_" + std::to_string(c),
          ms);
    }
  }

  std::vector<double> restart;
  for (int i = 0; i < std::max(5, n / 5); ++i) {
    auto p = StartPlane(client.get(), dir, prefix, ns.name(), states.verifier());
    if (!p->plane->WaitForFirstReconcile(absl::Seconds(30))) std::abort();
    const auto st = p->plane->stats();
    if (!st.first_reconcile_from_cache) std::abort();
    restart.push_back(absl::ToDoubleMilliseconds(st.first_reconcile));
    p->plane->Stop();
    p->relay->Stop();
  }
  Report(out_dir, "restart_warm_first_reconcile_" + std::to_string(resources), restart);
  fs::remove_all(dir);
  return 0;
}
