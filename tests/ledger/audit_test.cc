// The audit answers of PgLedgerStore on the lab's PostgreSQL (docs/ledger.md "Audit"):
// thousands of versions across regions and authors, every history filter and blame
// checked against the FakeLedgerStore fed the same requests (and against the unfiltered
// history for times), pages stable while versions are appended, and the query plans
// using migration 0006's indexes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/resources.h"
#include "ledger_test_util.h"
#include "testing/fake_ledger_store.h"

namespace senren::ledger {
namespace {

using common::testing::Aerospike;
using testing::Redis;
using testing::TestSchema;

const std::vector<std::string> kRegions = {"aws:audit-east", "gcp:audit-central", "gcp:audit-west"};
const std::vector<std::string> kAuthors = {"alice", "bob", "carol", "dave"};
constexpr int kStepsPerRegion = 1000;

int64_t Nanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000'000 + t.nanos();
}

// Every page of a history request, concatenated.
struct History {
  std::vector<v1::VersionInfo> versions;
  std::vector<v1::ResourceVersionChange> changes;
};
History ReadAll(LedgerStore& store, v1::GetHistoryRequest req, uint32_t page_size) {
  History out;
  req.set_page_size(page_size);
  for (;;) {
    auto page = store.GetHistory(req);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return out;
    EXPECT_LE(page->versions_size(), static_cast<int>(page_size));
    for (const auto& v : page->versions()) out.versions.push_back(v);
    for (const auto& c : page->changes()) out.changes.push_back(c);
    if (page->next_page_token().empty()) return out;
    req.set_page_token(page->next_page_token());
  }
}

std::vector<uint64_t> Numbers(const std::vector<v1::VersionInfo>& versions) {
  std::vector<uint64_t> out;
  for (const auto& v : versions) out.push_back(v.version());
  return out;
}

// The same versions appended to the PostgreSQL store and to the fake, once for the whole
// suite (thousands of versions take seconds to write).
class AuditTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = new TestSchema();
    store_ = schema_->Store(/*pool_size=*/6).release();
    fake_ = new testing::FakeLedgerStore();
    std::vector<std::thread> writers;
    for (size_t i = 0; i < kRegions.size(); ++i) {
      writers.emplace_back([i] { Write(kRegions[i], static_cast<uint32_t>(i + 1)); });
    }
    for (auto& t : writers) t.join();
  }
  static void TearDownTestSuite() {
    delete store_;
    delete fake_;
    delete schema_;
  }

  // A seeded random walk: mostly one resource updated, sometimes one created or deleted,
  // now and then a rollback to an earlier version; authors taking turns at random.
  static void Write(const std::string& region, uint32_t seed) {
    std::mt19937 rng(seed);
    std::map<std::string, v1::Resource> state;
    auto make = [&](const std::string& name, uint32_t n) {
      return name[0] == 'a' ? Aerospike(name, 2 + n % 4, 1 + n % 2, 64 + 16 * (n % 7))
                            : Redis(name, 64 + 16 * (n % 50), 1 + n % 3);
    };
    std::vector<std::string> names;
    for (int i = 0; i < 10; ++i) names.push_back("r" + std::to_string(i));
    names.push_back("a0");
    names.push_back("a1");
    for (const auto& n : names) state[n] = make(n, 0);
    uint64_t head = 0;
    for (int step = 0; step < kStepsPerRegion; ++step) {
      const std::string& author = kAuthors[rng() % kAuthors.size()];
      const WriteContext ctx{author, ""};
      if (step % 97 == 96 && head > 2) {
        v1::RollbackRequest rb;
        rb.set_region(region);
        rb.set_to_version(1 + rng() % (head - 1));
        rb.set_author(author);
        rb.set_allow_empty(true);
        rb.set_allow_mass_delete(true);
        auto pg = store_->Rollback(rb, ctx);
        auto fake = fake_->Rollback(rb, ctx);
        ASSERT_TRUE(pg.ok()) << pg.status();
        ASSERT_TRUE(fake.ok()) << fake.status();
        ASSERT_EQ(pg->version(), fake->version());
        head = pg->version();
        auto now = store_->GetState(region, 0);
        ASSERT_TRUE(now.ok()) << now.status();
        state.clear();
        for (const auto& r : now->resources()) state[r.name()] = r;
        continue;
      }
      const std::string& name = names[rng() % names.size()];
      const int op = static_cast<int>(rng() % 10);
      if (op == 0 && state.contains(name) && state.size() > 4) {
        state.erase(name);
      } else if (!state.contains(name)) {
        state[name] = make(name, rng());
      } else {
        v1::Resource next = make(name, rng());
        while (common::SameResource(next, state[name])) next = make(name, rng());
        state[name] = next;
      }
      v1::ApplyStateRequest req;
      req.set_region(region);
      req.set_author(author);
      req.set_message("step " + std::to_string(step));
      for (const auto& [n, r] : state) *req.add_resources() = r;
      auto pg = store_->ApplyState(req, ctx);
      auto fake = fake_->ApplyState(req, ctx);
      ASSERT_TRUE(pg.ok()) << pg.status();
      ASSERT_TRUE(fake.ok()) << fake.status();
      ASSERT_EQ(pg->version(), fake->version());
      head = pg->version();
    }
  }

  static History Full(const std::string& region) {
    v1::GetHistoryRequest req;
    req.set_region(region);
    return ReadAll(*store_, req, 1000);
  }

  static TestSchema* schema_;
  static PgLedgerStore* store_;
  static testing::FakeLedgerStore* fake_;
};
TestSchema* AuditTest::schema_ = nullptr;
PgLedgerStore* AuditTest::store_ = nullptr;
testing::FakeLedgerStore* AuditTest::fake_ = nullptr;

