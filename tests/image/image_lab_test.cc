// senren-regional from its OCI image (tools/image, docs/deploy.md): the image is built (or
// reused when current), unpacked with umoci, and its entrypoint runs in the unpacked root
// file system under chroot as the image's user, on the host's network, as a container
// runtime would start it (podman cannot run here: crun needs CAP_SYS_RESOURCE). It must
// reconcile a region of the lab.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "regional_lab.h"

namespace senren::regional::plane {
namespace {

namespace fs = std::filesystem;
using lab::Eventually;
using lab::Json;
using lab::ReadFile;
using lab::Redis;
using lab::Spawn;
using lab::State;

constexpr int kImageUser = 65532;

// Runs a shell command with its output appended to `log`; true when it exits 0.
bool RunLogged(const std::string& cmd, const fs::path& log) {
  const int rc = std::system((cmd + " >>'" + log.string() + "' 2>&1").c_str());
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

// Copies the lab kubeconfig into `rootfs` as /etc/senren/kubeconfig, with the files it
// names (CA, client certificate and key) beside it under the paths they have in the root.
void InstallKubeconfig(const fs::path& kubeconfig, const fs::path& rootfs) {
  const fs::path dir = rootfs / "etc/senren";
  fs::create_directories(dir);
  std::istringstream in(ReadFile(kubeconfig.string()));
  std::ostringstream out;
  std::string line;
  while (std::getline(in, line)) {
    for (const std::string key : {"certificate-authority:", "client-certificate:", "client-key:"}) {
      const auto at = line.find(key);
      if (at == std::string::npos) continue;
      const fs::path file = line.substr(at + key.size() + 1);
      fs::copy_file(file, dir / file.filename(), fs::copy_options::overwrite_existing);
      fs::permissions(dir / file.filename(),
                      fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
      line = line.substr(0, at + key.size()) + " /etc/senren/" + file.filename().string();
    }
    out << line << "\n";
  }
  std::ofstream(dir / "kubeconfig") << out.str();
  fs::permissions(dir / "kubeconfig",
                  fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
}

// The Uid: line of /proc/<pid>/status after its name: "\treal\teffective\tsaved\tfs".
std::string UidsOf(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) == 0) return line.substr(4);
  }
  return "";
}

class ImageLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& env = senren::testing::Lab();
    region_ = env.clusters[0].region;
    prefix_ = senren::testing::UniqueName("img");
    client_ = lab::LabClient(0);
    ns_ = std::make_unique<lab::ScopedNamespace>(client_.get(), senren::testing::UniqueName("im"));
    states_ = std::make_unique<lab::StateProducer>(prefix_);
    dir_ = fs::temp_directory_path() / senren::testing::UniqueName("image");
    fs::create_directories(dir_);
    log_ = dir_ / "image.log";
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    ns_.reset();
    fs::remove_all(dir_);
  }

  // Builds the image when it is not current, then unpacks it into dir_/bundle.
  void Unpack() {
    const std::string image = std::string(SENREN_SOURCE_DIR) + "/tools/image";
    const std::string build = std::string(" --build-dir '") + SENREN_BUILD_DIR + "'";
    ASSERT_TRUE(RunLogged(image + " build" + build + " senren-regional", log_)) << ReadFile(log_);
    ASSERT_TRUE(
        RunLogged(image + " unpack" + build + " senren-regional '" + bundle().string() + "'", log_))
        << ReadFile(log_);
    // The image's tag and size, in the test's output.
    std::cout << ReadFile(log_);
  }

  fs::path bundle() const { return dir_ / "bundle"; }
  fs::path rootfs() const { return bundle() / "rootfs"; }

  std::string VersionOf(const std::string& name) {
    auto cr = client_->Get(kube::resources::RedisDatabases(), ns_->name(), name);
    if (!cr.ok()) return "";
    return (*cr)["metadata"]["annotations"].value("senren.io/state-version", "");
  }

  std::string region_, prefix_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<lab::ScopedNamespace> ns_;
  std::unique_ptr<lab::StateProducer> states_;
  fs::path dir_, log_;
  pid_t pid_ = -1;
};

