#include "regional/plane/reconcile_plan.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace senren::regional::plane {
namespace {

using testing::Aerospike;
using testing::Redis;

constexpr char kRegion[] = "aws:us-east-1";

ObjectPtr Cr(const v1::Resource& r, uint64_t version = 1, const std::string& region = kRegion) {
  Json cr = ResourceToCr(r, {region, "senren", version, ""});
  cr["metadata"]["uid"] = "uid-" + r.name();
  cr["metadata"]["resourceVersion"] = "10";
  return std::make_shared<const Json>(std::move(cr));
}

PlanInput Input(uint64_t version, std::vector<v1::Resource> desired) {
  PlanInput in;
  in.region = kRegion;
  in.ns = "senren";
  in.version = version;
  in.desired = std::move(desired);
  in.current[v1::RESOURCE_KIND_REDIS_DATABASE] = {};
  in.current[v1::RESOURCE_KIND_AEROSPIKE_CLUSTER] = {};
  return in;
}

std::vector<std::string> ApplyNames(const ReconcilePlan& p) {
  std::vector<std::string> out;
  for (const auto& a : p.applies) out.push_back(KindSlashName(a.kind, a.name));
  return out;
}

std::vector<std::string> DeleteNames(const ReconcilePlan& p) {
  std::vector<std::string> out;
  for (const auto& d : p.deletes) out.push_back(KindSlashName(d.kind, d.name));
  return out;
}

using Names = std::vector<std::string>;

TEST(ReconcilePlanTest, EmptyClusterGetsEveryResourceCreated) {
  const ReconcilePlan p =
      PlanReconcile(Input(3, {Redis("b", 64), Aerospike("a", 1), Redis("a", 64)}));
  EXPECT_EQ(ApplyNames(p), (Names{"RedisDatabase/a", "RedisDatabase/b", "AerospikeCluster/a"}));
  for (const auto& a : p.applies) {
    EXPECT_TRUE(a.create);
    EXPECT_EQ(a.object["metadata"]["annotations"]["senren.io/state-version"], "3");
  }
  EXPECT_TRUE(p.deletes.empty());
  EXPECT_TRUE(p.refused.empty());
}

TEST(ReconcilePlanTest, CrdDefaultsOnTheClusterCompareEqual) {
  // The apiserver filled replicas, version and persistence; the desired spec omits them.
  Json cr = *Cr(Redis("a", 64));
  cr["spec"]["replicas"] = 1;
  cr["spec"]["version"] = "7.2";
  cr["spec"]["persistence"] = "none";
  PlanInput in = Input(5, {Redis("a", 64)});
  in.current[v1::RESOURCE_KIND_REDIS_DATABASE] = {std::make_shared<const Json>(cr)};
  const ReconcilePlan p = PlanReconcile(in);
  EXPECT_TRUE(p.empty()) << ApplyNames(p).size();
  EXPECT_EQ(p.unchanged, 1u);
}

TEST(ReconcilePlanTest, ChangedSpecIsUpdatedAndMissingDesiredDeleted) {
  PlanInput in = Input(2, {Redis("a", 128), Redis("c", 64)});
  in.current[v1::RESOURCE_KIND_REDIS_DATABASE] = {Cr(Redis("a", 64)), Cr(Redis("b", 64)),
                                                  Cr(Redis("c", 64))};
  const ReconcilePlan p = PlanReconcile(in);
  EXPECT_EQ(ApplyNames(p), (Names{"RedisDatabase/a"}));
  EXPECT_FALSE(p.applies[0].create);
  EXPECT_EQ(p.applies[0].why, "spec differs");
  EXPECT_EQ(DeleteNames(p), (Names{"RedisDatabase/b"}));
  EXPECT_EQ(p.deletes[0].uid, "uid-b");
  EXPECT_EQ(p.unchanged, 1u);
}

TEST(ReconcilePlanTest, UnmanagedAndOtherRegionsCrsAreNeverTouched) {
  Json foreign = {{"apiVersion", "senren.io/v1alpha1"},
                  {"kind", "RedisDatabase"},
                  {"metadata", {{"name", "hand-made"}, {"namespace", "senren"}}},
                  {"spec", {{"memoryMb", 64}}}};
  Json taken = foreign;
  taken["metadata"]["name"] = "wanted";
  PlanInput in = Input(4, {Redis("wanted", 64)});
  in.current[v1::RESOURCE_KIND_REDIS_DATABASE] = {std::make_shared<const Json>(foreign),
                                                  std::make_shared<const Json>(taken),
                                                  Cr(Redis("other", 64), 1, "gcp:us-central1")};
  const ReconcilePlan p = PlanReconcile(in);
  EXPECT_TRUE(p.applies.empty());
  EXPECT_TRUE(p.deletes.empty());
  ASSERT_EQ(p.refused.size(), 1u);
  EXPECT_NE(p.refused[0].find("RedisDatabase/wanted"), std::string::npos);
  EXPECT_NE(p.refused[0].find("not managed"), std::string::npos);
}

// A CR a person took out of Senren's hands by removing the managed-by label keeps our
// region label and annotations: it is neither taken back (wanted) nor deleted (no longer
// desired).
TEST(ReconcilePlanTest, CrDetachedByRemovingTheManagedByLabelIsNeverTouched) {
  Json wanted = *Cr(Redis("wanted", 64));
  wanted["metadata"]["labels"].erase("app.kubernetes.io/managed-by");
  wanted["spec"]["memoryMb"] = 32;
  Json dropped = *Cr(Redis("dropped", 64));
  dropped["metadata"]["labels"].erase("app.kubernetes.io/managed-by");
  dropped["metadata"]["labels"].erase("senren.io/region");  // only the annotation is left
  PlanInput in = Input(5, {Redis("wanted", 64)});
  in.current[v1::RESOURCE_KIND_REDIS_DATABASE] = {std::make_shared<const Json>(wanted),
                                                  std::make_shared<const Json>(dropped)};
  const ReconcilePlan p = PlanReconcile(in);
  EXPECT_TRUE(p.applies.empty()) << ApplyNames(p)[0];
  EXPECT_TRUE(p.deletes.empty()) << DeleteNames(p)[0];
  ASSERT_EQ(p.refused.size(), 1u);
  EXPECT_NE(p.refused[0].find("RedisDatabase/wanted"), std::string::npos);
}

TEST(ReconcilePlanTest, MissingCrdRefusesThatKindOnlyAndDeletesNothingOfIt) {
  PlanInput in = Input(6, {Redis("a", 64), Aerospike("p", 1)});
  in.current.erase(v1::RESOURCE_KIND_AEROSPIKE_CLUSTER);
  in.missing_kinds.insert(v1::RESOURCE_KIND_AEROSPIKE_CLUSTER);
  const ReconcilePlan p = PlanReconcile(in);
  EXPECT_EQ(ApplyNames(p), (Names{"RedisDatabase/a"}));
  EXPECT_EQ(p.rejected_missing_kind, 1u);
  ASSERT_EQ(p.refused.size(), 1u);
  EXPECT_NE(p.refused[0].find("no CRD for AerospikeCluster"), std::string::npos);
}

TEST(ReconcilePlanTest, HandRemovedLabelIsPutBack) {
  Json cr = *Cr(Redis("a", 64));
  cr["metadata"]["labels"].erase("senren.io/region");
  PlanInput in = Input(2, {Redis("a", 64)});
  in.current[v1::RESOURCE_KIND_REDIS_DATABASE] = {std::make_shared<const Json>(cr)};
  const ReconcilePlan p = PlanReconcile(in);
  EXPECT_EQ(ApplyNames(p), (Names{"RedisDatabase/a"}));
  EXPECT_EQ(p.applies[0].why, "metadata differs");
  EXPECT_FALSE(p.applies[0].create);
}

TEST(ReconcilePlanTest, UnreadableManagedCrIsRewrittenOrDeleted) {
  Json bad = *Cr(Redis("a", 64));
  bad["spec"]["memoryMb"] = "x";
  Json gone = *Cr(Redis("z", 64));
  gone["spec"]["memoryMb"] = "x";
  PlanInput in = Input(2, {Redis("a", 64)});
  in.current[v1::RESOURCE_KIND_REDIS_DATABASE] = {std::make_shared<const Json>(bad),
                                                  std::make_shared<const Json>(gone)};
  const ReconcilePlan p = PlanReconcile(in);
  EXPECT_EQ(ApplyNames(p), (Names{"RedisDatabase/a"}));
  EXPECT_EQ(p.applies[0].why, "unreadable");
  EXPECT_EQ(DeleteNames(p), (Names{"RedisDatabase/z"}));
}

TEST(ReconcilePlanTest, PlanOnItsOwnResultIsEmpty) {
  PlanInput in = Input(9, {Redis("a", 64, 2), Aerospike("p", 3), Redis("b", 1024)});
  const ReconcilePlan first = PlanReconcile(in);
  for (const auto& a : first.applies) {
    in.current[a.kind].push_back(std::make_shared<const Json>(a.object));
  }
  in.version = 10;  // a new version with the same resources writes nothing
  const ReconcilePlan second = PlanReconcile(in);
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(second.unchanged, 3u);
}

TEST(ReconcilePlanTest, EmptyDesiredDeletesEveryManagedCr) {
  // Only an explicit snapshot gets here: the plane never plans without one.
  PlanInput in = Input(3, {});
  in.current[v1::RESOURCE_KIND_REDIS_DATABASE] = {Cr(Redis("a", 64))};
  const ReconcilePlan p = PlanReconcile(in);
  EXPECT_EQ(DeleteNames(p), (Names{"RedisDatabase/a"}));
}

}  // namespace
}  // namespace senren::regional::plane
