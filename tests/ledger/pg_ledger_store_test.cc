// PgLedgerStore against the lab's PostgreSQL: docs/design.md §3 semantics, append-only and gapless
// enforcement in the database, checkpoints, NOTIFY, and concurrent appliers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/resources.h"
#include "ledger/chain.h"
#include "ledger_test_util.h"

namespace senren::ledger {
namespace {

using testing::Apply;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Redis;
using testing::TestSchema;

const WriteContext kCtx{"test-author", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};

class PgLedgerStoreTest : public ::testing::Test {
 protected:
  TestSchema schema_;
  std::unique_ptr<PgLedgerStore> store_ = schema_.Store();
};

TEST_F(PgLedgerStoreTest, AppliesVersionsAndSkipsUnchangedStates) {
  auto r1 = store_->ApplyState(Apply("aws:us-east-1", {Redis("sessions"), Redis("cache")}, "first"),
                               kCtx);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->version(), 1u);
  EXPECT_TRUE(r1->changed());
  EXPECT_THAT(r1->created(), ElementsAre("RedisDatabase/cache", "RedisDatabase/sessions"));

  auto same = store_->ApplyState(Apply("aws:us-east-1", {Redis("cache"), Redis("sessions")}), kCtx);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(same->changed());
  EXPECT_EQ(same->version(), 1u);

  auto r2 = store_->ApplyState(
      Apply("aws:us-east-1", {Redis("sessions", 128), Redis("new")}, "second"), kCtx);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->version(), 2u);
  EXPECT_THAT(r2->created(), ElementsAre("RedisDatabase/new"));
  EXPECT_THAT(r2->updated(), ElementsAre("RedisDatabase/sessions"));
  EXPECT_THAT(r2->deleted(), ElementsAre("RedisDatabase/cache"));

  v1::GetHistoryRequest h;
  h.set_region("aws:us-east-1");
  auto history = store_->GetHistory(h);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->versions_size(), 2);
  const auto& v2 = history->versions(0);
  EXPECT_EQ(v2.version(), 2u);
  EXPECT_EQ(v2.author(), "test-author");
  EXPECT_EQ(v2.message(), "second");
  EXPECT_EQ(v2.origin(), v1::ORIGIN_APPLY);
  EXPECT_EQ(v2.created(), 1u);
  EXPECT_EQ(v2.updated(), 1u);
  EXPECT_EQ(v2.deleted(), 1u);
  EXPECT_EQ(v2.resource_count(), 2u);
  EXPECT_EQ(v2.traceparent(), kCtx.traceparent);
  EXPECT_GT(v2.created_at().seconds(), 1'700'000'000);
  EXPECT_EQ(history->versions(1).version(), 1u);
  EXPECT_EQ(history->next_page_token(), "");

  auto state = store_->GetState("aws:us-east-1", 0);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->version(), 2u);
  ASSERT_EQ(state->resources_size(), 2);
  EXPECT_EQ(state->resources(0).name(), "new");
  EXPECT_EQ(state->resources(1).redis_database().memory_mb(), 128u);
  EXPECT_EQ(state->message(), "second");

  auto regions = store_->ListRegions();
  ASSERT_TRUE(regions.ok());
  ASSERT_EQ(regions->regions_size(), 1);
  EXPECT_EQ(regions->regions(0).current_version(), 2u);
  EXPECT_EQ(regions->regions(0).resource_count(), 2u);
}

TEST_F(PgLedgerStoreTest, AuthorFromRequestWinsOverContext) {
  auto req = Apply("aws:x", {Redis("a")});
  req.set_author("alice");
  ASSERT_TRUE(store_->ApplyState(req, kCtx).ok());
  EXPECT_EQ(store_->GetState("aws:x", 1)->author(), "alice");
}

TEST_F(PgLedgerStoreTest, ExpectedVersionMismatchIsAbortedAndWritesNothing) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a")}), kCtx).ok());
  auto req = Apply("aws:x", {Redis("b")});
  req.set_expected_version(0);
  auto r = store_->ApplyState(req, kCtx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(r.status().message(), HasSubstr("at version 1"));
  req.set_expected_version(1);
  auto ok = store_->ApplyState(req, kCtx);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->version(), 2u);
  EXPECT_EQ(store_->GetState("aws:x", 0)->version(), 2u);
}

