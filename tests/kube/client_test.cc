// CurlKubeClient against a real kube-apiserver of the lab (aws:us-east-1/prod).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "kube_lab.h"
#include "regional/kube/errors.h"
#include "regional/kube/informer.h"
#include "regional/kube/leader_election.h"

namespace senren::regional::kube {
namespace {

using ::testing::HasSubstr;

// A TCP proxy on 127.0.0.1:0 in front of an apiserver (TLS passes through untouched);
// CutAll() drops every open connection, as a flaky network or an apiserver restart would.
class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~TcpProxy() {
    stop_ = true;
    CutAll();
    acceptor_.join();
    ::close(listen_fd_);
    for (auto& t : pumps_) t.join();
  }
  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  void CutAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(target_port_));
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(client);
      fds_.push_back(server);
      pumps_.emplace_back([client, server] { Pump(client, server); });
    }
  }
  static void Pump(int a, int b) {
    char buf[16384];
    pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (::poll(p, 2, -1) > 0) {
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (p[i].revents == 0) continue;
        ssize_t n = ::recv(p[i].fd, buf, sizeof(buf), 0);
        if (n <= 0 || ::send(p[1 - i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n)
          done = true;
      }
      if (done) break;
    }
    ::shutdown(a, SHUT_RDWR);
    ::shutdown(b, SHUT_RDWR);
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> pumps_;
};

class KubeClientLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = labtest::ClusterClient(0);
    ns_ = labtest::CreateNamespace(client_.get(), "kube-client");
  }
  void TearDown() override { labtest::DeleteNamespace(client_.get(), ns_); }

  Json ConfigMap(const std::string& name, const std::string& value) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"labels", {{"test", "client"}}}}},
            {"data", {{"k", value}}}};
  }

  std::unique_ptr<CurlKubeClient> client_;
  std::string ns_;
};

TEST_F(KubeClientLabTest, CreateGetUpdateDeleteWithErrorsFromTheApiServer) {
  auto created = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("one", "a"));
  ASSERT_TRUE(created.ok()) << created.status();
  auto again = client_->Create(resources::ConfigMaps(), ns_, ConfigMap("one", "a"));
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_EQ(HttpStatusOf(again.status()), 409);
  EXPECT_THAT(again.status().message(), HasSubstr("already exists"));

  auto got = client_->Get(resources::ConfigMaps(), ns_, "one");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["data"]["k"], "a");

  Json stale = *got;
  Json fresh = *got;
  fresh["data"]["k"] = "b";
  ASSERT_TRUE(client_->Update(resources::ConfigMaps(), ns_, fresh).ok());
  stale["data"]["k"] = "c";
  auto conflict = client_->Update(resources::ConfigMaps(), ns_, stale);
  EXPECT_TRUE(IsConflict(conflict.status())) << conflict.status();
  EXPECT_THAT(conflict.status().message(), HasSubstr("the object has been modified"));

  DeleteOptions wrong_uid;
  wrong_uid.uid = "00000000-0000-0000-0000-000000000000";
  absl::Status precondition = client_->Delete(resources::ConfigMaps(), ns_, "one", wrong_uid);
  EXPECT_TRUE(IsConflict(precondition)) << precondition;
  EXPECT_THAT(std::string(precondition.message()), HasSubstr("UID in the precondition"));
  DeleteOptions right_uid;
  right_uid.uid = (*got)["metadata"]["uid"].get<std::string>();
  EXPECT_TRUE(client_->Delete(resources::ConfigMaps(), ns_, "one", right_uid).ok());
  auto gone = client_->Get(resources::ConfigMaps(), ns_, "one");
  EXPECT_TRUE(absl::IsNotFound(gone.status())) << gone.status();
  EXPECT_THAT(gone.status().message(), HasSubstr("configmaps \"one\" not found"));
}

TEST_F(KubeClientLabTest, ListAllPagesWithContinue) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        client_->Create(resources::ConfigMaps(), ns_, ConfigMap("page-" + std::to_string(i), "x"))
            .ok());
  }
  ListOptions options;
  options.limit = 2;
  options.label_selector = "test=client";
  auto first = client_->List(resources::ConfigMaps(), ns_, options);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->items.size(), 2u);
  EXPECT_FALSE(first->continue_token.empty());
  auto all = client_->ListAll(resources::ConfigMaps(), ns_, options);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->items.size(), 7u);
  EXPECT_FALSE(all->resource_version.empty());
}

TEST_F(KubeClientLabTest, ServerSideApplyIsIdempotentAndOwnsFields) {
  ApplyOptions mine;
  mine.field_manager = "senren-test";
  auto first = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("applied", "v1"), mine);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("applied", "v1"), mine);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*first)["metadata"]["resourceVersion"], (*second)["metadata"]["resourceVersion"])
      << "repeating an apply is a no-op";

  ApplyOptions other;
  other.field_manager = "someone-else";
  auto conflict = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("applied", "v2"), other);
  EXPECT_TRUE(IsConflict(conflict.status())) << conflict.status();
  EXPECT_THAT(conflict.status().message(), HasSubstr("conflict"));
  other.force = true;
  auto forced = client_->Apply(resources::ConfigMaps(), ns_, ConfigMap("applied", "v2"), other);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ((*forced)["data"]["k"], "v2");
}

