#include "regional/controller/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace senren::regional::controller {
namespace {

using ::testing::HasSubstr;

// The controller's series keep their names and labels in the daemon's registry, with
// the shared bucket layout (which has every bound the controller's own had).
TEST(MetricsTest, RendersTheControllersSeries) {
  Metrics m;
  m.Describe("senren_controller_reconciles_total", "counter", "Reconciles.");
  m.Add("senren_controller_reconciles_total", "kind=\"RedisDatabase\",result=\"success\"");
  m.Add("senren_controller_reconciles_total", "kind=\"RedisDatabase\",result=\"success\"");
  m.Set("senren_controller_queue_depth", "", 7);
  m.Observe("senren_controller_reconcile_duration_seconds", "kind=\"RedisDatabase\"", 0.02);
  std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE senren_controller_reconciles_total counter\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "senren_controller_reconciles_total{kind=\"RedisDatabase\",result=\"success\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("senren_controller_queue_depth 7\n"));
  EXPECT_THAT(text, HasSubstr("senren_controller_reconcile_duration_seconds_bucket{kind="
                              "\"RedisDatabase\",le=\"0.01\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("senren_controller_reconcile_duration_seconds_bucket{kind="
                              "\"RedisDatabase\",le=\"0.025\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("senren_controller_reconcile_duration_seconds_count{kind=\"RedisDatabase\"} 1\n"));
  EXPECT_EQ(
      m.Value("senren_controller_reconciles_total", "kind=\"RedisDatabase\",result=\"success\""),
      2);
}

}  // namespace
}  // namespace senren::regional::controller
