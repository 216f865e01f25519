#include "daemon/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace senren::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Labels, EscapesValues) {
  EXPECT_EQ(Labels({{"rpc", "ApplyState"}, {"code", "OK"}}), "rpc=\"ApplyState\",code=\"OK\"");
  EXPECT_EQ(Labels({{"reason", "a \"b\"\\c\nd"}}), "reason=\"a \\\"b\\\"\\\\c\\nd\"");
  EXPECT_EQ(Labels({}), "");
}

TEST(Metrics, RendersCountersGaugesWithHelpAndType) {
  Metrics m;
  m.Describe("senren_x_total", "counter", "Things done.");
  m.Add("senren_x_total", Labels({{"result", "ok"}}));
  m.Add("senren_x_total", Labels({{"result", "ok"}}), 2);
  m.Set("senren_depth", "", 7);
  m.Set("senren_big_total", "", 1234567890123);
  m.Set("senren_ratio", "", 0.25);
  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("# HELP senren_x_total Things done.\n# TYPE senren_x_total counter\n"
                              "senren_x_total{result=\"ok\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE senren_depth untyped\nsenren_depth 7\n"));
  EXPECT_THAT(text, HasSubstr("senren_big_total 1234567890123\n"));
  EXPECT_THAT(text, HasSubstr("senren_ratio 0.25\n"));
  EXPECT_EQ(m.Value("senren_x_total", "result=\"ok\""), 3);
  EXPECT_EQ(m.Value("senren_x_total", "result=\"failed\""), 0);
  EXPECT_EQ(m.Value("senren_nothing", ""), 0);
}

TEST(Metrics, HistogramsAreCumulativeOverTheOneBucketLayout) {
  Metrics m;
  m.Describe("senren_op_seconds", "histogram", "Op latency.");
  m.Observe("senren_op_seconds", "op=\"a\"", 0.002);
  m.Observe("senren_op_seconds", "op=\"a\"", 0.004);
  m.Observe("senren_op_seconds", "op=\"a\"", 0.2);
  m.Observe("senren_op_seconds", "op=\"a\"", 60);  // above every bound: only +Inf
  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE senren_op_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("senren_op_seconds_bucket{op=\"a\",le=\"0.001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("senren_op_seconds_bucket{op=\"a\",le=\"0.0025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("senren_op_seconds_bucket{op=\"a\",le=\"0.005\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("senren_op_seconds_bucket{op=\"a\",le=\"0.25\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("senren_op_seconds_bucket{op=\"a\",le=\"10\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("senren_op_seconds_bucket{op=\"a\",le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("senren_op_seconds_sum{op=\"a\"} 60.206\n"));
  EXPECT_THAT(text, HasSubstr("senren_op_seconds_count{op=\"a\"} 4\n"));
  // Without labels the bucket label stands alone.
  m.Observe("senren_bare_seconds", "", 0.01);
  EXPECT_THAT(m.Render(), HasSubstr("senren_bare_seconds_bucket{le=\"0.01\"} 1\n"));
}

TEST(Metrics, LatencyBucketsAscendFromHalfAMillisecondToTenSeconds) {
  const std::vector<double>& b = LatencyBuckets();
  ASSERT_EQ(b.size(), 14u);
  EXPECT_EQ(b.front(), 0.0005);
  EXPECT_EQ(b.back(), 10);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
}

TEST(Metrics, CollectorsCopyStatsAtEachRender) {
  Metrics m;
  int64_t applied = 3;
  m.Describe("senren_applied_version", "gauge", "Applied version.");
  m.AddCollector(
      [&](Metrics& r) { r.Set("senren_applied_version", "", static_cast<double>(applied)); });
  EXPECT_THAT(m.Render(), HasSubstr("senren_applied_version 3\n"));
  applied = 4;
  const std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("senren_applied_version 4\n"));
  EXPECT_THAT(text, Not(HasSubstr("senren_applied_version 3\n")));
  m.ClearCollectors();
  applied = 5;
  EXPECT_THAT(m.Render(), HasSubstr("senren_applied_version 4\n"));
}

}  // namespace
}  // namespace senren::daemon
