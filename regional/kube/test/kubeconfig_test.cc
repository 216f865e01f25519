#include "regional/kube/kubeconfig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace senren::regional::kube {
namespace {

using ::testing::HasSubstr;

// The shape tools/lab writes, plus a second context with inline credentials.
constexpr char kKubeconfig[] = R"(apiVersion: v1
kind: Config
clusters:
- name: aws-us-east-1-prod
  cluster:
    server: https://127.0.0.1:56443/
    certificate-authority: pki/ca.crt
- name: other
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: abc123
- name: certs
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
contexts:
- name: aws-us-east-1-prod
  context:
    cluster: aws-us-east-1-prod
    user: admin
    namespace: senren
- name: other
  context:
    cluster: other
    user: certs
current-context: aws-us-east-1-prod
)";

TEST(KubeConfigTest, CurrentContextWithRelativeCaPath) {
  auto config = ParseKubeConfig(kKubeconfig, "/lab/kube/aws-us-east-1-prod");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:56443");
  EXPECT_EQ(config->ca_file, "/lab/kube/aws-us-east-1-prod/pki/ca.crt");
  EXPECT_EQ(config->token, "abc123");
  EXPECT_EQ(config->default_namespace, "senren");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST(KubeConfigTest, NamedContextWithInlineData) {
  auto config = ParseKubeConfig(kKubeconfig, "/x", "other");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_data, "-----BEGIN CERTIFICATE-----");
  EXPECT_EQ(config->client_cert_data, "cert");
  EXPECT_EQ(config->client_key_data, "key");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->default_namespace, "default");
}

TEST(KubeConfigTest, ErrorsNameWhatIsMissing) {
  auto missing_ctx = ParseKubeConfig(kKubeconfig, "/x", "nope");
  EXPECT_TRUE(absl::IsInvalidArgument(missing_ctx.status()));
  EXPECT_THAT(missing_ctx.status().message(), HasSubstr("no context \"nope\""));
  auto bad_yaml = ParseKubeConfig("clusters: [", "/x");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_yaml.status()));
  auto no_file = LoadKubeConfig("/nonexistent/kubeconfig");
  EXPECT_TRUE(absl::IsNotFound(no_file.status()));
  EXPECT_THAT(no_file.status().message(), HasSubstr("/nonexistent/kubeconfig"));
}

TEST(KubeConfigTest, ResolveUsesKubeconfigEnvironment) {
  const std::string dir = ::testing::TempDir() + "/kc";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/config";
  std::ofstream(path) << kKubeconfig;
  ASSERT_EQ(setenv("KUBECONFIG", ("/nonexistent:" + path).c_str(), 1), 0);
  auto config = ResolveKubeConfig("");
  unsetenv("KUBECONFIG");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_file, dir + "/pki/ca.crt");
  auto explicit_path = ResolveKubeConfig(path, "other");
  ASSERT_TRUE(explicit_path.ok());
  EXPECT_EQ(explicit_path->server, "https://10.0.0.1:6443");
}

TEST(KubeConfigTest, InClusterReadsServiceAccountFiles) {
  const std::string dir = ::testing::TempDir() + "/sa";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/token") << "satoken";
  std::ofstream(dir + "/ca.crt") << "ca";
  std::ofstream(dir + "/namespace") << "senren\n";
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto config = InClusterConfig(dir);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->token_file, dir + "/token");
  EXPECT_EQ(config->default_namespace, "senren");
  EXPECT_TRUE(absl::IsFailedPrecondition(InClusterConfig(dir).status()));
}

}  // namespace
}  // namespace senren::regional::kube