TEST_F(PgLedgerStoreTest, PlanGivesBaseVersionThatAppliesExactlyThePlan) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a"), Redis("b")}), kCtx).ok());
  auto desired = Apply("aws:x", {Redis("a", 256), Redis("c")});
  auto plan = store_->PlanState(desired);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->base_version(), 1u);
  EXPECT_THAT(plan->created(), ElementsAre("RedisDatabase/c"));
  EXPECT_THAT(plan->updated(), ElementsAre("RedisDatabase/a"));
  EXPECT_THAT(plan->deleted(), ElementsAre("RedisDatabase/b"));
  ASSERT_EQ(plan->changes_size(), 3);
  EXPECT_EQ(plan->changes(1).before().redis_database().memory_mb(), 64u);
  EXPECT_EQ(store_->GetState("aws:x", 0)->version(), 1u);  // nothing written

  // Someone else moves the region on: applying the stale plan fails.
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a"), Redis("b"), Redis("z")}), kCtx).ok());
  desired.set_expected_version(plan->base_version());
  EXPECT_EQ(store_->ApplyState(desired, kCtx).status().code(), absl::StatusCode::kAborted);

  auto replan = store_->PlanState(desired);  // expected 1, current 2
  EXPECT_EQ(replan.status().code(), absl::StatusCode::kAborted);
  desired.clear_expected_version();
  replan = store_->PlanState(desired);
  ASSERT_TRUE(replan.ok());
  desired.set_expected_version(replan->base_version());
  auto applied = store_->ApplyState(desired, kCtx);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->version(), 3u);
  EXPECT_EQ(applied->deleted_size(), replan->deleted_size());
}

TEST_F(PgLedgerStoreTest, DryRunWritesNothing) {
  auto req = Apply("aws:x", {Redis("a")});
  req.set_dry_run(true);
  auto r = store_->ApplyState(req, kCtx);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->changed());
  EXPECT_EQ(r->version(), 0u);
  EXPECT_EQ(store_->GetState("aws:x", 0)->version(), 0u);
}

TEST_F(PgLedgerStoreTest, IdempotencyKeyReturnsTheFirstAnswer) {
  auto req = Apply("aws:x", {Redis("a")});
  req.set_idempotency_key("deploy-42");
  auto first = store_->ApplyState(req, kCtx);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a"), Redis("b")}), kCtx).ok());  // v2
  auto again = store_->ApplyState(req, kCtx);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->version(), 1u);
  EXPECT_TRUE(again->changed());
  EXPECT_THAT(again->created(), ElementsAre("RedisDatabase/a"));
  EXPECT_EQ(store_->GetState("aws:x", 0)->version(), 2u);  // nothing written

  auto other = Apply("aws:x", {Redis("c")});
  other.set_idempotency_key("deploy-42");
  auto conflict = store_->ApplyState(other, kCtx);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(conflict.status().message(), HasSubstr("idempotency_key"));

  // The same key in another region is another key.
  auto elsewhere = req;
  elsewhere.set_region("aws:y");
  EXPECT_TRUE(store_->ApplyState(elsewhere, kCtx)->changed());
  EXPECT_EQ(store_
                ->GetHistory([] {
                  v1::GetHistoryRequest h;
                  h.set_region("aws:x");
                  return h;
                }())
                ->versions(0)
                .idempotency_key(),
            "");
}

TEST_F(PgLedgerStoreTest, EmptyingARegionNeedsAllowEmpty) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a")}), kCtx).ok());
  auto empty = Apply("aws:x", {});
  auto r = store_->ApplyState(empty, kCtx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("allow_empty"));
  empty.set_allow_empty(true);
  auto ok = store_->ApplyState(empty, kCtx);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->version(), 2u);
  EXPECT_EQ(store_->GetState("aws:x", 0)->resources_size(), 0);
}

TEST_F(PgLedgerStoreTest, MassDeleteGuardNamesTheCount) {
  std::vector<v1::Resource> twenty;
  for (int i = 0; i < 20; ++i) twenty.push_back(Redis("db" + std::to_string(i)));
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", twenty), kCtx).ok());
  std::vector<v1::Resource> nine(twenty.begin(), twenty.begin() + 9);
  auto req = Apply("aws:x", nine);
  auto r = store_->ApplyState(req, kCtx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("delete 11 of the 20"));
  EXPECT_EQ(store_->PlanState(req).status().code(), absl::StatusCode::kFailedPrecondition);
  std::vector<v1::Resource> ten(twenty.begin(), twenty.begin() + 10);
  EXPECT_TRUE(store_->ApplyState(Apply("aws:x", ten), kCtx).ok());  // exactly 50 %: allowed
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", twenty), kCtx).ok());
  req.set_allow_mass_delete(true);
  auto ok = store_->ApplyState(req, kCtx);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->deleted_size(), 11);
}

