#pragma once

// One metrics registry per daemon, rendered in the Prometheus text format (0.0.4).

#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace senren::daemon {

// The one bucket layout of every histogram: upper bounds in seconds, 0.5 ms .. 10 s in
// steps of 1, 2.5 and 5 per decade. One layout for every daemon, so dashboards compare
// like with like.
const std::vector<double>& LatencyBuckets();

// `rpc="ApplyState",code="OK"`: a pre-formatted label set, values escaped as the text
// format asks (backslash, double quote, newline).
std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels);

// Counters, gauges and histograms of one process. A series is a metric name plus a
// pre-formatted label set (see Labels; "" for none). Thread-safe; recording takes one
// mutex for a map lookup, cheap enough for every gRPC request.
//
// Numbers that other components already count (a stats struct) are not counted twice:
// a collector (AddCollector) copies them into the registry with Set at each Render.
class Metrics {
 public:
  // HELP and TYPE ("counter", "gauge", "histogram") of a metric. Metrics not described
  // render as "untyped" (histograms as "histogram").
  void Describe(const std::string& name, const std::string& type, const std::string& help);
  // Adds to a counter (or a gauge).
  void Add(const std::string& name, const std::string& labels, double value = 1);
  // Sets a gauge, or a counter kept elsewhere.
  void Set(const std::string& name, const std::string& labels, double value);
  // One observation (seconds) of a histogram with LatencyBuckets().
  void Observe(const std::string& name, const std::string& labels, double seconds);
  // The value of a counter or gauge series; 0 when it was never recorded.
  double Value(const std::string& name, const std::string& labels) const;
  // `collect` runs at the start of every Render, on the rendering thread and without the
  // registry's lock held (it calls Set). It must outlive the registry's last Render.
  void AddCollector(std::function<void(Metrics&)> collect);
  // Drops every collector, waiting for a Render that runs them: after it returns, none
  // runs again, so what they read may be destroyed. (The series they set stay.)
  void ClearCollectors();
  // The exposition text: metrics in name order, each with its HELP and TYPE lines.
  std::string Render();

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
  absl::Mutex collectors_mu_;
  std::vector<std::function<void(Metrics&)>> collectors_ ABSL_GUARDED_BY(collectors_mu_);
};

}  // namespace senren::daemon
