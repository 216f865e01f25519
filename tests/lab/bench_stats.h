#pragma once

// Latency samples → p50/p90/p99/max, printed as a table row and written as the JSON
// every Senren benchmark leaves under bench/results/ (docs/design.md §11).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace senren::testing {

class BenchReport {
 public:
  // name: the file bench/results/<name>.json (relative to the working directory's
  // bench/results, created when missing).
  explicit BenchReport(std::string name) : name_(std::move(name)) {}

  // Samples in milliseconds.
  void AddLatency(const std::string& metric, std::vector<double> ms, const std::string& goal = "") {
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) {
      if (ms.empty()) return 0.0;
      size_t i = static_cast<size_t>(p * static_cast<double>(ms.size() - 1) + 0.5);
      return ms[std::min(i, ms.size() - 1)];
    };
    nlohmann::json j = {{"unit", "ms"},     {"n", ms.size()},
                        {"p50", pct(0.50)}, {"p90", pct(0.90)},
                        {"p99", pct(0.99)}, {"max", ms.empty() ? 0.0 : ms.back()}};
    if (!goal.empty()) j["goal"] = goal;
    results_[metric] = j;
    std::printf("%-44s n=%-5zu p50=%9.2f ms  p90=%9.2f ms  p99=%9.2f ms  max=%9.2f ms  %s\n",
                metric.c_str(), ms.size(), pct(0.5), pct(0.9), pct(0.99),
                ms.empty() ? 0.0 : ms.back(), goal.c_str());
    std::fflush(stdout);
  }

  void AddValue(const std::string& metric, double value, const std::string& unit,
                const std::string& goal = "") {
    nlohmann::json j = {{"unit", unit}, {"value", value}, {"n", 1}};
    if (!goal.empty()) j["goal"] = goal;
    results_[metric] = j;
    std::printf("%-44s %12.2f %s  %s\n", metric.c_str(), value, unit.c_str(), goal.c_str());
    std::fflush(stdout);
  }

  // Writes bench/results/<name>.json; returns its path.
  std::string Write(const std::string& dir = "bench/results") const {
    std::string mkdir = "mkdir -p '" + dir + "'";
    if (std::system(mkdir.c_str()) != 0) return "";
    std::string path = dir + "/" + name_ + ".json";
    std::ofstream(path) << nlohmann::json(results_).dump(2) << "\n";
    std::printf("wrote %s\n", path.c_str());
    return path;
  }

 private:
  std::string name_;
  std::map<std::string, nlohmann::json> results_;
};

inline double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace senren::testing
