// The ControlPlane gRPC server in-process on port 0, over the lab's PostgreSQL: auth and
// roles, validation, size limit, UNIMPLEMENTED status RPCs, metrics, and PostgreSQL
// going away and coming back without a restart.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "server_fixture.h"
#include "tcp_proxy.h"

namespace senren::ledger {
namespace {

using testing::Apply;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Redis;
using testing::ServerFixture;

constexpr const char* kWriter = "writer-token-1";
constexpr const char* kReader = "reader-token-1";
constexpr const char* kAdmin = "admin-token-1";

uint64_t CurrentVersion(ServerFixture& f, const std::string& region) {
  v1::GetStateRequest req;
  req.set_region(region);
  v1::RegionalState state;
  EXPECT_TRUE(f.stub().GetState(ServerFixture::Ctx(kReader).get(), req, &state).ok());
  return state.version();
}

TEST(LedgerServer, TokensAndRolesGuardEveryCall) {
  ServerFixture f;
  v1::ApplyStateResponse resp;
  auto req = Apply("aws:us-east-1", {Redis("sessions")});

  grpc::Status s = f.stub().ApplyState(ServerFixture::Ctx("").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("bearer token"));
  s = f.stub().ApplyState(ServerFixture::Ctx("not-a-token").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  s = f.stub().ApplyState(ServerFixture::Ctx(kReader).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("test-reader"));
  v1::ListRegionsResponse regions;
  s = f.stub().ListRegions(ServerFixture::Ctx("").get(), {}, &regions);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CurrentVersion(f, "aws:us-east-1"), 0u);  // nothing written

  s = f.stub().ApplyState(ServerFixture::Ctx(kWriter).get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.version(), 1u);
  s = f.stub().ListRegions(ServerFixture::Ctx(kReader).get(), {}, &regions);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(regions.regions_size(), 1);

  v1::RollbackRequest rb;
  rb.set_region("aws:us-east-1");
  rb.set_to_version(1);
  s = f.stub().Rollback(ServerFixture::Ctx(kReader).get(), rb, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  s = f.stub().Rollback(ServerFixture::Ctx(kAdmin).get(), rb, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  v1::PlanStateResponse plan;
  EXPECT_EQ(f.stub().PlanState(ServerFixture::Ctx(kReader).get(), req, &plan).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST(LedgerServer, RecordsTokenSubjectAndTraceparent) {
  ServerFixture f;
  auto ctx = ServerFixture::Ctx(kWriter);
  ctx->AddMetadata("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  v1::ApplyStateResponse resp;
  ASSERT_TRUE(f.stub().ApplyState(ctx.get(), Apply("aws:x", {Redis("a")}, "why"), &resp).ok());
  v1::GetHistoryRequest h;
  h.set_region("aws:x");
  v1::GetHistoryResponse history;
  ASSERT_TRUE(f.stub().GetHistory(ServerFixture::Ctx(kReader).get(), h, &history).ok());
  ASSERT_EQ(history.versions_size(), 1);
  EXPECT_EQ(history.versions(0).author(), "test-writer");
  EXPECT_EQ(history.versions(0).message(), "why");
  EXPECT_EQ(history.versions(0).traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

TEST(LedgerServer, InvalidInputNamesResourceAndFieldAndWritesNothing) {
  ServerFixture f;
  v1::ApplyStateResponse resp;
  grpc::Status s =
      f.stub().ApplyState(ServerFixture::Ctx(kWriter).get(),
                          Apply("aws:x", {Redis("ok"), Redis("big", 2'000'000)}), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("RedisDatabase/big"));
  EXPECT_THAT(s.error_message(), HasSubstr("spec.memory_mb"));
  s = f.stub().ApplyState(ServerFixture::Ctx(kWriter).get(), Apply("us-east-1", {}), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("region"));
  EXPECT_EQ(CurrentVersion(f, "aws:x"), 0u);
}

TEST(LedgerServer, RequestsOverTheSizeLimitAreResourceExhausted) {
  ServerFixture f("", 16 * 1024);
  std::vector<v1::Resource> many;
  for (int i = 0; i < 3000; ++i) many.push_back(Redis("db-" + std::to_string(i)));
  v1::ApplyStateResponse resp;
  grpc::Status s =
      f.stub().ApplyState(ServerFixture::Ctx(kWriter).get(), Apply("aws:x", many), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(CurrentVersion(f, "aws:x"), 0u);
  std::vector<v1::Resource> few(many.begin(), many.begin() + 10);
  EXPECT_TRUE(
      f.stub().ApplyState(ServerFixture::Ctx(kWriter).get(), Apply("aws:x", few), &resp).ok());
}

TEST(LedgerServer, StatusRpcsAreUnimplementedForNow) {
  ServerFixture f;
  v1::GetStatusRequest req;
  req.set_region("aws:x");
  v1::GetStatusResponse resp;
  EXPECT_EQ(f.stub().GetStatus(ServerFixture::Ctx(kReader).get(), req, &resp).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  v1::WatchStatusRequest w;
  w.set_region("aws:x");
  auto ctx = ServerFixture::Ctx(kReader);
  auto reader = f.stub().WatchStatus(ctx.get(), w);
  v1::StatusEvent ev;
  EXPECT_FALSE(reader->Read(&ev));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "";
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)::send(fd, req.data(), req.size(), 0);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(LedgerServer, ServesPrometheusMetrics) {
  ServerFixture f;
  v1::ApplyStateResponse resp;
  ASSERT_TRUE(
      f.stub()
          .ApplyState(ServerFixture::Ctx(kWriter).get(), Apply("aws:x", {Redis("a")}), &resp)
          .ok());
  (void)f.stub().ApplyState(ServerFixture::Ctx(kReader).get(), Apply("aws:x", {Redis("a")}), &resp);
  const std::string text = HttpGet(f.metrics_port(), "/metrics");
  EXPECT_THAT(text, HasSubstr("200 OK"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_requests_total{rpc=\"ApplyState\",code=\"OK\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("senren_ledger_requests_total{rpc=\"ApplyState\",code=\"PERMISSION_DENIED\"} 1"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_request_seconds_count{rpc=\"ApplyState\"} 2"));
  EXPECT_THAT(HttpGet(f.metrics_port(), "/nope"), HasSubstr("404"));
}

TEST(LedgerServer, PostgresDownIsUnavailableAndRecoversWithoutRestart) {
  testing::TcpProxy proxy(55432);
  const std::string& lab = senren::testing::Lab().postgres_uri;
  // Same database, reached through the proxy.
  std::string via_proxy = lab;
  const std::string from = "127.0.0.1:55432";
  ASSERT_NE(via_proxy.find(from), std::string::npos) << lab;
  via_proxy.replace(via_proxy.find(from), from.size(), "127.0.0.1:" + std::to_string(proxy.port()));
  ServerFixture f(via_proxy);
  v1::ApplyStateResponse resp;
  ASSERT_TRUE(
      f.stub()
          .ApplyState(ServerFixture::Ctx(kWriter).get(), Apply("aws:x", {Redis("a")}), &resp)
          .ok());

  proxy.SetUp(false);
  grpc::Status s =
      f.stub().ApplyState(ServerFixture::Ctx(kWriter).get(), Apply("aws:x", {Redis("b")}), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  v1::GetStateRequest g;
  g.set_region("aws:x");
  v1::RegionalState state;
  EXPECT_EQ(f.stub().GetState(ServerFixture::Ctx(kReader).get(), g, &state).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  proxy.SetUp(true);
  s = f.stub().ApplyState(ServerFixture::Ctx(kWriter).get(), Apply("aws:x", {Redis("b")}), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.version(), 2u);
  ASSERT_TRUE(f.stub().GetState(ServerFixture::Ctx(kReader).get(), g, &state).ok());
  EXPECT_EQ(state.version(), 2u);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(LedgerServer, ServesMutualTls) {
  char tmpl[] = "/tmp/senren-tls-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string script =
      "cd " + dir +
      " && "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 "
      "-subj /CN=senren-test-ca && "
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext && "
      "for n in server client; do "
      "openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$n && "
      "openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $n.crt "
      "-days 1 -extfile san.ext || exit 1; done";
  ASSERT_EQ(std::system(("(" + script + ") >/dev/null 2>&1").c_str()), 0);

  testing::TestSchema schema;
  auto store = schema.Store();
  daemon::Metrics registry;
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.metrics = &registry;
  so.max_request_bytes = 1u << 20;
  so.tls_cert = dir + "/server.crt";
  so.tls_key = dir + "/server.key";
  so.tls_client_ca = dir + "/ca.crt";
  auto server = LedgerServer::Start(
      so, store.get(), std::move(*TokenAuthenticator::FromYaml(testing::kTokensYaml, "t")));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string addr = "127.0.0.1:" + std::to_string((*server)->port());

  auto call = [&](std::shared_ptr<grpc::ChannelCredentials> creds) {
    auto stub = v1::ControlPlane::NewStub(grpc::CreateChannel(addr, creds));
    v1::ListRegionsResponse resp;
    auto ctx = ServerFixture::Ctx(kReader);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub->ListRegions(ctx.get(), {}, &resp);
  };
  grpc::SslCredentialsOptions mutual;
  mutual.pem_root_certs = ReadAll(dir + "/ca.crt");
  mutual.pem_cert_chain = ReadAll(dir + "/client.crt");
  mutual.pem_private_key = ReadAll(dir + "/client.key");
  grpc::Status s = call(grpc::SslCredentials(mutual));
  EXPECT_TRUE(s.ok()) << s.error_message();

  // A wrong token is refused from the metadata alone, before gRPC reads the message: an
  // 8 MiB request over the 1 MiB limit answers UNAUTHENTICATED, not RESOURCE_EXHAUSTED
  // (which is what reading it first answered).
  {
    auto stub = v1::ControlPlane::NewStub(grpc::CreateChannel(addr, grpc::SslCredentials(mutual)));
    v1::ApplyStateRequest big;
    big.set_region("aws:tls");
    big.set_message(std::string(8u << 20, 'x'));
    v1::ApplyStateResponse resp;
    auto ctx = ServerFixture::Ctx("not-a-token");
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status refused = stub->ApplyState(ctx.get(), big, &resp);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED) << refused.error_message();
    const std::string labels = daemon::Labels({{"rpc", "ApplyState"}, {"code", "UNAUTHENTICATED"}});
    EXPECT_EQ(registry.Value("senren_ledger_requests_total", labels), 1.0);
  }

  grpc::SslCredentialsOptions no_client_cert;
  no_client_cert.pem_root_certs = mutual.pem_root_certs;
  EXPECT_EQ(call(grpc::SslCredentials(no_client_cert)).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(call(grpc::InsecureChannelCredentials()).error_code(), grpc::StatusCode::UNAVAILABLE);

  ServerOptions half = so;
  half.tls_key.clear();
  EXPECT_EQ(LedgerServer::Start(half, store.get(),
                                std::move(*TokenAuthenticator::FromYaml(testing::kTokensYaml, "t")))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace senren::ledger
