// DecodeStatusMessage and IsPrintableUtf8 with adversarial input: nothing that
// PostgreSQL would refuse (bad UTF-8, NUL, out-of-range timestamps) gets through.
#include "projections/status_decode.h"

#include <gtest/gtest.h>

#include "projections/status_keys.h"

namespace senren::projections {
namespace {

constexpr char kRegion[] = "aws:us-east-1";

kafka::Message Msg(std::string key, std::optional<std::string> value,
                   int64_t timestamp_ms = 1'764'633'600'000) {
  kafka::Message m;
  m.topic = "senren-status";
  m.partition = 3;
  m.offset = 42;
  m.key = std::move(key);
  m.value = std::move(value);
  m.timestamp_ms = timestamp_ms;
  return m;
}

v1::ResourceStatus Status(const std::string& name = "sessions") {
  v1::ResourceStatus s;
  s.set_region(kRegion);
  s.set_cluster("prod");
  s.set_kind(v1::RESOURCE_KIND_REDIS_DATABASE);
  s.set_name(name);
  s.mutable_observed_at()->set_seconds(1'764'633'600);
  s.mutable_observed_at()->set_nanos(500'000'000);
  return s;
}

v1::ClusterReport Report() {
  v1::ClusterReport r;
  r.set_region(kRegion);
  r.set_cluster("prod");
  r.set_applied_version(3);
  r.mutable_heartbeat_at()->set_seconds(1'764'633'600);
  return r;
}

const std::string kKey = "aws:us-east-1/prod/RedisDatabase/sessions";

TEST(IsPrintableUtf8, AcceptsTextAndRefusesEverythingPostgresWouldNot) {
  EXPECT_TRUE(IsPrintableUtf8(""));
  EXPECT_TRUE(IsPrintableUtf8("prod"));
  EXPECT_TRUE(IsPrintableUtf8("caf\xc3\xa9"));       // é
  EXPECT_TRUE(IsPrintableUtf8("\xe2\x82\xac"));      // €
  EXPECT_TRUE(IsPrintableUtf8("\xf0\x9f\x98\x80"));  // U+1F600
  EXPECT_TRUE(IsPrintableUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  for (const std::string& bad : {
           std::string("a\0b", 3),  // NUL: 22021 in PostgreSQL text
           std::string("\x01"),
           std::string("tab\t"),
           std::string("\x7f"),
           std::string("\xc2\x80"),  // C1 control
           std::string("\xff"),
           std::string("\xfe"),
           std::string("\x80"),              // not a lead byte
           std::string("\xc3"),              // cut short
           std::string("\xc3\x28"),          // bad continuation
           std::string("\xe2\x82"),          // cut short
           std::string("\xc0\xaf"),          // overlong '/'
           std::string("\xe0\x80\xaf"),      // overlong
           std::string("\xf0\x80\x80\xaf"),  // overlong
           std::string("\xed\xa0\x80"),      // surrogate U+D800
           std::string("\xf4\x90\x80\x80"),  // past U+10FFFF
           std::string("\xf8\x88\x80\x80\x80"),
       }) {
    EXPECT_FALSE(IsPrintableUtf8(bad)) << ::testing::PrintToString(bad);
  }
}

TEST(DecodeStatusMessage, ResourceStatusOfItsKey) {
  auto c = DecodeStatusMessage(Msg(kKey, Status().SerializeAsString()));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->type, StatusChange::Type::kResource);
  EXPECT_EQ(c->key.name, "sessions");
  EXPECT_EQ(c->partition, 3);
  EXPECT_EQ(c->offset, 42);
  EXPECT_DOUBLE_EQ(c->at, 1'764'633'600.5);
  EXPECT_EQ(c->payload, Status().SerializeAsString());
}

TEST(DecodeStatusMessage, TombstonesAndReports) {
  auto gone = DecodeStatusMessage(Msg(kKey, std::nullopt, 1'764'633'600'250));
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->type, StatusChange::Type::kResourceGone);
  EXPECT_DOUBLE_EQ(gone->at, 1'764'633'600.25);

  auto report =
      DecodeStatusMessage(Msg(ClusterReportKey(kRegion, "prod"), Report().SerializeAsString()));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->type, StatusChange::Type::kCluster);
  EXPECT_EQ(report->report.applied_version(), 3u);

  auto cluster_gone = DecodeStatusMessage(Msg(ClusterReportKey(kRegion, "prod"), std::nullopt));
  ASSERT_TRUE(cluster_gone.ok());
  EXPECT_EQ(cluster_gone->type, StatusChange::Type::kClusterGone);
  EXPECT_DOUBLE_EQ(cluster_gone->at, 1'764'633'600.0);  // the record's time: history has it

  // Without observed_at, the record's own timestamp.
  auto s = Status();
  s.clear_observed_at();
  auto no_time = DecodeStatusMessage(Msg(kKey, s.SerializeAsString(), 1'000));
  ASSERT_TRUE(no_time.ok());
  EXPECT_DOUBLE_EQ(no_time->at, 1.0);
}

TEST(DecodeStatusMessage, RefusesBadKeys) {
  const std::string value = Status().SerializeAsString();
  for (const std::string& key : {
           std::string(),
           std::string("/"),
           std::string("aws:us-east-1"),
           std::string("aws:us-east-1/prod/RedisDatabase/sessions/x"),
           std::string("aws:us-east-1/prod/Memcached/sessions"),
           std::string("AWS:us-east-1/prod/RedisDatabase/sessions"),  // region rule
           std::string("aws/prod/RedisDatabase/sessions"),
           std::string("aws:us-east-1/pr\xc3\x28od/RedisDatabase/sessions"),  // bad UTF-8 (22021)
           std::string("aws:us-east-1/pr\0od/RedisDatabase/sessions", 41),    // NUL
           std::string("aws:us-east-1/prod/RedisDatabase/Sessions"),          // name rule
           std::string("aws:us-east-1/prod/RedisDatabase/") + std::string(64, 'a'),
           std::string("aws:us-east-1/") + std::string(64, 'c') + "/RedisDatabase/sessions",
           std::string("aws:") + std::string(300, 'a') + "/prod/RedisDatabase/sessions",
           std::string("\xff\xfe\xfd"),
       }) {
    auto c = DecodeStatusMessage(Msg(key, value));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument)
        << ::testing::PrintToString(key);
  }
}

TEST(DecodeStatusMessage, RefusesValuesOfAnotherKeyOrNotParsing) {
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, std::string("\xff\xff", 2))).ok());
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, Status("other").SerializeAsString())).ok());
  auto s = Status();
  s.set_region("gcp:us-central1");
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, s.SerializeAsString())).ok());
  s = Status();
  s.set_cluster("shadow");
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, s.SerializeAsString())).ok());
  s = Status();
  s.set_kind(v1::RESOURCE_KIND_AEROSPIKE_CLUSTER);
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, s.SerializeAsString())).ok());
  auto r = Report();
  r.set_cluster("shadow");
  EXPECT_FALSE(
      DecodeStatusMessage(Msg(ClusterReportKey(kRegion, "prod"), r.SerializeAsString())).ok());
  // A ClusterReport under a resource key parses as nothing sensible.
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, Report().SerializeAsString())).ok());
}

