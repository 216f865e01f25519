#include "daemon/daemon.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace senren::daemon {
namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void AddDaemonFlags(CLI::App& app, DaemonFlags& flags) {
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error (default: info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "Serve /metrics, /healthz and /readyz on this host:port, e.g. 127.0.0.1:57071 "
                 "(default: none)");
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Create(const std::string& name,
                                                       const DaemonFlags& flags) {
  const spdlog::level::level_enum level = spdlog::level::from_str(flags.log_level);
  if (level == spdlog::level::off && flags.log_level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level \"", flags.log_level, "\" is unknown"));
  }
  spdlog::set_level(level);
  // Microseconds: the lab's per-hop breakdown (tools/bench e2e) lines up the daemons' lines
  // on one machine's clock, and the hops are a few milliseconds each.
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%f] [%l] %v");
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::unique_ptr<Daemon> d(new Daemon(name));
  if (!flags.metrics_listen.empty()) {
    Daemon* raw = d.get();
    HttpServerOptions o;
    o.listen = flags.metrics_listen;
    o.metrics = [raw] { return raw->metrics_.Render(); };
    o.not_live = [raw] { return raw->health_.NotLive(); };
    o.not_ready = [raw] { return raw->health_.NotReady(); };
    auto http = HttpServer::Start(std::move(o));
    if (!http.ok()) return http.status();
    d->http_ = std::move(*http);
    spdlog::info("{}: /metrics, /healthz and /readyz on 127.0.0.1:{}", name, d->http_->port());
  }
  return d;
}

Daemon::Daemon(std::string name) : name_(std::move(name)) {}

Daemon::~Daemon() { http_.reset(); }

int Daemon::http_port() const { return http_ ? http_->port() : 0; }

bool Daemon::WaitForStopFor(absl::Duration timeout) {
  const sigset_t signals = StopSignals();
  const absl::Time deadline = absl::Now() + timeout;
  while (!stopping()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    // Short slices, so RequestStop from another thread is seen within 100 ms.
    const timespec slice = absl::ToTimespec(std::min(left, absl::Milliseconds(100)));
    siginfo_t info;
    const int got = sigtimedwait(&signals, &info, &slice);
    if (got > 0) {
      signal_ = got;
      break;
    }
  }
  MarkStopped();
  return true;
}

int Daemon::WaitForStop(const std::function<void()>& tick) {
  while (!WaitForStopFor(absl::Milliseconds(100))) {
    if (tick) tick();
  }
  return signal_;
}

void Daemon::MarkStopped() {
  if (stopped_.exchange(true)) return;
  health_.SetStopping();
  if (signal_ != 0) {
    spdlog::info("{}: signal {}, shutting down", name_, signal_);
  } else {
    spdlog::info("{}: shutting down", name_);
  }
}

}  // namespace senren::daemon
