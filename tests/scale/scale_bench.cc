// Scale of the control side (docs/performance.md, "Scale"): a real senren-ledger process
// (API, snapshot projector, status projector) on the lab's PostgreSQL and Kafka, in a
// schema and topic prefix of its own, with N regions of 2 clusters each. The regional side
// is simulated (docs/performance.md says why):
//   - a reactor, one consumer of every partition of {prefix}-state, stands in for every
//     plane's reconcile: for each snapshot it reads it sends what the region's planes
//     would (one ClusterReport per cluster and one ResourceStatus per resource and
//     cluster, with the planes' keys and protos);
//   - a heartbeat sender sends every cluster's ClusterReport every --heartbeat seconds;
//   - --sample-planes sample planes, each a consumer of its region's partition only (the
//     partition KafkaSnapshotSource reads: murmur2 of the region over the topic's
//     partition count), count what one plane reads.
// A driver applies at --rate to random regions over gRPC and measures, from the ApplyState
// call, in a steady window of --duration seconds: apply → snapshot consumed, apply →
// GetStatus shows every cluster at the version, the status projector's lag, fold capacity
// and PostgreSQL writes, the ledger's CPU and RSS, and what a plane reads per apply.
//
// Run: tools/bench scale [--regions N | --sweep 10,100,1000 (default)] [--rate 20]
//      [--duration 40] [--state-partitions 12] [--ledger BIN]
//      (JSON: bench/results/scale.json)
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "kafka/kafka.h"
#include "lab/lab_env.h"
#include "pg/session.h"
#include "pg/testing/test_schema.h"
#include "senren/v1/control_plane.grpc.pb.h"

#ifndef SENREN_LEDGER_BIN
#error "SENREN_LEDGER_BIN: the senren-ledger binary of this build"
#endif

namespace senren::scale {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kToken[] = "scale-bench-admin-token";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "scale_bench: %s\n", what.c_str());
  std::exit(1);
}

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

google::protobuf::Timestamp NowTimestamp() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Options {
  std::vector<int> regions = {10, 100, 1000};  // --sweep's default
  double rate = 20;
  int duration_s = 40;
  int state_partitions = 12;
  int clusters = 2;
  int heartbeat_s = 10;
  int sample_planes = 16;
  int port = 58200;
  std::string out = "scale";
  std::string ledger = SENREN_LEDGER_BIN;  // --ledger: another build's, to compare
};

struct Percentiles {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

Percentiles Pct(std::vector<double> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.max = v.back();
  return p;
}

nlohmann::json ToJson(const Percentiles& p) {
  return {{"unit", "ms"}, {"n", p.n},     {"p50", p.p50},
          {"p90", p.p90}, {"p99", p.p99}, {"max", p.max}};
}

// CPU seconds (user + system) and RSS of a process, from /proc.
struct ProcSample {
  double cpu_s = 0;
  double rss_mib = 0;
  double hwm_mib = 0;
};

ProcSample SampleProc(pid_t pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
  auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f;
    std::string x;
    while (rest >> x) f.push_back(x);
    if (f.size() > 13) {
      const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
      s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / tick;
    }
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mib = std::stod(line.substr(6)) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_mib = std::stod(line.substr(6)) / 1024.0;
  }
  return s;
}

std::string Region(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "scale:r%04d", i);
  return buf;
}

std::string Cluster(int c) { return "c" + std::to_string(c); }

v1::ApplyStateRequest State(const std::string& region, uint32_t mb) {
  v1::ApplyStateRequest r;
  r.set_region(region);
  r.set_message("scale bench");
  auto* redis = r.add_resources();
  redis->set_name("sessions");
  redis->mutable_redis_database()->set_memory_mb(mb);
  redis->mutable_redis_database()->set_replicas(3);
  auto* aero = r.add_resources();
  aero->set_name("profiles");
  aero->mutable_aerospike_cluster()->set_size(3);
  auto* ns = aero->mutable_aerospike_cluster()->add_namespaces();
  ns->set_name("profiles");
  ns->set_replication_factor(2);
  ns->set_memory_mb(1024);
  return r;
}

