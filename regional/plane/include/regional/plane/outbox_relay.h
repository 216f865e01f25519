#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kafka/kafka.h"
#include "regional/kube/clock.h"
#include "regional/plane/status_outbox.h"

namespace senren::regional::plane {

struct OutboxRelayOptions {
  std::string topic;  // {prefix}-status
  // Entries published per round. Default: 500.
  size_t batch = 500;
  // Poll of the outbox when nobody calls Notify. Default: 200 ms.
  std::chrono::milliseconds idle_poll{200};
  // Pause after a round in which a delivery failed. Default: 1 s.
  std::chrono::milliseconds retry_backoff{1000};
  // The clock of idle_poll and retry_backoff (a round's wait for Kafka's answers is not a
  // timer: it lasts until they come or Stop); not owned. Default: kube::Clock::Real().
  kube::Clock* clock = kube::Clock::Real();
};

// Publishes the outbox to Kafka in id order and deletes the entries Kafka confirmed. One
// thread (Start..Stop). A round waits for every delivery report of its batch (the
// idempotent producer retries until the broker answers), so with Kafka down the outbox
// grows and drains, in order, when Kafka is back.
//
// Status never goes backwards on the compacted topic: per key, once a round has an entry
// confirmed, every older entry of that key is deleted too (superseded), whether its
// delivery failed or was still unanswered, and is never sent again. Only entries newer
// than every confirmed one of their key are retried, so they land after it. Those left
// unconfirmed at Stop are published again by the next relay: duplicates in id order are
// harmless on a compacted topic.
class OutboxRelay {
 public:
  OutboxRelay(StatusOutbox* outbox, kafka::Producer* producer, OutboxRelayOptions options);
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  void Start();
  void Stop();
  // Wakes the relay: something was put into the outbox.
  void Notify();

  // Entries deleted because Kafka confirmed them.
  int64_t published() const { return published_.load(); }
  // Failed delivery attempts (a record retried twice and failing twice counts 2).
  int64_t failed() const { return failed_.load(); }
  // Entries deleted unsent, or unconfirmed, because a newer entry of their key was
  // confirmed. Each entry this relay deletes is counted once, in published or here.
  int64_t superseded() const { return superseded_.load(); }

 private:
  void Run();
  // One round; false when nothing was waiting.
  bool RunOnce();
  kube::Clock* clock() const {
    return options_.clock != nullptr ? options_.clock : kube::Clock::Real();
  }

  StatusOutbox* const outbox_;
  kafka::Producer* const producer_;
  const OutboxRelayOptions options_;
  std::thread thread_;
  std::atomic<int64_t> published_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> superseded_{0};

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace senren::regional::plane
