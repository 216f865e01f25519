#pragma once

// Pool: a fixed number of PostgreSQL sessions shared by threads, opened on demand, with
// the transaction runner every caller uses (one retry on a connection that broke before
// its commit; SQL errors mapped by the SQLSTATE table).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pg/options.h"
#include "pg/session.h"

namespace senren::pg {

struct PoolOptions {
  ConnectionOptions connection;
  // Sessions kept open; callers beyond that wait for one. Default: 16.
  int size = 16;
  // How long a caller waits for a free session before the call answers UNAVAILABLE
  // (every session busy). Default: 30 s.
  std::chrono::milliseconds acquire_timeout{30'000};
  // How long one call may take on our side, its transaction and commit included. Past
  // it the call's connection is shut down, so a statement waiting on a server that
  // stopped answering (a partition, where TCP itself would wait ~15 min) returns at once
  // as UNAVAILABLE instead of holding its caller and a session. Keep it above the
  // connection's statement_timeout, which answers a merely slow statement first
  // (DEADLINE_EXCEEDED). 0: none. Default: 0.
  std::chrono::milliseconds call_timeout{0};
  // Runs on every new session before its first use, e.g. to prepare statements.
  // Default: none.
  std::function<void(Session&)> on_open;
};

struct PoolStats {
  int size = 0;
  int in_use = 0;
  int open = 0;
  // Sessions opened after the first: each follows a broken connection (or a session
  // opened for a waiting caller).
  uint64_t reconnects = 0;
  // Calls whose connection was shut down at call_timeout.
  uint64_t call_timeouts = 0;
};

class Watchdog;

// Thread-safe. Destroy only when no call is running.
class Pool {
 public:
  // Does not connect: the first call does, so a pool made while PostgreSQL is down works
  // once it is back. INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<Pool>> Create(PoolOptions options);
  ~Pool();

  // Runs `fn` in a transaction of `kind` on a pooled session and commits when it
  // returns OK. A connection that breaks before the commit is replaced and `fn` runs
  // once more; one that breaks during the commit leaves the outcome unknown:
  // UNAVAILABLE "... the outcome is unknown: retry with the same idempotency key".
  // Errors name `op` and, when not empty, `region`: UNAVAILABLE (unreachable, every
  // session busy past acquire_timeout, no answer within call_timeout: not retried), the SQLSTATE
  // table's code for SQL errors, INTERNAL for anything else that was thrown.
  template <typename T, typename Fn>
  absl::StatusOr<T> Run(std::string_view op, std::string_view region, TxKind kind, Fn&& fn) {
    std::optional<absl::StatusOr<T>> result;
    absl::Status s = RunErased(op, region, kind, [&](Transaction& tx) {
      result.emplace(fn(tx));
      return result->ok();
    });
    if (!s.ok()) return s;
    return std::move(*result);
  }

  PoolStats Stats() const;

 private:
  class Lease;
  explicit Pool(PoolOptions options);
  absl::Status RunErased(std::string_view op, std::string_view region, TxKind kind,
                         absl::FunctionRef<bool(Transaction&)> fn);
  absl::StatusOr<std::unique_ptr<Session>> Acquire(std::string_view op, std::string_view region);
  void Return(std::unique_ptr<Session> session, bool broken);
  // After one connection broke the idle ones most likely did too.
  void DropIdle();

  const PoolOptions options_;
  const std::unique_ptr<Watchdog> watchdog_;  // null without call_timeout
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Session>> idle_ ABSL_GUARDED_BY(mu_);
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t opens_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t call_timeouts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace senren::pg
