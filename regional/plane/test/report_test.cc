#include "regional/plane/report.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace senren::regional::plane {
namespace {

Json ReadyCr() {
  Json cr = ResourceToCr(testing::Redis("sessions", 512, 3),
                         {"aws:us-east-1", "senren", 4, "00-trace-01"});
  cr["metadata"]["generation"] = 2;
  cr["status"] = {{"ready", true},
                  {"host", "sessions.senren.svc.cluster.local"},
                  {"readHost", "sessions-read.senren.svc.cluster.local"},
                  {"port", 6379},
                  {"phase", "Ready"},
                  {"readyReplicas", 3},
                  {"observedGeneration", 2},
                  {"message", "3/3 ready"}};
  return cr;
}

TEST(ReportTest, KeysFollowTheKafkaContract) {
  EXPECT_EQ(ResourceStatusKey("aws:us-east-1", "prod", v1::RESOURCE_KIND_REDIS_DATABASE, "s"),
            "aws:us-east-1/prod/RedisDatabase/s");
  EXPECT_EQ(ClusterReportKey("aws:us-east-1", "shadow"), "aws:us-east-1/shadow");
}

TEST(ReportTest, ResourceStatusCarriesTheControllersStatus) {
  const v1::ResourceStatus s =
      BuildResourceStatus(ReadyCr(), "aws:us-east-1", "prod", absl::FromUnixSeconds(100));
  EXPECT_EQ(s.region(), "aws:us-east-1");
  EXPECT_EQ(s.cluster(), "prod");
  EXPECT_EQ(s.kind(), v1::RESOURCE_KIND_REDIS_DATABASE);
  EXPECT_EQ(s.name(), "sessions");
  EXPECT_TRUE(s.ready());
  EXPECT_EQ(s.host(), "sessions.senren.svc.cluster.local");
  EXPECT_EQ(s.read_host(), "sessions-read.senren.svc.cluster.local");
  EXPECT_EQ(s.port(), 6379u);
  EXPECT_EQ(s.phase(), v1::PHASE_READY);
  EXPECT_EQ(s.ready_replicas(), 3u);
  EXPECT_EQ(s.replicas(), 3u);
  EXPECT_EQ(s.state_version(), 4u);
  EXPECT_EQ(s.traceparent(), "00-trace-01");
  EXPECT_EQ(s.observed_at().seconds(), 100);
}

TEST(ReportTest, StatusOfAnOlderGenerationIsNotReady) {
  Json cr = ReadyCr();
  cr["metadata"]["generation"] = 3;  // spec changed; the controller has not caught up
  EXPECT_FALSE(IsReady(cr));
  cr.erase("status");
  EXPECT_FALSE(IsReady(cr));
  EXPECT_EQ(BuildResourceStatus(cr, "r:x", "c", absl::Now()).phase(), v1::PHASE_UNSPECIFIED);
}

TEST(ReportTest, SameStatusIgnoresObservationTime) {
  auto a = BuildResourceStatus(ReadyCr(), "r:x", "c", absl::FromUnixSeconds(1));
  auto b = BuildResourceStatus(ReadyCr(), "r:x", "c", absl::FromUnixSeconds(2));
  EXPECT_TRUE(SameStatus(a, b));
  b.set_ready(false);
  EXPECT_FALSE(SameStatus(a, b));
  // A read host that appears (a controller that did not set it yet) is a change to report.
  Json cr = ReadyCr();
  cr["status"].erase("readHost");
  auto before = BuildResourceStatus(cr, "r:x", "c", absl::FromUnixSeconds(1));
  EXPECT_EQ(before.read_host(), "");
  EXPECT_FALSE(SameStatus(before, a));
}

TEST(ReportTest, SummarizeApply) {
  ReconcilePlan plan;
  plan.desired_total = 3;
  plan.applies.resize(2);
  plan.unchanged = 1;
  EXPECT_EQ(SummarizeApply(plan, {}).result, v1::APPLY_RESULT_APPLIED);

  ApplyOutcome partial = SummarizeApply(plan, {"RedisDatabase/a: HTTP 422"});
  EXPECT_EQ(partial.result, v1::APPLY_RESULT_PARTIAL);
  EXPECT_EQ(partial.reason, "RedisDatabase/a: HTTP 422");

  ReconcilePlan missing;
  missing.desired_total = 2;
  missing.refused = {"AerospikeCluster/p: this cluster has no CRD for AerospikeCluster",
                     "AerospikeCluster/q: this cluster has no CRD for AerospikeCluster"};
  missing.rejected_missing_kind = 2;
  ApplyOutcome rejected = SummarizeApply(missing, {});
  EXPECT_EQ(rejected.result, v1::APPLY_RESULT_REJECTED);
  EXPECT_NE(rejected.reason.find("no CRD for AerospikeCluster"), std::string::npos);

  missing.desired_total = 3;  // one Redis in place beside them
  EXPECT_EQ(SummarizeApply(missing, {}).result, v1::APPLY_RESULT_PARTIAL);

  ReconcilePlan all_failed;
  all_failed.desired_total = 2;
  all_failed.applies.resize(2);
  EXPECT_EQ(SummarizeApply(all_failed, {"a: x", "b: y"}).result, v1::APPLY_RESULT_REJECTED);
}

}  // namespace
}  // namespace senren::regional::plane
