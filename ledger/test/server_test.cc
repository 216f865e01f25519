// LedgerServer over FakeLedgerStore, in-process on port 0: the API layer alone (auth,
// roles, code mapping, author/traceparent, size limit), no PostgreSQL.
#include "ledger/server.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "senren/v1/control_plane.grpc.pb.h"
#include "testing/fake_ledger_store.h"

namespace senren::ledger {
namespace {

using ::testing::HasSubstr;

class ServerOverFake : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.max_request_bytes = 8 * 1024;
    auto auth = TokenAuthenticator::FromYaml(
        "tokens: [{token: w, subject: writer-1, role: writer}, {token: r, subject: reader-1, "
        "role: reader}]",
        "test");
    auto server = LedgerServer::Start(o, &store_, std::move(*auth));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::ControlPlane::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  static v1::ApplyStateRequest Req(int n) {
    v1::ApplyStateRequest req;
    req.set_region("aws:us-east-1");
    for (int i = 0; i < n; ++i) {
      auto* r = req.add_resources();
      r->set_name("db-" + std::to_string(i));
      r->mutable_redis_database()->set_memory_mb(64);
    }
    return req;
  }

  testing::FakeLedgerStore store_;
  std::unique_ptr<LedgerServer> server_;
  std::unique_ptr<v1::ControlPlane::Stub> stub_;
};

TEST_F(ServerOverFake, AuthRolesAndAuthor) {
  v1::ApplyStateResponse resp;
  EXPECT_EQ(stub_->ApplyState(Ctx("").get(), Req(1), &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->ApplyState(Ctx("r").get(), Req(1), &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto ctx = Ctx("w");
  ctx->AddMetadata("traceparent", "00-aa-bb-01");
  ASSERT_TRUE(stub_->ApplyState(ctx.get(), Req(1), &resp).ok());
  EXPECT_EQ(resp.version(), 1u);
  v1::GetStateRequest g;
  g.set_region("aws:us-east-1");
  v1::RegionalState state;
  ASSERT_TRUE(stub_->GetState(Ctx("r").get(), g, &state).ok());
  EXPECT_EQ(state.author(), "writer-1");
  EXPECT_EQ(state.traceparent(), "00-aa-bb-01");
}

TEST_F(ServerOverFake, StoreErrorsKeepTheirCodeAndMessage) {
  store_.FailNextCalls(absl::UnavailableError("PostgreSQL is unreachable"), 1);
  v1::ApplyStateResponse resp;
  grpc::Status s = stub_->ApplyState(Ctx("w").get(), Req(1), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "PostgreSQL is unreachable");
  EXPECT_TRUE(stub_->ApplyState(Ctx("w").get(), Req(1), &resp).ok());
  auto req = Req(1);
  req.set_expected_version(7);
  s = stub_->ApplyState(Ctx("w").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(s.error_message(), HasSubstr("at version 1"));
}

TEST_F(ServerOverFake, OversizedRequestIsResourceExhaustedAndNotSeenByTheStore) {
  v1::ApplyStateResponse resp;
  EXPECT_EQ(stub_->ApplyState(Ctx("w").get(), Req(1000), &resp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(store_.ListRegions()->regions_size(), 0);
}

TEST(FakeLedgerStore, FollowsTheLedgerRules) {
  testing::FakeLedgerStore store;
  WriteContext ctx{"me", ""};
  v1::ApplyStateRequest req;
  req.set_region("aws:x");
  auto* r = req.add_resources();
  r->set_name("a");
  r->mutable_redis_database()->set_memory_mb(64);
  EXPECT_EQ(store.ApplyState(req, ctx)->version(), 1u);
  EXPECT_FALSE(store.ApplyState(req, ctx)->changed());
  r->mutable_redis_database()->set_memory_mb(128);
  EXPECT_EQ(store.ApplyState(req, ctx)->version(), 2u);
  v1::RollbackRequest rb;
  rb.set_region("aws:x");
  rb.set_to_version(1);
  EXPECT_EQ(store.Rollback(rb, ctx)->version(), 3u);
  EXPECT_EQ(store.GetState("aws:x", 3)->resources(0).redis_database().memory_mb(), 64u);
  v1::ApplyStateRequest empty;
  empty.set_region("aws:x");
  EXPECT_EQ(store.ApplyState(empty, ctx).status().code(), absl::StatusCode::kFailedPrecondition);
  v1::GetHistoryRequest h;
  h.set_region("aws:x");
  h.set_page_size(2);
  auto page = store.GetHistory(h);
  ASSERT_EQ(page->versions_size(), 2);
  EXPECT_EQ(page->versions(0).version(), 3u);
  EXPECT_EQ(page->next_page_token(), "1");
}

}  // namespace
}  // namespace senren::ledger
