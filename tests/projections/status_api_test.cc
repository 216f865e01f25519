// GetStatus, WatchStatus, ListRegions' convergence and `senren-ledger status` through the
// real gRPC server, with the status projector folding messages produced to the lab's
// Kafka (the test plays the regional plane).
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <future>
#include <thread>

#include "kafka/kafka.h"
#include "lab/lab_env.h"
#include "ledger/auth.h"
#include "ledger/pg_ledger_store.h"
#include "ledger/server.h"
#include "nlohmann/json.hpp"
#include "projections/status_keys.h"
#include "projections/status_projector.h"
#include "projections/status_read_model.h"
#include "senren/v1/control_plane.grpc.pb.h"
#include "testing/test_schema.h"

namespace senren::projections {
namespace {

// Protobuf's TimeUtil::GetCurrentTime() has whole seconds only.
google::protobuf::Timestamp NowTimestamp() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kTokens[] = R"(tokens:
  - {token: "w-1", subject: test-writer, role: writer}
  - {token: "r-1", subject: test-reader, role: reader}
)";
constexpr char kRegion[] = "gcp:us-central1";

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + seconds(30));
  return ctx;
}

std::string RunCommand(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *rc = pclose(p);
  return out;
}

class StatusApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& lab = testing::Lab();
    prefix_ = testing::UniqueName("sapi");
    store_ = schema_.Store();
    StatusProjectorOptions po;
    po.postgres_uri = lab.postgres_uri;
    po.schema = schema_.name();
    po.kafka = {lab.kafka_brokers};
    po.topic_prefix = prefix_;
    po.partitions = 2;
    projector_ = std::move(*StatusProjector::Create(po, &hub_));
    ASSERT_TRUE(projector_->Start().ok());
    model_ = std::move(*NewPgStatusReadModel({lab.postgres_uri, schema_.name(), 2}, &hub_));
    ledger::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.status = model_.get();
    auto auth = ledger::TokenAuthenticator::FromYaml(kTokens, "test tokens");
    ASSERT_TRUE(auth.ok());
    server_ = std::move(*ledger::LedgerServer::Start(options, store_.get(), std::move(*auth)));
    stub_ =
        v1::ControlPlane::NewStub(grpc::CreateChannel(addr(), grpc::InsecureChannelCredentials()));
    producer_ = std::move(*kafka::Producer::Create({lab.kafka_brokers}));

    v1::ApplyStateRequest apply;
    apply.set_region(kRegion);
    auto* r = apply.add_resources();
    r->set_name("sessions");
    r->mutable_redis_database()->set_memory_mb(64);
    v1::ApplyStateResponse applied;
    ASSERT_TRUE(stub_->ApplyState(Ctx("w-1").get(), apply, &applied).ok());
  }

  void TearDown() override {
    server_->Shutdown();
    projector_->Stop();
  }

  std::string addr() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  void SendResource(bool ready) {
    v1::ResourceStatus s;
    s.set_region(kRegion);
    s.set_cluster("prod");
    s.set_kind(v1::RESOURCE_KIND_REDIS_DATABASE);
    s.set_name("sessions");
    s.set_ready(ready);
    s.set_phase(ready ? v1::PHASE_READY : v1::PHASE_PROVISIONING);
    s.set_host("sessions.senren.svc.cluster.local");
    s.set_port(6379);
    s.set_state_version(1);
    *s.mutable_observed_at() = NowTimestamp();
    Send(ResourceStatusKey(kRegion, "prod", v1::RESOURCE_KIND_REDIS_DATABASE, "sessions"),
         s.SerializeAsString());
  }

  void SendReport() {
    v1::ClusterReport c;
    c.set_region(kRegion);
    c.set_cluster("prod");
    c.set_applied_version(1);
    c.set_result(v1::APPLY_RESULT_APPLIED);
    c.set_resources_total(1);
    c.set_heartbeat_interval_seconds(10);
    *c.mutable_heartbeat_at() = NowTimestamp();
    c.set_rejected_snapshots(2);
    c.set_last_rejected_snapshot("version 9 was refused: unsigned");
    Send(ClusterReportKey(kRegion, "prod"), c.SerializeAsString());
  }

  void Send(const std::string& key, const std::string& value) {
    ASSERT_TRUE(
        producer_->Produce({StatusTopic(prefix_), key, value, {}}, [](const kafka::Delivery&) {})
            .ok());
    ASSERT_TRUE(producer_->Flush(seconds(10)).ok());
  }

  v1::GetStatusResponse WaitStatus(const std::string& token, bool ready) {
    v1::GetStatusRequest req;
    req.set_region(kRegion);
    v1::GetStatusResponse resp;
    for (int i = 0; i < 400; ++i) {
      resp.Clear();
      grpc::Status s = stub_->GetStatus(Ctx(token).get(), req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (resp.resources_size() == 1 && resp.resources(0).ready() == ready &&
          resp.clusters_size() == 1)
        break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return resp;
  }

  ledger::testing::TestSchema schema_;
  std::string prefix_;
  StatusHub hub_;
  std::unique_ptr<ledger::PgLedgerStore> store_;
  std::unique_ptr<StatusProjector> projector_;
  std::unique_ptr<StatusReadModel> model_;
  std::unique_ptr<ledger::LedgerServer> server_;
  std::unique_ptr<v1::ControlPlane::Stub> stub_;
  std::unique_ptr<kafka::Producer> producer_;
};

TEST_F(StatusApiTest, GetStatusListRegionsAndTokens) {
  SendResource(true);
  SendReport();
  auto status = WaitStatus("r-1", true);
  ASSERT_EQ(status.resources_size(), 1);
  EXPECT_TRUE(status.resources(0).ready());
  EXPECT_EQ(status.desired_version(), 1u);
  ASSERT_EQ(status.clusters_size(), 1);
  EXPECT_EQ(status.clusters(0).applied_version(), 1u);

  v1::ListRegionsResponse regions;
  ASSERT_TRUE(stub_->ListRegions(Ctx("r-1").get(), {}, &regions).ok());
  ASSERT_EQ(regions.regions_size(), 1);
  EXPECT_EQ(regions.regions(0).clusters_size(), 1);
  EXPECT_EQ(regions.regions(0).clusters_converged(), 1u);

  v1::GetStatusRequest req;
  req.set_region(kRegion);
  v1::GetStatusResponse ignored;
  EXPECT_EQ(stub_->GetStatus(Ctx("").get(), req, &ignored).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  req.set_region("gcp:nowhere-1");
  EXPECT_EQ(stub_->GetStatus(Ctx("r-1").get(), req, &ignored).error_code(),
            grpc::StatusCode::NOT_FOUND);
  req.set_region(kRegion);
  req.set_resource("Memcached/x");
  EXPECT_EQ(stub_->GetStatus(Ctx("r-1").get(), req, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(StatusApiTest, WatchStatusStreamsChanges) {
  auto ctx = Ctx("r-1");
  v1::WatchStatusRequest req;
  req.set_region(kRegion);
  auto reader = stub_->WatchStatus(ctx.get(), req);
  std::this_thread::sleep_for(milliseconds(300));  // the stream is subscribed
  auto got = std::async(std::launch::async, [&] {
    v1::StatusEvent e;
    while (reader->Read(&e)) {
      if (e.has_resource() && e.resource().ready()) return e;
    }
    return v1::StatusEvent();
  });
  SendResource(true);
  ASSERT_EQ(got.wait_for(seconds(20)), std::future_status::ready);
  v1::StatusEvent e = got.get();
  EXPECT_EQ(e.resource().name(), "sessions");
  EXPECT_EQ(e.desired_version(), 1u);
  ctx->TryCancel();
}

TEST_F(StatusApiTest, CliShowsStatusNowAndAtATime) {
  SendResource(false);
  SendReport();
  WaitStatus("r-1", false);
  std::this_thread::sleep_for(milliseconds(100));
  const std::string before = TimeUtil::ToString(NowTimestamp());
  std::this_thread::sleep_for(milliseconds(100));
  SendResource(true);
  WaitStatus("r-1", true);

  const std::string base = std::string(SENREN_LEDGER_BIN) + " status " + kRegion + " --addr " +
                           addr() + " --token r-1 -o json";
  int rc = 0;
  auto now = nlohmann::json::parse(RunCommand(base, &rc));
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(now["resources"][0]["ready"], true);
  // The state files' vocabulary (docs/ledger.md "Output for scripts"), not protobuf's.
  EXPECT_EQ(now["resources"][0]["phase"], "Ready") << now.dump();
  EXPECT_EQ(now["resources"][0]["kind"], "RedisDatabase");
  EXPECT_EQ(now["resources"][0]["state_version"], 1);
  EXPECT_EQ(now["clusters"][0]["result"], "applied");
  EXPECT_EQ(now["clusters"][0]["applied_version"], 1);
  EXPECT_EQ(now["clusters"][0]["rejected_snapshots"], 2);
  EXPECT_EQ(now["clusters"][0]["last_rejected_snapshot"], "version 9 was refused: unsigned");
  const std::string refused = RunCommand(
      std::string(SENREN_LEDGER_BIN) + " status " + kRegion + " --addr " + addr() + " --token r-1",
      &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_NE(refused.find("prod refused 2 snapshot(s) for their signature; the last: version 9 was "
                         "refused: unsigned"),
            std::string::npos)
      << refused;
  EXPECT_TRUE(now["desired_version"].is_number());
  EXPECT_TRUE(now["at"].is_null());
  google::protobuf::Timestamp observed;
  EXPECT_TRUE(
      TimeUtil::FromString(now["resources"][0]["observed_at"].get<std::string>(), &observed));
  auto then = nlohmann::json::parse(RunCommand(base + " --at " + before, &rc));
  ASSERT_EQ(rc, 0);
  EXPECT_FALSE(then["resources"][0].value("ready", false)) << then.dump();
  EXPECT_EQ(then["resources"][0]["phase"], "Provisioning") << then.dump();
  EXPECT_EQ(then["at"], before);

  std::string table = RunCommand(std::string(SENREN_LEDGER_BIN) + " status " + kRegion +
                                     " --addr " + addr() + " --token r-1 2>&1",
                                 &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(table.find("RedisDatabase/sessions"), std::string::npos) << table;
  EXPECT_NE(table.find("sessions.senren.svc.cluster.local"), std::string::npos) << table;
  RunCommand(std::string(SENREN_LEDGER_BIN) + " status " + kRegion + " --addr " + addr() +
                 " --token nope 2>/dev/null",
             &rc);
  EXPECT_NE(rc, 0);
}

}  // namespace
}  // namespace senren::projections
