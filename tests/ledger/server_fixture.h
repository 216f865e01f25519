#pragma once

// A senren-ledger server in-process on port 0 over a PgLedgerStore in a schema of its
// own, with known tokens, and a stub per role.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "ledger/server.h"
#include "ledger_test_util.h"
#include "senren/v1/control_plane.grpc.pb.h"

namespace senren::ledger::testing {

inline constexpr const char* kTokensYaml = R"(tokens:
  - {token: "admin-token-1", subject: test-admin, role: admin}
  - {token: "writer-token-1", subject: test-writer, role: writer}
  - {token: "reader-token-1", subject: test-reader, role: reader}
)";

class ServerFixture {
 public:
  // `postgres_uri` = "" uses the lab's; max_request_bytes as ServerOptions.
  explicit ServerFixture(const std::string& postgres_uri = "",
                         size_t max_request_bytes = 64u << 20) {
    PgLedgerStoreOptions o;
    o.uri = postgres_uri.empty() ? schema_.uri() : postgres_uri;
    o.schema = schema_.name();
    o.pool_size = 4;
    store_ = std::move(*PgLedgerStore::Create(o));
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.metrics = &metrics_;
    so.max_request_bytes = max_request_bytes;
    auto auth = TokenAuthenticator::FromYaml(kTokensYaml, "test tokens");
    auto server = LedgerServer::Start(so, store_.get(), std::move(*auth));
    if (!server.ok()) throw std::runtime_error(std::string(server.status().message()));
    server_ = std::move(*server);
    daemon::HttpServerOptions ho;
    ho.listen = "127.0.0.1:0";
    ho.metrics = [this] { return metrics_.Render(); };
    auto http = daemon::HttpServer::Start(std::move(ho));
    if (!http.ok()) throw std::runtime_error(std::string(http.status().message()));
    http_ = std::move(*http);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(INT32_MAX);
    args.SetMaxReceiveMessageSize(INT32_MAX);
    stub_ = v1::ControlPlane::NewStub(
        grpc::CreateCustomChannel(addr(), grpc::InsecureChannelCredentials(), args));
  }

  std::string addr() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  // The daemon's /metrics endpoint over the registry the server records into.
  int metrics_port() const { return http_->port(); }
  v1::ControlPlane::Stub& stub() { return *stub_; }
  const TestSchema& schema() const { return schema_; }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

 private:
  TestSchema schema_;
  std::unique_ptr<PgLedgerStore> store_;
  daemon::Metrics metrics_;
  std::unique_ptr<LedgerServer> server_;
  std::unique_ptr<daemon::HttpServer> http_;
  std::unique_ptr<v1::ControlPlane::Stub> stub_;
};

}  // namespace senren::ledger::testing
