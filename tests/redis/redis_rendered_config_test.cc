// The Redis command line senren-controller renders (render.cc), run by the real
// redis-server: a primary and a replica from the StatefulSet's own `sh -c` script, on
// 127.0.0.1 with free ports and temporary data dirs (the only substitutions: port, data
// dir, and the primary's cluster DNS name, which does not resolve here). Checks what kwok
// cannot: replication works, maxmemory and its policy are in force, the AOF is written
// and a restarted primary still has the data.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "regional/controller/render.h"

extern char** environ;

namespace senren::regional::controller {
namespace {

namespace fs = std::filesystem;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A minimal RESP client: one command, one reply (simple string, error, integer, bulk
// string, or an array of bulk strings joined by '\n').
std::optional<std::string> Command(int port, const std::vector<std::string>& args) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string req = absl::StrCat("*", args.size(), "\r\n");
  for (const auto& a : args) absl::StrAppend(&req, "$", a.size(), "\r\n", a, "\r\n");
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string buf;
  size_t pos = 0;
  auto need = [&](size_t n) {
    while (buf.size() < n) {
      char chunk[4096];
      ssize_t got = ::recv(fd, chunk, sizeof(chunk), 0);
      if (got <= 0) return false;
      buf.append(chunk, static_cast<size_t>(got));
    }
    return true;
  };
  auto line = [&]() -> std::optional<std::string> {
    for (;;) {
      size_t end = buf.find("\r\n", pos);
      if (end != std::string::npos) {
        std::string l = buf.substr(pos, end - pos);
        pos = end + 2;
        return l;
      }
      if (!need(buf.size() + 1)) return std::nullopt;
    }
  };
  std::function<std::optional<std::string>()> reply = [&]() -> std::optional<std::string> {
    auto l = line();
    if (!l || l->empty()) return std::nullopt;
    const char type = (*l)[0];
    const std::string rest = l->substr(1);
    if (type == '+' || type == ':') return rest;
    if (type == '-') return "ERR:" + rest;
    if (type == '$') {
      const long n = std::stol(rest);
      if (n < 0) return std::string("(nil)");
      if (!need(pos + static_cast<size_t>(n) + 2)) return std::nullopt;
      std::string s = buf.substr(pos, static_cast<size_t>(n));
      pos += static_cast<size_t>(n) + 2;
      return s;
    }
    if (type == '*') {
      std::string joined;
      for (long i = 0, n = std::stol(rest); i < n; ++i) {
        auto e = reply();
        if (!e) return std::nullopt;
        absl::StrAppend(&joined, i == 0 ? "" : "\n", *e);
      }
      return joined;
    }
    return std::nullopt;
  };
  auto out = reply();
  ::close(fd);
  return out;
}

// Polls until `ok` holds; false after `limit` (a ceiling against a hang, not a timing check).
template <typename F>
bool Eventually(F ok, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ok();
}

class RedisRenderedConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / absl::StrCat("redis-rendered-", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "0");
    fs::create_directories(dir_ / "1");
    owner_ = {Kind::kRedisDatabase, "cache", "shop", "uid-1", ""};
    spec_.memory_mb = 64;
    spec_.replicas = 2;
    spec_.persistence = "aof";
    spec_.eviction_policy = "allkeys-lru";
    const Json sts = RenderRedis(owner_, spec_).statefulset;
    const Json& command = sts["spec"]["template"]["spec"]["containers"][0]["command"];
    ASSERT_EQ(command[0], "sh");
    ASSERT_EQ(command[1], "-c");
    script_ = command[2];
    // The claim the data dir lives on in the cluster, and the path the flags point at.
    ASSERT_EQ(sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
              "/data");
    ASSERT_EQ(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data");
    ports_ = {FreePort(), FreePort()};
  }
  void TearDown() override {
    for (pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  // The rendered script for pod `ordinal`, made local: the only edits are the port, the
  // data dir and the primary's cluster DNS name.
  std::string LocalScript(int ordinal) {
    const std::string primary = absl::StrCat(PodHost(owner_, 0), " 6379");
    EXPECT_NE(script_.find("--port 6379 "), std::string::npos) << script_;
    EXPECT_NE(script_.find("--dir /data "), std::string::npos) << script_;
    EXPECT_NE(script_.find("--replicaof " + primary), std::string::npos) << script_;
    return absl::StrReplaceAll(
        script_,
        {{"--port 6379 ", absl::StrCat("--port ", ports_[ordinal], " --bind 127.0.0.1 ")},
         {"--dir /data ", absl::StrCat("--dir ", (dir_ / std::to_string(ordinal)).string(), " ")},
         {primary, absl::StrCat("127.0.0.1 ", ports_[0])}});
  }

  // Runs the script as pod <statefulset>-<ordinal> would (the script reads $HOSTNAME).
  pid_t Start(int ordinal) {
    const std::string script = LocalScript(ordinal);
    const std::string hostname =
        absl::StrCat("HOSTNAME=", NamesFor(owner_.kind, owner_.name).statefulset, "-", ordinal);
    const std::string log = (dir_ / absl::StrCat("redis-", ordinal, ".log")).string();
    std::vector<std::string> env = {hostname, "PATH=/usr/bin:/bin:/usr/sbin:/sbin"};
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = {"/bin/sh", "-c", script};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0);
    pids_.push_back(pid);
    EXPECT_TRUE(Eventually([&] { return Command(ports_[ordinal], {"PING"}) == "PONG"; }))
        << "redis-server " << ordinal << " did not answer; its log: " << Log(ordinal);
    return pid;
  }
  // Stops a server the way the kubelet does (SIGTERM), waiting for it to exit.
  void Stop(pid_t pid) {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::erase(pids_, pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  std::string Log(int ordinal) {
    std::ifstream in(dir_ / absl::StrCat("redis-", ordinal, ".log"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  Owner owner_;
  RedisSpec spec_;
  std::string script_;
  std::vector<int> ports_;
  std::vector<pid_t> pids_;
};

TEST_F(RedisRenderedConfigTest, PrimaryAndReplicaServeLimitsHoldAndAofSurvivesARestart) {
  pid_t primary = Start(0);
  Start(1);

  // Limits of the spec are in force on both.
  for (int i : {0, 1}) {
    EXPECT_EQ(Command(ports_[i], {"CONFIG", "GET", "maxmemory"}), "maxmemory\n67108864") << i;
    EXPECT_EQ(Command(ports_[i], {"CONFIG", "GET", "maxmemory-policy"}),
              "maxmemory-policy\nallkeys-lru")
        << i;
    EXPECT_EQ(Command(ports_[i], {"CONFIG", "GET", "appendonly"}), "appendonly\nyes") << i;
    EXPECT_EQ(Command(ports_[i], {"CONFIG", "GET", "save"}), "save\n") << i;
  }
  // Pod 0 is the primary, pod 1 replicates from it and refuses writes.
  EXPECT_NE(Command(ports_[0], {"ROLE"})->find("master"), std::string::npos);
  EXPECT_NE(Command(ports_[1], {"ROLE"})->find("slave"), std::string::npos);
  EXPECT_TRUE(Eventually([&] {
    return Command(ports_[1], {"INFO", "replication"})->find("master_link_status:up") !=
           std::string::npos;
  })) << Log(1);
  EXPECT_EQ(Command(ports_[0], {"SET", "order:1", "paid"}), "OK");
  EXPECT_TRUE(Eventually([&] {
    return Command(ports_[1], {"GET", "order:1"}) == "paid";
  })) << "the replica never saw the primary's write";
  EXPECT_EQ(Command(ports_[1], {"SET", "x", "y"})->rfind("ERR:READONLY", 0), 0u);

  // The AOF is written (Redis 7: appendonlydir/ with a base and an incremental file).
  const fs::path aof_dir = dir_ / "0" / "appendonlydir";
  ASSERT_TRUE(Eventually([&] {
    if (!fs::exists(aof_dir)) return false;
    for (const auto& f : fs::directory_iterator(aof_dir)) {
      if (f.path().string().ends_with(".incr.aof") && fs::file_size(f.path()) > 0) return true;
    }
    return false;
  })) << "no AOF in "
      << aof_dir;

  // Restart the primary: the data comes back from the AOF (no RDB snapshots: save "").
  Stop(primary);
  EXPECT_FALSE(fs::exists(dir_ / "0" / "dump.rdb")) << "persistence aof must not rely on RDB";
  Start(0);
  EXPECT_EQ(Command(ports_[0], {"GET", "order:1"}), "paid") << Log(0);
  EXPECT_TRUE(Eventually([&] {
    return Command(ports_[1], {"INFO", "replication"})->find("master_link_status:up") !=
           std::string::npos;
  })) << "the replica did not follow the restarted primary: "
      << Log(1);
  EXPECT_EQ(Command(ports_[0], {"SET", "order:2", "shipped"}), "OK");
  EXPECT_TRUE(Eventually([&] { return Command(ports_[1], {"GET", "order:2"}) == "shipped"; }));
}

}  // namespace
}  // namespace senren::regional::controller
