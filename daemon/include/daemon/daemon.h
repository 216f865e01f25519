#pragma once

// The skeleton every Senren daemon runs on (senren-ledger serve/project, senren-regional,
// senren-controller): common flags, signals, one metrics registry, health and the HTTP
// endpoint serving them.

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/health.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"

namespace senren::daemon {

struct DaemonFlags {
  // spdlog level: trace, debug, info, warn, error. Default: info.
  std::string log_level = "info";
  // Address of /metrics, /healthz and /readyz, e.g. 127.0.0.1:57071. Default: "" (none).
  std::string metrics_listen;
};

// Registers --log-level and --metrics-listen on `app` (the daemon's app, or its serve
// subcommand), so every daemon spells and documents them the same way.
void AddDaemonFlags(CLI::App& app, DaemonFlags& flags);

// One daemon process: applies the log level, takes SIGINT and SIGTERM, owns the metrics
// registry and the health, and serves them over HTTP when --metrics-listen is set.
//
// Create() must run on the main thread before any other thread starts: it blocks SIGINT
// and SIGTERM there, every thread started later inherits that mask, and only WaitForStop
// takes them (no handler runs on an arbitrary thread). Then the daemon starts its parts,
// one thread calls WaitForStop, and the daemon shuts its parts down in order when it
// returns. The HTTP endpoint serves until the Daemon is destroyed, so /readyz reports
// "stopping" during shutdown.
class Daemon {
 public:
  // `name` is the binary's name, for logs. InvalidArgument for a bad --log-level or
  // --metrics-listen; Unavailable when the address cannot be listened on.
  static absl::StatusOr<std::unique_ptr<Daemon>> Create(const std::string& name,
                                                        const DaemonFlags& flags);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  Metrics& metrics() { return metrics_; }
  Health& health() { return health_; }
  // The HTTP endpoint's port; 0 without --metrics-listen.
  int http_port() const;

  // Blocks until SIGINT or SIGTERM arrives or RequestStop is called, calling `tick` (if
  // any) about every 100 ms meanwhile, on this thread (for periodic chores of main, such
  // as logging the first reconcile). Returns the signal, or 0 after RequestStop; marks
  // the daemon stopping (not ready) either way. One thread calls it, once.
  int WaitForStop(const std::function<void()>& tick = nullptr);
  // Waits up to `timeout` for the same; true when the daemon is to stop. For loops that
  // wait for a dependency before WaitForStop (e.g. PostgreSQL at start), so a signal
  // ends them too. Called by the thread that calls WaitForStop.
  bool WaitForStopFor(absl::Duration timeout);
  // Ends WaitForStop, e.g. when a part ended on its own. Thread-safe; idempotent.
  void RequestStop() { stop_requested_.store(true); }
  // True once WaitForStop has returned or RequestStop was called.
  bool stopping() const { return stop_requested_.load() || stopped_.load(); }

 private:
  explicit Daemon(std::string name);
  void MarkStopped();

  const std::string name_;
  Metrics metrics_;
  Health health_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> stopped_{false};
  int signal_ = 0;  // the signal that stopped the daemon; WaitForStop's thread only
  // Last: it calls into metrics_ and health_, so it stops before they go.
  std::unique_ptr<HttpServer> http_;
};

}  // namespace senren::daemon
