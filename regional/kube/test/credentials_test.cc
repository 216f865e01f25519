// Credential sources: exec plugins (small shell scripts in a temporary folder) and token
// files, alone and behind CurlKubeClient against the in-process apiserver.
#include "regional/kube/credentials.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "regional/kube/curl_kube_client.h"
#include "regional/kube/errors.h"
#include "regional/kube/testing/fake_api_server.h"

namespace senren::regional::kube {
namespace {

namespace fs = std::filesystem;
using testing::FakeApiServer;
using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::HttpResponse;
using ::testing::Not;

constexpr char kV1[] = "client.authentication.k8s.io/v1";

// A folder of its own per test, for the plugin script and the files it writes.
std::string TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/cred-", info->test_suite_name(), "-", info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes an executable /bin/sh script; `$DIR` in `body` is replaced by `dir`.
std::string WriteScript(const std::string& dir, const std::string& name, const std::string& body) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << "#!/bin/sh\n" << absl::StrReplaceAll(body, {{"$DIR", dir}});
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

// A plugin that counts its runs in $DIR/count and prints token "tok-<run>", expiring at
// `expiry` when not empty.
std::string CountingPlugin(const std::string& dir, const std::string& expiry = "") {
  const std::string exp =
      expiry.empty() ? "" : absl::StrCat(R"(,"expirationTimestamp":")", expiry, R"(")");
  return WriteScript(dir, "plugin.sh",
                     absl::StrCat(R"(n=$(cat "$DIR/count" 2>/dev/null || echo 0); n=$((n+1))
echo $n > "$DIR/count"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",)",
                                  R"("status":{"token":"tok-%s")", exp, R"(}}' "$n"
)"));
}

int Runs(const std::string& dir) { return std::stoi("0" + ReadAll(dir + "/count")); }

KubeConfig ExecKubeConfig(const std::string& command, std::vector<std::string> args = {}) {
  KubeConfig config;
  config.server = "https://10.0.0.1:6443";
  config.user = "eks-admin";
  ExecConfig exec;
  exec.api_version = kV1;
  exec.command = command;
  exec.args = std::move(args);
  exec.interactive_mode = "Never";
  config.exec = exec;
  return config;
}

// A wall clock moved by hand.
struct ManualTime {
  absl::Time now = absl::FromCivil(absl::CivilSecond(2030, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  CredentialOptions Options() {
    CredentialOptions options;
    options.now = [this] { return now; };
    return options;
  }
};

std::unique_ptr<CredentialSource> MustCreate(const KubeConfig& config, CredentialOptions options) {
  auto source = NewCredentialSource(config, std::move(options));
  EXPECT_TRUE(source.ok()) << source.status();
  return source.ok() ? std::move(*source) : nullptr;
}

TEST(KubeConfigExecTest, ParsesTheExecStanzaAndTheClusterExtension) {
  constexpr char kYaml[] = R"(apiVersion: v1
kind: Config
clusters:
- name: eks
  cluster:
    server: https://eks.example:443
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: senren
        retries: 3
users:
- name: eks-admin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: bin/get-token
      args: [--cluster, prod]
      env:
      - name: AWS_PROFILE
        value: senren
      installHint: install the CLI
      provideClusterInfo: true
      interactiveMode: IfAvailable
- name: beta
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
contexts:
- name: eks
  context: {cluster: eks, user: eks-admin}
- name: beta
  context: {cluster: eks, user: beta}
current-context: eks
)";
  auto config = ParseKubeConfig(kYaml, "/etc/senren");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->user, "eks-admin");
  ASSERT_TRUE(config->exec.has_value());
  EXPECT_EQ(config->exec->api_version, kV1);
  EXPECT_EQ(config->exec->command, "/etc/senren/bin/get-token");  // relative to the file
  EXPECT_EQ(config->exec->args, (std::vector<std::string>{"--cluster", "prod"}));
  ASSERT_EQ(config->exec->env.size(), 1u);
  EXPECT_EQ(config->exec->env[0].first, "AWS_PROFILE");
  EXPECT_EQ(config->exec->env[0].second, "senren");
  EXPECT_EQ(config->exec->install_hint, "install the CLI");
  EXPECT_TRUE(config->exec->provide_cluster_info);
  EXPECT_EQ(config->exec->interactive_mode, "IfAvailable");
  EXPECT_EQ(nlohmann::json::parse(config->exec->cluster_config_json),
            (nlohmann::json{{"audience", "senren"}, {"retries", 3}}));

  auto beta = ParseKubeConfig(kYaml, "/etc/senren", "beta");
  ASSERT_TRUE(beta.ok()) << beta.status();
  EXPECT_EQ(beta->exec->command, "aws");                   // a bare name stays a $PATH lookup
  EXPECT_EQ(beta->exec->interactive_mode, "IfAvailable");  // v1beta1's default
  EXPECT_EQ(beta->exec->cluster_config_json, R"({"audience":"senren","retries":3})");
}

TEST(KubeConfigExecTest, RejectsWhatClientGoRejects) {
  auto parse = [](const std::string& exec) {
    return ParseKubeConfig(absl::StrCat(R"(clusters:
- name: c
  cluster: {server: https://x}
users:
- name: u
  user:
    exec: )",
                                        exec, R"(
contexts:
- name: c
  context: {cluster: c, user: u}
)"),
                           "/x");
  };
  auto no_mode = parse(R"({apiVersion: client.authentication.k8s.io/v1, command: x})");
  EXPECT_TRUE(absl::IsInvalidArgument(no_mode.status()));
  EXPECT_THAT(no_mode.status().message(), HasSubstr("user \"u\": exec: interactiveMode"));
  auto alpha = parse(R"({apiVersion: client.authentication.k8s.io/v1alpha1, command: x})");
  EXPECT_THAT(alpha.status().message(), HasSubstr("apiVersion"));
  auto no_command =
      parse(R"({apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never})");
  EXPECT_THAT(no_command.status().message(), HasSubstr("command is required"));
  auto bad_mode = parse(
      R"({apiVersion: client.authentication.k8s.io/v1, command: x, interactiveMode: Sometimes})");
  EXPECT_THAT(bad_mode.status().message(), HasSubstr("\"Sometimes\""));
  // Always parses (it is valid kubeconfig) but no credential source accepts it.
  auto always = parse(
      R"({apiVersion: client.authentication.k8s.io/v1, command: x, interactiveMode: Always})");
  ASSERT_TRUE(always.ok()) << always.status();
  auto source = NewCredentialSource(*always);
  EXPECT_TRUE(absl::IsFailedPrecondition(source.status()));
  EXPECT_THAT(source.status().message(), HasSubstr("user \"u\""));
  EXPECT_THAT(source.status().message(), HasSubstr("interactiveMode Always"));
}

TEST(ExecCredentialsTest, TokenIsCachedUntilShortlyBeforeItExpires) {
  const std::string dir = TestDir();
  ManualTime time;
  auto source =
      MustCreate(ExecKubeConfig(CountingPlugin(dir, "2030-01-01T01:00:00Z")), time.Options());
  auto first = source->Get();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->token, "tok-1");
  time.now += absl::Minutes(59);
  auto cached = source->Get();
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->token, "tok-1");
  EXPECT_EQ(cached->generation, first->generation);
  EXPECT_EQ(Runs(dir), 1);
  // 10 s before the expiry (the default margin) the plugin runs again.
  time.now += absl::Seconds(50);
  auto renewed = source->Get();
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(renewed->token, "tok-2");
  EXPECT_NE(renewed->generation, first->generation);
  EXPECT_EQ(Runs(dir), 2);
}

TEST(ExecCredentialsTest, CredentialWithoutExpiryIsKeptUntilRefused) {
  const std::string dir = TestDir();
  ManualTime time;
  auto source = MustCreate(ExecKubeConfig(CountingPlugin(dir)), time.Options());
  auto first = source->Get();
  ASSERT_TRUE(first.ok()) << first.status();
  time.now += absl::Hours(24 * 365);
  EXPECT_EQ(source->Get()->token, "tok-1");
  EXPECT_TRUE(source->Unauthorized(*first));
  EXPECT_EQ(source->Get()->token, "tok-2");
  // A 401 for a credential already replaced keeps the current one.
  EXPECT_TRUE(source->Unauthorized(*first));
  EXPECT_EQ(source->Get()->token, "tok-2");
  EXPECT_EQ(Runs(dir), 2);
}

TEST(ExecCredentialsTest, ManyThreadsShareOneRun) {
  const std::string dir = TestDir();
  ManualTime time;
  auto source =
      MustCreate(ExecKubeConfig(CountingPlugin(dir, "2030-01-01T01:00:00Z")), time.Options());
  std::vector<std::thread> threads;
  std::vector<std::string> tokens(8);
  for (size_t i = 0; i < tokens.size(); ++i) {
    threads.emplace_back([&, i] {
      auto got = source->Get();
      tokens[i] = got.ok() ? got->token : got.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& token : tokens) EXPECT_EQ(token, "tok-1");
  EXPECT_EQ(Runs(dir), 1);
}

TEST(ExecCredentialsTest, ArgsEnvAndExecInfoReachThePlugin) {
  const std::string dir = TestDir();
  const std::string plugin = WriteScript(dir, "plugin.sh", R"(
printf '%s' "$KUBERNETES_EXEC_INFO" > "$DIR/exec-info"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{"token":"%s-%s-%s-%s"}}' "$1" "$2" "$PROFILE" "$KEEP"
)");
  std::ofstream(dir + "/ca.crt") << "CA PEM";
  KubeConfig config = ExecKubeConfig(plugin, {"one", "two words"});
  config.ca_file = dir + "/ca.crt";
  config.exec->env = {{"PROFILE", "senren"}};
  config.exec->provide_cluster_info = true;
  config.exec->cluster_config_json = R"({"audience":"x"})";
  ASSERT_EQ(setenv("KEEP", "inherited", 1), 0);
  auto source = MustCreate(config, {});
  auto got = source->Get();
  unsetenv("KEEP");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->token, "one-two words-senren-inherited");
  const nlohmann::json info = nlohmann::json::parse(ReadAll(dir + "/exec-info"));
  EXPECT_EQ(info["apiVersion"], kV1);
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://10.0.0.1:6443");
  EXPECT_EQ(info["spec"]["cluster"]["certificate-authority-data"], "Q0EgUEVN");  // "CA PEM"
  EXPECT_EQ(info["spec"]["cluster"]["config"]["audience"], "x");
  EXPECT_FALSE(info["spec"]["cluster"].contains("insecure-skip-tls-verify"));

  // Without provideClusterInfo the plugin learns nothing of the cluster.
  config.exec->provide_cluster_info = false;
  ASSERT_TRUE(MustCreate(config, {})->Get().ok());
  EXPECT_EQ(
      nlohmann::json::parse(ReadAll(dir + "/exec-info")),
      (nlohmann::json{
          {"apiVersion", kV1}, {"kind", "ExecCredential"}, {"spec", {{"interactive", false}}}}));
}

TEST(ExecCredentialsTest, ClientCertificateAndKey) {
  const std::string dir = TestDir();
  const std::string plugin = WriteScript(dir, "plugin.sh", R"(
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{"clientCertificateData":"CERT\\n","clientKeyData":"KEY\\n"}}'
)");
  auto got = MustCreate(ExecKubeConfig(plugin), {})->Get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->token, "");
  EXPECT_EQ(got->client_cert_pem, "CERT\n");
  EXPECT_EQ(got->client_key_pem, "KEY\n");
}