TEST_F(PgLedgerStoreTest, InvalidInputWritesNothing) {
  auto r = store_->ApplyState(Apply("aws:x", {Redis("ok"), Redis("bad", 8)}), kCtx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("RedisDatabase/bad"));
  EXPECT_THAT(r.status().message(), HasSubstr("spec.memory_mb"));
  EXPECT_EQ(store_->ApplyState(Apply("Not a region", {}), kCtx).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListRegions()->regions_size(), 0);
}

TEST_F(PgLedgerStoreTest, RollbackAppendsANewVersionEqualToTheTarget) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a"), Redis("b")}, "one"), kCtx).ok());
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a", 512)}, "two"), kCtx).ok());
  v1::RollbackRequest rb;
  rb.set_region("aws:x");
  rb.set_to_version(1);
  auto r = store_->Rollback(rb, kCtx);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version(), 3u);
  EXPECT_THAT(r->created(), ElementsAre("RedisDatabase/b"));
  EXPECT_THAT(r->updated(), ElementsAre("RedisDatabase/a"));
  auto v1s = store_->GetState("aws:x", 1);
  auto v3s = store_->GetState("aws:x", 3);
  ASSERT_TRUE(v3s.ok());
  ASSERT_EQ(v3s->resources_size(), v1s->resources_size());
  for (int i = 0; i < v1s->resources_size(); ++i) {
    EXPECT_TRUE(common::SameResource(v1s->resources(i), v3s->resources(i)));
  }
  EXPECT_EQ(v3s->origin(), v1::ORIGIN_ROLLBACK);
  EXPECT_EQ(v3s->rollback_of(), 1u);
  EXPECT_EQ(v3s->message(), "rollback to version 1");
  // History is intact.
  EXPECT_EQ(store_->GetState("aws:x", 2)->resources(0).redis_database().memory_mb(), 512u);
  // Rolling back to what is current changes nothing.
  auto again = store_->Rollback(rb, kCtx);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed());
  rb.set_to_version(9);
  EXPECT_EQ(store_->Rollback(rb, kCtx).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgLedgerStoreTest, DiffVersionsListsPerResourceChanges) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a"), Redis("b")}), kCtx).ok());
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a", 512), Redis("c")}), kCtx).ok());
  v1::DiffVersionsRequest d;
  d.set_region("aws:x");
  d.set_from_version(1);
  d.set_to_version(2);
  auto diff = store_->DiffVersions(d);
  ASSERT_TRUE(diff.ok()) << diff.status();
  ASSERT_EQ(diff->changes_size(), 3);
  EXPECT_EQ(diff->changes(0).type(), v1::ResourceChange::TYPE_CREATED);
  EXPECT_EQ(diff->changes(0).name(), "c");
  EXPECT_EQ(diff->changes(1).type(), v1::ResourceChange::TYPE_UPDATED);
  EXPECT_EQ(diff->changes(1).after().redis_database().memory_mb(), 512u);
  EXPECT_EQ(diff->changes(2).type(), v1::ResourceChange::TYPE_DELETED);
  d.set_from_version(0);
  EXPECT_EQ(store_->DiffVersions(d)->changes_size(), 2);
  d.set_to_version(3);
  EXPECT_EQ(store_->DiffVersions(d).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgLedgerStoreTest, HistoryPagesNewestFirst) {
  for (int i = 1; i <= 7; ++i) {
    ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a", 16 * i)}), kCtx).ok());
  }
  v1::GetHistoryRequest h;
  h.set_region("aws:x");
  h.set_page_size(3);
  std::vector<uint64_t> seen;
  for (int page = 0; page < 10; ++page) {
    auto r = store_->GetHistory(h);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& v : r->versions()) seen.push_back(v.version());
    if (r->next_page_token().empty()) break;
    h.set_page_token(r->next_page_token());
  }
  EXPECT_THAT(seen, ElementsAre(7, 6, 5, 4, 3, 2, 1));
  h.set_page_token("garbage");
  EXPECT_EQ(store_->GetHistory(h).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PgLedgerStoreTest, EveryVersionMaterializesFromCheckpointsAndChanges) {
  constexpr int kVersions = 140;
  std::vector<std::vector<v1::Resource>> expected;
  for (int v = 1; v <= kVersions; ++v) {
    std::vector<v1::Resource> rs;
    for (int i = 0; i < 6; ++i) {
      if ((v + i) % 5 == 0) continue;  // resources come and go
      rs.push_back(Redis("db" + std::to_string(i), 16 + ((v * (i + 1)) % 50)));
    }
    auto req = Apply("gcp:us-central1", rs);
    req.set_allow_mass_delete(true);
    auto r = store_->ApplyState(req, kCtx);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->version(), static_cast<uint64_t>(v));
    for (auto& x : rs) common::Canonicalize(&x);
    common::SortResources(&rs);
    expected.push_back(rs);
  }
  // A store without cache reads everything from PostgreSQL.
  auto cold = schema_.Store(2, 0);
  for (int v = 1; v <= kVersions; ++v) {
    auto s = cold->GetState("gcp:us-central1", v);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_EQ(s->resources_size(), static_cast<int>(expected[v - 1].size())) << "version " << v;
    for (size_t i = 0; i < expected[v - 1].size(); ++i) {
      EXPECT_TRUE(common::SameResource(s->resources(static_cast<int>(i)), expected[v - 1][i]))
          << "version " << v << " resource " << i;
    }
  }
  auto rows = schema_.Query("SELECT version FROM checkpoints ORDER BY version");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0][0].as<int>(), 64);
  EXPECT_EQ((*rows)[1][0].as<int>(), 128);
}