TEST_F(AuditTest, UnfilteredHistoryPagesThroughEveryVersionOnce) {
  for (const auto& region : kRegions) {
    v1::GetHistoryRequest req;
    req.set_region(region);
    const History pg = ReadAll(*store_, req, 37);
    const History fake = ReadAll(*fake_, req, 1000);
    ASSERT_GT(pg.versions.size(), 900u);
    ASSERT_EQ(Numbers(pg.versions), Numbers(fake.versions));
    for (size_t i = 0; i < pg.versions.size(); ++i) {
      EXPECT_EQ(pg.versions[i].version(), pg.versions.size() - i);
      EXPECT_EQ(pg.versions[i].author(), fake.versions[i].author());
      EXPECT_EQ(pg.versions[i].origin(), fake.versions[i].origin());
      EXPECT_EQ(pg.versions[i].updated(), fake.versions[i].updated());
      EXPECT_GE(Nanos(pg.versions[i].created_at()),
                Nanos(pg.versions[std::min(i + 1, pg.versions.size() - 1)].created_at()));
    }
  }
}

TEST_F(AuditTest, AuthorOriginAndTimeFiltersMatchTheFullHistory) {
  for (const auto& region : kRegions) {
    const History full = Full(region);
    const size_t n = full.versions.size();
    // A window from the 75th to the 25th percentile of time, bounds on exact versions.
    const google::protobuf::Timestamp until = full.versions[n / 4].created_at();
    const google::protobuf::Timestamp since = full.versions[3 * n / 4].created_at();
    for (const std::string& author : {std::string(), kAuthors[0], kAuthors[2]}) {
      for (v1::Origin origin : {v1::ORIGIN_UNSPECIFIED, v1::ORIGIN_ROLLBACK, v1::ORIGIN_APPLY}) {
        for (int window = 0; window < 4; ++window) {
          v1::GetHistoryRequest req;
          req.set_region(region);
          req.set_author(author);
          req.set_origin(origin);
          if (window & 1) *req.mutable_since() = since;
          if (window & 2) *req.mutable_until() = until;
          std::vector<uint64_t> expected;
          for (const auto& v : full.versions) {
            if (!author.empty() && v.author() != author) continue;
            if (origin != v1::ORIGIN_UNSPECIFIED && v.origin() != origin) continue;
            if ((window & 1) && Nanos(v.created_at()) < Nanos(since)) continue;
            if ((window & 2) && Nanos(v.created_at()) > Nanos(until)) continue;
            expected.push_back(v.version());
          }
          const History got = ReadAll(*store_, req, 50);
          EXPECT_EQ(Numbers(got.versions), expected)
              << region << " author=" << author << " origin=" << origin << " window=" << window;
          if (origin == v1::ORIGIN_ROLLBACK && author.empty() && window == 0) {
            EXPECT_GE(expected.size(), 5u);  // the walk made rollbacks
          }
        }
      }
    }
  }
}

