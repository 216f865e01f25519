#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "regional/plane/state_cache.h"

namespace senren::regional::plane {
namespace {

constexpr char kSnapshotKey[] = "snapshot";
constexpr char kPositionKey[] = "position";
constexpr char kHistoryPrefix[] = "history/";

absl::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::UnavailableError(msg);
}

std::string HistoryKey(uint64_t version) {
  return absl::StrFormat("%s%020u", kHistoryPrefix, version);
}

std::string EncodeEntry(const HistoryEntry& e) {
  nlohmann::json j = {{"version", e.version},
                      {"applied_at_ns", absl::ToUnixNanos(e.applied_at)},
                      {"result", static_cast<int>(e.result)},
                      {"reason", e.reason},
                      {"created", e.created},
                      {"updated", e.updated},
                      {"deleted", e.deleted},
                      {"total", e.total},
                      {"offset", e.offset},
                      {"author", e.author},
                      {"message", e.message}};
  return j.dump();
}

std::optional<HistoryEntry> DecodeEntry(const std::string& value) {
  try {
    auto j = nlohmann::json::parse(value);
    HistoryEntry e;
    e.version = j.at("version").get<uint64_t>();
    e.applied_at = absl::FromUnixNanos(j.at("applied_at_ns").get<int64_t>());
    e.result = static_cast<v1::ApplyResult>(j.at("result").get<int>());
    e.reason = j.value("reason", "");
    e.created = j.value("created", 0u);
    e.updated = j.value("updated", 0u);
    e.deleted = j.value("deleted", 0u);
    e.total = j.value("total", 0u);
    e.offset = j.value("offset", int64_t{-1});
    e.author = j.value("author", "");
    e.message = j.value("message", "");
    return e;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string ApplyResultName(v1::ApplyResult result) {
  switch (result) {
    case v1::APPLY_RESULT_APPLIED:
      return "applied";
    case v1::APPLY_RESULT_REJECTED:
      return "rejected";
    case v1::APPLY_RESULT_PARTIAL:
      return "partial";
    default:
      return "unknown";
  }
}

struct RocksDbStateCache::Impl {
  std::unique_ptr<rocksdb::DB> db;
  size_t history_limit = 1000;
  bool read_only = false;
};

RocksDbStateCache::RocksDbStateCache(std::unique_ptr<Impl> impl, bool recovered)
    : impl_(std::move(impl)), recovered_(recovered) {}

RocksDbStateCache::~RocksDbStateCache() {
  if (impl_ && impl_->db) impl_->db->Close().PermitUncheckedError();
}

absl::StatusOr<std::unique_ptr<RocksDbStateCache>> RocksDbStateCache::Open(
    const RocksDbStateCacheOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->history_limit = std::max<size_t>(options.history_limit, 1);
  impl->read_only = options.read_only;
  rocksdb::Options ro;
  ro.create_if_missing = !options.read_only;
  ro.max_open_files = 64;
  ro.keep_log_file_num = 2;
  ro.recycle_log_file_num = 1;
  ro.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  auto open = [&]() -> rocksdb::Status {
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = options.read_only ? rocksdb::DB::OpenForReadOnly(ro, options.path, &db)
                                          : rocksdb::DB::Open(ro, options.path, &db);
    impl->db.reset(db);
    return s;
  };
  bool recovered = false;
  try {
    std::error_code ec;
    if (!options.read_only) std::filesystem::create_directories(options.path, ec);
    rocksdb::Status s = open();
    if (!s.ok() && !options.read_only && !s.IsIOError()) {
      // Corruption or an unreadable layout: keep the evidence, start afresh.
      const std::string aside =
          absl::StrCat(options.path, ".corrupt-", absl::ToUnixSeconds(absl::Now()));
      spdlog::warn("state cache {} does not open ({}); moved to {}, starting fresh from Kafka",
                   options.path, s.ToString(), aside);
      std::filesystem::rename(options.path, aside, ec);
      if (ec) std::filesystem::remove_all(options.path, ec);
      std::filesystem::create_directories(options.path, ec);
      recovered = true;
      s = open();
    }
    if (!s.ok()) {
      if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
        return absl::FailedPreconditionError(absl::StrCat(
            "state cache ", options.path, " is in use by another process: ", s.ToString()));
      }
      return FromRocks(s, absl::StrCat("opening state cache ", options.path));
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("opening state cache ", options.path, ": ", e.what()));
  }
  return std::unique_ptr<RocksDbStateCache>(new RocksDbStateCache(std::move(impl), recovered));
}

absl::StatusOr<std::optional<CachedSnapshot>> RocksDbStateCache::Load() {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), kSnapshotKey, &value);
  if (s.IsNotFound()) return std::optional<CachedSnapshot>();
  if (!s.ok()) {
    spdlog::warn("state cache: reading the last snapshot failed ({}); starting fresh from Kafka",
                 s.ToString());
    return std::optional<CachedSnapshot>();
  }
  CachedSnapshot snap;
  if (!snap.state.ParseFromString(value)) {
    spdlog::warn("state cache: the last snapshot does not parse ({} bytes); starting fresh "
                 "from Kafka",
                 value.size());
    return std::optional<CachedSnapshot>();
  }
  std::string position;
  if (impl_->db->Get(rocksdb::ReadOptions(), kPositionKey, &position).ok()) {
    auto j = nlohmann::json::parse(position, nullptr, false);
    if (j.is_object()) {
      snap.partition = j.value("partition", -1);
      snap.offset = j.value("offset", int64_t{-1});
    }
  }
  return std::optional<CachedSnapshot>(std::move(snap));
}

absl::Status RocksDbStateCache::Save(const CachedSnapshot& snapshot, const HistoryEntry& entry) {
  if (impl_->read_only) return absl::FailedPreconditionError("state cache opened read-only");
  rocksdb::WriteBatch batch;
  std::string value;
  if (!snapshot.state.SerializeToString(&value)) {
    return absl::InternalError("serializing the snapshot for the state cache");
  }
  rocksdb::Status s = batch.Put(kSnapshotKey, value);
  if (s.ok()) {
    s = batch.Put(
        kPositionKey,
        nlohmann::json{{"partition", snapshot.partition}, {"offset", snapshot.offset}}.dump());
  }
  if (s.ok()) s = batch.Put(HistoryKey(entry.version), EncodeEntry(entry));
  // Trim the history to its bound, oldest first (keys sort by version).
  size_t count = 1;
  std::vector<std::string> keys;
  {
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(kHistoryPrefix); it->Valid() && it->key().starts_with(kHistoryPrefix);
         it->Next()) {
      if (it->key() != rocksdb::Slice(HistoryKey(entry.version))) {
        keys.push_back(it->key().ToString());
        ++count;
      }
    }
  }
  for (size_t i = 0; s.ok() && count > impl_->history_limit && i < keys.size(); ++i, --count) {
    s = batch.Delete(keys[i]);
  }
  if (!s.ok()) return FromRocks(s, "preparing the state cache write");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(
      impl_->db->Write(wo, &batch),
      absl::StrCat("saving version ", snapshot.state.version(), " to the state cache"));
}

absl::StatusOr<std::vector<HistoryEntry>> RocksDbStateCache::History(size_t limit) {
  std::vector<HistoryEntry> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekForPrev(HistoryKey(UINT64_MAX));
       it->Valid() && it->key().starts_with(kHistoryPrefix) && out.size() < limit; it->Prev()) {
    if (auto e = DecodeEntry(it->value().ToString())) out.push_back(std::move(*e));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the history");
  return out;
}

}  // namespace senren::regional::plane
