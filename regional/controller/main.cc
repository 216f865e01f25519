// senren-controller: wiring only (flags, kubeconfig, leader election, metrics, signals);
// the loop is regional/controller/src/controller.cc.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>

#include "daemon/daemon.h"
#include "regional/controller/controller.h"
#include "regional/controller/metrics.h"
#include "regional/kube/curl_kube_client.h"
#include "regional/kube/kubeconfig.h"
#include "regional/kube/leader_election.h"

namespace {

std::string DefaultIdentity() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace senren::regional;
  CLI::App app{"senren-controller: turns RedisDatabase and AerospikeCluster CRs into "
               "StatefulSets, Services and ConfigMaps and reports their status"};
  std::string kinds_flag = "redis,aerospike";
  std::string kubeconfig;
  std::string context;
  std::string ns;
  senren::daemon::DaemonFlags daemon_flags;
  std::string lease_namespace;
  std::string lease_name = "senren-controller";
  std::string identity = DefaultIdentity();
  bool leader_elect = true;
  int workers = 4;
  int resync_s = 30;
  app.add_option("--kinds", kinds_flag, "Kinds to reconcile: redis, aerospike (comma-separated)");
  app.add_option("--kubeconfig", kubeconfig,
                 "Kubeconfig file (default: $KUBECONFIG, the in-cluster service account, "
                 "~/.kube/config)");
  app.add_option("--context", context, "Kubeconfig context (default: current-context)");
  app.add_option("--namespace", ns, "Namespace to watch (default: every namespace)");
  senren::daemon::AddDaemonFlags(app, daemon_flags);
  app.add_option("--workers", workers, "Reconcile workers (default: 4)");
  app.add_option("--resync-seconds", resync_s,
                 "Reconcile every CR at least this often (default: 30)");
  std::string cluster_domain = "cluster.local";
  app.add_option("--cluster-domain", cluster_domain,
                 "The cluster's DNS domain, for in-cluster names (default: cluster.local)");
  int settle_s = 20;
  app.add_option("--scale-down-settle-seconds", settle_s,
                 "Aerospike scale-down: how long the remaining nodes must stay ready before "
                 "the next one goes (default: 20)");
  app.add_flag("--leader-elect,!--no-leader-elect", leader_elect,
               "Run only while holding the Lease (default: on)");
  app.add_option("--leader-election-namespace", lease_namespace,
                 "Namespace of the Lease (default: --namespace, else the kubeconfig's)");
  app.add_option("--leader-election-name", lease_name, "Lease name (default: senren-controller)");
  app.add_option("--identity", identity,
                 "This replica's identity in the Lease (default: host-pid)");
  CLI11_PARSE(app, argc, argv);

  // First, before any thread starts: it blocks SIGINT/SIGTERM for every later thread.
  auto daemon = senren::daemon::Daemon::Create("senren-controller", daemon_flags);
  if (!daemon.ok()) {
    spdlog::error("{}", daemon.status().ToString());
    return 2;
  }
  auto kinds = controller::ParseKinds(kinds_flag);
  if (!kinds.ok()) {
    spdlog::error("{}", kinds.status().ToString());
    return 2;
  }
  auto config = kube::ResolveKubeConfig(kubeconfig, context);
  if (!config.ok()) {
    spdlog::error("{}", config.status().ToString());
    return 1;
  }
  kube::CurlKubeClientOptions client_options;
  // Non-apply writes (status) are recorded in managedFields under the user agent's name.
  client_options.user_agent = "senren-controller";
  auto client = kube::CurlKubeClient::Create(*config, client_options);
  if (!client.ok()) {
    spdlog::error("{}", client.status().ToString());
    return 1;
  }
  controller::Metrics& metrics = (*daemon)->metrics();
  controller::ControllerOptions options;
  options.kinds = *kinds;
  options.ns = ns;
  options.workers = workers;
  options.resync = std::chrono::seconds(resync_s);
  options.cluster_domain = cluster_domain;
  options.scale_down_settle = std::chrono::seconds(settle_s);
  controller::Controller ctl(client->get(), options, &metrics);
  spdlog::info("senren-controller {} on {} (namespace {})", identity, (*client)->config().server,
               ns.empty() ? "*" : ns);

  // Readiness: leading with synced informers and a recent reconcile (or nothing queued),
  // or standing by. Observed by the signal thread's tick, never while Start or Stop run.
  std::atomic<bool> started{false};
  std::function<bool()> leading = [] { return true; };
  // Shared with the check, which the daemon's HTTP threads may call until the daemon goes.
  auto reconciler = std::make_shared<senren::daemon::ReconcilerHealth>(
      &(*daemon)->health(), 3 * absl::FromChrono(options.resync));
  (*daemon)->health().AddReadinessCheck("controller",
                                        [reconciler] { return reconciler->NotReady(); });
  auto tick = [&] {
    using Role = senren::daemon::ReconcilerState::Role;
    if (!started.load()) {
      reconciler->Update(leading() ? Role::kLeading : Role::kStandby, false, 0, false);
      return;
    }
    int64_t reconciles = 0;
    for (const char* kind : {"RedisDatabase", "AerospikeCluster"}) {
      for (const char* result : {"success", "conflict", "error"}) {
        reconciles += static_cast<int64_t>(
            metrics.Value("senren_controller_reconciles_total",
                          senren::daemon::Labels({{"kind", kind}, {"result", result}})));
      }
    }
    reconciler->Update(Role::kLeading, ctl.WaitForSync(std::chrono::milliseconds(0)), reconciles,
                       ctl.QueueDepth() == 0);
  };

  if (!leader_elect) {
    ctl.Start();
    started.store(true);
    (*daemon)->WaitForStop(tick);
    ctl.Stop();
    return 0;
  }
  kube::LeaderElectionOptions le;
  le.ns = !lease_namespace.empty() ? lease_namespace
          : !ns.empty()            ? ns
                                   : (*client)->config().default_namespace;
  le.name = lease_name;
  le.identity = identity;
  // The elector's own client: one attempt per request, none longer than the renew
  // deadline, so an abandoned renewal ends soon after the elector gave up on it (the main
  // client retries a request for minutes).
  kube::CurlKubeClientOptions eo = client_options;
  eo.request_timeout = le.renew_deadline;
  eo.connect_timeout = std::min(eo.connect_timeout, le.renew_deadline);
  eo.max_attempts = 1;
  auto election_client = kube::CurlKubeClient::Create(*config, eo);
  if (!election_client.ok()) {
    spdlog::error("{}", election_client.status().ToString());
    return 1;
  }
  kube::LeaderElector elector(election_client->get(), le);
  leading = [&elector] { return elector.IsLeader(); };
  // One thread takes the signals; the main thread runs the election.
  std::thread signals([&] {
    (*daemon)->WaitForStop(tick);
    elector.Stop();
  });
  const bool stopped = elector.Run(
      [&] {
        ctl.Start();
        started.store(true);
      },
      [&] {
        if (!(*daemon)->stopping()) kube::ExitOnLostLease(le);  // a restart starts from the caches
        ctl.Stop();
      });
  (*daemon)->RequestStop();
  signals.join();
  return stopped ? 0 : 1;
}
