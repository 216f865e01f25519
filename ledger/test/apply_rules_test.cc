#include "ledger/apply_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/resources.h"
#include "common/testing/resources.h"

namespace senren::ledger {
namespace {

using common::testing::Redis;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

google::protobuf::RepeatedPtrField<v1::Resource> Field(std::vector<v1::Resource> v) {
  return {v.begin(), v.end()};
}

std::vector<v1::Resource> Region(int n) {
  std::vector<v1::Resource> out;
  for (int i = 0; i < n; ++i) {
    auto r = Redis("r" + std::to_string(100 + i));
    common::Canonicalize(&r);
    out.push_back(r);
  }
  return out;
}

TEST(PrepareResources, CanonicalizesSortsAndValidates) {
  auto out = PrepareResources("aws:us-east-1", Field({Redis("b"), Redis("a")}));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name(), "a");
  EXPECT_EQ((*out)[0].redis_database().replicas(), 1u);
  EXPECT_EQ(PrepareResources("bad", Field({})).status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = PrepareResources("aws:x", Field({Redis("a", 1)}));
  EXPECT_THAT(bad.status().message(), HasSubstr("RedisDatabase/a"));
  EXPECT_THAT(bad.status().message(), HasSubstr("spec.memory_mb"));
}

TEST(CheckExpectedVersion, AbortedNamesTheCurrentVersion) {
  EXPECT_TRUE(CheckExpectedVersion("aws:x", std::nullopt, 4).ok());
  EXPECT_TRUE(CheckExpectedVersion("aws:x", 4, 4).ok());
  absl::Status s = CheckExpectedVersion("aws:x", 3, 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(s.message(), HasSubstr("at version 4"));
}

TEST(CheckGuards, EmptyingNeedsAllowEmpty) {
  auto current = Region(3);
  auto diff = common::DiffResources(current, {});
  absl::Status s = CheckGuards("aws:x", 3, diff, 0, false, false, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("all 3 resources"));
  EXPECT_TRUE(CheckGuards("aws:x", 3, diff, 0, true, false, {}).ok());
}

TEST(CheckGuards, MassDeleteOverHalfOfTenOrMore) {
  auto current = Region(10);
  std::vector<v1::Resource> keep5(current.begin(), current.begin() + 5);
  std::vector<v1::Resource> keep4(current.begin(), current.begin() + 4);
  EXPECT_TRUE(
      CheckGuards("aws:x", 10, common::DiffResources(current, keep5), 5, false, false, {}).ok());
  absl::Status s =
      CheckGuards("aws:x", 10, common::DiffResources(current, keep4), 4, false, false, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("delete 6 of the 10"));
  EXPECT_TRUE(
      CheckGuards("aws:x", 10, common::DiffResources(current, keep4), 4, false, true, {}).ok());
  // Small regions are not guarded.
  auto small = Region(9);
  std::vector<v1::Resource> one(small.begin(), small.begin() + 1);
  EXPECT_TRUE(CheckGuards("aws:x", 9, common::DiffResources(small, one), 1, false, false, {}).ok());
}

TEST(RequestFingerprint, StableAndSensitive) {
  auto a = Region(2);
  const std::string f = RequestFingerprint("aws:x", a, std::nullopt, "me", "m", false, false);
  EXPECT_EQ(f, RequestFingerprint("aws:x", a, std::nullopt, "me", "m", false, false));
  EXPECT_EQ(f.size(), 32u);
  EXPECT_NE(f, RequestFingerprint("aws:x", a, 1, "me", "m", false, false));
  EXPECT_NE(f, RequestFingerprint("aws:x", Region(3), std::nullopt, "me", "m", false, false));
  EXPECT_NE(f, RequestFingerprint("aws:y", a, std::nullopt, "me", "m", false, false));
  EXPECT_NE(f, RequestFingerprint("aws:x", a, std::nullopt, "me", "m", true, false));
}

TEST(ToResourceChanges, CarriesBeforeAndAfter) {
  auto before = Region(2);
  auto after = before;
  after[0].mutable_redis_database()->set_memory_mb(128);
  after.pop_back();
  auto changes = ToResourceChanges(common::DiffResources(before, after));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].type(), v1::ResourceChange::TYPE_UPDATED);
  EXPECT_EQ(changes[0].before().redis_database().memory_mb(), 64u);
  EXPECT_EQ(changes[0].after().redis_database().memory_mb(), 128u);
  EXPECT_EQ(changes[1].type(), v1::ResourceChange::TYPE_DELETED);
  EXPECT_FALSE(changes[1].has_after());
  v1::ApplyStateResponse r;
  FillNames(common::DiffResources(before, after), &r);
  EXPECT_THAT(r.updated(), ElementsAre("RedisDatabase/r100"));
  EXPECT_THAT(r.deleted(), ElementsAre("RedisDatabase/r101"));
}

TEST(CheckRecordedFields, AcceptsTheLimitAndNamesTheFieldPastIt) {
  const std::string key(FieldLimits::kIdempotencyKey, 'k');
  EXPECT_TRUE(CheckRecordedFields("a", std::string(FieldLimits::kMessage, 'm'), key, "").ok());
  absl::Status s = CheckRecordedFields("a", "m", key + "k", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("field idempotency_key: 257 bytes, at most 256"));
  EXPECT_THAT(CheckRecordedFields(std::string(257, 'a'), "", "", "").message(),
              HasSubstr("field author"));
  EXPECT_THAT(CheckRecordedFields("", "", "", std::string(257, 't')).message(),
              HasSubstr("field traceparent"));
}

}  // namespace
}  // namespace senren::ledger
