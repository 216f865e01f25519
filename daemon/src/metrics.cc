#include "daemon/metrics.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace senren::daemon {
namespace {

// Counters print as integers (a double's default "%g" would turn 1234567 into
// 1.23457e+06); other values with enough digits for sums of seconds.
std::string Number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%.10g", v);
}

std::string Series(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : absl::StrCat(name, "{", labels, "}");
}

std::string WithLe(const std::string& labels, const std::string& le) {
  return labels.empty() ? absl::StrCat("le=\"", le, "\"")
                        : absl::StrCat(labels, ",le=\"", le, "\"");
}

}  // namespace

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return kBuckets;
}

std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    if (!out.empty()) out += ',';
    out.append(key.data(), key.size());
    out += "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out;
}

void Metrics::Describe(const std::string& name, const std::string& type, const std::string& help) {
  absl::MutexLock lock(&mu_);
  help_[name] = {type, help};
}

void Metrics::Add(const std::string& name, const std::string& labels, double value) {
  absl::MutexLock lock(&mu_);
  values_[name][labels] += value;
}

void Metrics::Set(const std::string& name, const std::string& labels, double value) {
  absl::MutexLock lock(&mu_);
  values_[name][labels] = value;
}

void Metrics::Observe(const std::string& name, const std::string& labels, double seconds) {
  const std::vector<double>& bounds = LatencyBuckets();
  absl::MutexLock lock(&mu_);
  Histogram& h = histograms_[name][labels];
  if (h.counts.empty()) h.counts.assign(bounds.size(), 0);
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      ++h.counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += seconds;
}

double Metrics::Value(const std::string& name, const std::string& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(name);
  if (it == values_.end()) return 0;
  auto v = it->second.find(labels);
  return v == it->second.end() ? 0 : v->second;
}

void Metrics::AddCollector(std::function<void(Metrics&)> collect) {
  absl::MutexLock lock(&collectors_mu_);
  collectors_.push_back(std::move(collect));
}

void Metrics::ClearCollectors() {
  absl::MutexLock lock(&collectors_mu_);
  collectors_.clear();
}

std::string Metrics::Render() {
  {
    // Held across the calls so that two scrapes do not interleave their Sets; the
    // registry's own lock is free, as the collectors take it.
    absl::MutexLock lock(&collectors_mu_);
    for (const auto& collect : collectors_) collect(*this);
  }
  const std::vector<double>& bounds = LatencyBuckets();
  absl::MutexLock lock(&mu_);
  std::set<std::string> names;
  for (const auto& [name, series] : values_) names.insert(name);
  for (const auto& [name, series] : histograms_) names.insert(name);
  std::string out;
  for (const std::string& name : names) {
    auto values = values_.find(name);
    auto histograms = histograms_.find(name);
    auto help = help_.find(name);
    if (help != help_.end()) {
      absl::StrAppend(&out, "# HELP ", name, " ", help->second.second, "\n# TYPE ", name, " ",
                      help->second.first, "\n");
    } else {
      absl::StrAppend(&out, "# TYPE ", name, " ",
                      histograms != histograms_.end() ? "histogram" : "untyped", "\n");
    }
    if (values != values_.end()) {
      for (const auto& [labels, v] : values->second) {
        absl::StrAppend(&out, Series(name, labels), " ", Number(v), "\n");
      }
    }
    if (histograms == histograms_.end()) continue;
    for (const auto& [labels, h] : histograms->second) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < bounds.size(); ++i) {
        cumulative += h.counts[i];
        absl::StrAppend(&out, name, "_bucket{", WithLe(labels, absl::StrCat(bounds[i])), "} ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_bucket{", WithLe(labels, "+Inf"), "} ", h.count, "\n");
      absl::StrAppend(&out, Series(name + "_sum", labels), " ", Number(h.sum), "\n");
      absl::StrAppend(&out, Series(name + "_count", labels), " ", h.count, "\n");
    }
  }
  return out;
}

}  // namespace senren::daemon
