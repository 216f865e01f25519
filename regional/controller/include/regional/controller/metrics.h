#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace senren::regional::controller {

// Counters, gauges and histograms rendered in the Prometheus text format (0.0.4).
// Labels are passed pre-formatted: `kind="RedisDatabase",result="success"`. Thread-safe.
class Metrics {
 public:
  Metrics();
  void Describe(const std::string& name, const std::string& type, const std::string& help);
  void Add(const std::string& name, const std::string& labels, double value = 1);
  void Set(const std::string& name, const std::string& labels, double value);
  // Histogram with buckets 5 ms .. 10 s.
  void Observe(const std::string& name, const std::string& labels, double seconds);
  double Value(const std::string& name, const std::string& labels) const;
  std::string Render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> counts;  // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> help_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, double>> values_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, Histogram>> histograms_ ABSL_GUARDED_BY(mu_);
};

// Serves GET /metrics (the Prometheus text of `render`) and GET /healthz on a TCP address
// ("127.0.0.1:0" picks a free port). One thread; one request per connection.
class MetricsServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                             std::function<std::string()> render);
  ~MetricsServer();
  int port() const { return port_; }
  void Stop();

 private:
  MetricsServer(int fd, int port, std::function<std::string()> render);
  void Loop();
  const int fd_;
  const int port_;
  std::function<std::string()> render_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace senren::regional::controller