TEST_F(PgLedgerStoreTest, TheDatabaseRefusesToRewriteTheLedger) {
  auto req = Apply("aws:x", {Redis("a")});
  req.set_idempotency_key("k");
  ASSERT_TRUE(store_->ApplyState(req, kCtx).ok());
  for (const char* sql :
       {"UPDATE versions SET message = 'rewritten'", "DELETE FROM versions",
        "TRUNCATE versions CASCADE", "UPDATE changes SET spec = NULL", "DELETE FROM changes",
        "DELETE FROM idempotency_keys", "UPDATE checkpoints SET version = 0", "DELETE FROM regions",
        "DELETE FROM versions WHERE false"}) {
    absl::Status s = schema_.Exec(sql);
    EXPECT_FALSE(s.ok()) << "not refused: " << sql;
    EXPECT_THAT(s.message(), HasSubstr("append-only")) << sql;
  }
  // Gapless: neither a version out of sequence nor a head jump.
  for (const char* sql :
       {"INSERT INTO versions (region, version, author, message, origin, created_count, "
        "updated_count, deleted_count, resource_count) VALUES ('aws:x', 5, 'a', 'm', 1, 0, 0, 0, "
        "0)",
        "UPDATE regions SET current_version = 7"}) {
    absl::Status s = schema_.Exec(sql);
    EXPECT_FALSE(s.ok()) << "not refused: " << sql;
    EXPECT_THAT(s.message(), ::testing::AnyOf(HasSubstr("gapless"), HasSubstr("moves from")));
  }
  EXPECT_EQ(store_->GetState("aws:x", 0)->version(), 1u);
}

// The service role (what senren-ledger connects as) has no right to rewrite history,
// whatever the triggers do; the owner is held by the triggers.
TEST_F(PgLedgerStoreTest, TheServiceRoleHasNoRightToRewriteTheLedger) {
  ASSERT_NE(pg::UriUser(schema_.uri()), pg::UriUser(schema_.owner_uri()))
      << "the lab serves as its schema owner; `tools/lab up` creates senren_service";
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a")}), kCtx).ok());
  for (const char* sql : {"UPDATE versions SET message = 'rewritten'", "DELETE FROM versions",
                          "TRUNCATE versions CASCADE", "UPDATE changes SET spec = NULL",
                          "DELETE FROM checkpoints", "DELETE FROM idempotency_keys",
                          "DELETE FROM regions", "ALTER TABLE versions DISABLE TRIGGER USER",
                          "DROP TABLE versions CASCADE", "UPDATE regions SET created_at = now()"}) {
    absl::Status s = schema_.ExecAsService(sql);
    EXPECT_FALSE(s.ok()) << "not refused: " << sql;
    EXPECT_THAT(s.message(),
                ::testing::AnyOf(HasSubstr("permission denied"), HasSubstr("must be owner")))
        << sql;
  }
  EXPECT_EQ(store_->GetState("aws:x", 0)->version(), 1u);
}

