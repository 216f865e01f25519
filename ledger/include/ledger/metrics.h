#pragma once

// Prometheus text metrics of senren-ledger and a minimal HTTP endpoint serving them.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace senren::ledger {

// Requests by RPC and code, and latency histograms by RPC. Thread-safe.
class Metrics {
 public:
  void RecordRequest(const std::string& rpc, const std::string& code, double seconds);

  // The exposition text (format 0.0.4); `extra` is appended (e.g. store gauges).
  std::string Render(const std::string& extra) const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative at render time; here per bucket
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Histogram> latency_ ABSL_GUARDED_BY(mu_);
};

// Serves GET /metrics on `listen` ("host:port"; port 0 picks one) from a thread of its
// own; stops when destroyed.
class MetricsHttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, std::function<std::string()> render);
  ~MetricsHttpServer();

  int port() const { return port_; }

 private:
  MetricsHttpServer(int fd, int port, std::function<std::string()> render);
  void Loop();

  int fd_;
  int port_;
  std::function<std::string()> render_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace senren::ledger
