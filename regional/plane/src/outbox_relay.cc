#include "regional/plane/outbox_relay.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <vector>

namespace senren::regional::plane {

OutboxRelay::OutboxRelay(StatusOutbox* outbox, kafka::Producer* producer,
                         OutboxRelayOptions options)
    : outbox_(outbox), producer_(producer), options_(std::move(options)) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() { thread_ = std::thread([this] { Run(); }); }

void OutboxRelay::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void OutboxRelay::Notify() {
  absl::MutexLock lock(&mu_);
  notified_ = true;
}

void OutboxRelay::Run() {
  for (;;) {
    bool more = RunOnce();
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    if (more) continue;
    auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || notified_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken), absl::FromChrono(options_.idle_poll));
    notified_ = false;
    if (stop_) return;
  }
}

bool OutboxRelay::RunOnce() {
  auto entries = outbox_->Peek(0, options_.batch);
  if (!entries.ok()) {
    spdlog::warn("status relay: {}", entries.status().ToString());
    return false;
  }
  if (entries->empty()) return false;

  // Deliveries of this round; shared so a late callback after Stop is harmless.
  struct Round {
    absl::Mutex mu;
    size_t pending ABSL_GUARDED_BY(mu) = 0;
    std::vector<int64_t> delivered ABSL_GUARDED_BY(mu);
    size_t failures ABSL_GUARDED_BY(mu) = 0;
    std::string last_error ABSL_GUARDED_BY(mu);
  };
  auto round = std::make_shared<Round>();
  for (const OutboxEntry& e : *entries) {
    kafka::Record record{options_.topic, e.record.key, e.record.value, {}};
    if (!e.record.traceparent.empty()) record.headers.push_back({"traceparent", e.record.traceparent});
    {
      absl::MutexLock lock(&round->mu);
      ++round->pending;
    }
    const int64_t id = e.id;
    absl::Status s = producer_->Produce(record, [round, id](const kafka::Delivery& d) {
      absl::MutexLock lock(&round->mu);
      --round->pending;
      if (d.status.ok()) {
        round->delivered.push_back(id);
      } else {
        ++round->failures;
        round->last_error = d.status.ToString();
      }
    });
    if (!s.ok()) {
      absl::MutexLock lock(&round->mu);
      --round->pending;
      ++round->failures;
      round->last_error = s.ToString();
      break;  // keep the order: later entries wait for the next round
    }
  }
  // Wait for every report of the round (or Stop).
  for (;;) {
    {
      absl::MutexLock lock(&round->mu);
      auto done = [&]() ABSL_SHARED_LOCKS_REQUIRED(round->mu) { return round->pending == 0; };
      if (round->mu.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(200))) break;
    }
    absl::MutexLock lock(&mu_);
    if (stop_) break;
  }
  std::vector<int64_t> delivered;
  size_t failures = 0;
  std::string last_error;
  {
    absl::MutexLock lock(&round->mu);
    delivered = round->delivered;
    failures = round->failures;
    last_error = round->last_error;
  }
  if (absl::Status s = outbox_->Delete(delivered); !s.ok()) {
    spdlog::warn("status relay: {}", s.ToString());
  } else {
    published_ += static_cast<int64_t>(delivered.size());
  }
  if (failures > 0) {
    failed_ += static_cast<int64_t>(failures);
    spdlog::warn("status relay: {} of {} records not delivered ({}); retrying",
                 failures, entries->size(), last_error);
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::FromChrono(options_.retry_backoff));
    return false;
  }
  return !delivered.empty();
}

}  // namespace senren::regional::plane