TEST(ExecCredentialsTest, FailingPluginNamesUserCommandAndStderr) {
  const std::string dir = TestDir();
  const std::string plugin = WriteScript(dir, "plugin.sh", R"(
echo "error: SSO session expired" >&2
echo "run: aws sso login" >&2
exit 3
)");
  auto got = MustCreate(ExecKubeConfig(plugin), {})->Get();
  EXPECT_TRUE(absl::IsUnauthenticated(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("user \"eks-admin\""));
  EXPECT_THAT(got.status().message(), HasSubstr(plugin));
  EXPECT_THAT(got.status().message(), HasSubstr("exited with code 3"));
  EXPECT_THAT(got.status().message(),
              HasSubstr("stderr: error: SSO session expired | run: aws sso login"));
}

TEST(ExecCredentialsTest, GarbageOutputIsAClearError) {
  const std::string dir = TestDir();
  const std::string garbage = WriteScript(dir, "garbage.sh", R"(
echo "Welcome! Your token is below" ; echo "warning: deprecated flag" >&2
)");
  auto got = MustCreate(ExecKubeConfig(garbage), {})->Get();
  EXPECT_TRUE(absl::IsUnauthenticated(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("user \"eks-admin\""));
  EXPECT_THAT(got.status().message(), HasSubstr(garbage));
  EXPECT_THAT(got.status().message(), HasSubstr("not JSON: \"Welcome! Your token is below\""));
  EXPECT_THAT(got.status().message(), HasSubstr("stderr: warning: deprecated flag"));

  // JSON, but not an ExecCredential the kubeconfig asked for: never quoted (a token
  // could be in it).
  const std::string wrong_version = WriteScript(dir, "v1beta1.sh", R"(
echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"secret"}}'
)");
  got = MustCreate(ExecKubeConfig(wrong_version), {})->Get();
  EXPECT_TRUE(absl::IsUnauthenticated(got.status()));
  EXPECT_THAT(got.status().message(), HasSubstr("the kubeconfig asks for " + std::string(kV1)));
  EXPECT_THAT(got.status().message(), Not(HasSubstr("secret")));

  const std::string truncated = WriteScript(dir, "truncated.sh", R"(
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"sec'
)");
  got = MustCreate(ExecKubeConfig(truncated), {})->Get();
  EXPECT_THAT(got.status().message(), HasSubstr("stdout is not a JSON object"));
  EXPECT_THAT(got.status().message(), Not(HasSubstr("sec")));

  const std::string no_token = WriteScript(dir, "empty.sh", R"(
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}'
)");
  got = MustCreate(ExecKubeConfig(no_token), {})->Get();
  EXPECT_THAT(got.status().message(), HasSubstr("neither a token nor clientCertificateData"));

  const std::string bad_time = WriteScript(dir, "time.sh", R"(
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"tomorrow"}}'
)");
  got = MustCreate(ExecKubeConfig(bad_time), {})->Get();
  EXPECT_THAT(got.status().message(), HasSubstr("expirationTimestamp \"tomorrow\""));
}

