#pragma once

// The HTTP endpoint every Senren daemon serves: /metrics, /healthz and /readyz.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace senren::daemon {

struct HttpServerOptions {
  // "host:port" (IPv4; "" or "localhost" host = 127.0.0.1); port 0 picks a free one.
  std::string listen;
  // GET /metrics: the Prometheus text (content type text/plain; version=0.0.4).
  std::function<std::string()> metrics;
  // GET /healthz and GET /readyz: "" answers 200 "ok", a reason answers 503 with it.
  std::function<std::string()> not_live;
  std::function<std::string()> not_ready;
};

// Serves the three endpoints with cpp-httplib (Debian's libcpp-httplib) on two threads
// of its own, one request per connection (Prometheus and probes connect once per scrape;
// a closed connection keeps no idle thread). Listens from Start until destruction; the
// callbacks are called on its threads and must outlive it.
class HttpServer {
 public:
  // InvalidArgument for a malformed address; Unavailable when it cannot listen there.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace senren::daemon
