#pragma once

// The status outbox (docs/design.md §5): status changes and cluster reports are written here, in
// one local transaction per batch, and a relay (OutboxRelay) publishes them to Kafka and
// deletes what Kafka confirmed. Kafka down → the outbox grows; nothing is lost.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace senren::regional::plane {

// One record for {prefix}-status. No value: a tombstone.
struct OutboxRecord {
  std::string key;
  std::optional<std::string> value;
  std::string traceparent;  // header "traceparent" when not empty
};

struct OutboxEntry {
  int64_t id = 0;  // increasing in insertion order
  OutboxRecord record;
};

// Interface of the outbox. Implementations are thread-safe.
class StatusOutbox {
 public:
  virtual ~StatusOutbox() = default;

  // Appends `records` in one transaction (all or none).
  virtual absl::Status Put(const std::vector<OutboxRecord>& records) = 0;

  // Up to `limit` entries with id > after_id, oldest first.
  virtual absl::StatusOr<std::vector<OutboxEntry>> Peek(int64_t after_id, size_t limit) = 0;

  // Deletes the entries with these ids (missing ids are ignored).
  virtual absl::Status Delete(const std::vector<int64_t>& ids) = 0;

  // Entries waiting.
  virtual absl::StatusOr<int64_t> Size() = 0;
};

// SQLite (SQLiteCpp) in WAL mode, synchronous=NORMAL: a committed Put survives a crash of
// the process. SQLiteCpp's exceptions become Status here (UNAVAILABLE naming the
// operation and the file).
class SqliteStatusOutbox : public StatusOutbox {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteStatusOutbox>> Open(const std::string& path);
  ~SqliteStatusOutbox() override;

  absl::Status Put(const std::vector<OutboxRecord>& records) override;
  absl::StatusOr<std::vector<OutboxEntry>> Peek(int64_t after_id, size_t limit) override;
  absl::Status Delete(const std::vector<int64_t>& ids) override;
  absl::StatusOr<int64_t> Size() override;

 private:
  struct Impl;
  explicit SqliteStatusOutbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace senren::regional::plane