TEST_F(KubeClientLabTest, WatchFromAListSeesEveryChangeAndBookmarks) {
  auto list = client_->List(resources::ConfigMaps(), ns_, ListOptions{});
  ASSERT_TRUE(list.ok());
  std::atomic<bool> cancel{false};
  std::vector<std::string> seen;
  std::mutex mu;
  std::thread watcher([&] {
    WatchOptions options;
    options.resource_version = list->resource_version;
    options.label_selector = "test=client";
    options.timeout = std::chrono::seconds(60);
    absl::Status s = client_->Watch(
        resources::ConfigMaps(), ns_, options,
        [&](const WatchEvent& e) {
          std::lock_guard<std::mutex> lock(mu);
          if (e.type != WatchEventType::kBookmark) {
            seen.push_back(std::string(WatchEventTypeName(e.type)) + " " +
                           e.object["metadata"].value("name", ""));
          }
          return true;
        },
        &cancel);
    EXPECT_TRUE(absl::IsCancelled(s)) << s;
  });
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap("w", "1")).ok());
  Json cm = *client_->Get(resources::ConfigMaps(), ns_, "w");
  cm["data"]["k"] = "2";
  ASSERT_TRUE(client_->Update(resources::ConfigMaps(), ns_, cm).ok());
  ASSERT_TRUE(client_->Delete(resources::ConfigMaps(), ns_, "w", {}).ok());
  EXPECT_TRUE(labtest::Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() >= 3;
  }));
  cancel.store(true);
  watcher.join();
  EXPECT_THAT(seen, ::testing::ElementsAre("ADDED w", "MODIFIED w", "DELETED w"));
}

TEST_F(KubeClientLabTest, WatchFromACompactedVersionIsGone) {
  // A new cluster still holds its whole history, so make resourceVersion 1 gone, as the
  // apiserver's periodic compaction does, rather than assume it. Events are watched: the
  // apiserver keeps no watch cache for them, so the watch reaches etcd. (A new apiserver's
  // watch cache of ConfigMaps, listed when etcd was nearly empty, still replays from 1.)
  auto revision = labtest::CompactEtcd(0);
  ASSERT_TRUE(revision.ok()) << revision.status();
  ASSERT_GT(*revision, 1);
  WatchOptions options;
  options.resource_version = "1";
  options.timeout = std::chrono::seconds(10);  // a watch served from 1 ends, and fails below
  absl::Status s = client_->Watch(
      resources::Events(), "", options, [](const WatchEvent&) { return true; }, nullptr);
  EXPECT_TRUE(IsGone(s)) << s;
  EXPECT_EQ(HttpStatusOf(s), 410);
}

TEST_F(KubeClientLabTest, InformerAndLeaderElectionOnARealApiServer) {
  InformerOptions io;
  io.resource = resources::ConfigMaps();
  io.ns = ns_;
  io.label_selector = "test=client";
  Informer informer(client_.get(), io);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap("cached", "1")).ok());
  EXPECT_TRUE(labtest::Eventually([&] { return informer.Get(ns_ + "/cached") != nullptr; }));
  informer.Stop();

  LeaderElectionOptions le;
  le.ns = ns_;
  le.name = "lease";
  le.identity = "a";
  LeaderElector a(client_.get(), le);
  le.identity = "b";
  LeaderElector b(client_.get(), le);
  EXPECT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  auto lease = client_->Get(resources::Leases(), ns_, "lease");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "a");
}

TEST_F(KubeClientLabTest, InformerResumesAfterTheConnectionIsCut) {
  auto config = LoadKubeConfig(labtest::KubeconfigPath(0));
  ASSERT_TRUE(config.ok());
  const int api_port = std::stoi(config->server.substr(config->server.rfind(':') + 1));
  TcpProxy proxy(api_port);
  config->server = "https://127.0.0.1:" + std::to_string(proxy.port());
  auto via_proxy = CurlKubeClient::Create(*config);
  ASSERT_TRUE(via_proxy.ok());
  InformerOptions io;
  io.resource = resources::ConfigMaps();
  io.ns = ns_;
  io.label_selector = "test=client";
  io.min_backoff = std::chrono::milliseconds(10);
  Informer informer(via_proxy->get(), io);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  ASSERT_TRUE(labtest::Eventually([&] { return informer.watches() >= 1; }));
  for (int round = 0; round < 3; ++round) {
    const std::string name = "after-cut-" + std::to_string(round);
    proxy.CutAll();
    // Written past the proxy while the informer's stream is down.
    ASSERT_TRUE(client_->Create(resources::ConfigMaps(), ns_, ConfigMap(name, "x")).ok());
    EXPECT_TRUE(labtest::Eventually([&] { return informer.Get(ns_ + "/" + name) != nullptr; }))
        << "the informer did not resume after cut " << round;
  }
  informer.Stop();
  EXPECT_EQ(informer.lists(), 1) << "resumed from its version, not relisted";
  EXPECT_GE(informer.watches(), 4);
  EXPECT_GE(proxy.connections(), 4);
}

}  // namespace
}  // namespace senren::regional::kube
