#include "common/diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/resources.h"
#include "common/testing/resources.h"

namespace senren::common {
namespace {

using ::testing::ElementsAre;
using testing::FullAerospike;
using testing::FullRedis;
using ::testing::IsEmpty;

std::vector<v1::Resource> Sorted(std::vector<v1::Resource> v) {
  SortResources(&v);
  return v;
}

TEST(Diff, IdenticalSetsHaveNoChanges) {
  auto a = Sorted({FullRedis("a"), FullAerospike("b")});
  EXPECT_TRUE(DiffResources(a, a).empty());
  EXPECT_TRUE(DiffResources({}, {}).empty());
}

TEST(Diff, CreatedUpdatedDeletedInCanonicalOrder) {
  auto before = Sorted({FullRedis("a"), FullRedis("b"), FullRedis("c"), FullAerospike("p")});
  auto after = Sorted({FullRedis("b", 1024), FullRedis("c"), FullRedis("d"), FullAerospike("a"),
                       FullAerospike("p", 5)});
  ResourceSetDiff d = DiffResources(before, after);
  EXPECT_THAT(CreatedIds(d), ElementsAre("RedisDatabase/d", "AerospikeCluster/a"));
  EXPECT_THAT(UpdatedIds(d), ElementsAre("RedisDatabase/b", "AerospikeCluster/p"));
  EXPECT_THAT(DeletedIds(d), ElementsAre("RedisDatabase/a"));
  EXPECT_EQ(d.updated[0].before.redis_database().memory_mb(), 512u);
  EXPECT_EQ(d.updated[0].after.redis_database().memory_mb(), 1024u);
  EXPECT_EQ(d.size(), 5u);
}

TEST(Diff, SameNameDifferentKindIsTwoResources) {
  auto d = DiffResources(Sorted({FullRedis("x")}), Sorted({FullAerospike("x")}));
  EXPECT_THAT(CreatedIds(d), ElementsAre("AerospikeCluster/x"));
  EXPECT_THAT(DeletedIds(d), ElementsAre("RedisDatabase/x"));
  EXPECT_THAT(d.updated, IsEmpty());
}

TEST(Diff, EverythingDeletedAndEverythingCreated) {
  auto a = Sorted({FullRedis("a"), FullRedis("b")});
  EXPECT_EQ(DiffResources(a, {}).deleted.size(), 2u);
  EXPECT_EQ(DiffResources({}, a).created.size(), 2u);
}

TEST(Diff, LargeSetsDiffInOnePass) {
  std::vector<v1::Resource> before;
  std::vector<v1::Resource> after;
  for (int i = 0; i < 10000; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "r%05d", i);
    before.push_back(FullRedis(name));
    after.push_back(FullRedis(name, i % 100 == 0 ? 1024 : 512));
  }
  auto d = DiffResources(before, after);
  EXPECT_EQ(d.updated.size(), 100u);
  EXPECT_TRUE(d.created.empty());
  EXPECT_TRUE(d.deleted.empty());
}

}  // namespace
}  // namespace senren::common