TEST(ExecCredentialsTest, MissingCommandShowsTheInstallHint) {
  KubeConfig config = ExecKubeConfig("senren-no-such-plugin");
  config.exec->install_hint = "Install it with: apt install senren-plugin";
  auto got = MustCreate(config, {})->Get();
  EXPECT_TRUE(absl::IsFailedPrecondition(got.status())) << got.status();
  EXPECT_THAT(got.status().message(),
              HasSubstr("user \"eks-admin\": exec plugin \"senren-no-such-plugin\""));
  EXPECT_THAT(got.status().message(), HasSubstr("Install it with: apt install senren-plugin"));
}

TEST(ExecCredentialsTest, HungPluginIsKilledAtTheTimeout) {
  const std::string dir = TestDir();
  const std::string plugin = WriteScript(dir, "plugin.sh", "echo waiting >&2\nsleep 600\n");
  CredentialOptions options;
  options.exec_timeout = absl::Milliseconds(300);
  auto got = MustCreate(ExecKubeConfig(plugin), options)->Get();
  EXPECT_TRUE(absl::IsDeadlineExceeded(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("killed; stderr: waiting"));
}

TEST(TokenFileCredentialsTest, RereadWhenTheFileChangesOrAfterAMinute) {
  const std::string dir = TestDir();
  const std::string path = dir + "/token";
  std::ofstream(path) << "first\n";
  ManualTime time;
  KubeConfig config;
  config.token_file = path;
  auto source = MustCreate(config, time.Options());
  auto first = source->Get();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->token, "first");

  // kubelet rotates a projected token by swapping a symlink: a new inode.
  std::ofstream(dir + "/token.new") << "second\n";
  fs::rename(dir + "/token.new", path);
  auto second = source->Get();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->token, "second");
  EXPECT_NE(second->generation, first->generation);

  // A same-size rewrite in place that keeps the mtime is invisible to stat(); it is picked
  // up once the token is a minute old.
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  { std::ofstream(path, std::ios::trunc) << "thirdd\n"; }
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  time.now += absl::Seconds(59);
  EXPECT_EQ(source->Get()->token, "second");
  time.now += absl::Seconds(1);
  EXPECT_EQ(source->Get()->token, "thirdd");

  // A file briefly missing keeps the last token.
  fs::remove(path);
  time.now += absl::Minutes(5);
  EXPECT_EQ(source->Get()->token, "thirdd");
}