// A head row that starts past version 0 would let the next version skip the history.
TEST_F(PgLedgerStoreTest, AHeadRowStartsAtVersionZero) {
  for (auto exec : {&TestSchema::ExecAsService, &TestSchema::Exec}) {
    absl::Status s = (schema_.*exec)("INSERT INTO regions VALUES ('x:y', 5)");
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("starts at version 0"));
    s = (schema_.*exec)(
        "INSERT INTO versions (region, version, author, message, origin, created_count, "
        "updated_count, deleted_count, resource_count) VALUES ('x:y', 6, 'a', 'm', 1, 0, 0, 0, 0)");
    EXPECT_FALSE(s.ok());
  }
  auto rows = schema_.Query("SELECT (SELECT count(*) FROM regions WHERE region = 'x:y') + "
                            "(SELECT count(*) FROM versions WHERE region = 'x:y')");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0][0].as<int>(), 0);
}

// The triggers resolve the ledger's tables in its schema, never through the caller's
// search_path: a temporary `regions` claiming version 4 does not admit version 5.
TEST_F(PgLedgerStoreTest, TriggersIgnoreTheCallersSearchPath) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a")}), kCtx).ok());
  absl::Status s =
      schema_.ExecAsService("CREATE TEMP TABLE regions (region text, current_version bigint); "
                            "INSERT INTO pg_temp.regions VALUES ('aws:x', 4); "
                            "SET LOCAL search_path TO pg_temp, " +
                            pg::QuoteIdent(schema_.name()) +
                            "; "
                            "INSERT INTO " +
                            pg::QuoteIdent(schema_.name()) +
                            ".versions (region, version, author, message, "
                            "origin, created_count, updated_count, deleted_count, resource_count) "
                            "VALUES ('aws:x', 5, 'a', 'm', 1, 0, 0, 0, 0)");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("region aws:x is at version 1"));
}

// Each version's hash covers its content and changes and links to the previous one:
// an edit the triggers could not stop (the owner, with them disabled) is named by verify.
TEST_F(PgLedgerStoreTest, TheHashChainNamesTheFirstTamperedVersion) {
  for (uint32_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        store_->ApplyState(Apply("aws:x", {Redis("a", 16 + i), Redis("b")}, "m"), kCtx).ok());
  }
  for (uint32_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(store_->ApplyState(Apply("aws:y", {Redis("a", 16 + i)}), kCtx).ok());
  }
  auto intact = VerifyChain(schema_.uri(), schema_.name(), "");
  ASSERT_TRUE(intact.ok()) << intact.status();
  EXPECT_EQ(intact->regions, 2u);
  EXPECT_EQ(intact->versions, 5u);
  auto rows = schema_.Query(
      "SELECT count(*) FROM versions v WHERE length(hash) = 32 AND prev_hash = coalesce("
      "(SELECT hash FROM versions p WHERE p.region = v.region AND p.version = v.version - 1), '')");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0][0].as<int>(), 5);

  // The message of version 2 of aws:x.
  ASSERT_TRUE(
      schema_
          .Exec("ALTER TABLE versions DISABLE TRIGGER USER; "
                "UPDATE versions SET message = 'forged' WHERE region = 'aws:x' AND version = 2; "
                "ALTER TABLE versions ENABLE TRIGGER USER")
          .ok());
  auto tampered = VerifyChain(schema_.uri(), schema_.name(), "");
  EXPECT_EQ(tampered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(tampered.status().message(),
              HasSubstr("region aws:x version 2: its content does not match"));
  EXPECT_TRUE(VerifyChain(schema_.uri(), schema_.name(), "aws:y").ok());

  // Its hash recomputed as well: the link of version 3 no longer matches.
  ASSERT_TRUE(schema_
                  .Exec("ALTER TABLE versions DISABLE TRIGGER USER; "
                        "UPDATE versions v SET hash = ledger_version_hash(v, v.prev_hash) "
                        "WHERE region = 'aws:x' AND version = 2; "
                        "ALTER TABLE versions ENABLE TRIGGER USER")
                  .ok());
  tampered = VerifyChain(schema_.uri(), schema_.name(), "aws:x");
  EXPECT_EQ(tampered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(tampered.status().message(),
              HasSubstr("region aws:x version 3: its link does not match"));

  // A change of aws:y's version 2: the state is covered too.
  ASSERT_TRUE(schema_
                  .Exec("ALTER TABLE changes DISABLE TRIGGER USER; "
                        "UPDATE changes SET spec = NULL WHERE region = 'aws:y' AND version = 2; "
                        "ALTER TABLE changes ENABLE TRIGGER USER")
                  .ok());
  tampered = VerifyChain(schema_.uri(), schema_.name(), "aws:y");
  EXPECT_EQ(tampered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(tampered.status().message(),
              HasSubstr("region aws:y version 2: its content does not match"));
  EXPECT_EQ(VerifyChain(schema_.uri(), schema_.name(), "aws:none").status().code(),
            absl::StatusCode::kNotFound);
}

// A writer cannot choose the hash: the insert trigger computes it.
TEST_F(PgLedgerStoreTest, TheHashIsComputedByTheDatabaseNotTheWriter) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:x", {Redis("a")}), kCtx).ok());
  ASSERT_TRUE(
      schema_
          .ExecAsService(
              "INSERT INTO versions (region, version, author, message, origin, created_count, "
              "updated_count, "
              "deleted_count, resource_count, prev_hash, hash) VALUES ('aws:x', 2, 'a', 'm', 1, 0, "
              "0, 0, 1, "
              "'\\x00', '\\x00'); UPDATE regions SET current_version = 2 WHERE region = 'aws:x'")
          .ok());
  auto report = VerifyChain(schema_.uri(), schema_.name(), "aws:x");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->versions, 2u);
}

