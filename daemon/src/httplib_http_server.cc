// cpp-httplib rather than CivetWeb: a C++ API (handlers are lambdas, no C callbacks and
// void* contexts), a client for the tests in the same package, and Debian's build is a
// small shared library with no configuration file or options table to carry.
#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/http_server.h"

namespace senren::daemon {

class HttpServer::Impl {
 public:
  httplib::Server server;
  int port = 0;
  std::atomic<bool> listen_returned{false};
  std::thread thread;
};

namespace {

constexpr const char* kTextFormat = "text/plain; version=0.0.4; charset=utf-8";

void Probe(const std::function<std::string()>& check, httplib::Response& res) {
  const std::string reason = check ? check() : std::string();
  res.status = reason.empty() ? 200 : 503;
  res.set_content(reason.empty() ? "ok\n" : reason + "\n", "text/plain; charset=utf-8");
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options) {
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen \"", options.listen, "\" is not host:port"));
  }
  std::string host = options.listen.substr(0, colon);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  auto impl = std::make_unique<Impl>();
  httplib::Server& s = impl->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  s.set_keep_alive_max_count(1);
  s.set_read_timeout(std::chrono::seconds(2));
  s.set_write_timeout(std::chrono::seconds(5));
  s.set_address_family(AF_INET);
  // The listening socket must not leak into a child process (it would keep the port).
  s.set_socket_options([](socket_t fd) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  });
  s.Get("/metrics", [render = options.metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(render ? render() : std::string(), kTextFormat);
  });
  s.Get("/healthz", [check = options.not_live](const httplib::Request&, httplib::Response& res) {
    Probe(check, res);
  });
  s.Get("/readyz", [check = options.not_ready](const httplib::Request&, httplib::Response& res) {
    Probe(check, res);
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404)
      res.set_content("not found; try /metrics, /healthz or /readyz\n", "text/plain");
  });
  if (port == 0) {
    port = s.bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!s.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for metrics on ", options.listen,
                                               " (address in use or not local)"));
  }
  impl->port = port;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->listen_returned = true;
  });
  // stop() is a no-op until the accept loop runs; wait for it so that the destructor
  // always ends it.
  while (!raw->server.is_running() && !raw->listen_returned) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HttpServer::port() const { return impl_->port; }

}  // namespace senren::daemon