TEST(TokenFileCredentialsTest, UnauthorizedRetriesOnlyWhenTheFileHoldsAnotherToken) {
  const std::string dir = TestDir();
  const std::string path = dir + "/token";
  std::ofstream(path) << "old";
  KubeConfig config;
  config.token_file = path;
  auto source = MustCreate(config, {});
  auto used = source->Get();
  ASSERT_TRUE(used.ok());
  EXPECT_FALSE(source->Unauthorized(*used));
  std::ofstream(path) << "new";  // same size; maybe even the same mtime
  EXPECT_TRUE(source->Unauthorized(*used));
  EXPECT_EQ(source->Get()->token, "new");

  KubeConfig missing;
  missing.user = "sa";
  missing.token_file = dir + "/none";
  auto error = MustCreate(missing, {})->Get();
  EXPECT_TRUE(absl::IsFailedPrecondition(error.status()));
  EXPECT_THAT(error.status().message(), HasSubstr("user \"sa\": cannot read token file"));
}

// CurlKubeClient with a plugin: a 401 runs the plugin again and resends the request once.
class ExecClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = FakeApiServer::Start([](const HttpRequest& r) {
      HttpResponse response;
      if (r.headers.count("authorization") == 0 ||
          r.headers.at("authorization") != "Bearer tok-2") {
        response.status = 401;
        response.body = testing::StatusBody(401, "Unauthorized", "Unauthorized");
        return response;
      }
      if (r.query.count("watch") != 0) {
        response.streamed = true;
        response.chunks = {R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
                           "\n"};
        return response;
      }
      response.body = R"({"kind":"Pod","metadata":{"name":"p"}})";
      return response;
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::unique_ptr<CurlKubeClient> Client(KubeConfig config) {
    config.server = server_->url();
    CurlKubeClientOptions options;
    options.initial_backoff = std::chrono::milliseconds(1);
    auto client = CurlKubeClient::Create(config, options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::unique_ptr<FakeApiServer> server_;
};

TEST_F(ExecClientTest, UnauthorizedRerunsThePluginOnce) {
  const std::string dir = TestDir();
  auto client = Client(ExecKubeConfig(CountingPlugin(dir)));
  auto got = client->Get(resources::Pods(), "senren", "p");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Runs(dir), 2);
  ASSERT_EQ(server_->requests().size(), 2u);
  EXPECT_EQ(server_->requests()[0].headers["authorization"], "Bearer tok-1");
  EXPECT_EQ(server_->requests()[1].headers["authorization"], "Bearer tok-2");
  // The good token is cached.
  ASSERT_TRUE(client->Get(resources::Pods(), "senren", "p").ok());
  EXPECT_EQ(Runs(dir), 2);

  // Refused again: one more run (tok-3, still wrong), then the 401 is the answer.
  server_->SetHandler([](const HttpRequest&) {
    HttpResponse response;
    response.status = 401;
    response.body = testing::StatusBody(401, "Unauthorized", "Unauthorized");
    return response;
  });
  auto refused = client->Get(resources::Pods(), "senren", "p");
  EXPECT_EQ(HttpStatusOf(refused.status()), 401) << refused.status();
  EXPECT_TRUE(absl::IsUnauthenticated(refused.status())) << refused.status();
  EXPECT_EQ(Runs(dir), 3);
  EXPECT_EQ(server_->requests().size(), 5u);
}

TEST_F(ExecClientTest, UnauthorizedWatchRerunsThePluginOnce) {
  const std::string dir = TestDir();
  auto client = Client(ExecKubeConfig(CountingPlugin(dir)));
  std::vector<std::string> names;
  absl::Status s = client->Watch(
      resources::Pods(), "senren", {},
      [&](const WatchEvent& e) {
        names.push_back(e.object["metadata"]["name"]);
        return true;
      },
      nullptr);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(names, std::vector<std::string>{"a"});
  EXPECT_EQ(Runs(dir), 2);
}

TEST_F(ExecClientTest, StaticTokenIsNotResentAfterA401) {
  KubeConfig config;
  config.token = "tok-1";
  auto client = Client(config);
  auto got = client->Get(resources::Pods(), "senren", "p");
  EXPECT_EQ(HttpStatusOf(got.status()), 401);
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(ExecClientTest, PluginErrorsNameTheRequest) {
  const std::string dir = TestDir();
  auto client = Client(ExecKubeConfig(WriteScript(dir, "plugin.sh", "exit 1\n")));
  auto got = client->Get(resources::Pods(), "senren", "p");
  EXPECT_TRUE(absl::IsUnauthenticated(got.status())) << got.status();
  EXPECT_THAT(got.status().message(),
              HasSubstr("get senren/pods/p: credentials of user \"eks-admin\": exec plugin"));
  EXPECT_TRUE(server_->requests().empty());
}

}  // namespace
}  // namespace senren::regional::kube