// The senren-ledger process of one run.
class Ledger {
 public:
  Ledger(const std::string& bin, const std::string& schema, const std::string& prefix, int port,
         const std::string& dir, int state_partitions) {
    const auto& lab = testing::Lab();
    tokens_ = dir + "/tokens.yaml";
    std::ofstream(tokens_) << "tokens:\n  - {token: " << kToken
                           << ", subject: scale-bench, role: admin}\n";
    log_ = dir + "/" + prefix + ".log";
    addr_ = "127.0.0.1:" + std::to_string(port);
    std::vector<std::string> args = {bin,
                                     "serve",
                                     "--listen",
                                     addr_,
                                     "--postgres",
                                     lab.postgres_uri,
                                     "--owner-postgres",
                                     lab.postgres_owner_uri,
                                     "--schema",
                                     schema,
                                     "--tokens",
                                     tokens_,
                                     "--kafka-brokers",
                                     lab.kafka_brokers,
                                     "--topic-prefix",
                                     prefix,
                                     "--metrics-listen",
                                     "127.0.0.1:" + std::to_string(port + 1),
                                     "--log-level",
                                     "warn"};
    // A senren-ledger that knows the flag is told the count too: it would grow a topic
    // with fewer partitions than its default.
    if (std::system((bin + " serve --help 2>/dev/null | grep -q -- --state-partitions").c_str()) ==
        0) {
      args.push_back("--state-partitions");
      args.push_back(std::to_string(state_partitions));
    }
    pid_ = fork();
    if (pid_ < 0) Die("fork");
    if (pid_ == 0) {
      // The ledger goes with the bench, however the bench ends.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      FILE* f = std::fopen(log_.c_str(), "w");
      if (f != nullptr) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Ledger() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = 0;
        return;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  bool Alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  pid_t pid() const { return pid_; }
  const std::string& addr() const { return addr_; }
  const std::string& log() const { return log_; }

 private:
  pid_t pid_ = 0;
  std::string tokens_, log_, addr_;
};

class Client {
 public:
  explicit Client(const std::string& addr)
      : stub_(v1::ControlPlane::NewStub(
            grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()))) {}
  grpc::Status Apply(const v1::ApplyStateRequest& req, v1::ApplyStateResponse* resp) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    return stub_->ApplyState(&ctx, req, resp);
  }
  grpc::Status GetStatus(const std::string& region, v1::GetStatusResponse* resp) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::GetStatusRequest req;
    req.set_region(region);
    return stub_->GetStatus(&ctx, req, resp);
  }
  grpc::Status ListRegions(v1::ListRegionsResponse* resp) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    return stub_->ListRegions(&ctx, v1::ListRegionsRequest(), resp);
  }

 private:
  static void Prepare(grpc::ClientContext* ctx) {
    ctx->AddMetadata("authorization", std::string("Bearer ") + kToken);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }
  std::unique_ptr<v1::ControlPlane::Stub> stub_;
};

// One sweep point: everything made for it goes when it ends.
class Run {
 public:
  Run(const Options& o, int regions) : o_(o), regions_(regions) {
    prefix_ = testing::UniqueName("scale");
    dir_ = "/tmp/" + prefix_;
    if (std::system(("mkdir -p '" + dir_ + "'").c_str()) != 0) Die("mkdir " + dir_);
    conn_ = {testing::Lab().kafka_brokers};
    applied_.assign(static_cast<size_t>(regions_), 0);
    consumed_.assign(static_cast<size_t>(regions_), Seen{});
    mb_.assign(static_cast<size_t>(regions_), 64);
  }