TEST_F(PgLedgerStoreTest, OverlongRecordedFieldsAreInvalidArgumentNamingTheField) {
  auto with = [](auto set) {
    auto req = Apply("aws:x", {Redis("a")});
    set(req);
    return req;
  };
  const std::pair<v1::ApplyStateRequest, const char*> cases[] = {
      {with([](auto& r) { r.set_author(std::string(257, 'a')); }), "field author: 257 bytes"},
      {with([](auto& r) { r.set_message(std::string(4097, 'm')); }), "field message: 4097 bytes"},
      // Over PostgreSQL's B-tree row limit: was INTERNAL.
      {with([](auto& r) { r.set_idempotency_key(std::string(2700, 'k')); }),
       "field idempotency_key"},
  };
  for (const auto& [req, field] : cases) {
    auto r = store_->ApplyState(req, kCtx);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << field << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(field));
  }
  auto traced =
      store_->ApplyState(Apply("aws:x", {Redis("a")}), WriteContext{"a", std::string(300, 't')});
  EXPECT_EQ(traced.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(traced.status().message(), HasSubstr("field traceparent"));
  v1::RollbackRequest rb;
  rb.set_region("aws:x");
  rb.set_to_version(1);
  rb.set_message(std::string(5000, 'm'));
  EXPECT_EQ(store_->Rollback(rb, kCtx).status().code(), absl::StatusCode::kInvalidArgument);
  auto rows = schema_.Query("SELECT count(*) FROM regions");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0][0].as<int>(), 0);
}

// Intents refused inside a group-commit batch (ABORTED on new regions) leave no head row
// behind, while the batch's other intents commit.
TEST_F(PgLedgerStoreTest, AFailedApplyOfANewRegionLeavesNoHeadRow) {
  auto store = schema_.Store(8, 4096, /*write_transactions=*/1);
  constexpr int kWriters = 16;
  std::vector<std::thread> writers;
  std::vector<absl::StatusCode> codes(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      auto req = Apply("aws:n" + std::to_string(i), {Redis("a")});
      if (i % 2 == 1) req.set_expected_version(5);
      codes[i] = store->ApplyState(req, kCtx).status().code();
    });
  }
  for (auto& t : writers) t.join();
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_EQ(codes[i], i % 2 == 1 ? absl::StatusCode::kAborted : absl::StatusCode::kOk) << i;
  }
  auto rows =
      schema_.Query("SELECT count(*) FILTER (WHERE current_version = 0), count(*) FROM regions");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0][0].as<int>(), 0);
  EXPECT_EQ((*rows)[0][1].as<int>(), kWriters / 2);
}

