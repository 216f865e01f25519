#include "pg/pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "internal.h"

namespace senren::pg {

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PoolOptions options) {
  if (options.connection.uri.empty()) return absl::InvalidArgumentError("PostgreSQL URI is required");
  if (options.size < 1) return absl::InvalidArgumentError("pool size must be >= 1");
  return std::unique_ptr<Pool>(new Pool(std::move(options)));
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}
Pool::~Pool() = default;

PoolStats Pool::Stats() const {
  std::lock_guard lock(mu_);
  PoolStats s;
  s.size = options_.size;
  s.in_use = in_use_;
  s.open = open_;
  s.reconnects = opens_ > 0 ? opens_ - 1 : 0;
  return s;
}

absl::StatusOr<std::unique_ptr<Session>> Pool::Acquire(std::string_view op, std::string_view region) {
  std::unique_ptr<Session> session;
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, options_.acquire_timeout, [&] { return in_use_ < options_.size; })) {
      return absl::UnavailableError(absl::StrCat(
          "every one of the ", options_.size, " PostgreSQL connections stayed busy for ",
          options_.acquire_timeout.count(), " ms (", std::string(op),
          region.empty() ? "" : " of region ", std::string(region), "); retry"));
    }
    ++in_use_;
    if (!idle_.empty()) {
      session = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (session != nullptr) return session;
  auto opened = Session::Open(options_.connection);
  if (opened.ok() && options_.on_open) {
    Outcome o = Guard("open a connection", "", [&] { options_.on_open(**opened); });
    if (!o.status.ok()) opened = o.status;
  }
  if (!opened.ok()) {
    Return(nullptr, true);
    return opened.status();
  }
  std::lock_guard lock(mu_);
  ++open_;
  ++opens_;
  return opened;
}

void Pool::Return(std::unique_ptr<Session> session, bool broken) {
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (session != nullptr) {
      if (broken) {
        --open_;
      } else {
        idle_.push_back(std::move(session));
      }
    }
  }
  cv_.notify_one();
}

void Pool::DropIdle() {
  std::vector<std::unique_ptr<Session>> dropped;
  std::lock_guard lock(mu_);
  dropped.swap(idle_);
  open_ -= static_cast<int>(dropped.size());
}

absl::Status Pool::RunErased(std::string_view op, std::string_view region, TxKind kind,
                             absl::FunctionRef<bool(Transaction&)> fn) {
  absl::Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto session = Acquire(op, region);
    if (!session.ok()) return session.status();
    Outcome outcome = Guard(op, region, [&] {
      Transaction tx = (*session)->Begin(kind);
      if (fn(tx)) tx.Commit();
    });
    Return(std::move(*session), outcome.broken);
    if (outcome.broken) DropIdle();
    if (outcome.status.ok()) return outcome.status;
    if (!outcome.retryable) return outcome.status;
    last = outcome.status;
  }
  return last;
}

}  // namespace senren::pg
