#include "regional/plane/state_cache.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace senren::regional::plane {
namespace {

namespace fs = std::filesystem;

class StateCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("senren-cache-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<RocksDbStateCache> Open(size_t limit = 1000, bool read_only = false) {
    RocksDbStateCacheOptions o;
    o.path = (dir_ / "cache").string();
    o.history_limit = limit;
    o.read_only = read_only;
    auto c = RocksDbStateCache::Open(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  static CachedSnapshot Snap(uint64_t version, int64_t offset) {
    CachedSnapshot s;
    s.state = testing::State("aws:us-east-1", version, {testing::Redis("a", 64)});
    s.partition = 3;
    s.offset = offset;
    return s;
  }
  static HistoryEntry Entry(uint64_t version) {
    HistoryEntry e;
    e.version = version;
    e.applied_at = absl::FromUnixSeconds(1700000000 + static_cast<int64_t>(version));
    e.result = v1::APPLY_RESULT_APPLIED;
    e.created = 1;
    e.total = 1;
    e.offset = static_cast<int64_t>(version) * 10;
    e.message = "v" + std::to_string(version);
    return e;
  }

  fs::path dir_;
};

TEST_F(StateCacheTest, FreshCacheIsEmpty) {
  auto cache = Open();
  auto loaded = cache->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  EXPECT_TRUE(cache->History(10)->empty());
}

TEST_F(StateCacheTest, SnapshotAndHistorySurviveReopen) {
  {
    auto cache = Open();
    ASSERT_TRUE(cache->Save(Snap(1, 10), Entry(1)).ok());
    ASSERT_TRUE(cache->Save(Snap(2, 20), Entry(2)).ok());
  }
  auto cache = Open();
  auto loaded = cache->Load();
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->state.version(), 2u);
  EXPECT_EQ((*loaded)->state.resources_size(), 1);
  EXPECT_EQ((*loaded)->partition, 3);
  EXPECT_EQ((*loaded)->offset, 20);
  auto history = cache->History(10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].version, 2u);  // newest first
  EXPECT_EQ((*history)[0].message, "v2");
  EXPECT_EQ((*history)[0].applied_at, absl::FromUnixSeconds(1700000002));
  EXPECT_EQ((*history)[1].version, 1u);
}

TEST_F(StateCacheTest, HistoryIsBounded) {
  auto cache = Open(/*limit=*/5);
  for (uint64_t v = 1; v <= 12; ++v) ASSERT_TRUE(cache->Save(Snap(v, v), Entry(v)).ok());
  auto history = cache->History(100);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 5u);
  EXPECT_EQ(history->front().version, 12u);
  EXPECT_EQ(history->back().version, 8u);
}

TEST_F(StateCacheTest, ReadOnlyOpenBesideAWriter) {
  auto writer = Open();
  ASSERT_TRUE(writer->Save(Snap(4, 40), Entry(4)).ok());
  auto reader = Open(1000, /*read_only=*/true);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->History(10)->size(), 1u);
  EXPECT_FALSE(reader->Save(Snap(5, 50), Entry(5)).ok());
}

TEST_F(StateCacheTest, SecondWriterIsRefused) {
  auto first = Open();
  RocksDbStateCacheOptions o;
  o.path = (dir_ / "cache").string();
  auto second = RocksDbStateCache::Open(o);
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
}

TEST_F(StateCacheTest, CorruptCacheIsAWarningAndAFreshStart) {
  {
    auto cache = Open();
    ASSERT_TRUE(cache->Save(Snap(1, 10), Entry(1)).ok());
  }
  for (const auto& f : fs::directory_iterator(dir_ / "cache")) {
    const std::string name = f.path().filename().string();
    if (name == "CURRENT" || name.rfind("MANIFEST", 0) == 0) {
      std::ofstream(f.path(), std::ios::trunc) << "garbage\x01\x02 not rocksdb";
    }
  }
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(cache->recovered_from_corruption());
  auto loaded = cache->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  bool moved_aside = false;
  for (const auto& f : fs::directory_iterator(dir_)) {
    moved_aside |= f.path().filename().string().rfind("cache.corrupt-", 0) == 0;
  }
  EXPECT_TRUE(moved_aside);
  ASSERT_TRUE(cache->Save(Snap(2, 20), Entry(2)).ok());  // usable again
}

TEST_F(StateCacheTest, UnparseableSnapshotIsAFreshStart) {
  {
    auto cache = Open();
    ASSERT_TRUE(cache->Save(Snap(1, 10), Entry(1)).ok());
  }
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), (dir_ / "cache").string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "snapshot", "\xff\xff not a proto").ok());
  }
  auto cache = Open();
  auto loaded = cache->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  EXPECT_EQ(cache->History(10)->size(), 1u);  // the history is still readable
}

}  // namespace
}  // namespace senren::regional::plane
