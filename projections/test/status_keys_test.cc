#include "projections/status_keys.h"

#include <gtest/gtest.h>

namespace senren::projections {
namespace {

TEST(StatusKeys, ParsesResourceAndClusterKeys) {
  auto r = ParseStatusKey("aws:us-east-1/prod/RedisDatabase/sessions");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->region, "aws:us-east-1");
  EXPECT_EQ(r->cluster, "prod");
  EXPECT_EQ(r->kind, v1::RESOURCE_KIND_REDIS_DATABASE);
  EXPECT_EQ(r->name, "sessions");
  EXPECT_FALSE(r->IsCluster());

  auto c = ParseStatusKey("gcp:us-central1/shadow");
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->IsCluster());
  EXPECT_EQ(c->cluster, "shadow");
}

TEST(StatusKeys, RefusesMalformedKeys) {
  for (const std::string bad : {"", "aws:us-east-1", "a/b/c", "a//RedisDatabase/x",
                                "a/b/Memcached/x", "a/b/RedisDatabase/x/y", "/prod"}) {
    EXPECT_FALSE(ParseStatusKey(bad).has_value()) << bad;
  }
}

TEST(StatusKeys, BuildsWhatItParses) {
  std::string key =
      ResourceStatusKey("aws:us-east-1", "prod", v1::RESOURCE_KIND_AEROSPIKE_CLUSTER, "profiles");
  EXPECT_EQ(key, "aws:us-east-1/prod/AerospikeCluster/profiles");
  EXPECT_EQ(ParseStatusKey(key)->name, "profiles");
  EXPECT_EQ(ClusterReportKey("aws:us-east-1", "prod"), "aws:us-east-1/prod");
}

}  // namespace
}  // namespace senren::projections
