// The pure audit logic (ledger/audit.h) and the FakeLedgerStore's history filters and
// blame, which the PostgreSQL store is compared against in tests/ledger.
#include "ledger/audit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/state_file.h"
#include "common/testing/resources.h"
#include "testing/fake_ledger_store.h"

namespace senren::ledger {
namespace {

using common::testing::Aerospike;
using common::testing::Redis;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ParseResourceKeyTest, KindSlashName) {
  auto key = ParseResourceKey("RedisDatabase/sessions", "resource");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, v1::RESOURCE_KIND_REDIS_DATABASE);
  EXPECT_EQ(key->name, "sessions");
  for (const char* bad : {"sessions", "Redis/sessions", "RedisDatabase/", "/x", ""}) {
    auto k = ParseResourceKey(bad, "resource");
    EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(k.status().message()), ::testing::HasSubstr("field resource"));
  }
}

TEST(ChangedFieldsTest, NamesEveryDifferingPathInStateFileVocabulary) {
  EXPECT_THAT(ChangedFields(Redis("a", 64, 1), Redis("a", 64, 1)), IsEmpty());
  EXPECT_THAT(ChangedFields(Redis("a", 64, 1), Redis("a", 128, 3)),
              ElementsAre("memory_mb", "replicas"));
  v1::Resource with_class = Redis("a", 64, 1);
  with_class.mutable_redis_database()->set_storage_class("fast");
  EXPECT_THAT(ChangedFields(Redis("a", 64, 1), with_class), ElementsAre("storage_class"));
  EXPECT_THAT(ChangedFields(Aerospike("x", 3, 1, 64), Aerospike("x", 3, 2, 64)),
              ElementsAre("namespaces[0].replication_factor"));
  auto fields = common::SpecFields(Aerospike("x", 3, 1, 64));
  EXPECT_EQ(fields.at("size"), 3);  // a number, not "3"
  EXPECT_EQ(fields.at("namespaces[0].name"), "users");
}

TEST(ResourceChangeAtTest, CreatedUpdatedDeleted) {
  const v1::Resource a = Redis("a", 64);
  const v1::Resource b = Redis("a", 128);
  auto created = ResourceChangeAt(1, v1::RESOURCE_KIND_REDIS_DATABASE, "a", nullptr, &a);
  EXPECT_EQ(created.change().type(), v1::ResourceChange::TYPE_CREATED);
  EXPECT_FALSE(created.change().has_before());
  auto updated = ResourceChangeAt(2, v1::RESOURCE_KIND_REDIS_DATABASE, "a", &a, &b);
  EXPECT_EQ(updated.change().type(), v1::ResourceChange::TYPE_UPDATED);
  EXPECT_THAT(updated.changed_fields(), ElementsAre("memory_mb"));
  auto deleted = ResourceChangeAt(3, v1::RESOURCE_KIND_REDIS_DATABASE, "a", &b, nullptr);
  EXPECT_EQ(deleted.change().type(), v1::ResourceChange::TYPE_DELETED);
  EXPECT_EQ(deleted.change().before().redis_database().memory_mb(), 128u);
  EXPECT_EQ(deleted.version(), 3u);
}

TEST(BlameWalkTest, AValueSetAgainCountsFromItsLatestSetting) {
  // memory_mb: 64 (v2), 128 (v5), 64 again (v9): v9 set today's value, not v2.
  BlameWalk walk(Redis("a", 64, 3), 9);
  const v1::Resource v7 = Redis("a", 128, 3);
  const v1::Resource v5 = Redis("a", 128, 1);
  EXPECT_FALSE(walk.Older(7, &v7));  // memory differs: v9 set it
  EXPECT_FALSE(walk.Older(5, &v5));  // replicas differ: v7 set it; version never changed
  EXPECT_EQ(walk.fields().at("memory_mb").set_by, 9u);
  EXPECT_EQ(walk.fields().at("replicas").set_by, 7u);
  EXPECT_EQ(walk.fields().at("version").set_by, 0u);  // not yet known
  EXPECT_EQ(walk.created_version(), 0u);
}

TEST(BlameWalkTest, StopsOnceEveryFieldIsAttributed) {
  v1::Resource current = common::testing::FullRedis("a", 256, 3);
  BlameWalk walk(current, 9);
  v1::Resource v7 = common::testing::FullRedis("a", 128, 3);
  v7.mutable_redis_database()->set_version("7.0");
  v7.mutable_redis_database()->set_persistence(v1::REDIS_PERSISTENCE_RDB);
  v1::Resource v4 = common::testing::FullRedis("a", 128, 1);
  EXPECT_FALSE(walk.Older(7, &v7));  // memory, version, persistence: by 9
  EXPECT_TRUE(walk.Older(4, &v4));   // replicas: by 7
  EXPECT_TRUE(walk.Done());
  EXPECT_EQ(walk.fields().at("version").set_by, 9u);
  EXPECT_EQ(walk.fields().at("replicas").set_by, 7u);
}

TEST(BlameWalkTest, ASerializationSeenBeforeIsNotComparedAgain) {
  BlameWalk walk(Redis("a", 256, 3), 9);
  const std::string v7 = Redis("a", 128, 3).SerializeAsString();
  const std::string v5 = Redis("a", 64, 3).SerializeAsString();
  EXPECT_FALSE(*walk.OlderSerialized(7, v7));  // memory_mb by 9
  EXPECT_FALSE(*walk.OlderSerialized(5, v5));
  EXPECT_FALSE(*walk.OlderSerialized(3, v7));  // seen: still nothing new
  walk.Finish();
  EXPECT_EQ(walk.fields().at("memory_mb").set_by, 9u);
  EXPECT_EQ(walk.fields().at("replicas").set_by, 3u);  // unchanged back to the creation
  EXPECT_EQ(walk.created_version(), 3u);
  BlameWalk bad(Redis("a", 256, 3), 9);
  EXPECT_EQ(bad.OlderSerialized(7, "\xff\xff").status().code(), absl::StatusCode::kDataLoss);
}

