// senren-regional: wiring only (flags, kubeconfig, Kafka, data dir, signals). The logic
// lives in the senren_regional_plane library.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kafka/kafka.h"
#include "regional/kube/curl_kube_client.h"
#include "regional/kube/kubeconfig.h"
#include "regional/plane/outbox_relay.h"
#include "regional/plane/regional_plane.h"
#include "regional/plane/snapshot_source.h"
#include "regional/plane/state_cache.h"
#include "regional/plane/status_outbox.h"

namespace {

using namespace senren::regional;  // NOLINT: wiring file

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

std::string CachePath(const std::string& data_dir) { return data_dir + "/cache"; }

int History(const std::string& data_dir, size_t limit, const std::string& output) {
  plane::RocksDbStateCacheOptions o;
  o.path = CachePath(data_dir);
  o.read_only = true;
  if (!std::filesystem::exists(o.path + "/CURRENT")) {
    std::cerr << "no state cache under " << data_dir << " (nothing applied yet)\n";
    return 1;
  }
  auto cache = plane::RocksDbStateCache::Open(o);
  if (!cache.ok()) {
    std::cerr << cache.status().message() << "\n";
    return 1;
  }
  auto history = (*cache)->History(limit);
  if (!history.ok()) {
    std::cerr << history.status().message() << "\n";
    return 1;
  }
  if (output == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : *history) {
      out.push_back({{"version", e.version},
                     {"applied_at", absl::FormatTime(absl::RFC3339_sec, e.applied_at,
                                                     absl::UTCTimeZone())},
                     {"result", plane::ApplyResultName(e.result)},
                     {"reason", e.reason},
                     {"created", e.created},
                     {"updated", e.updated},
                     {"deleted", e.deleted},
                     {"total", e.total},
                     {"offset", e.offset},
                     {"author", e.author},
                     {"message", e.message}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%-8s %-20s %-9s %7s %7s %7s %7s %8s  %s\n", "VERSION", "APPLIED", "RESULT",
              "TOTAL", "CREATED", "UPDATED", "DELETED", "OFFSET", "MESSAGE / REASON");
  for (const auto& e : *history) {
    std::string note = e.message;
    if (!e.reason.empty()) note = note.empty() ? e.reason : note + " — " + e.reason;
    std::printf("%-8llu %-20s %-9s %7u %7u %7u %7u %8lld  %s\n",
                static_cast<unsigned long long>(e.version),
                absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", e.applied_at, absl::UTCTimeZone()).c_str(),
                plane::ApplyResultName(e.result).c_str(), e.total, e.created, e.updated, e.deleted,
                static_cast<long long>(e.offset), note.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"senren-regional: makes one cluster match its region's newest RegionalState "
               "and reports status back (docs/design.md §5)"};
  std::string region, cluster, kubeconfig, context, brokers = "127.0.0.1:59092";
  std::string prefix = "senren", ns = "senren", data_dir, log_level = "info";
  int heartbeat_s = 10, resync_s = 30, status_partitions = 12;
  app.add_option("--region", region, "Region key, e.g. aws:us-east-1");
  app.add_option("--cluster", cluster, "Cluster name within the region, e.g. prod");
  app.add_option("--kubeconfig", kubeconfig,
                 "Kubeconfig (default: $KUBECONFIG, the in-cluster service account, ~/.kube/config)");
  app.add_option("--context", context, "Kubeconfig context (default: current)");
  app.add_option("--brokers", brokers, "Kafka bootstrap servers (default: 127.0.0.1:59092)");
  app.add_option("--topic-prefix", prefix, "Topic prefix: {prefix}-state, {prefix}-status (default: senren)");
  app.add_option("--namespace", ns, "Namespace of the CRs (default: senren)");
  app.add_option("--data-dir", data_dir, "Folder of the state cache and the status outbox");
  app.add_option("--heartbeat-interval", heartbeat_s, "Seconds between ClusterReport heartbeats (default: 10)");
  app.add_option("--resync-interval", resync_s, "Seconds between full resyncs (default: 30)");
  app.add_option("--status-partitions", status_partitions,
                 "Partitions of {prefix}-status when the plane creates it (default: 12)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error (default: info)");
  auto* history = app.add_subcommand("history", "Show the versions this plane applied locally");
  std::string history_dir, output = "table";
  size_t limit = 50;
  history->add_option("--data-dir", history_dir, "Data dir of the plane")->required();
  history->add_option("--limit", limit, "Newest N versions (default: 50)");
  history->add_option("--output", output, "table|json (default: table)");
  CLI11_PARSE(app, argc, argv);

  if (history->parsed()) return History(history_dir, limit, output);
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (region.empty() || cluster.empty() || data_dir.empty()) {
    std::cerr << "--region, --cluster and --data-dir are required\n";
    return 2;
  }

  auto config = kube::ResolveKubeConfig(kubeconfig, context);
  if (!config.ok()) {
    spdlog::error("{}", config.status().ToString());
    return 1;
  }
  auto client = kube::CurlKubeClient::Create(*config);
  if (!client.ok()) {
    spdlog::error("{}", client.status().ToString());
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    spdlog::error("creating data dir {}: {}", data_dir, ec.message());
    return 1;
  }
  plane::RocksDbStateCacheOptions co;
  co.path = CachePath(data_dir);
  auto cache = plane::RocksDbStateCache::Open(co);
  if (!cache.ok()) {
    spdlog::error("{}", cache.status().ToString());
    return 1;
  }
  auto outbox = plane::SqliteStatusOutbox::Open(data_dir + "/outbox.sqlite");
  if (!outbox.ok()) {
    spdlog::error("{}", outbox.status().ToString());
    return 1;
  }
  auto producer = senren::kafka::Producer::Create(brokers);
  if (!producer.ok()) {
    spdlog::error("{}", producer.status().ToString());
    return 1;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  const std::string status_topic = prefix + "-status";
  plane::OutboxRelayOptions ro;
  ro.topic = status_topic;
  plane::OutboxRelay relay(outbox->get(), producer->get(), ro);
  plane::KafkaSnapshotSource source(brokers, prefix + "-state", region);

  plane::RegionalPlaneOptions po;
  po.region = region;
  po.cluster = cluster;
  po.ns = ns;
  po.heartbeat_interval = std::chrono::seconds(heartbeat_s);
  po.resync_interval = std::chrono::seconds(resync_s);
  plane::RegionalPlane rp(po, client->get(), &source, cache->get(), outbox->get(),
                          [&relay] { relay.Notify(); });
  spdlog::info("senren-regional {}/{} on {} (namespace {}), Kafka {} ({}-state → {})", region,
               cluster, (*client)->config().server, ns, brokers, prefix, status_topic);
  if (absl::Status s = rp.Start(); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  // The status topic is created (compacted) when missing; the relay starts once it exists,
  // and the outbox keeps everything meanwhile.
  std::thread topic_thread([&] {
    senren::kafka::TopicSpec spec{status_topic, status_partitions, 1,
                                  {{"cleanup.policy", "compact"},
                                   {"min.compaction.lag.ms", "0"},
                                   {"segment.ms", "3600000"}}};
    while (!g_stop.load()) {
      absl::Status s = senren::kafka::EnsureTopic(brokers, spec, std::chrono::seconds(10));
      if (s.ok()) {
        relay.Start();
        return;
      }
      spdlog::warn("creating {}: {}; retrying", status_topic, s.ToString());
      for (int i = 0; i < 20 && !g_stop.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
  bool logged_first = false;
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!logged_first && rp.WaitForFirstReconcile(absl::ZeroDuration())) {
      logged_first = true;
      const auto st = rp.stats();
      spdlog::info("first reconcile done {} after start ({})",
                   absl::FormatDuration(st.first_reconcile),
                   st.first_reconcile_from_cache ? "from the state cache" : "from Kafka");
    }
  }
  spdlog::info("stopping");
  topic_thread.join();
  rp.Stop();
  relay.Stop();
  (void)(*producer)->Flush(std::chrono::seconds(2));
  return 0;
}
