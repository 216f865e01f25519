#pragma once

// The plane's local memory (docs/design.md §5): the last applied snapshot with its Kafka position,
// and the history of applied versions. RocksDbStateCache keeps it under the data dir.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "senren/v1/state.pb.h"
#include "senren/v1/status.pb.h"

namespace senren::regional::plane {

// A snapshot and where it was read: the plane resumes Kafka at offset + 1.
struct CachedSnapshot {
  v1::RegionalState state;
  int32_t partition = -1;
  int64_t offset = -1;  // -1: not from Kafka
};

// One applied version, as `senren-regional history` shows it.
struct HistoryEntry {
  uint64_t version = 0;
  absl::Time applied_at;
  v1::ApplyResult result = v1::APPLY_RESULT_UNSPECIFIED;
  std::string reason;
  uint32_t created = 0;
  uint32_t updated = 0;
  uint32_t deleted = 0;
  uint32_t total = 0;
  int64_t offset = -1;
  std::string author;
  std::string message;
};

// Interface of the cache. Implementations are thread-safe.
class StateCache {
 public:
  virtual ~StateCache() = default;

  // The last saved snapshot, or nullopt on a fresh start.
  virtual absl::StatusOr<std::optional<CachedSnapshot>> Load() = 0;

  // Saves `snapshot` as the last applied one and appends `entry` to the history, at once
  // (both or neither). The history keeps the newest `history_limit` entries.
  virtual absl::Status Save(const CachedSnapshot& snapshot, const HistoryEntry& entry) = 0;

  // Up to `limit` history entries, newest first.
  virtual absl::StatusOr<std::vector<HistoryEntry>> History(size_t limit) = 0;
};

struct RocksDbStateCacheOptions {
  // Folder of the RocksDB database (created if missing).
  std::string path;
  // History entries kept. Default: 1,000.
  size_t history_limit = 1000;
  // Open for reading only (the `history` subcommand beside a running plane).
  bool read_only = false;
};

// RocksDB under the data dir. Keys: "snapshot" (RegionalState), "position" (partition,
// offset), "history/<version, 20 digits>" (JSON of a HistoryEntry). A database that does not
// open as RocksDB (corruption) is moved aside to "<path>.corrupt-<unix time>" with a logged
// warning and replaced by an empty one; a snapshot value that does not parse is a warning
// and Load() answers nullopt. Either way a bad cache means a fresh start from Kafka, never a
// crash. RocksDB's exceptions and Statuses become absl::Status here. Thread-safe (RocksDB's
// own locking); Save calls are serialized by the plane's single worker.
class RocksDbStateCache : public StateCache {
 public:
  // FAILED_PRECONDITION when another process holds the database (two planes on one dir);
  // UNAVAILABLE on other I/O errors.
  static absl::StatusOr<std::unique_ptr<RocksDbStateCache>> Open(
      const RocksDbStateCacheOptions& options);
  ~RocksDbStateCache() override;

  absl::StatusOr<std::optional<CachedSnapshot>> Load() override;
  absl::Status Save(const CachedSnapshot& snapshot, const HistoryEntry& entry) override;
  absl::StatusOr<std::vector<HistoryEntry>> History(size_t limit) override;

  // True when Open found a corrupt cache and started a fresh one.
  bool recovered_from_corruption() const { return recovered_; }

 private:
  struct Impl;
  explicit RocksDbStateCache(std::unique_ptr<Impl> impl, bool recovered);
  std::unique_ptr<Impl> impl_;
  bool recovered_ = false;
};

// "applied", "rejected", "partial".
std::string ApplyResultName(v1::ApplyResult result);

}  // namespace senren::regional::plane
