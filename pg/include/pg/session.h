#pragma once

// Sessions, transactions and results: the part of libpqxx Senren uses, without libpqxx
// in the signature.
//
// Errors: the statements of a Transaction or Session throw when PostgreSQL refuses
// them or the connection breaks. They are meant to run inside the scopes pg runs
// (Pool::Run, Loop bodies, Session::Run), which catch every such failure and turn it
// into an absl::Status through the SQLSTATE table (sqlstate.h); nothing outside pg
// catches them by type. Code outside those scopes (tests holding a lock open) lets
// them reach its own caller.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pg/options.h"

namespace senren::pg {

struct ResultData;
class SessionImpl;
class Result;
// Defined in pg's sources: makes a Result of libpqxx's.
Result WrapResult(std::shared_ptr<const ResultData> data);

// One statement parameter: NULL, text, or bytes for a bytea column.
class Param {
 public:
  Param(std::nullptr_t);  // NOLINT(google-explicit-constructor): NULL
  Param(const char* text);
  Param(const std::string& text);
  Param(std::string_view text);
  Param(bool v);
  Param(int v);
  Param(long v);
  Param(long long v);
  Param(unsigned v);
  Param(unsigned long v);
  Param(unsigned long long v);
  Param(double v);
  // A bytea value.
  static Param Bytes(std::string_view bytes);

  bool is_null() const { return null_; }
  // The text PostgreSQL parses (bytes in bytea's hex form).
  const std::string& text() const { return text_; }

 private:
  Param() = default;
  bool null_ = false;
  std::string text_;
};

// One value of a row. Valid while the Result (or Row) it came from lives.
class Field {
 public:
  bool is_null() const;
  // The value converted to T: std::string, bool, double, and the integer types. Throws
  // when it does not convert (or is NULL).
  template <typename T>
  T as() const;
  // A bytea value's bytes.
  std::string Bytes() const;

 private:
  friend class Row;
  Field(const ResultData* data, size_t row, int column) : data_(data), row_(row), column_(column) {}
  const ResultData* data_;
  size_t row_;
  int column_;
};

class Row {
 public:
  Field operator[](int column) const { return Field(data_, row_, column); }

 private:
  friend class Result;
  friend class Transaction;
  friend class Session;
  Row(std::shared_ptr<const ResultData> keep, const ResultData* data, size_t row)
      : keep_(std::move(keep)), data_(data), row_(row) {}
  // Set only for a row that outlives its Result (Exec1); iteration does not pay for it.
  std::shared_ptr<const ResultData> keep_;
  const ResultData* data_;
  size_t row_;
};

// The rows of one statement. Cheap to copy (shared).
class Result {
 public:
  class Iterator {
   public:
    Row operator*() const { return Row(nullptr, data_, row_); }
    Iterator& operator++() {
      ++row_;
      return *this;
    }
    bool operator!=(const Iterator& other) const { return row_ != other.row_; }

   private:
    friend class Result;
    Iterator(const ResultData* data, size_t row) : data_(data), row_(row) {}
    const ResultData* data_;
    size_t row_;
  };

  size_t size() const;
  bool empty() const { return size() == 0; }
  Row operator[](size_t row) const { return Row(nullptr, data_.get(), row); }
  Iterator begin() const { return Iterator(data_.get(), 0); }
  Iterator end() const { return Iterator(data_.get(), size()); }
  // Rows an INSERT, UPDATE or DELETE touched.
  uint64_t affected_rows() const;

 private:
  friend class Transaction;
  friend class Session;
  friend Result WrapResult(std::shared_ptr<const ResultData> data);
  explicit Result(std::shared_ptr<const ResultData> data) : data_(std::move(data)) {}
  std::shared_ptr<const ResultData> data_;
};

enum class TxKind {
  kReadWrite,  // BEGIN ... COMMIT
  kReadOnly,   // BEGIN READ ONLY
  kNone,       // autocommit: every statement on its own
};

// A transaction on a Session. Commit() makes it durable; destroyed without Commit() it
// rolls back. One at a time per Session; not thread-safe.
class Transaction {
 public:
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  // Runs `sql` (several statements separated by ';' are one round trip).
  Result Exec(std::string_view sql);
  // `sql` with $1, $2, ... bound to `params`.
  Result ExecParams(std::string_view sql, const std::vector<Param>& params);
  template <typename... Args>
  Result ExecParams(std::string_view sql, const Args&... args) {
    return ExecParams(sql, std::vector<Param>{Param(args)...});
  }
  // A statement prepared on the session (Session::Prepare).
  Result ExecPrepared(const std::string& name, const std::vector<Param>& params);
  template <typename... Args>
  Result ExecPrepared(const std::string& name, const Args&... args) {
    return ExecPrepared(name, std::vector<Param>{Param(args)...});
  }
  // As ExecParams / ExecPrepared, and throws unless exactly one row came back.
  template <typename... Args>
  Row ExecParams1(std::string_view sql, const Args&... args) {
    return One(ExecParams(sql, args...), sql);
  }
  template <typename... Args>
  Row ExecPrepared1(const std::string& name, const Args&... args) {
    return One(ExecPrepared(name, args...), name);
  }

  // `text` as an SQL string literal, `bytes` as a bytea literal, for statements built
  // as text (one round trip for many rows).
  std::string Quote(std::string_view text) const;
  std::string QuoteBytes(std::string_view bytes) const;

  void Commit();

 private:
  friend class Session;
  struct Impl;
  explicit Transaction(std::unique_ptr<Impl> impl);
  static Row One(Result result, std::string_view what);
  std::unique_ptr<Impl> impl_;
};

// One connection to PostgreSQL, set up by ConnectionOptions (search_path,
// statement_timeout). Used by one thread at a time.
class Session {
 public:
  // Connects. UNAVAILABLE (naming host:port/db, never the password) when it cannot;
  // the SQLSTATE table's code when setting up the session fails.
  static absl::StatusOr<std::unique_ptr<Session>> Open(const ConnectionOptions& options);
  ~Session();

  // Prepares `sql` under `name` for Transaction::ExecPrepared on this session.
  void Prepare(const std::string& name, const std::string& sql);

  Transaction Begin(TxKind kind = TxKind::kReadWrite);

  // Runs `fn` in a transaction of `kind` and commits when it returns OK; any failure of
  // a statement becomes a Status naming `op` (and `region` when not empty).
  absl::Status Run(std::string_view op, std::string_view region, TxKind kind,
                   absl::FunctionRef<absl::Status(Transaction&)> fn);

  // LISTEN `channel`: each notification calls `on_notify(payload)` from
  // AwaitNotifications, on the caller's thread. Valid for the Session's life.
  void Listen(const std::string& channel,
              std::function<void(const std::string& payload)> on_notify);
  // Waits up to `timeout` for notifications and delivers them; returns how many came.
  int AwaitNotifications(std::chrono::microseconds timeout);

  bool is_open() const;

 private:
  friend class Loop;
  friend class Pool;
  explicit Session(std::unique_ptr<SessionImpl> impl);
  std::unique_ptr<SessionImpl> impl_;
};

}  // namespace senren::pg
