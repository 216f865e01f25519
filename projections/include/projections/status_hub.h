#pragma once

// StatusHub: fans status events of a region out to every WatchStatus stream of this
// process. The status projector publishes after its transaction commits, so a watcher
// never sees an event that GetStatus cannot show yet.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "senren/v1/control_plane.pb.h"

namespace senren::projections {

class StatusHub {
 public:
  // One watcher's queue. Thread-safe. A watcher that falls more than `capacity` events
  // behind is closed (Next returns nullopt with Overflowed() true) rather than slowing
  // the projector; it re-subscribes and reads GetStatus.
  class Subscription {
   public:
    explicit Subscription(size_t capacity) : capacity_(capacity) {}
    // Next event, or nullopt after timeout or when closed.
    std::optional<v1::StatusEvent> Next(std::chrono::milliseconds timeout);
    void Push(const v1::StatusEvent& event);
    // Puts events before everything queued (a replay that precedes live events).
    void Prepend(const std::vector<v1::StatusEvent>& events);
    void Close();
    bool Closed() const;
    bool Overflowed() const;

   private:
    const size_t capacity_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<v1::StatusEvent> queue_;  // guarded by mu_
    bool closed_ = false;                // guarded by mu_
    bool overflowed_ = false;            // guarded by mu_
  };

  // Default capacity: 10,000 events.
  std::shared_ptr<Subscription> Subscribe(const std::string& region, size_t capacity = 10000);
  void Publish(const std::string& region, const v1::StatusEvent& event);
  size_t Watchers() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::weak_ptr<Subscription>>> subs_;  // guarded by mu_
};

}  // namespace senren::projections
