// senren-regional: wiring only (flags, kubeconfig, Kafka, data dir, leader election,
// signals, metrics). The logic lives in the senren_regional_plane library.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/snapshot_signature.h"
#include "daemon/daemon.h"
#include "kafka/kafka.h"
#include "regional/kube/curl_kube_client.h"
#include "regional/kube/kubeconfig.h"
#include "regional/kube/leader_election.h"
#include "regional/plane/outbox_relay.h"
#include "regional/plane/regional_plane.h"
#include "regional/plane/snapshot_source.h"
#include "regional/plane/state_cache.h"
#include "regional/plane/status_outbox.h"

namespace {

using namespace senren::regional;  // NOLINT: wiring file

std::string CachePath(const std::string& data_dir) { return data_dir + "/cache"; }

// "<host>-<pid>-<6 hex digits>": the random part tells apart two runs that reuse a pid
// (containers), so a restarted plane never mistakes its predecessor's Lease for its own.
std::string DefaultIdentity() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof(suffix), "%06x", rd() & 0xffffffu);
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + suffix;
}

std::chrono::milliseconds Seconds(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(s * 1000)));
}

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
      out.push_back(
          {{"version", e.version},
           {"applied_at", absl::FormatTime(absl::RFC3339_sec, e.applied_at, absl::UTCTimeZone())},
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
  std::printf("%-8s %-20s %-9s %7s %7s %7s %7s %8s  %s\n", "VERSION", "APPLIED", "RESULT", "TOTAL",
              "CREATED", "UPDATED", "DELETED", "OFFSET", "MESSAGE / REASON");
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
  std::string region, cluster, kubeconfig, context, brokers, kafka_config;
  std::string prefix = "senren", ns = "senren", data_dir;
  senren::daemon::DaemonFlags daemon_flags;
  int heartbeat_s = 10, resync_s = 30, status_partitions = 12, apply_concurrency = 8;
  bool leader_elect = true;
  double lease_s = 15, renew_s = 10, retry_s = 2;
  std::string lease_namespace, lease_name, identity = DefaultIdentity();
  std::vector<std::string> verify_keys;
  bool insecure_unsigned = false;
  app.add_option("--region", region, "Region key, e.g. aws:us-east-1");
  app.add_option("--cluster", cluster, "Cluster name within the region, e.g. prod");
  app.add_option(
      "--kubeconfig", kubeconfig,
      "Kubeconfig (default: $KUBECONFIG, the in-cluster service account, ~/.kube/config)");
  app.add_option("--context", context, "Kubeconfig context (default: current)");
  app.add_option("--brokers", brokers,
                 "Kafka bootstrap servers; wins over bootstrap.servers of --kafka-config "
                 "(default: 127.0.0.1:59092)");
  app.add_option("--kafka-config", kafka_config,
                 "librdkafka properties, name=value a line (security.protocol, sasl.*, ssl.*; "
                 "like kcat -F); the plane's Kafka identity. Default: none (PLAINTEXT)");
  app.add_option("--topic-prefix", prefix,
                 "Topic prefix: {prefix}-state, {prefix}-status (default: senren)");
  app.add_option("--namespace", ns, "Namespace of the CRs (default: senren)");
  app.add_option("--data-dir", data_dir, "Folder of the state cache and the status outbox");
  app.add_option("--heartbeat-interval", heartbeat_s,
                 "Seconds between ClusterReport heartbeats (default: 10)");
  app.add_option("--resync-interval", resync_s, "Seconds between full resyncs (default: 30)");
  app.add_option("--apply-concurrency", apply_concurrency,
                 "CR applies of one reconcile in flight at once (default: 8; 1 = one by one)")
      ->check(CLI::Range(1, 64));
  app.add_option("--status-partitions", status_partitions,
                 "Partitions of {prefix}-status when the plane creates it (default: 12)");
  senren::daemon::AddDaemonFlags(app, daemon_flags);
  app.add_flag("--leader-elect,!--no-leader-elect", leader_elect,
               "Write only while holding the Lease, so one plane writes per cluster (default: on)");
  app.add_option("--lease-duration", lease_s,
                 "Seconds a Lease stays valid without renewal (default: 15)");
  app.add_option("--renew-deadline", renew_s,
                 "Seconds after its last renewal at which a leader stops writing (default: 10)");
  app.add_option("--retry-period", retry_s,
                 "Seconds between attempts to acquire or renew the Lease (default: 2)");
  app.add_option("--leader-election-namespace", lease_namespace,
                 "Namespace of the Lease (default: --namespace)");
  app.add_option(
      "--leader-election-name", lease_name,
      "Lease name (default: senren-regional-<region>, e.g. senren-regional-aws.us-east-1)");
  app.add_option("--identity", identity,
                 "This plane's identity in the Lease (default: host-pid-random)");
  app.add_option("--snapshot-verify-key", verify_keys,
                 "PEM Ed25519 public key the snapshots must be signed with; repeat it (or put "
                 "several keys in one file) to trust a set during a rotation. Unsigned or "
                 "otherwise signed snapshots are refused and reported");
  app.add_flag("--insecure-unsigned-snapshots", insecure_unsigned,
               "Apply snapshots without verifying any signature: anyone who can write the "
               "state topic commands the cluster (default: off; without it a plane with no "
               "--snapshot-verify-key does not start)");
  auto* history = app.add_subcommand("history", "Show the versions this plane applied locally");
  std::string history_dir, output = "table";
  size_t limit = 50;
  history->add_option("--data-dir", history_dir, "Data dir of the plane")->required();
  history->add_option("--limit", limit, "Newest N versions (default: 50)");
  history->add_option("--output", output, "table|json (default: table)");
  CLI11_PARSE(app, argc, argv);

  if (history->parsed()) return History(history_dir, limit, output);
  // First, before any thread starts (the Kafka and kube clients start some): it blocks
  // SIGINT/SIGTERM for every later thread.
  auto created = senren::daemon::Daemon::Create("senren-regional", daemon_flags);
  if (!created.ok()) {
    std::cerr << created.status().message() << "\n";
    return 2;
  }
  senren::daemon::Daemon& daemon = **created;
  if (region.empty() || cluster.empty() || data_dir.empty()) {
    std::cerr << "--region, --cluster and --data-dir are required\n";
    return 2;
  }
  // Whoever can write the state topic would command the cluster: a plane verifies unless
  // told in so many words not to, and never both.
  std::shared_ptr<const senren::common::SnapshotVerifier> verifier;
  if (!verify_keys.empty() && insecure_unsigned) {
    std::cerr << "--snapshot-verify-key and --insecure-unsigned-snapshots exclude each other\n";
    return 2;
  }
  if (verify_keys.empty() && !insecure_unsigned) {
    std::cerr << "no --snapshot-verify-key: give the public key(s) the snapshot projector signs "
                 "with (docs/deploy.md), or --insecure-unsigned-snapshots to apply whatever the "
                 "state topic holds\n";
    return 2;
  }
  if (!verify_keys.empty()) {
    auto loaded = senren::common::SnapshotVerifier::FromPemFiles(verify_keys);
    if (!loaded.ok()) {
      std::cerr << "--snapshot-verify-key: " << loaded.status().message() << "\n";
      return 2;
    }
    verifier = *std::move(loaded);
  }
  const auto kafka_connection =
      senren::kafka::LoadConnection(kafka_config, brokers, "127.0.0.1:59092");
  if (!kafka_connection.ok()) {
    std::cerr << kafka_connection.status().message() << "\n";
    return 2;
  }

  kube::LeaderElectionOptions le;
  le.ns = lease_namespace.empty() ? ns : lease_namespace;
  le.name = lease_name.empty() ? plane::LeaseName(region) : lease_name;
  le.identity = identity;
  le.lease_duration = Seconds(lease_s);
  le.renew_deadline = Seconds(renew_s);
  le.retry_period = Seconds(retry_s);
  if (leader_elect) {
    if (absl::Status s = kube::ValidateLeaderElectionOptions(le); !s.ok()) {
      std::cerr << s.message() << "\n";
      return 2;
    }
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
  // The elector's own client: one attempt per request, none longer than the renew
  // deadline, so an abandoned renewal ends soon after the elector gave up on it (the
  // elector bounds each wait by what is left until the deadline itself).
  kube::CurlKubeClientOptions eo;
  eo.request_timeout = le.renew_deadline;
  eo.connect_timeout = std::min(eo.connect_timeout, le.renew_deadline);
  eo.max_attempts = 1;
  eo.user_agent = "senren-regional";
  auto election_client = kube::CurlKubeClient::Create(*config, eo);
  if (!election_client.ok()) {
    spdlog::error("{}", election_client.status().ToString());
    return 1;
  }
  kube::LeaderElector elector(election_client->get(), le);
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
  auto producer = senren::kafka::Producer::Create(*kafka_connection);
  if (!producer.ok()) {
    spdlog::error("{}", producer.status().ToString());
    return 1;
  }
  const std::string status_topic = prefix + "-status";
  plane::OutboxRelayOptions ro;
  ro.topic = status_topic;
  plane::OutboxRelay relay(outbox->get(), producer->get(), ro);
  plane::KafkaSnapshotSource source(*kafka_connection, prefix + "-state", region);

  if (verifier != nullptr) {
    source.RequireSignatures(verifier);
    spdlog::info("snapshots must be signed by one of the keys {}",
                 absl::StrJoin(verifier->key_ids(), ", "));
  } else {
    spdlog::warn("--insecure-unsigned-snapshots: snapshots are applied without verifying any "
                 "signature");
  }

  plane::RegionalPlaneOptions po;
  po.region = region;
  po.cluster = cluster;
  po.ns = ns;
  po.heartbeat_interval = std::chrono::seconds(heartbeat_s);
  po.resync_interval = std::chrono::seconds(resync_s);
  po.apply_concurrency = apply_concurrency;
  if (leader_elect) po.may_write = [&elector] { return elector.IsLeader(); };
  plane::RegionalPlane rp(po, client->get(), &source, cache->get(), outbox->get(),
                          [&relay] { relay.Notify(); });
  spdlog::info("senren-regional {}/{} on {} (namespace {}), Kafka {} ({}-state → {})", region,
               cluster, (*client)->config().server, ns, kafka_connection->brokers, prefix,
               status_topic);

  // Everything that reads Kafka, writes the cluster or sends status runs only while this
  // plane leads; a standby holds its data dir and waits for the Lease.
  std::atomic<bool> running{false};
  std::thread topic_thread;
  auto start = [&]() -> bool {
    if (absl::Status s = rp.Start(); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return false;
    }
    // The status topic is created (compacted) when missing; the relay starts once it
    // exists, and the outbox keeps everything meanwhile.
    topic_thread = std::thread([&] {
      senren::kafka::TopicSpec spec{status_topic,
                                    status_partitions,
                                    senren::kafka::TopicSpec::kBrokerDefault,
                                    {{"cleanup.policy", "compact"},
                                     {"min.compaction.lag.ms", "0"},
                                     {"segment.ms", "3600000"}}};
      while (!daemon.stopping()) {
        absl::Status s =
            senren::kafka::EnsureTopic(*kafka_connection, spec, std::chrono::seconds(10));
        if (s.ok()) {
          relay.Start();
          return;
        }
        spdlog::warn("creating {}: {}; retrying", status_topic, s.ToString());
        for (int i = 0; i < 20 && !daemon.stopping(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    });
    running.store(true);
    return true;
  };
  auto stop = [&] {
    spdlog::info("stopping");
    if (topic_thread.joinable()) topic_thread.join();
    rp.Stop();
    relay.Stop();
    (void)(*producer)->Flush(std::chrono::seconds(2));
  };
  auto log_first_reconcile = [&, logged = false]() mutable {
    if (logged || !running.load() || !rp.WaitForFirstReconcile(absl::ZeroDuration())) return;
    logged = true;
    const auto st = rp.stats();
    spdlog::info("first reconcile done {} after start ({})",
                 absl::FormatDuration(st.first_reconcile),
                 st.first_reconcile_from_cache ? "from the state cache" : "from Kafka");
  };

  // Metrics: the plane's, the relay's and the source's own counters, copied at each scrape.
  const std::string where = senren::daemon::Labels({{"region", region}, {"cluster", cluster}});
  senren::daemon::Metrics& metrics = daemon.metrics();
  metrics.Describe("senren_regional_reconciles_total", "counter", "Reconciles by result.");
  metrics.Describe("senren_regional_applied_version", "gauge",
                   "Version of the last snapshot reconciled in this cluster.");
  metrics.Describe("senren_regional_drift_corrections_total", "counter",
                   "Managed CRs put back after a change outside Senren.");
  metrics.Describe("senren_regional_writes_fenced_total", "counter",
                   "Writes not made because the Lease was lost.");
  metrics.Describe("senren_regional_snapshots_received_total", "counter",
                   "Snapshots of the region read from Kafka.");
  metrics.Describe("senren_regional_bad_messages_total", "counter",
                   "Messages under the region's key that did not parse.");
  metrics.Describe("senren_regional_snapshots_rejected_total", "counter",
                   "Snapshots refused for their signature, by verdict (unsigned, unknown_key, "
                   "bad_signature); nothing of them was applied.");
  metrics.Describe("senren_regional_outbox_depth", "gauge",
                   "Status records waiting in the outbox.");
  metrics.Describe("senren_regional_outbox_published_total", "counter",
                   "Outbox entries Kafka confirmed.");
  metrics.Describe("senren_regional_outbox_failed_total", "counter", "Failed status deliveries.");
  metrics.Describe("senren_regional_consumer_lag", "gauge",
                   "Snapshot messages not read yet, up to the partition's end at start.");
  metrics.Describe("senren_regional_leader", "gauge", "1 while this plane holds the Lease.");
  metrics.Describe("senren_regional_state_records_read_total", "counter",
                   "Records read from the region's partition of the state topic, every "
                   "region's that shares it (docs/design.md §4, Fan-out).");
  metrics.Describe("senren_regional_state_bytes_read_total", "counter",
                   "Bytes of keys and values read from the region's partition of the state "
                   "topic, every region's that shares it.");
  metrics.Describe("senren_regional_state_partition", "gauge",
                   "The state topic's partition the region maps to.");
  auto* raw_outbox = outbox->get();
  metrics.AddCollector([&, raw_outbox](senren::daemon::Metrics& m) {
    const plane::PlaneStats st = rp.stats();
    for (const auto& [result, n] : st.reconciles_by_result) {
      m.Set("senren_regional_reconciles_total", senren::daemon::Labels({{"result", result}}),
            static_cast<double>(n));
    }
    m.Set("senren_regional_applied_version", where, static_cast<double>(st.applied_version));
    m.Set("senren_regional_drift_corrections_total", "", static_cast<double>(st.drift_corrections));
    m.Set("senren_regional_writes_fenced_total", "", static_cast<double>(st.writes_fenced));
    m.Set("senren_regional_snapshots_received_total", "",
          static_cast<double>(st.snapshots_received));
    m.Set("senren_regional_bad_messages_total", "", static_cast<double>(st.bad_messages));
    for (const char* verdict : {"unsigned", "unknown_key", "bad_signature"}) {
      auto n = st.rejected_by_verdict.find(verdict);
      m.Set("senren_regional_snapshots_rejected_total",
            senren::daemon::Labels({{"verdict", verdict}}),
            n == st.rejected_by_verdict.end() ? 0.0 : static_cast<double>(n->second));
    }
    if (auto depth = raw_outbox->Size(); depth.ok()) {
      m.Set("senren_regional_outbox_depth", "", static_cast<double>(*depth));
    }
    m.Set("senren_regional_outbox_published_total", "", static_cast<double>(relay.published()));
    m.Set("senren_regional_outbox_failed_total", "", static_cast<double>(relay.failed()));
    m.Set("senren_regional_consumer_lag", "", static_cast<double>(source.Lag()));
    m.Set("senren_regional_leader", where, !leader_elect || elector.IsLeader() ? 1 : 0);
    m.Set("senren_regional_state_records_read_total", "",
          static_cast<double>(source.records_read()));
    m.Set("senren_regional_state_bytes_read_total", "", static_cast<double>(source.bytes_read()));
    m.Set("senren_regional_state_partition", "", static_cast<double>(source.partition()));
  });
  // Readiness: leading with the snapshot partition read to its end and a recent reconcile
  // (one runs at least every resync interval once there is a snapshot), or standing by.
  auto reconciler = std::make_shared<senren::daemon::ReconcilerHealth>(&daemon.health(),
                                                                       absl::Seconds(3 * resync_s));
  daemon.health().AddReadinessCheck("plane", [reconciler] { return reconciler->NotReady(); });
  // The signal thread's tick: the first-reconcile log line and the readiness state.
  auto tick = [&] {
    log_first_reconcile();
    using Role = senren::daemon::ReconcilerState::Role;
    const bool leading = !leader_elect || elector.IsLeader();
    if (!running.load()) {
      reconciler->Update(leading ? Role::kLeading : Role::kStandby, false, 0, false);
      return;
    }
    const plane::PlaneStats st = rp.stats();
    // No snapshot of the region anywhere (none in the cache, none in the partition): the
    // plane reconciles nothing and is right to.
    const bool no_snapshot = st.snapshots_received == 0 && st.applied_version == 0 &&
                             st.first_reconcile == absl::InfiniteDuration();
    reconciler->Update(Role::kLeading, st.caught_up, st.reconciles, no_snapshot);
  };

  if (!leader_elect) {
    if (!start()) {
      metrics.ClearCollectors();
      return 1;
    }
    daemon.WaitForStop(tick);
    metrics.ClearCollectors();
    stop();
    return 0;
  }

  spdlog::info("leader election: {} waits for the Lease {}/{} (lease {} ms, renew deadline "
               "{} ms, retry {} ms); nothing is read, written or reported until it leads",
               le.identity, le.ns, le.name, le.lease_duration.count(), le.renew_deadline.count(),
               le.retry_period.count());
  std::atomic<bool> start_failed{false};
  // One thread takes the signals; the main thread runs the election.
  std::thread signals([&] {
    daemon.WaitForStop(tick);
    elector.Stop();
  });
  const bool stopped = elector.Run(
      [&] {
        if (!start()) {
          start_failed.store(true);
          daemon.RequestStop();
        }
      },
      [&] {
        // Lost: IsLeader() already fences every write; the cache and the outbox are
        // durable at each write, and a restart waits for the Lease again.
        if (!daemon.stopping()) kube::ExitOnLostLease(le);
        stop();
      });
  daemon.RequestStop();
  signals.join();
  metrics.ClearCollectors();
  if (start_failed.load()) return 1;
  return stopped ? 0 : 1;
}
