#include "ledger/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace senren::ledger {
namespace {

using ::testing::HasSubstr;

TEST(Metrics, RendersCountersAndCumulativeHistograms) {
  Metrics m;
  m.RecordRequest("ApplyState", "OK", 0.002);
  m.RecordRequest("ApplyState", "OK", 0.2);
  m.RecordRequest("ApplyState", "ABORTED", 0.004);
  const std::string text = m.Render("senren_ledger_pool_size 16\n");
  EXPECT_THAT(text, HasSubstr("senren_ledger_requests_total{rpc=\"ApplyState\",code=\"OK\"} 2"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_requests_total{rpc=\"ApplyState\",code=\"ABORTED\"} 1"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_request_seconds_bucket{rpc=\"ApplyState\",le=\"0.0025\"} 1"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_request_seconds_bucket{rpc=\"ApplyState\",le=\"0.005\"} 2"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_request_seconds_bucket{rpc=\"ApplyState\",le=\"+Inf\"} 3"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_request_seconds_count{rpc=\"ApplyState\"} 3"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_pool_size 16"));
}

}  // namespace
}  // namespace senren::ledger