TEST_F(AuditTest, ResourceHistoryGivesEachChangeAsTheFakeDoes) {
  for (const auto& region : kRegions) {
    for (const std::string resource :
         {"RedisDatabase/r0", "RedisDatabase/r7", "AerospikeCluster/a1"}) {
      for (const std::string& author : {std::string(), kAuthors[1]}) {
        v1::GetHistoryRequest req;
        req.set_region(region);
        req.set_resource(resource);
        req.set_author(author);
        const History pg = ReadAll(*store_, req, 25);
        const History fake = ReadAll(*fake_, req, 1000);
        ASSERT_EQ(Numbers(pg.versions), Numbers(fake.versions)) << region << " " << resource;
        ASSERT_EQ(pg.changes.size(), pg.versions.size());
        EXPECT_GT(pg.versions.size(), author.empty() ? 40u : 5u);
        std::map<v1::ResourceChange::Type, int> types;
        for (size_t i = 0; i < pg.changes.size(); ++i) {
          const auto& a = pg.changes[i];
          const auto& b = fake.changes[i];
          EXPECT_EQ(a.version(), pg.versions[i].version());
          EXPECT_EQ(a.change().type(), b.change().type()) << "version " << a.version();
          EXPECT_EQ(a.change().before().SerializeAsString(),
                    b.change().before().SerializeAsString());
          EXPECT_EQ(a.change().after().SerializeAsString(), b.change().after().SerializeAsString());
          EXPECT_EQ(std::vector<std::string>(a.changed_fields().begin(), a.changed_fields().end()),
                    std::vector<std::string>(b.changed_fields().begin(), b.changed_fields().end()));
          ++types[a.change().type()];
        }
        if (author.empty()) {
          EXPECT_GT(types[v1::ResourceChange::TYPE_UPDATED], 0);
          EXPECT_GT(types[v1::ResourceChange::TYPE_CREATED], 0);
        }
      }
    }
  }
}

