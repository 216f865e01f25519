#include "common/diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/resources.h"
#include "test_resources.h"

namespace senren::common {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::Aerospike;
using testing::Redis;

std::vector<v1::Resource> Sorted(std::vector<v1::Resource> v) {
  SortResources(&v);
  return v;
}

TEST(Diff, IdenticalSetsHaveNoChanges) {
  auto a = Sorted({Redis("a"), Aerospike("b")});
  EXPECT_TRUE(DiffResources(a, a).empty());
  EXPECT_TRUE(DiffResources({}, {}).empty());
}

TEST(Diff, CreatedUpdatedDeletedInCanonicalOrder) {
  auto before = Sorted({Redis("a"), Redis("b"), Redis("c"), Aerospike("p")});
  auto after = Sorted({Redis("b", 1024), Redis("c"), Redis("d"), Aerospike("a"), Aerospike("p", 5)});
  ResourceSetDiff d = DiffResources(before, after);
  EXPECT_THAT(CreatedIds(d), ElementsAre("RedisDatabase/d", "AerospikeCluster/a"));
  EXPECT_THAT(UpdatedIds(d), ElementsAre("RedisDatabase/b", "AerospikeCluster/p"));
  EXPECT_THAT(DeletedIds(d), ElementsAre("RedisDatabase/a"));
  EXPECT_EQ(d.updated[0].before.redis_database().memory_mb(), 512u);
  EXPECT_EQ(d.updated[0].after.redis_database().memory_mb(), 1024u);
  EXPECT_EQ(d.size(), 5u);
}

TEST(Diff, SameNameDifferentKindIsTwoResources) {
  auto d = DiffResources(Sorted({Redis("x")}), Sorted({Aerospike("x")}));
  EXPECT_THAT(CreatedIds(d), ElementsAre("AerospikeCluster/x"));
  EXPECT_THAT(DeletedIds(d), ElementsAre("RedisDatabase/x"));
  EXPECT_THAT(d.updated, IsEmpty());
}

TEST(Diff, EverythingDeletedAndEverythingCreated) {
  auto a = Sorted({Redis("a"), Redis("b")});
  EXPECT_EQ(DiffResources(a, {}).deleted.size(), 2u);
  EXPECT_EQ(DiffResources({}, a).created.size(), 2u);
}

TEST(Diff, LargeSetsDiffInOnePass) {
  std::vector<v1::Resource> before;
  std::vector<v1::Resource> after;
  for (int i = 0; i < 10000; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "r%05d", i);
    before.push_back(Redis(name));
    after.push_back(Redis(name, i % 100 == 0 ? 1024 : 512));
  }
  auto d = DiffResources(before, after);
  EXPECT_EQ(d.updated.size(), 100u);
  EXPECT_TRUE(d.created.empty());
  EXPECT_TRUE(d.deleted.empty());
}

}  // namespace
}  // namespace senren::common