  nlohmann::json Go() {
    const std::string state_topic = prefix_ + "-state";
    const std::string status_topic = prefix_ + "-status";
    // The state topic as the snapshot projector makes it, with --state-partitions
    // partitions: the projector leaves an existing topic as it is.
    kafka::TopicSpec spec{state_topic,
                          o_.state_partitions,
                          kafka::TopicSpec::kBrokerDefault,
                          {{"cleanup.policy", "compact"},
                           {"max.message.bytes", std::to_string(17u << 20)},
                           {"min.compaction.lag.ms", "0"},
                           {"segment.ms", "3600000"}}};
    if (auto s = kafka::EnsureTopic(conn_, spec); !s.ok()) Die(s.ToString());
    partitions_ = o_.state_partitions;

    Ledger ledger(o_.ledger, schema_.name(), prefix_, o_.port, dir_, o_.state_partitions);
    const auto started = Clock::now();
    Client client(ledger.addr());
    for (;;) {
      v1::ListRegionsResponse r;
      if (client.ListRegions(&r).ok() && kafka::PartitionCount(conn_, status_topic).ok()) break;
      if (!ledger.Alive()) Die("senren-ledger exited; its log: " + ledger.log());
      if (MsSince(started) > 60000) Die("senren-ledger not serving after 60 s: " + ledger.log());
      std::this_thread::sleep_for(milliseconds(200));
    }
    producer_ = Must(kafka::Producer::Create(conn_), "producer");
    StartReactor(state_topic, status_topic);
    StartSamplePlanes(state_topic);

    // Every region's first state, 8 writers.
    const auto setup = Clock::now();
    {
      std::vector<std::thread> writers;
      for (int w = 0; w < 8; ++w) {
        writers.emplace_back([&, w] {
          Client c(ledger.addr());
          for (int i = w; i < regions_; i += 8) {
            v1::ApplyStateResponse resp;
            auto s = c.Apply(State(Region(i), 64), &resp);
            if (!s.ok()) Die("apply " + Region(i) + ": " + s.error_message());
          }
        });
      }
      for (auto& t : writers) t.join();
    }
    const double setup_ms = MsSince(setup);
    heartbeats_ = std::thread([this] { Heartbeats(); });
    // Past the projector's takeover republish (publish timeout + lease after its term
    // began), and every first state reported.
    while (MsSince(started) < 8000 || reported_.load() < regions_) {
      if (MsSince(setup) > 120000) Die("the first states were not all consumed in 120 s");
      std::this_thread::sleep_for(milliseconds(100));
    }

    // The steady window starts once the setup's backlog is gone (at most 60 s more): the
    // state topic quiet for 2 s and the status projector within a second of heartbeats.
    auto session = schema_.Connect(/*as_owner=*/true);
    {
      const auto wait = Clock::now();
      int64_t records = -1;
      auto quiet_since = Clock::now();
      while (MsSince(wait) < 60000) {
        int64_t now = 0;
        for (auto& pr : part_records_) now += pr.records.load();
        if (now != records) {
          records = now;
          quiet_since = Clock::now();
        }
        if (MsSince(quiet_since) >= 2000 &&
            StatusLag(*session, status_topic) <= regions_ * o_.clusters / o_.heartbeat_s)
          break;
        std::this_thread::sleep_for(milliseconds(250));
      }
      backlog_wait_ms_ = MsSince(wait);
    }
    const std::string load_before = LoadAverage();
    const auto pg_before = PgWrites(*session);
    const ProcSample proc_before = SampleProc(ledger.pid());
    const auto window = Clock::now();
    sample_base_records_ = sample_records_.load();
    sample_base_bytes_ = sample_bytes_.load();
    const int64_t hb_before = heartbeats_sent_.load();
    for (auto& p : part_records_) p.base = p.records.load(), p.bytes_base = p.bytes.load();
    measuring_ = true;
    std::thread watcher([&] { WatchStatus(ledger.addr()); });
    std::vector<double> lag;
    double rss_max = 0;
    std::thread sampler([&] {
      auto s = schema_.Connect(true);
      while (measuring_) {
        lag.push_back(static_cast<double>(StatusLag(*s, status_topic)));
        rss_max = std::max(rss_max, SampleProc(ledger.pid()).rss_mib);
        std::this_thread::sleep_for(milliseconds(1000));
      }
    });
    const int64_t status_before = status_sent_.load();
    const int64_t folded_before = StatusStored(*session, status_topic);
    Drive(client);
    const double window_s = MsSince(window) / 1000.0;
    const int64_t hb = heartbeats_sent_.load() - hb_before;
    const int64_t status_sent = status_sent_.load() - status_before;
    const int64_t folded = StatusStored(*session, status_topic) - folded_before;
    // What is still in flight gets 5 s to land.
    const auto drain = Clock::now();
    while (MsSince(drain) < 5000) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (pending_snapshot_.empty() && pending_status_.empty()) break;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    measuring_ = false;
    watcher.join();
    sampler.join();
    const ProcSample proc_after = SampleProc(ledger.pid());
    const auto pg_after = PgWrites(*session);
    const std::string load_after = LoadAverage();
    const double capacity = FoldCapacity(*session, status_topic);
    if (!ledger.Alive()) Die("senren-ledger died during the run; its log: " + ledger.log());

    stop_ = true;
    heartbeats_.join();
    reactor_.join();
    for (auto& t : samplers_) t.join();
    producer_->Flush(milliseconds(5000)).IgnoreError();
    ledger.Stop();
    DeleteTopics({state_topic, status_topic});
    // The ledger's log stays only when the run fails (Die leaves it).
    if (std::system(("rm -rf '" + dir_ + "'").c_str()) != 0)
      std::fprintf(stderr, "rm %s\n", dir_.c_str());

    std::lock_guard<std::mutex> l(mu_);
    nlohmann::json j;
    j["regions"] = regions_;
    j["clusters"] = regions_ * o_.clusters;
    j["state_partitions"] = partitions_;
    j["rate_asked_per_s"] = o_.rate;
    j["applies"] = applies_;
    j["apply_errors"] = apply_errors_;
    j["rate_per_s"] = static_cast<double>(applies_) / window_s;
    j["window_s"] = window_s;
    j["setup_first_states_ms"] = setup_ms;
    j["setup_backlog_wait_ms"] = backlog_wait_ms_;
    j["apply_rpc"] = ToJson(Pct(rpc_ms_));
    j["apply_to_snapshot_consumed"] = ToJson(Pct(consumed_ms_));
    j["apply_to_status_visible"] = ToJson(Pct(visible_ms_));
    j["get_status_rpc"] = ToJson(Pct(get_status_ms_));
    j["snapshot_never_consumed"] = pending_snapshot_.size();
    j["status_never_visible"] = pending_status_.size();
    j["heartbeats_per_s"] = static_cast<double>(hb) / window_s;
    j["status_records_per_s"] = static_cast<double>(status_sent) / window_s;
    j["status_folded_per_s"] = static_cast<double>(folded) / window_s;
    j["status_fold_capacity_per_s"] = capacity;
    const Percentiles lp = Pct(lag);
    j["status_lag_records"] = {{"p50", lp.p50}, {"max", lp.max}, {"n", lp.n}};
    j["pg_rows_written_per_s"] = (pg_after[0] - pg_before[0]) / window_s;
    j["pg_history_rows_per_s"] = (pg_after[1] - pg_before[1]) / window_s;
    j["pg_commits_per_s"] = (pg_after[2] - pg_before[2]) / window_s;
    j["ledger_cpu_s"] = proc_after.cpu_s - proc_before.cpu_s;
    j["ledger_cpu_pct_of_core"] = 100.0 * (proc_after.cpu_s - proc_before.cpu_s) / window_s;
    j["ledger_rss_mib"] = std::max(rss_max, proc_after.rss_mib);
    j["ledger_rss_peak_mib"] = proc_after.hwm_mib;
    // The fan-out: every plane reads its region's whole partition.
    double regions_per_part_max = 0;
    double all_planes_bytes = 0;  // bytes every plane together read in the window
    int64_t state_records = 0;
    int64_t state_bytes = 0;
    for (int p = 0; p < partitions_; ++p) {
      auto& pr = part_records_[static_cast<size_t>(p)];
      regions_per_part_max = std::max(regions_per_part_max, static_cast<double>(pr.regions));
      const int64_t bytes = pr.bytes.load() - pr.bytes_base;
      all_planes_bytes += static_cast<double>(bytes) * pr.regions * o_.clusters;
      state_records += pr.records.load() - pr.base;
      state_bytes += bytes;
    }
    j["regions_per_partition_mean"] = static_cast<double>(regions_) / partitions_;
    j["regions_per_partition_max"] = regions_per_part_max;
    j["snapshot_bytes_mean"] =
        state_records > 0 ? static_cast<double>(state_bytes) / static_cast<double>(state_records)
                          : 0;
    const double sample_records =
        static_cast<double>(sample_records_.load() - sample_base_records_);
    const double sample_bytes = static_cast<double>(sample_bytes_.load() - sample_base_bytes_);
    const int planes = static_cast<int>(samplers_.size());
    // A plane's own applies in the window: each region gets applies/regions of them.
    const double own = static_cast<double>(applies_) / regions_;
    j["sample_planes"] = planes;
    j["plane_records_read_per_s"] = planes > 0 ? sample_records / planes / window_s : 0;
    j["plane_bytes_read_per_s"] = planes > 0 ? sample_bytes / planes / window_s : 0;
    j["plane_records_read_per_own_apply"] =
        planes > 0 && own > 0 ? sample_records / planes / own : 0;
    j["plane_bytes_read_per_own_apply"] = planes > 0 && own > 0 ? sample_bytes / planes / own : 0;
    j["all_planes_bytes_read_per_apply"] =
        applies_ > 0 ? all_planes_bytes / static_cast<double>(applies_) : 0;
    j["load_average_before"] = load_before;
    j["load_average_after"] = load_after;
    return j;
  }