TEST(BlameWalkTest, UnchangedFieldsGoToTheCreation) {
  v1::Resource current = common::testing::FullRedis("a", 256, 3);
  BlameWalk walk(current, 9);
  v1::Resource v7 = common::testing::FullRedis("a", 128, 3);
  v1::Resource v2 = common::testing::FullRedis("a", 128, 1);
  EXPECT_FALSE(walk.Older(7, &v7));  // v9 set memory_mb
  EXPECT_FALSE(walk.Older(2, &v2));  // v7 set replicas
  walk.Finish();                     // nothing older: v2 created it
  EXPECT_EQ(walk.created_version(), 2u);
  EXPECT_EQ(walk.fields().at("memory_mb").set_by, 9u);
  EXPECT_EQ(walk.fields().at("replicas").set_by, 7u);
  EXPECT_EQ(walk.fields().at("version").set_by, 2u);
  EXPECT_EQ(walk.fields().at("persistence").set_by, 2u);
  EXPECT_EQ(walk.fields().at("memory_mb").value, 256);
}

TEST(BlameWalkTest, ADeleteEndsTheWalkAtTheRecreation) {
  v1::Resource current = common::testing::FullRedis("a", 128, 1);
  BlameWalk walk(current, 9);
  v1::Resource v6 = common::testing::FullRedis("a", 64, 1);
  EXPECT_FALSE(walk.Older(6, &v6));
  EXPECT_TRUE(walk.Older(4, nullptr));  // deleted in 4: v6 recreated it
  EXPECT_EQ(walk.created_version(), 6u);
  EXPECT_EQ(walk.fields().at("memory_mb").set_by, 9u);
  EXPECT_EQ(walk.fields().at("replicas").set_by, 6u);
}

class FakeAuditTest : public ::testing::Test {
 protected:
  void Put(std::vector<v1::Resource> resources, const std::string& author) {
    v1::ApplyStateRequest req;
    req.set_region("aws:x");
    req.set_author(author);
    req.set_allow_empty(true);
    req.set_allow_mass_delete(true);
    for (auto& r : resources) *req.add_resources() = std::move(r);
    ASSERT_TRUE(store_.ApplyState(req, {"x", ""}).ok());
  }
  testing::FakeLedgerStore store_;
};

TEST_F(FakeAuditTest, HistoryFiltersAndBlame) {
  Put({Redis("a", 64), Redis("b", 64)}, "alice");       // 1
  Put({Redis("a", 128), Redis("b", 64)}, "bob");        // 2
  Put({Redis("a", 128), Redis("b", 256)}, "alice");     // 3
  Put({Redis("b", 256)}, "bob");                        // 4: a deleted
  Put({Redis("a", 128, 3), Redis("b", 256)}, "carol");  // 5: a again
  v1::GetHistoryRequest h;
  h.set_region("aws:x");
  h.set_resource("RedisDatabase/a");
  auto page = store_.GetHistory(h);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->versions_size(), 4);
  ASSERT_EQ(page->changes_size(), 4);
  EXPECT_EQ(page->versions(0).version(), 5u);
  EXPECT_EQ(page->changes(0).change().type(), v1::ResourceChange::TYPE_CREATED);
  EXPECT_EQ(page->changes(1).change().type(), v1::ResourceChange::TYPE_DELETED);
  EXPECT_EQ(page->changes(2).version(), 2u);
  EXPECT_THAT(page->changes(2).changed_fields(), ElementsAre("memory_mb"));
  h.set_author("bob");
  page = store_.GetHistory(h);
  ASSERT_EQ(page->versions_size(), 2);
  EXPECT_EQ(page->versions(0).version(), 4u);

  v1::BlameRequest b;
  b.set_region("aws:x");
  b.set_resource("RedisDatabase/b");
  auto blame = store_.Blame(b);
  ASSERT_TRUE(blame.ok()) << blame.status();
  EXPECT_EQ(blame->created_by().version(), 1u);
  ASSERT_EQ(blame->fields_size(), 4);  // memory_mb, persistence, replicas, version
  EXPECT_EQ(blame->fields(0).field(), "memory_mb");
  EXPECT_EQ(blame->fields(0).value_json(), "256");
  EXPECT_EQ(blame->fields(0).set_by().version(), 3u);
  EXPECT_EQ(blame->fields(0).set_by().author(), "alice");
  EXPECT_EQ(blame->fields(2).field(), "replicas");
  EXPECT_EQ(blame->fields(2).set_by().version(), 1u);
  b.set_resource("RedisDatabase/a");
  b.set_version(4);
  EXPECT_EQ(store_.Blame(b).status().code(), absl::StatusCode::kNotFound);
  b.set_version(0);
  blame = store_.Blame(b);
  ASSERT_TRUE(blame.ok()) << blame.status();
  EXPECT_EQ(blame->created_by().version(), 5u);
  EXPECT_EQ(blame->fields(0).set_by().version(), 5u);  // recreated: everything by 5
}

}  // namespace
}  // namespace senren::ledger
