#include "common/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/resources.h"
#include "common/testing/resources.h"

namespace senren::common {
namespace {

using testing::FullAerospike;
using testing::FullRedis;
using ::testing::HasSubstr;

TEST(ValidateRegionKey, AcceptsCloudColonRegion) {
  EXPECT_TRUE(ValidateRegionKey("aws:us-east-1").ok());
  EXPECT_TRUE(ValidateRegionKey("gcp:europe-west1").ok());
  EXPECT_TRUE(ValidateRegionKey("a1:b").ok());
}

TEST(ValidateRegionKey, RejectsMalformedKeysNamingTheField) {
  for (const char* bad : {"", "aws", "aws:", ":us", "1aws:us", "AWS:us", "aws:US", "aws:us_east",
                          "aws:us:east", "aws-x:us"}) {
    absl::Status s = ValidateRegionKey(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("field region")) << bad;
  }
}

TEST(IsDns1123Label, Bounds) {
  EXPECT_TRUE(IsDns1123Label("a"));
  EXPECT_TRUE(IsDns1123Label("sessions-2"));
  EXPECT_TRUE(IsDns1123Label(std::string(63, 'a')));
  EXPECT_FALSE(IsDns1123Label(std::string(64, 'a')));
  EXPECT_FALSE(IsDns1123Label("-a"));
  EXPECT_FALSE(IsDns1123Label("a-"));
  EXPECT_FALSE(IsDns1123Label("A"));
  EXPECT_FALSE(IsDns1123Label("a.b"));
  EXPECT_FALSE(IsDns1123Label(""));
}

TEST(ValidateResource, AcceptsValidSpecs) {
  EXPECT_TRUE(ValidateResource(FullRedis("sessions")).ok());
  EXPECT_TRUE(ValidateResource(FullAerospike("profiles")).ok());
}

TEST(ValidateResource, RedisBoundsNameResourceAndField) {
  auto check = [](v1::Resource r, const std::string& field) {
    absl::Status s = ValidateResource(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("resource " + ResourceId(r)));
    EXPECT_THAT(s.message(), HasSubstr("field " + field));
  };
  check(FullRedis("a", 15), "spec.memory_mb");
  check(FullRedis("a", 1048577), "spec.memory_mb");
  check(FullRedis("a", 16, 10), "spec.replicas");
  auto r = FullRedis("a");
  r.mutable_redis_database()->set_version("latest");
  check(r, "spec.version");
  r = FullRedis("a");
  r.mutable_redis_database()->set_eviction_policy("sometimes");
  check(r, "spec.eviction_policy");
  check(FullRedis("Bad_Name"), "name");
  v1::Resource no_spec;
  no_spec.set_name("x");
  check(no_spec, "spec");
}

TEST(ValidateResource, RedisEdgeBoundsAreValid) {
  EXPECT_TRUE(ValidateResource(FullRedis("a", 16, 1)).ok());
  EXPECT_TRUE(ValidateResource(FullRedis("a", 1048576, 9)).ok());
}

TEST(ValidateResource, AerospikeBounds) {
  EXPECT_THAT(ValidateResource(FullAerospike("a", 33, 1)).message(), HasSubstr("field spec.size"));
  EXPECT_THAT(ValidateResource(FullAerospike("a", 2, 3)).message(),
              HasSubstr("field spec.namespaces[0].replication_factor"));
  auto r = FullAerospike("a");
  r.mutable_aerospike_cluster()->mutable_namespaces(0)->set_memory_mb(1);
  EXPECT_THAT(ValidateResource(r).message(), HasSubstr("spec.namespaces[0].memory_mb"));
  r = FullAerospike("a");
  *r.mutable_aerospike_cluster()->add_namespaces() = r.aerospike_cluster().namespaces(0);
  EXPECT_THAT(ValidateResource(r).message(), HasSubstr("duplicate namespace"));
  r = FullAerospike("a");
  r.mutable_aerospike_cluster()->clear_namespaces();
  EXPECT_THAT(ValidateResource(r).message(), HasSubstr("spec.namespaces"));
  EXPECT_TRUE(ValidateResource(FullAerospike("a", 32, 32)).ok());
}

TEST(ValidateResourceSet, RejectsDuplicatesPerKindOnly) {
  EXPECT_TRUE(ValidateResourceSet({FullRedis("x"), FullAerospike("x")}).ok());
  absl::Status s = ValidateResourceSet({FullRedis("x"), FullRedis("x", 64)});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("RedisDatabase/x"));
  EXPECT_THAT(s.message(), HasSubstr("duplicate"));
}

TEST(Canonicalize, FillsDefaultsSoEqualMeaningsCompareEqual) {
  v1::Resource bare;
  bare.set_name("s");
  bare.mutable_redis_database()->set_memory_mb(512);
  Canonicalize(&bare);
  EXPECT_TRUE(SameResource(bare, FullRedis("s")));
  EXPECT_TRUE(ValidateResource(bare).ok());
}

}  // namespace
}  // namespace senren::common