 private:
  template <typename T>
  static T Must(absl::StatusOr<T> v, const char* what) {
    if (!v.ok()) Die(std::string(what) + ": " + v.status().ToString());
    return std::move(*v);
  }

  // What a region's planes send after applying version `v`.
  void Report(const v1::RegionalState& state) {
    const int i = RegionIndex(state.region());
    if (i < 0) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      applied_[static_cast<size_t>(i)] = state.version();
    }
    for (int c = 0; c < o_.clusters; ++c) {
      for (const auto& r : state.resources()) {
        v1::ResourceStatus s;
        s.set_region(state.region());
        s.set_cluster(Cluster(c));
        s.set_kind(r.has_redis_database() ? v1::RESOURCE_KIND_REDIS_DATABASE
                                          : v1::RESOURCE_KIND_AEROSPIKE_CLUSTER);
        s.set_name(r.name());
        s.set_ready(true);
        s.set_phase(v1::PHASE_READY);
        s.set_replicas(3);
        s.set_ready_replicas(3);
        s.set_host(r.name() + ".senren.svc.cluster.local");
        s.set_port(6379);
        s.set_state_version(state.version());
        *s.mutable_observed_at() = NowTimestamp();
        Send(state.region() + "/" + Cluster(c) + "/" +
                 (r.has_redis_database() ? "RedisDatabase" : "AerospikeCluster") + "/" + r.name(),
             s.SerializeAsString());
      }
      Send(state.region() + "/" + Cluster(c),
           ClusterReport(state.region(), c, state.version(), state.resources_size())
               .SerializeAsString());
    }
  }

  v1::ClusterReport ClusterReport(const std::string& region, int c, uint64_t version, int n) {
    v1::ClusterReport r;
    r.set_region(region);
    r.set_cluster(Cluster(c));
    r.set_applied_version(version);
    r.set_result(v1::APPLY_RESULT_APPLIED);
    r.set_resources_total(static_cast<uint32_t>(n));
    r.set_resources_ready(static_cast<uint32_t>(n));
    *r.mutable_heartbeat_at() = NowTimestamp();
    r.set_heartbeat_interval_seconds(static_cast<uint32_t>(o_.heartbeat_s));
    return r;
  }

  void Send(const std::string& key, std::string value) {
    ++status_sent_;
    for (;;) {
      auto s = producer_->Produce({status_topic_, key, std::move(value), {}},
                                  [](const kafka::Delivery&) {});
      if (s.code() != absl::StatusCode::kResourceExhausted) {
        if (!s.ok()) Die("produce: " + s.ToString());
        return;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  static int RegionIndex(const std::string& region) {
    int i = 0;
    if (region.rfind("scale:r", 0) != 0 || !absl::SimpleAtoi(region.substr(7), &i)) return -1;
    return i;
  }

  // One consumer of every partition: the planes' reconciles, and the per-partition counts.
  void StartReactor(const std::string& state_topic, const std::string& status_topic) {
    status_topic_ = status_topic;
    part_records_ = std::vector<PartCount>(static_cast<size_t>(partitions_));
    for (int i = 0; i < regions_; ++i)
      ++part_records_[static_cast<size_t>(kafka::PartitionForKey(Region(i), partitions_))].regions;
    auto consumer = Must(kafka::Consumer::Create(conn_), "consumer");
    std::vector<kafka::PartitionOffset> parts;
    for (int p = 0; p < partitions_; ++p) parts.push_back({state_topic, p, 0});
    if (auto s = consumer->Assign(parts); !s.ok()) Die(s.ToString());
    reactor_ = std::thread([this, c = std::move(consumer)]() mutable {
      while (!stop_) {
        auto m = Must(c->Poll(milliseconds(100)), "poll");
        if (!m || !m->value) continue;
        auto& pr = part_records_[static_cast<size_t>(m->partition)];
        ++pr.records;
        pr.bytes += static_cast<int64_t>(m->key.size() + m->value->size());
        v1::RegionalState state;
        if (!state.ParseFromString(*m->value)) Die("a record of the state topic does not parse");
        Consumed(state);
        Report(state);
      }
    });
  }

  // Sample planes: one consumer each, of its region's partition only, as a plane reads.
  void StartSamplePlanes(const std::string& state_topic) {
    const int n = std::min(o_.sample_planes, regions_ * o_.clusters);
    for (int k = 0; k < n; ++k) {
      const int region = (k / o_.clusters) * std::max(1, regions_ / std::max(1, n / o_.clusters));
      const int p = kafka::PartitionForKey(Region(region % regions_), partitions_);
      auto consumer = Must(kafka::Consumer::Create(conn_), "consumer");
      if (auto s = consumer->Assign({{state_topic, p, 0}}); !s.ok()) Die(s.ToString());
      samplers_.emplace_back([this, c = std::move(consumer)]() mutable {
        while (!stop_) {
          auto m = Must(c->Poll(milliseconds(100)), "poll");
          if (!m || !m->value) continue;
          ++sample_records_;
          sample_bytes_ += static_cast<int64_t>(m->key.size() + m->value->size());
        }
      });
    }
  }

  // A snapshot can be consumed before ApplyState's answer reaches the driver: the newest
  // consumed version of each region and when, for Drive to find.
  void Consumed(const v1::RegionalState& state) {
    const int i = RegionIndex(state.region());
    if (i < 0) return;
    std::lock_guard<std::mutex> l(mu_);
    if (state.version() == 1) ++reported_;
    auto& seen = consumed_[static_cast<size_t>(i)];
    if (state.version() > seen.version) seen = {state.version(), Clock::now()};
    auto it = pending_snapshot_.find(state.region());
    if (it == pending_snapshot_.end() || state.version() < it->second.version) return;
    consumed_ms_.push_back(MsSince(it->second.call));
    pending_snapshot_.erase(it);
  }

  // Every cluster's ClusterReport every heartbeat period, spread evenly over it.
  void Heartbeats() {
    const int total = regions_ * o_.clusters;
    const auto period = std::chrono::duration<double>(o_.heartbeat_s);
    auto start = Clock::now();
    for (int64_t k = 0; !stop_; ++k) {
      const int i = static_cast<int>(k % total);
      const auto at = start + std::chrono::duration_cast<Clock::duration>(
                                  period * (static_cast<double>(k) / total));
      while (!stop_ && Clock::now() < at)
        std::this_thread::sleep_for(std::min<Clock::duration>(at - Clock::now(), milliseconds(50)));
      if (stop_) break;
      const int region = i / o_.clusters;
      uint64_t version;
      {
        std::lock_guard<std::mutex> l(mu_);
        version = applied_[static_cast<size_t>(region)];
      }
      if (version == 0) continue;
      Send(Region(region) + "/" + Cluster(i % o_.clusters),
           ClusterReport(Region(region), i % o_.clusters, version, 2).SerializeAsString());
      ++heartbeats_sent_;
    }
  }

  // Applies at --rate to random regions for --duration seconds.
  void Drive(Client& client) {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> pick(0, regions_ - 1);
    const auto start = Clock::now();
    const auto every = std::chrono::duration<double>(1.0 / o_.rate);
    for (int64_t k = 0;; ++k) {
      const auto at = start + std::chrono::duration_cast<Clock::duration>(every * k);
      if (at - start > std::chrono::seconds(o_.duration_s)) break;
      std::this_thread::sleep_until(at);
      const int i = pick(rng);
      const std::string region = Region(i);
      const uint32_t mb = ++mb_[static_cast<size_t>(i)];
      v1::ApplyStateResponse resp;
      const auto call = Clock::now();
      auto s = client.Apply(State(region, mb), &resp);
      const auto returned = Clock::now();
      std::lock_guard<std::mutex> l(mu_);
      if (!s.ok()) {
        ++apply_errors_;
        continue;
      }
      ++applies_;
      rpc_ms_.push_back(std::chrono::duration<double, std::milli>(returned - call).count());
      const Pending p{resp.version(), call};
      if (const auto& seen = consumed_[static_cast<size_t>(i)]; seen.version >= p.version) {
        consumed_ms_.push_back(std::chrono::duration<double, std::milli>(seen.at - call).count());
      } else {
        pending_snapshot_[region] = p;
      }
      pending_status_[region] = p;
    }
  }

  // GetStatus of each region with an apply in flight until every cluster reports it.
  void WatchStatus(const std::string& addr) {
    Client client(addr);
    while (measuring_) {
      std::vector<std::pair<std::string, Pending>> todo;
      {
        std::lock_guard<std::mutex> l(mu_);
        todo.assign(pending_status_.begin(), pending_status_.end());
      }
      for (const auto& [region, p] : todo) {
        v1::GetStatusResponse resp;
        const auto call = Clock::now();
        if (!client.GetStatus(region, &resp).ok()) continue;
        const double rpc = MsSince(call);
        int at = 0;
        for (const auto& c : resp.clusters())
          if (c.applied_version() >= p.version) ++at;
        std::lock_guard<std::mutex> l(mu_);
        get_status_ms_.push_back(rpc);
        auto it = pending_status_.find(region);
        if (at >= o_.clusters && it != pending_status_.end() && it->second.version <= p.version) {
          visible_ms_.push_back(MsSince(it->second.call));
          pending_status_.erase(it);
        }
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  }

  // How fast the status projector folds a backlog: a burst of heartbeats (2.5 of every
  // cluster's, at least 5,000) sent at once, timed until every record is folded.
  double FoldCapacity(pg::Session& s, const std::string& topic) {
    const int total = regions_ * o_.clusters;
    const int burst = std::max(5000, total * 5 / 2);
    const auto start = Clock::now();
    const int64_t stored0 = StatusStored(s, topic);
    for (int k = 0; k < burst; ++k) {
      const int region = (k % total) / o_.clusters;
      uint64_t version;
      {
        std::lock_guard<std::mutex> l(mu_);
        version = applied_[static_cast<size_t>(region)];
      }
      Send(Region(region) + "/" + Cluster(k % o_.clusters),
           ClusterReport(Region(region), k % o_.clusters, version, 2).SerializeAsString());
    }
    if (!producer_->Flush(milliseconds(30000)).ok()) return 0;
    const int64_t lag = StatusLag(s, topic);
    const int64_t end = StatusStored(s, topic) + std::max<int64_t>(lag, 0);
    while (StatusStored(s, topic) < end) {
      if (MsSince(start) > 120000) return 0;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return static_cast<double>(StatusStored(s, topic) - stored0) / (MsSince(start) / 1000.0);
  }

  // Records of {prefix}-status the status projector folded (its stored offsets).
  int64_t StatusStored(pg::Session& s, const std::string& topic) {
    int64_t stored = 0;
    s.Run("status offsets", "", pg::TxKind::kNone, [&](pg::Transaction& tx) {
       auto rows = tx.ExecParams(
           "SELECT coalesce(sum(next_offset), 0)::bigint FROM status_offsets WHERE topic = $1",
           topic);
       stored = rows[0][0].as<int64_t>();
       return absl::OkStatus();
     }).IgnoreError();
    return stored;
  }

  // Records of {prefix}-status not yet folded: the topic's ends minus the stored offsets.
  int64_t StatusLag(pg::Session& s, const std::string& topic) {
    if (status_parts_ == 0) status_parts_ = kafka::PartitionCount(conn_, topic).value_or(0);
    int64_t end = 0;
    for (int p = 0; p < status_parts_; ++p) {
      auto w = kafka::Watermarks(conn_, topic, p);
      if (w.ok()) end += w->second;
    }
    // The offsets are read after the ends: a record folded in between is not lag.
    return std::max<int64_t>(0, end - StatusStored(s, topic));
  }

  // Rows inserted, updated or deleted in the schema's tables; status_history's inserts and
  // updates; the database's commits (every user of the database).
  std::array<double, 3> PgWrites(pg::Session& s) {
    std::array<double, 3> out{};
    s.Run("statistics", "", pg::TxKind::kNone, [&](pg::Transaction& tx) {
       tx.Exec("SELECT pg_stat_clear_snapshot()");
       auto rows = tx.ExecParams(
           "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::float8, "
           "coalesce(sum(n_tup_ins + n_tup_upd) FILTER (WHERE relname = 'status_history'), "
           "0)::float8, (SELECT xact_commit::float8 FROM pg_stat_database WHERE datname = "
           "current_database()) FROM pg_stat_user_tables WHERE schemaname = $1",
           schema_.name());
       out = {rows[0][0].as<double>(), rows[0][1].as<double>(), rows[0][2].as<double>()};
       return absl::OkStatus();
     }).IgnoreError();
    return out;
  }

  // Deletes the run's topics (librdkafka's admin API; the adapter has no call for it).
  void DeleteTopics(const std::vector<std::string>& topics) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", conn_.brokers.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return;
    }
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == nullptr) return;
    std::vector<rd_kafka_DeleteTopic_t*> del;
    for (const auto& t : topics) del.push_back(rd_kafka_DeleteTopic_new(t.c_str()));
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del.data(), del.size(), nullptr, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 15000);
    if (ev == nullptr || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR)
      std::fprintf(stderr, "scale_bench: could not delete the run's topics\n");
    if (ev != nullptr) rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy_array(del.data(), del.size());
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
  }

  struct Pending {
    uint64_t version = 0;
    Clock::time_point call;  // ApplyState called
  };
  struct Seen {
    uint64_t version = 0;
    Clock::time_point at;
  };
  struct PartCount {
    int regions = 0;
    std::atomic<int64_t> records{0};
    std::atomic<int64_t> bytes{0};
    int64_t base = 0;
    int64_t bytes_base = 0;
    PartCount() = default;
    PartCount(const PartCount&) {}
  };

  const Options o_;
  const int regions_;
  std::string prefix_;
  std::string dir_;
  kafka::Connection conn_;
  pg::testing::TestSchema schema_;
  int partitions_ = 0;
  int status_parts_ = 0;
  std::string status_topic_;
  std::unique_ptr<kafka::Producer> producer_;
  std::thread reactor_;
  std::thread heartbeats_;
  std::vector<std::thread> samplers_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> measuring_{false};
  std::atomic<int> reported_{0};
  std::atomic<int64_t> heartbeats_sent_{0};
  std::atomic<int64_t> status_sent_{0};
  std::atomic<int64_t> sample_records_{0};
  std::atomic<int64_t> sample_bytes_{0};
  double backlog_wait_ms_ = 0;
  int64_t sample_base_records_ = 0;
  int64_t sample_base_bytes_ = 0;
  std::vector<PartCount> part_records_;

  std::mutex mu_;  // guards what follows
  std::vector<uint64_t> applied_;
  std::vector<Seen> consumed_;
  std::vector<uint32_t> mb_;
  std::map<std::string, Pending> pending_snapshot_;
  std::map<std::string, Pending> pending_status_;
  std::vector<double> rpc_ms_, consumed_ms_, visible_ms_, get_status_ms_;
  int64_t applies_ = 0;
  int64_t apply_errors_ = 0;
};

void PrintTable(const std::vector<nlohmann::json>& points) {
  auto row = [&](const char* name, auto get) {
    std::printf("%-46s", name);
    for (const auto& p : points) std::printf(" %14s", get(p).c_str());
    std::printf("\n");
  };
  auto num = [](double v, int prec = 1) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return std::string(b);
  };
  auto lat = [&](const char* key) {
    return [&, key](const nlohmann::json& p) {
      return num(p[key]["p50"].get<double>()) + " / " + num(p[key]["p99"].get<double>());
    };
  };
  std::printf("\n");
  row("regions (x clusters)", [&](const nlohmann::json& p) {
    return std::to_string(p["regions"].get<int>()) + " x" +
           std::to_string(p["clusters"].get<int>() / p["regions"].get<int>());
  });
  row("state partitions",
      [&](const nlohmann::json& p) { return std::to_string(p["state_partitions"].get<int>()); });
  row("setup: first states, backlog wait s", [&](const nlohmann::json& p) {
    return num(p["setup_first_states_ms"].get<double>() / 1000) + ", " +
           num(p["setup_backlog_wait_ms"].get<double>() / 1000);
  });
  row("applies/s (n)", [&](const nlohmann::json& p) {
    return num(p["rate_per_s"].get<double>()) + " (" + std::to_string(p["applies"].get<int64_t>()) +
           ")";
  });
  row("ApplyState RPC p50 / p99 ms", lat("apply_rpc"));
  row("apply -> snapshot consumed p50 / p99 ms", lat("apply_to_snapshot_consumed"));
  row("apply -> status visible p50 / p99 ms", lat("apply_to_status_visible"));
  row("GetStatus RPC p50 / p99 ms", lat("get_status_rpc"));
  row("not consumed / not visible", [&](const nlohmann::json& p) {
    return std::to_string(p["snapshot_never_consumed"].get<size_t>()) + " / " +
           std::to_string(p["status_never_visible"].get<size_t>());
  });
  row("heartbeats/s (status records/s)", [&](const nlohmann::json& p) {
    return num(p["heartbeats_per_s"].get<double>(), 0) + " (" +
           num(p["status_records_per_s"].get<double>(), 0) + ")";
  });
  row("status records folded/s",
      [&](const nlohmann::json& p) { return num(p["status_folded_per_s"].get<double>(), 0); });
  row("status fold capacity, records/s", [&](const nlohmann::json& p) {
    return num(p["status_fold_capacity_per_s"].get<double>(), 0);
  });
  row("status projector lag p50 / max records", [&](const nlohmann::json& p) {
    return num(p["status_lag_records"]["p50"].get<double>(), 0) + " / " +
           num(p["status_lag_records"]["max"].get<double>(), 0);
  });
  row("PostgreSQL rows written/s (history)", [&](const nlohmann::json& p) {
    return num(p["pg_rows_written_per_s"].get<double>(), 0) + " (" +
           num(p["pg_history_rows_per_s"].get<double>(), 0) + ")";
  });
  row("PostgreSQL commits/s (whole database)",
      [&](const nlohmann::json& p) { return num(p["pg_commits_per_s"].get<double>(), 0); });
  row("ledger CPU % of a core",
      [&](const nlohmann::json& p) { return num(p["ledger_cpu_pct_of_core"].get<double>()); });
  row("ledger RSS MiB (peak)", [&](const nlohmann::json& p) {
    return num(p["ledger_rss_mib"].get<double>(), 0) + " (" +
           num(p["ledger_rss_peak_mib"].get<double>(), 0) + ")";
  });
  row("regions per partition mean / max", [&](const nlohmann::json& p) {
    return num(p["regions_per_partition_mean"].get<double>()) + " / " +
           num(p["regions_per_partition_max"].get<double>(), 0);
  });
  row("snapshot record bytes",
      [&](const nlohmann::json& p) { return num(p["snapshot_bytes_mean"].get<double>(), 0); });
  row("plane reads per own apply: records", [&](const nlohmann::json& p) {
    return num(p["plane_records_read_per_own_apply"].get<double>());
  });
  row("plane reads per own apply: KiB", [&](const nlohmann::json& p) {
    return num(p["plane_bytes_read_per_own_apply"].get<double>() / 1024.0);
  });
  row("plane reads/s: records (KiB)", [&](const nlohmann::json& p) {
    return num(p["plane_records_read_per_s"].get<double>(), 2) + " (" +
           num(p["plane_bytes_read_per_s"].get<double>() / 1024.0) + ")";
  });
  row("all planes read per apply, KiB", [&](const nlohmann::json& p) {
    return num(p["all_planes_bytes_read_per_apply"].get<double>() / 1024.0);
  });
  // The 1-minute load average (the JSON has all three).
  row("load average before / after (1 min)", [&](const nlohmann::json& p) {
    auto first = [](const std::string& l) { return l.substr(0, l.find(' ')); };
    return first(p["load_average_before"].get<std::string>()) + " / " +
           first(p["load_average_after"].get<std::string>());
  });
}

}  // namespace
}  // namespace senren::scale