TEST_F(PgLedgerStoreTest, EachNewVersionIsNotifiedWithTheRegion) {
  auto listener = schema_.Connect();
  std::vector<std::string> payloads;
  listener->Listen("senren_ledger",
                   [&](const std::string& payload) { payloads.push_back(payload); });
  const std::string region = "aws:" + senren::testing::UniqueName("notify");
  ASSERT_TRUE(store_->ApplyState(Apply(region, {Redis("a")}), kCtx).ok());
  ASSERT_TRUE(store_->ApplyState(Apply(region, {Redis("a")}), kCtx).ok());  // unchanged: no notify
  ASSERT_TRUE(store_->ApplyState(Apply(region, {Redis("b")}), kCtx).ok());
  std::vector<std::string> mine;
  while (mine.size() < 2) {
    listener->AwaitNotifications(std::chrono::seconds(5));
    for (auto& p : payloads) {
      if (p == region) mine.push_back(p);
    }
    payloads.clear();
    if (mine.empty() && payloads.empty()) {
      // keep waiting; a missing notification makes the test time out and fail
    }
  }
  EXPECT_EQ(mine.size(), 2u);
}

TEST_F(PgLedgerStoreTest, DifferentRegionsDoNotWaitForEachOther) {
  ASSERT_TRUE(store_->ApplyState(Apply("aws:a", {Redis("a")}), kCtx).ok());
  // Hold region aws:a's head row lock in another transaction.
  auto c = schema_.Connect();
  pg::Transaction holder = c->Begin();
  holder.ExecParams1("SELECT current_version FROM regions WHERE region = 'aws:a' FOR UPDATE");
  std::atomic<bool> a_done{false};
  std::thread a([&] {
    auto r = store_->ApplyState(Apply("aws:a", {Redis("b")}), kCtx);
    EXPECT_TRUE(r.ok()) << r.status();
    a_done = true;
  });
  // aws:b commits while aws:a waits on the lock.
  auto b = store_->ApplyState(Apply("aws:b", {Redis("a")}), kCtx);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->version(), 1u);
  EXPECT_FALSE(a_done.load());
  holder.Commit();
  a.join();
  EXPECT_TRUE(a_done.load());
  EXPECT_EQ(store_->GetState("aws:a", 0)->version(), 2u);
}

// Every applier writes a state that differs from every other, so each apply must append
// exactly one version.
void ExpectGaplessWithEveryMessage(PgLedgerStore& store, const std::string& region,
                                   const std::set<std::string>& messages) {
  std::set<std::string> seen;
  std::vector<uint64_t> versions;
  v1::GetHistoryRequest h;
  h.set_region(region);
  h.set_page_size(1000);
  auto history = store.GetHistory(h);
  ASSERT_TRUE(history.ok()) << history.status();
  for (const auto& v : history->versions()) {
    versions.push_back(v.version());
    seen.insert(v.message());
  }
  ASSERT_EQ(versions.size(), messages.size());
  for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i], versions.size() - i);
  EXPECT_EQ(seen, messages);
}

// Group commit with one write transaction at a time: intents of many regions share a
// transaction, yet a region locked elsewhere holds none of them up, and one intent's
// failed check does not fail the others.
TEST_F(PgLedgerStoreTest, BatchedWritesSkipLockedRegionsAndIsolateFailures) {
  auto store = schema_.Store(8, 4096, /*write_transactions=*/1);
  ASSERT_TRUE(store->ApplyState(Apply("aws:locked", {Redis("a")}), kCtx).ok());
  auto c = schema_.Connect();
  pg::Transaction holder = c->Begin();
  holder.ExecParams1("SELECT current_version FROM regions WHERE region = 'aws:locked' FOR UPDATE");

  std::atomic<bool> locked_done{false};
  std::thread locked([&] {
    auto r = store->ApplyState(Apply("aws:locked", {Redis("b")}), kCtx);
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->version(), 2u);
    locked_done = true;
  });
  constexpr int kRegions = 12;
  std::vector<std::thread> others;
  std::vector<absl::StatusCode> codes(kRegions);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kRegions; ++i) {
      others.emplace_back([&, i, round] {
        auto req =
            Apply("aws:r" + std::to_string(i), {Redis("a", static_cast<uint32_t>(16 + round))});
        if (i == 5 && round == 2) req.set_expected_version(99);  // fails alone
        auto r = store->ApplyState(req, kCtx);
        if (round == 2) codes[i] = r.status().code();
      });
    }
    for (auto& t : others) t.join();
    others.clear();
  }
  for (int i = 0; i < kRegions; ++i) {
    EXPECT_EQ(codes[i], i == 5 ? absl::StatusCode::kAborted : absl::StatusCode::kOk) << i;
    EXPECT_EQ(store->GetState("aws:r" + std::to_string(i), 0)->version(), i == 5 ? 2u : 3u) << i;
  }
  EXPECT_FALSE(locked_done.load());
  holder.Commit();
  locked.join();
  EXPECT_TRUE(locked_done.load());
  EXPECT_EQ(schema_.Store()->GetState("aws:locked", 0)->version(), 2u);
}