TEST(DecodeStatusMessage, RefusesTimestampsAndVersionsOutOfRange) {
  for (int64_t seconds :
       {int64_t{10'000'000'000'000}, int64_t{-1}, kMaxTimestampSeconds + 1,
        std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    auto s = Status();
    s.mutable_observed_at()->set_seconds(seconds);
    EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, s.SerializeAsString())).ok()) << seconds;
    auto r = Report();
    r.mutable_heartbeat_at()->set_seconds(seconds);
    EXPECT_FALSE(
        DecodeStatusMessage(Msg(ClusterReportKey(kRegion, "prod"), r.SerializeAsString())).ok())
        << seconds;
  }
  auto s = Status();
  s.mutable_observed_at()->set_nanos(1'000'000'000);
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, s.SerializeAsString())).ok());
  s.mutable_observed_at()->set_nanos(-1);
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, s.SerializeAsString())).ok());
  s = Status();
  s.mutable_observed_at()->set_seconds(kMaxTimestampSeconds);
  EXPECT_TRUE(DecodeStatusMessage(Msg(kKey, s.SerializeAsString())).ok());

  auto r = Report();
  r.set_applied_version(uint64_t{1} << 63);
  EXPECT_FALSE(
      DecodeStatusMessage(Msg(ClusterReportKey(kRegion, "prod"), r.SerializeAsString())).ok());

  // A tombstone's only timestamp is the record's.
  EXPECT_FALSE(DecodeStatusMessage(Msg(kKey, std::nullopt, -5)).ok());
  EXPECT_FALSE(
      DecodeStatusMessage(Msg(kKey, std::nullopt, std::numeric_limits<int64_t>::max())).ok());
}

}  // namespace
}  // namespace senren::projections
