// Credentials of real clusters against a lab kube-apiserver (aws:us-east-1/prod): exec
// credential plugins (small shell scripts printing an ExecCredential, as cloud CLIs do),
// a 401 that runs the plugin again, a client certificate from a plugin, and service
// account tokens that rotate in their file while the client keeps running.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kube_lab.h"
#include "lab/lab_env.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;

Resource ServiceAccounts() { return {"", "v1", "serviceaccounts", "ServiceAccount", true}; }
Resource SelfSubjectReviews() {
  return {"authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", false};
}

class CredentialsLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lab = LoadKubeConfig(labtest::KubeconfigPath(0));
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = *lab;
    ASSERT_FALSE(lab_.token.empty()) << "the lab's kubeconfig has no bearer token";
    dir_ = (fs::path(::testing::TempDir()) / senren::testing::UniqueName("cred")).string();
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // An ExecCredential as a plugin prints it.
  static std::string ExecCredential(const Json& status) {
    return Json{{"apiVersion", "client.authentication.k8s.io/v1"},
                {"kind", "ExecCredential"},
                {"status", status}}
        .dump();
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }

  // plugin.sh: counts its runs in ./count, then prints cred-<run>.json, or cred.json when
  // there is no file for that run.
  void WritePlugin() {
    const std::string path = dir_ + "/plugin.sh";
    std::ofstream(path) << absl::StrReplaceAll(R"(#!/bin/sh
n=$(cat "$DIR/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$DIR/count"
if [ -f "$DIR/cred-$n.json" ]; then cat "$DIR/cred-$n.json"; else cat "$DIR/cred.json"; fi
)",
                                               {{"$DIR", dir_}});
    fs::permissions(path, fs::perms::owner_all);
  }

  int Runs() {
    std::ifstream in(dir_ + "/count");
    int n = 0;
    in >> n;
    return n;
  }

  // A kubeconfig of the lab cluster whose user runs ./plugin.sh (relative to the file).
  std::unique_ptr<CurlKubeClient> ExecClient() {
    const std::string kubeconfig = absl::StrCat(R"(apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: )",
                                                lab_.server, R"(
    certificate-authority: )",
                                                lab_.ca_file, R"(
users:
- name: plugin-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      interactiveMode: Never
      provideClusterInfo: true
contexts:
- name: lab
  context: {cluster: lab, user: plugin-user}
current-context: lab
)");
    Write("kubeconfig", kubeconfig);
    auto config = LoadKubeConfig(dir_ + "/kubeconfig");
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return nullptr;
    EXPECT_EQ(config->exec->command, dir_ + "/plugin.sh");
    auto client = CurlKubeClient::Create(*config);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  // Who the apiserver takes the client for (SelfSubjectReview).
  static std::string Username(KubeClient* client) {
    auto review = client->Create(SelfSubjectReviews(), "",
                                 {{"apiVersion", "authentication.k8s.io/v1"},
                                  {"kind", "SelfSubjectReview"},
                                  {"metadata", Json::object()}});
    if (!review.ok()) return review.status().ToString();
    return (*review)["status"]["userInfo"].value("username", "");
  }

  static std::vector<std::string> NamespaceNames(KubeClient* client) {
    std::vector<std::string> names;
    auto list = client->ListAll(resources::Namespaces(), "", {});
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return names;
    for (const Json& ns : list->items) names.push_back(ns["metadata"]["name"]);
    return names;
  }

  // A token of a fresh service account in `ns` (TokenRequest), as kubelet would project.
  std::string ServiceAccountToken(KubeClient* admin, const std::string& ns,
                                  const std::string& name) {
    auto sa = admin->Create(
        ServiceAccounts(), ns,
        {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", name}}}});
    EXPECT_TRUE(sa.ok()) << sa.status();
    // The token subresource: POST .../serviceaccounts/<name>/token.
    Resource token_request = ServiceAccounts();
    token_request.plural = "serviceaccounts/" + name + "/token";
    auto token = admin->Create(token_request, ns,
                               {{"apiVersion", "authentication.k8s.io/v1"},
                                {"kind", "TokenRequest"},
                                {"metadata", Json::object()},
                                {"spec", {{"expirationSeconds", 3600}}}});
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? (*token)["status"].value("token", "") : "";
  }

  KubeConfig lab_;
  std::string dir_;
};

TEST_F(CredentialsLabTest, ExecPluginTokenListsNamespaces) {
  Write("cred.json", ExecCredential({{"token", lab_.token}}));
  WritePlugin();
  auto client = ExecClient();
  ASSERT_NE(client, nullptr);
  EXPECT_THAT(NamespaceNames(client.get()), Contains("senren"));
  EXPECT_EQ(Username(client.get()), "admin");
  EXPECT_EQ(Runs(), 1);  // no expiry: one run serves every request
}

TEST_F(CredentialsLabTest, UnauthorizedRunsThePluginAgain) {
  Write("cred-1.json", ExecCredential({{"token", "not-a-lab-token"}}));
  Write("cred.json", ExecCredential({{"token", lab_.token}}));
  WritePlugin();
  auto client = ExecClient();
  ASSERT_NE(client, nullptr);
  auto got = client->Get(resources::Namespaces(), "", "default");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Runs(), 2);
  EXPECT_EQ(client->requests_sent(), 2);  // the 401, then the same GET again
  EXPECT_THAT(NamespaceNames(client.get()), Contains("default"));
  EXPECT_EQ(Username(client.get()), "admin");
  EXPECT_EQ(Runs(), 2);

  // A plugin that only has wrong tokens: one more run, then the 401 is the answer.
  Write("cred.json", ExecCredential({{"token", "still-wrong"}}));
  Write("cred-3.json", ExecCredential({{"token", "still-wrong"}}));
  auto fresh = ExecClient();
  ASSERT_NE(fresh, nullptr);
  auto refused = fresh->Get(resources::Namespaces(), "", "default");
  EXPECT_EQ(HttpStatusOf(refused.status()), 401) << refused.status();
  EXPECT_EQ(Runs(), 4);
}