TEST_F(PgLedgerStoreTest, GroupCommitOfManyRegionsIsGaplessPerRegion) {
  auto store = schema_.Store(8, 4096, /*write_transactions=*/2);
  constexpr int kThreads = 24;
  constexpr int kApplies = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < kApplies; ++j) {
        auto r = store->ApplyState(Apply("aws:g" + std::to_string(t % 6),
                                         {Redis("x", static_cast<uint32_t>(16 + t * 100 + j))},
                                         "t" + std::to_string(t) + "-" + std::to_string(j)),
                                   kCtx);
        if (!r.ok() || !r->changed()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int g = 0; g < 6; ++g) {
    std::set<std::string> messages;
    for (int t = g; t < kThreads; t += 6) {
      for (int j = 0; j < kApplies; ++j)
        messages.insert("t" + std::to_string(t) + "-" + std::to_string(j));
    }
    ExpectGaplessWithEveryMessage(*store, "aws:g" + std::to_string(g), messages);
  }
}

TEST_F(PgLedgerStoreTest, SixteenConcurrentThreadsOnOneRegionAreGaplessAndLoseNothing) {
  constexpr int kAppliers = 16;
  constexpr int kApplies = 10;
  auto shared = schema_.Store(16);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kAppliers; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < kApplies; ++j) {
        auto r = shared->ApplyState(
            Apply("aws:busy", {Redis("shared", static_cast<uint32_t>(16 + t * 1000 + j))},
                  "t" + std::to_string(t) + "-" + std::to_string(j)),
            kCtx);
        if (!r.ok() || !r->changed()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> messages;
  for (int t = 0; t < kAppliers; ++t) {
    for (int j = 0; j < kApplies; ++j)
      messages.insert("t" + std::to_string(t) + "-" + std::to_string(j));
  }
  ExpectGaplessWithEveryMessage(*shared, "aws:busy", messages);
}

TEST_F(PgLedgerStoreTest, SixteenConcurrentProcessesOnOneRegionAreGaplessAndLoseNothing) {
  constexpr int kAppliers = 16;
  constexpr int kApplies = 5;
  std::vector<pid_t> children;
  for (int p = 0; p < kAppliers; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      {
        auto store = schema_.Store(1);
        for (int j = 0; j < kApplies; ++j) {
          auto r = store->ApplyState(
              Apply("aws:procs", {Redis("shared", static_cast<uint32_t>(16 + p * 1000 + j))},
                    "p" + std::to_string(p) + "-" + std::to_string(j)),
              kCtx);
          if (!r.ok() || !r->changed()) ++bad;
        }
      }
      _exit(bad == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "applier process " << pid;
  }
  std::set<std::string> messages;
  for (int p = 0; p < kAppliers; ++p) {
    for (int j = 0; j < kApplies; ++j)
      messages.insert("p" + std::to_string(p) + "-" + std::to_string(j));
  }
  ExpectGaplessWithEveryMessage(*store_, "aws:procs", messages);
}

TEST(Migrations, RefuseASchemaNewerThanTheBinaryNamingBothVersions) {
  TestSchema schema;
  auto v = pg::SchemaVersion(schema.uri(), schema.name());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GE(*v, 1);
  auto again = pg::Migrate(schema.uri(), schema.name());  // idempotent
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *v);
  ASSERT_TRUE(
      schema.Exec("INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future')")
          .ok());
  auto refused = pg::Migrate(schema.uri(), schema.name());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("999"));
  EXPECT_THAT(refused.status().message(), HasSubstr(std::to_string(*v)));
}

TEST(PgLedgerStoreDown, UnreachableDatabaseIsUnavailable) {
  PgLedgerStoreOptions o;
  o.uri = "postgresql://senren:senren@127.0.0.1:1/senren?connect_timeout=2";
  auto store = PgLedgerStore::Create(o);
  ASSERT_TRUE(store.ok());
  auto r = (*store)->ApplyState(Apply("aws:x", {Redis("a")}), kCtx);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(r.status().message(), ::testing::Not(HasSubstr("senren:senren")));
  EXPECT_EQ(pg::Migrate(o.uri, "x").status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace senren::ledger
