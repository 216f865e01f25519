#include "regional/controller/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace senren::regional::controller {
namespace {

constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
constexpr size_t kNumBuckets = sizeof(kBuckets) / sizeof(kBuckets[0]);

std::string Series(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : absl::StrCat(name, "{", labels, "}");
}

std::string WithLe(const std::string& labels, const std::string& le) {
  return labels.empty() ? absl::StrCat("le=\"", le, "\"")
                        : absl::StrCat(labels, ",le=\"", le, "\"");
}

}  // namespace

Metrics::Metrics() = default;

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
  absl::MutexLock lock(&mu_);
  Histogram& h = histograms_[name][labels];
  if (h.counts.empty()) h.counts.assign(kNumBuckets, 0);
  for (size_t i = 0; i < kNumBuckets; ++i) {
    if (seconds <= kBuckets[i]) {
      h.counts[i]++;
      break;
    }
  }
  h.count++;
  h.sum += seconds;
}

double Metrics::Value(const std::string& name, const std::string& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(name);
  if (it == values_.end()) return 0;
  auto v = it->second.find(labels);
  return v == it->second.end() ? 0 : v->second;
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  auto header = [&](const std::string& name, const char* fallback_type) {
    auto it = help_.find(name);
    if (it != help_.end()) {
      absl::StrAppend(&out, "# HELP ", name, " ", it->second.second, "\n# TYPE ", name, " ",
                      it->second.first, "\n");
    } else {
      absl::StrAppend(&out, "# TYPE ", name, " ", fallback_type, "\n");
    }
  };
  for (const auto& [name, series] : values_) {
    header(name, "untyped");
    for (const auto& [labels, v] : series) absl::StrAppend(&out, Series(name, labels), " ", v, "\n");
  }
  for (const auto& [name, series] : histograms_) {
    header(name, "histogram");
    for (const auto& [labels, h] : series) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < kNumBuckets; ++i) {
        cumulative += h.counts[i];
        absl::StrAppend(&out, name, "_bucket{", WithLe(labels, absl::StrCat(kBuckets[i])), "} ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_bucket{", WithLe(labels, "+Inf"), "} ", h.count, "\n");
      absl::StrAppend(&out, Series(name + "_sum", labels), " ", h.sum, "\n");
      absl::StrAppend(&out, Series(name + "_count", labels), " ", h.count, "\n");
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, std::function<std::string()> render) {
  auto colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("metrics address \"", address,
                                                   "\" is not host:port"));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("metrics address \"", address,
                                                   "\" needs an IPv4 host"));
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 16) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", address, ": ", err));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto server = std::unique_ptr<MetricsServer>(
      new MetricsServer(fd, ntohs(addr.sin_port), std::move(render)));
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

MetricsServer::MetricsServer(int fd, int port, std::function<std::string()> render)
    : fd_(fd), port_(port), render_(std::move(render)) {}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void MetricsServer::Loop() {
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string req;
    char buf[2048];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    std::string status = "200 OK";
    std::string body;
    std::string type = "text/plain; version=0.0.4";
    if (req.rfind("GET /metrics", 0) == 0) {
      body = render_();
    } else if (req.rfind("GET /healthz", 0) == 0) {
      body = "ok\n";
    } else {
      status = "404 Not Found";
      body = "not found\n";
    }
    std::string resp = absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                                    "\r\nContent-Length: ", body.size(),
                                    "\r\nConnection: close\r\n\r\n", body);
    size_t off = 0;
    while (off < resp.size()) {
      ssize_t n = ::send(c, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(c);
  }
}

}  // namespace senren::regional::controller
