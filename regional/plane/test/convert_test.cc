#include "regional/plane/convert.h"

#include <gtest/gtest.h>

#include "common/resources.h"
#include "test_util.h"

namespace senren::regional::plane {
namespace {

using testing::Aerospike;
using testing::Redis;

CrContext Ctx(uint64_t version = 7) {
  return {"aws:us-east-1", "senren", version, "00-abc-def-01"};
}

TEST(ConvertTest, RedisFollowsTheCrdMapping) {
  v1::Resource r = Redis("sessions", 512, 3);
  r.mutable_redis_database()->set_version("7.2");
  r.mutable_redis_database()->set_persistence(v1::REDIS_PERSISTENCE_AOF);
  r.mutable_redis_database()->set_eviction_policy("allkeys-lru");
  const Json cr = ResourceToCr(r, Ctx());
  EXPECT_EQ(cr["apiVersion"], "senren.io/v1alpha1");
  EXPECT_EQ(cr["kind"], "RedisDatabase");
  EXPECT_EQ(cr["metadata"]["name"], "sessions");
  EXPECT_EQ(cr["metadata"]["namespace"], "senren");
  EXPECT_EQ(cr["metadata"]["labels"]["app.kubernetes.io/managed-by"], "senren");
  EXPECT_EQ(cr["metadata"]["labels"]["senren.io/region"], "aws.us-east-1");
  EXPECT_EQ(cr["metadata"]["annotations"]["senren.io/state-version"], "7");
  EXPECT_EQ(cr["metadata"]["annotations"]["senren.io/region"], "aws:us-east-1");
  EXPECT_EQ(cr["metadata"]["annotations"]["senren.io/traceparent"], "00-abc-def-01");
  EXPECT_EQ(cr["spec"], Json::parse(R"({"memoryMb":512,"replicas":3,"version":"7.2",
      "persistence":"aof","evictionPolicy":"allkeys-lru"})"));
}

TEST(ConvertTest, ZeroValuesAreOmittedSoCrdDefaultsApply) {
  const Json cr = ResourceToCr(Redis("cache", 64), Ctx());
  EXPECT_EQ(cr["spec"], Json::parse(R"({"memoryMb":64})"));
}

TEST(ConvertTest, AerospikeNamespacesAreCamelCase) {
  v1::Resource r = Aerospike("profiles", 3);
  r.mutable_aerospike_cluster()->mutable_namespaces(0)->set_storage(v1::AEROSPIKE_STORAGE_DEVICE);
  const Json cr = ResourceToCr(r, Ctx());
  EXPECT_EQ(cr["kind"], "AerospikeCluster");
  EXPECT_EQ(cr["spec"], Json::parse(R"({"size":3,"namespaces":[{"name":"users",
      "replicationFactor":1,"memoryMb":64,"storage":"device"}]})"));
}

TEST(ConvertTest, CrRoundTripsToTheSameResource) {
  v1::Resource redis = Redis("sessions", 512, 3);
  redis.mutable_redis_database()->set_persistence(v1::REDIS_PERSISTENCE_RDB);
  v1::Resource aero = Aerospike("profiles", 3);
  v1::Resource stored = redis;
  stored.mutable_redis_database()->set_storage_gb(20);
  stored.mutable_redis_database()->set_storage_class("fast-ssd");
  v1::Resource aero_stored = aero;
  aero_stored.mutable_aerospike_cluster()->set_storage_gb(5);
  aero_stored.mutable_aerospike_cluster()->set_storage_class("local-path");
  EXPECT_EQ(ResourceToCr(stored, Ctx())["spec"]["storageGb"], 20);
  EXPECT_EQ(ResourceToCr(stored, Ctx())["spec"]["storageClass"], "fast-ssd");
  EXPECT_EQ(ResourceToCr(aero_stored, Ctx())["spec"]["storageGb"], 5);
  EXPECT_FALSE(ResourceToCr(redis, Ctx())["spec"].contains("storageGb")) << "0: derived, omitted";
  for (const v1::Resource& r : {redis, aero, stored, aero_stored}) {
    auto back = CrToResource(ResourceToCr(r, Ctx()));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(common::SameResource(*back, r)) << back->DebugString();
  }
}

TEST(ConvertTest, CrWithWrongTypesIsInvalidAndNamed) {
  Json cr = ResourceToCr(Redis("sessions", 512), Ctx());
  cr["spec"]["memoryMb"] = "lots";
  auto r = CrToResource(cr);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_NE(r.status().message().find("spec.memoryMb"), std::string::npos) << r.status();
  cr["kind"] = "Memcached";
  EXPECT_TRUE(absl::IsInvalidArgument(CrToResource(cr).status()));
}

TEST(ConvertTest, ManagedMeansOurManagedByLabelAndOurRegion) {
  Json cr = ResourceToCr(Redis("sessions", 512), Ctx());
  EXPECT_TRUE(IsManagedBy(cr, "aws:us-east-1"));
  EXPECT_TRUE(HasManagedMetadata(cr, "aws:us-east-1"));
  EXPECT_FALSE(IsManagedBy(cr, "gcp:us-central1"));

  // Only the region label removed: the annotation still says which region, a hand edit to undo.
  Json no_region = cr;
  no_region["metadata"]["labels"].erase("senren.io/region");
  EXPECT_TRUE(IsManagedBy(no_region, "aws:us-east-1"));
  EXPECT_FALSE(IsManagedBy(no_region, "gcp:us-central1"));
  EXPECT_FALSE(HasManagedMetadata(no_region, "aws:us-east-1"));
  // A region label naming another region wins over our annotation: one plane claims a CR.
  Json moved = cr;
  moved["metadata"]["labels"]["senren.io/region"] = "gcp.us-central1";
  EXPECT_FALSE(IsManagedBy(moved, "aws:us-east-1"));
  EXPECT_TRUE(IsManagedBy(moved, "gcp:us-central1"));

  // The managed-by label removed: detached from Senren, whatever region marks it still carries.
  Json detached = cr;
  detached["metadata"]["labels"].erase("app.kubernetes.io/managed-by");
  EXPECT_FALSE(IsManagedBy(detached, "aws:us-east-1"));
  detached["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "helm";
  EXPECT_FALSE(IsManagedBy(detached, "aws:us-east-1"));
  detached["metadata"]["labels"].erase("senren.io/region");
  EXPECT_FALSE(IsManagedBy(detached, "aws:us-east-1")) << "the annotation alone is not ours";
  const Json foreign = {{"kind", "RedisDatabase"}, {"metadata", {{"name", "sessions"}}}};
  EXPECT_FALSE(IsManagedBy(foreign, "aws:us-east-1"));
  EXPECT_EQ(ManagedSelector("aws:us-east-1"),
            "app.kubernetes.io/managed-by=senren,senren.io/region=aws.us-east-1");
  EXPECT_EQ(StateVersionOf(cr), 7u);
}

}  // namespace
}  // namespace senren::regional::plane