TEST_F(CredentialsLabTest, ExpiredCredentialRunsThePluginAgain) {
  const std::string past =
      absl::FormatTime(absl::RFC3339_sec, absl::Now() - absl::Hours(1), absl::UTCTimeZone());
  const std::string future =
      absl::FormatTime(absl::RFC3339_sec, absl::Now() + absl::Hours(1), absl::UTCTimeZone());
  Write("cred-1.json", ExecCredential({{"token", lab_.token}, {"expirationTimestamp", past}}));
  Write("cred.json", ExecCredential({{"token", lab_.token}, {"expirationTimestamp", future}}));
  WritePlugin();
  auto client = ExecClient();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(Username(client.get()), "admin");
  EXPECT_EQ(Runs(), 1);
  EXPECT_EQ(Username(client.get()), "admin");  // the first credential had expired already
  EXPECT_EQ(Runs(), 2);
  EXPECT_EQ(Username(client.get()), "admin");  // the second holds for an hour
  EXPECT_EQ(Runs(), 2);
}

TEST_F(CredentialsLabTest, ClientCertificateFromThePlugin) {
  // A client certificate signed by the lab's CA (the apiservers' --client-ca-file), as a
  // plugin fetching short-lived certificates would print it.
  const std::string pki = senren::testing::Lab().lab_dir + "/pki";
  const std::string command =
      absl::StrCat("cd ", dir_, " && openssl req -new -newkey rsa:2048 -nodes -keyout client.key",
                   " -subj /CN=senren-exec-cert/O=system:masters -out client.csr 2>/dev/null",
                   " && openssl x509 -req -in client.csr -CA ", pki, "/ca.crt -CAkey ", pki,
                   "/ca.key -set_serial 0x", absl::Hex(absl::ToUnixNanos(absl::Now())),
                   " -days 1 -out client.crt 2>/dev/null");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  auto read = [&](const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  Write("cred.json", ExecCredential({{"clientCertificateData", read("client.crt")},
                                     {"clientKeyData", read("client.key")}}));
  WritePlugin();
  auto client = ExecClient();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(Username(client.get()), "senren-exec-cert");
  EXPECT_THAT(NamespaceNames(client.get()), Contains("senren"));
  EXPECT_EQ(Runs(), 1);
}

TEST_F(CredentialsLabTest, TokenFileRewrittenBetweenTwoCalls) {
  auto admin = labtest::ClusterClient(0);
  const std::string ns = labtest::CreateNamespace(admin.get(), "cred");
  const std::string token_a = ServiceAccountToken(admin.get(), ns, "reader-a");
  const std::string token_b = ServiceAccountToken(admin.get(), ns, "reader-bb");
  ASSERT_FALSE(token_a.empty());
  ASSERT_FALSE(token_b.empty());
  Write("token", token_a);
  KubeConfig config = lab_;
  config.token.clear();
  config.token_file = dir_ + "/token";
  auto client = CurlKubeClient::Create(config);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(Username(client->get()), "system:serviceaccount:" + ns + ":reader-a");
  Write("token", token_b);  // in place
  EXPECT_EQ(Username(client->get()), "system:serviceaccount:" + ns + ":reader-bb");
  labtest::DeleteNamespace(admin.get(), ns);
}

TEST_F(CredentialsLabTest, InClusterServiceAccountTokenRotates) {
  auto admin = labtest::ClusterClient(0);
  const std::string ns = labtest::CreateNamespace(admin.get(), "cred");
  const std::string token_a = ServiceAccountToken(admin.get(), ns, "pod-a");
  const std::string token_b = ServiceAccountToken(admin.get(), ns, "pod-b");
  // kubelet's projected volume: token -> ..data/token, ..data -> ..<timestamp>; a rotation
  // writes a new timestamped folder and swaps ..data atomically.
  const std::string sa = dir_ + "/serviceaccount";
  fs::create_directories(sa + "/..1");
  std::ofstream(sa + "/..1/token") << token_a;
  fs::copy_file(lab_.ca_file, sa + "/..1/ca.crt");
  std::ofstream(sa + "/..1/namespace") << ns;
  fs::create_directory_symlink("..1", sa + "/..data");
  for (const char* file : {"token", "ca.crt", "namespace"}) {
    fs::create_symlink(std::string("..data/") + file, sa + "/" + file);
  }
  const std::string server = lab_.server.substr(lab_.server.find("://") + 3);
  ASSERT_EQ(setenv("KUBERNETES_SERVICE_HOST", server.substr(0, server.rfind(':')).c_str(), 1), 0);
  ASSERT_EQ(setenv("KUBERNETES_SERVICE_PORT", server.substr(server.rfind(':') + 1).c_str(), 1), 0);
  auto config = InClusterConfig(sa);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_namespace, ns);
  auto client = CurlKubeClient::Create(*config);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(Username(client->get()), "system:serviceaccount:" + ns + ":pod-a");

  fs::create_directories(sa + "/..2");
  std::ofstream(sa + "/..2/token") << token_b;
  fs::create_directory_symlink("..2", sa + "/..data_tmp");
  fs::rename(sa + "/..data_tmp", sa + "/..data");
  EXPECT_EQ(Username(client->get()), "system:serviceaccount:" + ns + ":pod-b");
  labtest::DeleteNamespace(admin.get(), ns);
}

}  // namespace
}  // namespace senren::regional::kube
