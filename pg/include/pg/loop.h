#pragma once

// Loop: a thread that keeps a PostgreSQL session and runs a body on it until Stop, for
// the projectors. With a lock key it is a leader loop: the body runs only while this
// process holds the session-level advisory lock pg_try_advisory_lock(hashtext(key)), so
// of all loops with one key one runs its body; the lock goes with the session, so when
// the leader's connection goes another takes over.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "pg/options.h"
#include "pg/session.h"

namespace senren::pg {

struct LoopOptions {
  // Names the loop in logs. Required.
  std::string name;
  ConnectionOptions connection;
  // Non-empty: a leader loop on this advisory lock key. Default: empty (no lock).
  std::string lock_key;
  // Between two tries of the lock, and before reconnecting after the body ended or
  // failed. Default: 1 s.
  std::chrono::milliseconds retry_interval{1000};
};

// Start and Stop are called from one thread; Stopping and Sleep from the body.
// The body gets a fresh session each time. When it returns, or a lost connection or any
// other failure ends it, that is logged and it runs again on a new session after
// retry_interval.
class Loop {
 public:
  explicit Loop(LoopOptions options);
  ~Loop();

  void Start(std::function<void(Session&)> body);
  void Stop();

  bool Stopping() const;
  // Sleeps up to d, waking early on Stop.
  void Sleep(std::chrono::milliseconds d);

 private:
  void Run(const std::function<void(Session&)>& body);
  // Waits for the advisory lock on `session`; false when stopped first.
  bool Lead(Session& session);

  const LoopOptions options_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace senren::pg
