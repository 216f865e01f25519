#pragma once

// What pg's sources share about libpqxx; nothing outside pg/src sees it.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "pg/session.h"

namespace senren::pg {

struct ResultData {
  explicit ResultData(pqxx::result r) : result(std::move(r)) {
    // Each pqxx::row holds a reference to the result: made once here, a field access
    // costs what it costs with libpqxx's own iterators.
    rows.reserve(result.size());
    for (pqxx::result::size_type i = 0; i < result.size(); ++i) rows.push_back(result[i]);
  }
  pqxx::result result;
  std::vector<pqxx::row> rows;
};

class SessionImpl {
 public:
  explicit SessionImpl(const std::string& conninfo) : conn(conninfo) {}
  ~SessionImpl() { receivers.clear(); }  // receivers before their connection

  pqxx::connection conn;
  std::vector<std::unique_ptr<pqxx::notification_receiver>> receivers;
};

struct Transaction::Impl {
  std::unique_ptr<pqxx::transaction_base> tx;
};

// How a guarded call ended, for the pool: whether the session is to be dropped and
// whether the call may run again on a new one.
struct Outcome {
  absl::Status status;
  bool broken = false;     // the connection is gone: drop it (and the idle ones)
  bool retryable = false;  // broken before any commit: running again is safe
};

// Enforces call deadlines on our side: past its deadline an armed socket is shut down,
// so the libpq call blocked on it (send, or recv of an answer that will never come)
// returns at once as a broken connection. Neither keepalives nor tcp_user_timeout cover
// a peer whose kernel still acknowledges while the server behind it stays silent.
// Thread-safe; one thread of its own; the sockets must stay open until disarmed.
class Watchdog {
 public:
  Watchdog();
  ~Watchdog();
  // Returns a ticket for Disarm.
  uint64_t Arm(int fd, std::chrono::steady_clock::time_point deadline);
  // True when the deadline passed and the socket was shut down.
  bool Disarm(uint64_t ticket);

 private:
  struct Armed {
    int fd;
    std::chrono::steady_clock::time_point deadline;
    bool fired = false;
  };
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Armed> armed_;
  uint64_t next_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

// Runs `fn` and turns whatever libpqxx (or anything else) threw into an Outcome whose
// messages name `op` and `region`.
Outcome Guard(std::string_view op, std::string_view region, absl::FunctionRef<void()> fn);

// The UNAVAILABLE of a connection that cannot be opened.
absl::Status CannotConnect(std::string_view uri, std::string_view why);

}  // namespace senren::pg