int main(int argc, char** argv) {
  using senren::scale::Die;
  senren::scale::Options o;
  CLI::App app{"scale_bench: the control side at 10 → 1,000 regions (tools/bench scale)"};
  std::vector<int> one;
  auto* regions = app.add_option("--regions", one, "regions: one run")
                      ->expected(1)
                      ->check(CLI::Range(1, 1000000));
  app.add_option("--sweep", o.regions, "regions, comma separated: one run each")
      ->delimiter(',')
      ->check(CLI::Range(1, 1000000))
      ->excludes(regions)
      ->capture_default_str();
  app.add_option("--rate", o.rate, "applies per second")
      ->check(CLI::Range(0.01, 10000.0))
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "seconds measured")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--state-partitions", o.state_partitions, "partitions of {prefix}-state")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--sample-planes", o.sample_planes, "simulated planes that read their partition")
      ->capture_default_str();
  app.add_option("--heartbeat", o.heartbeat_s, "seconds between a cluster's heartbeats")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--port", o.port, "the ledger's gRPC port")->capture_default_str();
  app.add_option("--ledger", o.ledger, "senren-ledger binary (another build's, to compare)")
      ->capture_default_str();
  app.add_option("--out", o.out, "name of the JSON under bench/results/")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!one.empty()) o.regions = one;
  nlohmann::json all;
  all["command"] = [&] {
    std::string c;
    for (int i = 0; i < argc; ++i) c += (i ? " " : "") + std::string(argv[i]);
    return c;
  }();
  std::vector<nlohmann::json> points;
  for (int n : o.regions) {
    std::printf("scale: %d regions x 2 clusters, %g applies/s, %d s window, %d state partitions "
                "(load %s)\n",
                n, o.rate, o.duration_s, o.state_partitions, senren::scale::LoadAverage().c_str());
    std::fflush(stdout);
    senren::scale::Run run(o, n);
    points.push_back(run.Go());
  }
  all["points"] = points;
  all["ledger"] = o.ledger;
  senren::scale::PrintTable(points);
  if (std::system("mkdir -p bench/results") != 0) Die("mkdir bench/results");
  const std::string path = "bench/results/" + o.out + ".json";
  std::ofstream(path) << all.dump(2) << "\n";
  std::printf("wrote %s\n", path.c_str());
  return 0;
}
