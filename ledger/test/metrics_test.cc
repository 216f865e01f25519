#include "ledger/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ledger/pg_ledger_store.h"

namespace senren::ledger {
namespace {

using ::testing::HasSubstr;

TEST(Metrics, RendersCountersAndCumulativeHistograms) {
  daemon::Metrics registry;
  RequestMetrics m(&registry);
  m.RecordRequest("ApplyState", "OK", 0.002);
  m.RecordRequest("ApplyState", "OK", 0.2);
  m.RecordRequest("ApplyState", "ABORTED", 0.004);
  PgLedgerStoreStats stats;
  stats.pool_size = 16;
  stats.versions_appended = 1234567;
  registry.AddCollector([&](daemon::Metrics& r) { ExportStoreStats(stats, r); });
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE senren_ledger_requests_total counter\n"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_requests_total{rpc=\"ApplyState\",code=\"OK\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("senren_ledger_requests_total{rpc=\"ApplyState\",code=\"ABORTED\"} 1"));
  EXPECT_THAT(text, HasSubstr("# TYPE senren_ledger_request_seconds histogram\n"));
  EXPECT_THAT(
      text, HasSubstr("senren_ledger_request_seconds_bucket{rpc=\"ApplyState\",le=\"0.0025\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("senren_ledger_request_seconds_bucket{rpc=\"ApplyState\",le=\"0.005\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("senren_ledger_request_seconds_bucket{rpc=\"ApplyState\",le=\"+Inf\"} 3"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_request_seconds_count{rpc=\"ApplyState\"} 3"));
  EXPECT_THAT(
      text, HasSubstr("# TYPE senren_ledger_pg_pool_size gauge\nsenren_ledger_pg_pool_size 16\n"));
  EXPECT_THAT(text, HasSubstr("senren_ledger_versions_appended_total 1234567\n"));
}

}  // namespace
}  // namespace senren::ledger