TEST_F(AuditTest, BlameAgreesWithTheFakeForEveryResourceNowAndInThePast) {
  int blamed = 0;
  for (const auto& region : kRegions) {
    auto head = store_->GetState(region, 0);
    ASSERT_TRUE(head.ok()) << head.status();
    for (uint64_t version : {uint64_t{0}, head->version() / 2, uint64_t{3}}) {
      auto state = store_->GetState(region, version);
      ASSERT_TRUE(state.ok()) << state.status();
      for (const auto& r : state->resources()) {
        v1::BlameRequest req;
        req.set_region(region);
        req.set_resource(common::ResourceId(r));
        req.set_version(version);
        auto pg = store_->Blame(req);
        auto fake = fake_->Blame(req);
        ASSERT_TRUE(pg.ok()) << pg.status();
        ASSERT_TRUE(fake.ok()) << fake.status();
        EXPECT_EQ(pg->resource().SerializeAsString(), r.SerializeAsString());
        EXPECT_EQ(pg->created_by().version(), fake->created_by().version());
        ASSERT_EQ(pg->fields_size(), fake->fields_size());
        for (int i = 0; i < pg->fields_size(); ++i) {
          EXPECT_EQ(pg->fields(i).field(), fake->fields(i).field());
          EXPECT_EQ(pg->fields(i).value_json(), fake->fields(i).value_json());
          EXPECT_EQ(pg->fields(i).set_by().version(), fake->fields(i).set_by().version())
              << region << " " << req.resource() << " " << pg->fields(i).field();
          EXPECT_EQ(pg->fields(i).set_by().author(), fake->fields(i).set_by().author());
          EXPECT_LE(pg->created_by().version(), pg->fields(i).set_by().version());
        }
        ++blamed;
      }
    }
  }
  EXPECT_GT(blamed, 60);
  v1::BlameRequest gone;
  gone.set_region(kRegions[0]);
  gone.set_resource("RedisDatabase/never-there");
  EXPECT_EQ(store_->Blame(gone).status().code(), absl::StatusCode::kNotFound);
  gone.set_resource("Redis/r0");
  EXPECT_EQ(store_->Blame(gone).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditTest, BadFiltersAreInvalidArgument) {
  v1::GetHistoryRequest req;
  req.set_region(kRegions[0]);
  req.set_resource("sessions");
  EXPECT_EQ(store_->GetHistory(req).status().code(), absl::StatusCode::kInvalidArgument);
  req.clear_resource();
  req.mutable_since()->set_seconds(2000);
  req.mutable_until()->set_seconds(1000);
  EXPECT_EQ(store_->GetHistory(req).status().code(), absl::StatusCode::kInvalidArgument);
  req.clear_since();
  req.clear_until();
  req.set_page_token("x7");
  EXPECT_EQ(store_->GetHistory(req).status().code(), absl::StatusCode::kInvalidArgument);
}

// Each filter is served by an index range scan, never a sequential scan of a table. (An
// author as common as a quarter of the versions may equally be read off the primary key
// newest first; the author here wrote none, the case a scan would make slow.)
TEST_F(AuditTest, QueryPlansUseTheAuditIndexes) {
  ASSERT_TRUE(schema_->Exec("ANALYZE versions; ANALYZE changes").ok());
  const std::string region = kRegions[1];
  struct Case {
    std::string sql;
    std::string index;
  };
  const std::vector<Case> cases = {
      {"SELECT version FROM versions v WHERE v.region = '" + region +
           "' AND v.version <= 9223372036854775807 AND v.author = 'erin' "
           "ORDER BY v.version DESC LIMIT 21",
       "versions_by_author"},
      {"SELECT version FROM versions v WHERE v.region = '" + region +
           "' AND v.version <= 9223372036854775807 AND v.origin = 2 "
           "ORDER BY v.version DESC LIMIT 21",
       "versions_rollbacks"},
      {"SELECT c.version FROM changes c WHERE c.region = '" + region +
           "' AND c.kind = 1 AND c.name = 'r3' AND c.version <= 9223372036854775807 "
           "ORDER BY c.version DESC LIMIT 21",
       "changes_by_resource"},
      {"SELECT t.version FROM versions t WHERE t.region = '" + region +
           "' AND t.created_at <= now() ORDER BY t.created_at DESC LIMIT 1",
       "versions_by_time"},
  };
  for (const auto& c : cases) {
    auto plan = schema_->Query("EXPLAIN " + c.sql);
    ASSERT_TRUE(plan.ok()) << plan.status();
    std::string text;
    for (const auto& row : *plan) text += row[0].as<std::string>() + "\n";
    EXPECT_THAT(text, ::testing::HasSubstr(c.index)) << text;
    EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("Seq Scan"))) << text;
  }
}

