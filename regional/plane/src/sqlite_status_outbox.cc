#include <SQLiteCpp/SQLiteCpp.h>

#include <exception>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "regional/plane/status_outbox.h"

namespace senren::regional::plane {

struct SqliteStatusOutbox::Impl {
  std::string path;
  absl::Mutex mu;
  std::unique_ptr<SQLite::Database> db ABSL_GUARDED_BY(mu);

  absl::Status Error(const char* what, const std::exception& e) const {
    return absl::UnavailableError(absl::StrCat("status outbox ", path, ": ", what, ": ", e.what()));
  }
};

SqliteStatusOutbox::SqliteStatusOutbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStatusOutbox::~SqliteStatusOutbox() = default;

absl::StatusOr<std::unique_ptr<SqliteStatusOutbox>> SqliteStatusOutbox::Open(
    const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=NORMAL");
    db->setBusyTimeout(5000);
    db->exec("CREATE TABLE IF NOT EXISTS outbox ("
             " id INTEGER PRIMARY KEY AUTOINCREMENT,"
             " key TEXT NOT NULL,"
             " value BLOB,"
             " traceparent TEXT NOT NULL DEFAULT '',"
             " created_at INTEGER NOT NULL DEFAULT (strftime('%s','now')))");
    absl::MutexLock lock(&impl->mu);
    impl->db = std::move(db);
  } catch (const std::exception& e) {
    return impl->Error("opening", e);
  }
  return std::unique_ptr<SqliteStatusOutbox>(new SqliteStatusOutbox(std::move(impl)));
}

absl::Status SqliteStatusOutbox::Put(const std::vector<OutboxRecord>& records) {
  if (records.empty()) return absl::OkStatus();
  absl::MutexLock lock(&impl_->mu);
  try {
    SQLite::Transaction tx(*impl_->db);
    SQLite::Statement insert(*impl_->db,
                             "INSERT INTO outbox (key, value, traceparent) VALUES (?, ?, ?)");
    for (const OutboxRecord& r : records) {
      insert.bind(1, r.key);
      if (r.value.has_value()) {
        insert.bind(2, r.value->data(), static_cast<int>(r.value->size()));
      } else {
        insert.bind(2);  // NULL: a tombstone
      }
      insert.bind(3, r.traceparent);
      insert.exec();
      insert.reset();
    }
    tx.commit();
  } catch (const std::exception& e) {
    return impl_->Error("appending", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutboxEntry>> SqliteStatusOutbox::Peek(int64_t after_id, size_t limit) {
  absl::MutexLock lock(&impl_->mu);
  std::vector<OutboxEntry> out;
  try {
    SQLite::Statement q(*impl_->db, "SELECT id, key, value, traceparent FROM outbox WHERE id > ? "
                                    "ORDER BY id LIMIT ?");
    q.bind(1, static_cast<int64_t>(after_id));
    q.bind(2, static_cast<int64_t>(limit));
    while (q.executeStep()) {
      OutboxEntry e;
      e.id = q.getColumn(0).getInt64();
      e.record.key = q.getColumn(1).getString();
      SQLite::Column v = q.getColumn(2);
      if (!v.isNull()) {
        e.record.value =
            std::string(static_cast<const char*>(v.getBlob()), static_cast<size_t>(v.getBytes()));
      }
      e.record.traceparent = q.getColumn(3).getString();
      out.push_back(std::move(e));
    }
  } catch (const std::exception& e) {
    return impl_->Error("reading", e);
  }
  return out;
}

absl::Status SqliteStatusOutbox::Delete(const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  absl::MutexLock lock(&impl_->mu);
  try {
    SQLite::Transaction tx(*impl_->db);
    SQLite::Statement del(*impl_->db, "DELETE FROM outbox WHERE id = ?");
    for (int64_t id : ids) {
      del.bind(1, static_cast<int64_t>(id));
      del.exec();
      del.reset();
    }
    tx.commit();
  } catch (const std::exception& e) {
    return impl_->Error("deleting delivered entries", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteStatusOutbox::Size() {
  absl::MutexLock lock(&impl_->mu);
  try {
    SQLite::Statement q(*impl_->db, "SELECT COUNT(*) FROM outbox");
    q.executeStep();
    return q.getColumn(0).getInt64();
  } catch (const std::exception& e) {
    return impl_->Error("counting", e);
  }
}

}  // namespace senren::regional::plane
