#include "pg/pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "internal.h"

namespace senren::pg {

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PoolOptions options) {
  if (options.connection.uri.empty())
    return absl::InvalidArgumentError("PostgreSQL URI is required");
  if (options.size < 1) return absl::InvalidArgumentError("pool size must be >= 1");
  return std::unique_ptr<Pool>(new Pool(std::move(options)));
}

Watchdog::Watchdog() : thread_([this] { Loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t Watchdog::Arm(int fd, std::chrono::steady_clock::time_point deadline) {
  uint64_t ticket = 0;
  {
    std::lock_guard lock(mu_);
    ticket = next_++;
    armed_.emplace(ticket, Armed{fd, deadline});
  }
  cv_.notify_all();
  return ticket;
}

bool Watchdog::Disarm(uint64_t ticket) {
  std::lock_guard lock(mu_);
  auto it = armed_.find(ticket);
  if (it == armed_.end()) return false;
  const bool fired = it->second.fired;
  armed_.erase(it);
  return fired;
}

void Watchdog::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    auto next = std::chrono::steady_clock::time_point::max();
    for (auto& [ticket, a] : armed_) {
      if (a.fired) continue;
      if (a.deadline <= now) {
        // Under mu_: Disarm, and so the socket's close, waits for this.
        ::shutdown(a.fd, SHUT_RDWR);
        a.fired = true;
      } else {
        next = std::min(next, a.deadline);
      }
    }
    if (next == std::chrono::steady_clock::time_point::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, next);
    }
  }
}

Pool::Pool(PoolOptions options)
    : options_(std::move(options)),
      watchdog_(options_.call_timeout.count() > 0 ? std::make_unique<Watchdog>() : nullptr) {}
Pool::~Pool() = default;

PoolStats Pool::Stats() const {
  std::lock_guard lock(mu_);
  PoolStats s;
  s.size = options_.size;
  s.in_use = in_use_;
  s.open = open_;
  s.reconnects = opens_ > 0 ? opens_ - 1 : 0;
  s.call_timeouts = call_timeouts_;
  return s;
}

absl::StatusOr<std::unique_ptr<Session>> Pool::Acquire(std::string_view op,
                                                       std::string_view region) {
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
    uint64_t ticket = 0;
    if (watchdog_ != nullptr) {
      ticket = watchdog_->Arm((*session)->impl_->conn.sock(),
                              std::chrono::steady_clock::now() + options_.call_timeout);
    }
    Outcome outcome = Guard(op, region, [&] {
      Transaction tx = (*session)->Begin(kind);
      if (fn(tx)) tx.Commit();
    });
    const bool timed_out = watchdog_ != nullptr && watchdog_->Disarm(ticket);
    // A shut-down socket is never reused, even when the call finished just in time.
    if (timed_out) outcome.broken = true;
    if (timed_out && !outcome.status.ok()) {
      // No answer in time: the server may be gone or cut off, and TCP would keep us
      // waiting for many minutes. Running again would only wait as long once more.
      const bool in_doubt = absl::StrContains(outcome.status.message(), "outcome is unknown");
      outcome.retryable = false;
      outcome.status = absl::UnavailableError(absl::StrCat(
          "PostgreSQL did not answer within ", options_.call_timeout.count(), " ms (",
          std::string(op), region.empty() ? "" : " of region ", std::string(region),
          "); the connection was closed",
          in_doubt ? "; the outcome is unknown: retry with the same idempotency key" : ""));
      std::lock_guard lock(mu_);
      ++call_timeouts_;
    }
    Return(std::move(*session), outcome.broken);
    if (outcome.broken) DropIdle();
    if (outcome.status.ok()) return outcome.status;
    if (!outcome.retryable) return outcome.status;
    last = outcome.status;
  }
  return last;
}

}  // namespace senren::pg