// A spec too large for changes_by_resource_spec (an AerospikeCluster of 32 namespaces with
// long names, ~2.3 kB) is stored, and blame then reads the table instead of that index.
TEST_F(AuditTest, BlameOfASpecTooLargeForTheCoveringIndex) {
  TestSchema schema;
  auto store = schema.Store();
  auto big = [](uint32_t size, uint32_t memory) {
    v1::Resource r = Aerospike("big", size, 1, 64);
    auto* spec = r.mutable_aerospike_cluster();
    spec->clear_namespaces();
    for (int i = 0; i < 32; ++i) {
      auto* ns = spec->add_namespaces();
      ns->set_name(absl::StrCat(std::string(58, 'n'), "-", 10 + i));  // 61 characters
      ns->set_replication_factor(1);
      ns->set_memory_mb(i == 0 ? memory : 64);
    }
    return r;
  };
  ASSERT_GT(big(2, 64).ByteSizeLong(), 2000u);
  const WriteContext alice{"alice", ""};
  const WriteContext bob{"bob", ""};
  ASSERT_TRUE(store->ApplyState(testing::Apply("aws:big", {big(2, 64)}), alice).ok());
  ASSERT_TRUE(store->ApplyState(testing::Apply("aws:big", {big(3, 64)}), bob).ok());
  ASSERT_TRUE(store->ApplyState(testing::Apply("aws:big", {big(3, 128)}), alice).ok());
  v1::BlameRequest req;
  req.set_region("aws:big");
  req.set_resource("AerospikeCluster/big");
  auto blame = store->Blame(req);
  ASSERT_TRUE(blame.ok()) << blame.status();
  std::map<std::string, const v1::BlameField*> fields;
  for (const auto& f : blame->fields()) fields[f.field()] = &f;
  EXPECT_EQ(fields.at("size")->set_by().version(), 2u);
  EXPECT_EQ(fields.at("size")->set_by().author(), "bob");
  EXPECT_EQ(fields.at("namespaces[0].memory_mb")->set_by().version(), 3u);
  EXPECT_EQ(fields.at("namespaces[0].memory_mb")->value_json(), "128");
  EXPECT_EQ(fields.at("namespaces[31].memory_mb")->set_by().version(), 1u);
  v1::GetHistoryRequest h;
  h.set_region("aws:big");
  h.set_resource("AerospikeCluster/big");
  auto history = store->GetHistory(h);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->changes_size(), 3);
  EXPECT_THAT(history->changes(0).changed_fields(),
              ::testing::ElementsAre("namespaces[0].memory_mb"));
}

// A page token is a position in the region's versions: versions appended between two
// pages neither repeat nor shift the next page.
TEST_F(AuditTest, PagesStayStableWhileVersionsAreAppended) {
  TestSchema schema;
  auto store = schema.Store();
  const WriteContext ctx{"pager", ""};
  for (uint32_t i = 1; i <= 30; ++i) {
    ASSERT_TRUE(
        store->ApplyState(testing::Apply("aws:pages", {Redis("a", 64 + 16 * i)}), ctx).ok());
  }
  v1::GetHistoryRequest req;
  req.set_region("aws:pages");
  req.set_page_size(10);
  auto first = store->GetHistory(req);
  ASSERT_TRUE(first.ok()) << first.status();
  std::vector<uint64_t> seen;
  for (const auto& v : first->versions()) seen.push_back(v.version());
  for (uint32_t i = 1; i <= 5; ++i) {
    ASSERT_TRUE(
        store->ApplyState(testing::Apply("aws:pages", {Redis("a", 2048 + 16 * i)}), ctx).ok());
  }
  req.set_page_token(first->next_page_token());
  for (;;) {
    auto page = store->GetHistory(req);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& v : page->versions()) seen.push_back(v.version());
    if (page->next_page_token().empty()) break;
    req.set_page_token(page->next_page_token());
  }
  std::vector<uint64_t> expected;
  for (uint64_t v = 30; v >= 1; --v) expected.push_back(v);
  EXPECT_EQ(seen, expected);
}

}  // namespace
}  // namespace senren::ledger
