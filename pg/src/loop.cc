#include "pg/loop.h"

#include <spdlog/spdlog.h>

#include "internal.h"

namespace senren::pg {

Loop::Loop(LoopOptions options) : options_(std::move(options)) {}
Loop::~Loop() { Stop(); }

void Loop::Start(std::function<void(Session&)> body) {
  {
    std::lock_guard lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this, body = std::move(body)] { Run(body); });
}

void Loop::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Loop::Stopping() const {
  std::lock_guard lock(mu_);
  return stop_;
}

void Loop::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_; });
}

bool Loop::Lead(Session& session) {
  while (!Stopping()) {
    bool locked = false;
    {
      Transaction n = session.Begin(TxKind::kNone);
      locked = n.ExecParams1("SELECT pg_try_advisory_lock(hashtext($1))", options_.lock_key)[0]
                   .as<bool>();
    }
    if (locked) return true;
    Sleep(options_.retry_interval);
  }
  return false;
}

void Loop::Run(const std::function<void(Session&)>& body) {
  const std::string& name = options_.name;
  while (!Stopping()) {
    // Connecting is inside the try as well: a failed connect is logged like a lost one.
    try {
      auto session = std::make_unique<SessionImpl>(ConnectionString(options_.connection));
      if (std::string setup = SessionSetup(options_.connection); !setup.empty()) {
        pqxx::nontransaction(session->conn).exec(setup);
      }
      Session s(std::move(session));
      if (options_.lock_key.empty() || Lead(s)) body(s);
    } catch (const pqxx::broken_connection& e) {
      spdlog::warn("{}: PostgreSQL connection lost ({}); reconnecting", name, e.what());
    } catch (const std::exception& e) {
      spdlog::error("{}: {}; restarting its loop", name, e.what());
    }
    Sleep(options_.retry_interval);
  }
}

}  // namespace senren::pg
