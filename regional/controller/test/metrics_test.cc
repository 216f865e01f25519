#include "regional/controller/metrics.h"

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace senren::regional::controller {
namespace {

using ::testing::HasSubstr;

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

TEST(MetricsTest, RendersPrometheusTextAndServesIt) {
  Metrics m;
  m.Describe("senren_controller_reconciles_total", "counter", "Reconciles.");
  m.Add("senren_controller_reconciles_total", "kind=\"RedisDatabase\",result=\"success\"");
  m.Add("senren_controller_reconciles_total", "kind=\"RedisDatabase\",result=\"success\"");
  m.Set("senren_controller_queue_depth", "", 7);
  m.Observe("senren_controller_reconcile_duration_seconds", "kind=\"RedisDatabase\"", 0.02);
  std::string text = m.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE senren_controller_reconciles_total counter\n"));
  EXPECT_THAT(text, HasSubstr(
      "senren_controller_reconciles_total{kind=\"RedisDatabase\",result=\"success\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("senren_controller_queue_depth 7\n"));
  EXPECT_THAT(text, HasSubstr(
      "senren_controller_reconcile_duration_seconds_bucket{kind=\"RedisDatabase\",le=\"0.01\"} 0\n"));
  EXPECT_THAT(text, HasSubstr(
      "senren_controller_reconcile_duration_seconds_bucket{kind=\"RedisDatabase\",le=\"0.025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("senren_controller_reconcile_duration_seconds_count{kind=\"RedisDatabase\"} 1\n"));

  auto server = MetricsServer::Start("127.0.0.1:0", [&] { return m.Render(); });
  ASSERT_TRUE(server.ok()) << server.status();
  CURL* curl = curl_easy_init();
  std::string body;
  std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/metrics";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, m.Render());
}

}  // namespace
}  // namespace senren::regional::controller
