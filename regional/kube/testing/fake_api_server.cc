#include "regional/kube/testing/fake_api_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace senren::regional::kube::testing {
namespace {

bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Decode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      if (absl::SimpleHexAtoi(s.substr(i + 1, 2), &v)) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return nlohmann::json{
      {"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
      {"status", "Failure"}, {"message", message}, {"reason", reason},
      {"code", code}}
      .dump();
}

absl::StatusOr<std::unique_ptr<FakeApiServer>> FakeApiServer::Start(HttpHandler handler) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("bind/listen: ", std::strerror(errno)));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto server = std::unique_ptr<FakeApiServer>(
      new FakeApiServer(fd, ntohs(addr.sin_port), std::move(handler)));
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

FakeApiServer::FakeApiServer(int listen_fd, int port, HttpHandler handler)
    : listen_fd_(listen_fd), port_(port), handler_(std::move(handler)) {}

FakeApiServer::~FakeApiServer() { Stop(); }

std::string FakeApiServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

std::vector<HttpRequest> FakeApiServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void FakeApiServer::SetHandler(HttpHandler handler) {
  absl::MutexLock lock(&mu_);
  handler_ = std::move(handler);
}

void FakeApiServer::Stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(connections_);
  }
  for (auto& t : threads) t.join();
}

void FakeApiServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    absl::MutexLock lock(&mu_);
    open_fds_.push_back(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeApiServer::Serve(int fd) {
  std::string buf;
  char chunk[8192];
  auto read_more = [&]() {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    return true;
  };
  while (!stopping_.load()) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) goto done;
    }
    {
      HttpRequest req;
      std::vector<std::string> lines = absl::StrSplit(buf.substr(0, end), "\r\n");
      buf.erase(0, end + 4);
      std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
      if (first.size() < 2) goto done;
      req.method = first[0];
      std::string target = first[1];
      auto q = target.find('?');
      req.path = Decode(target.substr(0, q));
      if (q != std::string::npos) {
        for (absl::string_view kv : absl::StrSplit(target.substr(q + 1), '&')) {
          auto eq = kv.find('=');
          req.query[Decode(kv.substr(0, eq))] =
              eq == absl::string_view::npos ? "" : Decode(kv.substr(eq + 1));
        }
      }
      for (size_t i = 1; i < lines.size(); ++i) {
        auto colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        req.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
            std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      }
      if (req.headers["expect"] == "100-continue") {
        if (!SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) goto done;
      }
      size_t length = 0;
      if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
        if (!absl::SimpleAtoi(it->second, &length)) length = 0;
      }
      while (buf.size() < length) {
        if (!read_more()) goto done;
      }
      req.body = buf.substr(0, length);
      buf.erase(0, length);

      HttpHandler handler;
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(req);
        handler = handler_;
      }
      HttpResponse resp = handler(req);
      std::string head = absl::StrCat("HTTP/1.1 ", resp.status, " ", Reason(resp.status), "\r\n",
                                      "Content-Type: ", resp.content_type, "\r\n");
      for (const auto& [k, v] : resp.headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
      if (!resp.streamed) {
        absl::StrAppend(&head, "Content-Length: ", resp.body.size(), "\r\n\r\n", resp.body);
        if (!SendAll(fd, head)) goto done;
        continue;
      }
      absl::StrAppend(&head, "Transfer-Encoding: chunked\r\n\r\n");
      if (!SendAll(fd, head)) goto done;
      for (const std::string& c : resp.chunks) {
        if (resp.gap.count() > 0) std::this_thread::sleep_for(resp.gap);
        if (!SendAll(fd, absl::StrCat(absl::Hex(c.size()), "\r\n", c, "\r\n"))) goto done;
      }
      if (resp.drop) goto done;
      if (resp.hold) {
        // Until the client closes the connection or the server stops.
        while (!stopping_.load()) {
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 50) > 0) {
            if (::recv(fd, chunk, sizeof(chunk), 0) <= 0) goto done;
          }
        }
        goto done;
      }
      if (!SendAll(fd, "0\r\n\r\n")) goto done;
    }
  }
done : {
  absl::MutexLock lock(&mu_);
  std::erase(open_fds_, fd);
}
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace senren::regional::kube::testing