TEST_F(ImageLabTest, RegionalFromItsImageReconcilesARegionAsTheImageUser) {
  ASSERT_NO_FATAL_FAILURE(Unpack());

  // The runtime configuration umoci derives from the image's: the entrypoint, the user.
  const auto config = Json::parse(ReadFile((bundle() / "config.json").string()), nullptr, false);
  ASSERT_TRUE(config.is_object()) << ReadFile((bundle() / "config.json").string());
  const auto& process = config["process"];
  ASSERT_EQ(process["args"], Json::array({"/usr/local/bin/senren-regional"})) << process.dump();
  ASSERT_EQ(process["user"]["uid"], kImageUser) << process.dump();
  ASSERT_EQ(process["user"]["gid"], kImageUser) << process.dump();
  const std::string workdir = process["cwd"];

  // What a runtime adds to the root: the host's name resolution (network on the host), and
  // the kubeconfig as a mounted secret would.
  const auto& env = senren::testing::Lab();
  for (const char* f : {"/etc/hosts", "/etc/resolv.conf"}) {
    if (fs::exists(f)) {
      fs::copy_file(f, rootfs() / fs::path(f).relative_path(),
                    fs::copy_options::overwrite_existing);
    }
  }
  InstallKubeconfig(env.clusters[0].kubeconfig, rootfs());
  // The snapshots' public key, as a mounted secret would hold it.
  fs::copy_file(states_->verify_key_path(), rootfs() / "etc/senren/snapshot-verify.pub",
                fs::copy_options::overwrite_existing);

  const std::string user = std::to_string(kImageUser) + ":" + std::to_string(kImageUser);
  std::vector<std::string> args = {SENREN_CHROOT, "--userspec=" + user, rootfs().string()};
  for (const auto& a : process["args"]) args.push_back(a.get<std::string>());
  args.insert(args.end(),
              {"--region", region_, "--cluster", env.clusters[0].cluster, "--kubeconfig",
               "/etc/senren/kubeconfig", "--brokers", env.kafka_brokers, "--topic-prefix", prefix_,
               "--namespace", ns_->name(), "--data-dir", workdir + "/data", "--heartbeat-interval",
               "1", "--snapshot-verify-key", "/etc/senren/snapshot-verify.pub"});
  const fs::path log = dir_ / "regional.log";
  pid_ = Spawn(args, log.string());
  ASSERT_GT(pid_, 0);

  states_->Publish(State(region_, 1, {Redis("a", 64), Redis("b", 64)}));
  ASSERT_TRUE(Eventually([&] { return VersionOf("a") == "1" && VersionOf("b") == "1"; },
                         std::chrono::seconds(60)))
      << ReadFile(log.string());

  // It ran from the image's root, not as root: chroot exec'd the entrypoint in place.
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(pid_) + "/root"), fs::canonical(rootfs()));
  EXPECT_EQ(UidsOf(pid_), "\t65532\t65532\t65532\t65532");
  // Its state cache was written in the image's working directory, owned by its user.
  struct stat st {};
  ASSERT_EQ(stat((rootfs() / fs::path(workdir).relative_path() / "data").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, static_cast<uid_t>(kImageUser));

  // A second version: the plane keeps reconciling from the image.
  states_->Publish(State(region_, 2, {Redis("a", 128)}));
  ASSERT_TRUE(Eventually(
      [&] {
        auto b = client_->Get(kube::resources::RedisDatabases(), ns_->name(), "b");
        return VersionOf("a") == "2" && !b.ok() && absl::IsNotFound(b.status());
      },
      std::chrono::seconds(60)))
      << ReadFile(log.string());

  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << ReadFile(log.string());
}

// The image holds the runtime and nothing to run anything else with: no shell, no package
// manager; the Debian packages it holds are on record for scanners.
TEST_F(ImageLabTest, ImageHoldsOnlyTheRuntime) {
  ASSERT_NO_FATAL_FAILURE(Unpack());
  for (const char* absent : {"bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt-get", "usr/bin/dpkg",
                             "usr/share/doc", "var/cache/apt"}) {
    EXPECT_FALSE(fs::exists(fs::symlink_status(rootfs() / absent))) << absent;
  }
  const std::string status = ReadFile((rootfs() / "var/lib/dpkg/status").string());
  for (const char* pkg : {"libc6", "librdkafka1", "librocksdb7.8", "ca-certificates"}) {
    EXPECT_NE(status.find(std::string("Package: ") + pkg + "\nStatus: install ok installed"),
              std::string::npos)
        << pkg;
  }
  EXPECT_GT(fs::file_size(rootfs() / "etc/ssl/certs/ca-certificates.crt"), 100000u);
  const std::string passwd = ReadFile((rootfs() / "etc/passwd").string());
  EXPECT_NE(passwd.find("senren:x:65532:65532:"), std::string::npos) << passwd;
}

}  // namespace
}  // namespace senren::regional::plane
