#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace senren::regional::kube::testing {

struct HttpRequest {
  std::string method;
  std::string path;                            // without the query
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // A streamed answer (watch): sent with chunked encoding, one chunk each, with `gap`
  // between them. After the last chunk the stream ends cleanly, or, with `drop`, the
  // connection is closed without the final chunk (a dropped stream); with `hold`, it
  // stays open until the client goes away or the server stops.
  bool streamed = false;
  std::vector<std::string> chunks;
  std::chrono::milliseconds gap{0};
  bool drop = false;
  bool hold = false;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// An HTTP/1.1 server on 127.0.0.1 (port 0) for the Kubernetes client's unit tests: it
// answers each request with the handler's response (recorded kube-apiserver answers),
// supports keep-alive, chunked streaming for watches and dropping a connection
// mid-stream, and records every request. One thread per connection.
class FakeApiServer {
 public:
  static absl::StatusOr<std::unique_ptr<FakeApiServer>> Start(HttpHandler handler);
  ~FakeApiServer();

  // "http://127.0.0.1:<port>"
  std::string url() const;
  int port() const { return port_; }
  std::vector<HttpRequest> requests() const;
  // Replaces the handler (between test phases).
  void SetHandler(HttpHandler handler);
  void Stop();

 private:
  FakeApiServer(int listen_fd, int port, HttpHandler handler);
  void AcceptLoop();
  void Serve(int fd);

  const int listen_fd_;
  const int port_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  HttpHandler handler_ ABSL_GUARDED_BY(mu_);
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);
};

// A metav1.Status body as the kube-apiserver sends it.
std::string StatusBody(int code, const std::string& reason, const std::string& message);

}  // namespace senren::regional::kube::testing
