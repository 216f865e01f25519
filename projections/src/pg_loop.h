#pragma once

// PgLoop: the thread each projector runs on. It calls the body with a fresh PostgreSQL
// connection (search_path set to the schema) until Stop; when the body returns, or a lost
// connection or any other exception ends it, that is logged and the body runs again
// after 1 s. Start and Stop are called from one thread; Stopping and Sleep from the body.

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <thread>

namespace senren::projections {

class PgLoop {
 public:
  PgLoop(std::string name, std::string uri, std::string schema)
      : name_(std::move(name)), uri_(std::move(uri)), schema_(std::move(schema)) {}
  ~PgLoop() { Stop(); }

  void Start(std::function<void(pqxx::connection&)> body) {
    {
      std::lock_guard lock(mu_);
      stop_ = false;
    }
    thread_ = std::thread([this, body = std::move(body)] { Run(body); });
  }

  void Stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  bool Stopping() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  // Sleeps up to d, waking early on Stop.
  void Sleep(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, d, [this] { return stop_; });
  }

 private:
  void Run(const std::function<void(pqxx::connection&)>& body) {
    while (!Stopping()) {
      try {
        pqxx::connection conn(uri_);
        pqxx::nontransaction(conn).exec0("SET search_path TO " + conn.quote_name(schema_));
        body(conn);
      } catch (const pqxx::broken_connection& e) {
        spdlog::warn("{}: PostgreSQL connection lost ({}); reconnecting", name_, e.what());
      } catch (const std::exception& e) {
        spdlog::error("{}: {}; restarting its loop", name_, e.what());
      }
      Sleep(std::chrono::seconds(1));
    }
  }

  const std::string name_;
  const std::string uri_;
  const std::string schema_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
};

}  // namespace senren::projections
