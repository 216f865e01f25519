#include "regional/plane/outbox_relay.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace senren::regional::plane {
namespace {

// Where Kafka wrote a delivered entry (partition and offset -1 when not reported).
struct Written {
  int64_t id = 0;
  int32_t partition = -1;
  int64_t offset = -1;
};

// What a round leaves behind.
struct Settlement {
  std::vector<int64_t> remove;  // ids to delete from the outbox
  int64_t published = 0;        // removed because Kafka confirmed them
  int64_t superseded = 0;       // removed unsent: a newer entry of their key was confirmed
};

// Per key, the newest delivered entry decides: every entry of the key with a lower id is
// removed, delivered or not (failed, or still unanswered at Stop). Sending one of those
// again would put an older status after a newer one, and compaction would keep the older
// as the key's value. Entries newer than every delivered one of their key stay and are
// retried, so they land after it. `entries` is the round's batch, oldest first.
Settlement SettleRound(const std::vector<OutboxEntry>& entries,
                       const std::vector<Written>& delivered) {
  std::unordered_map<int64_t, Written> written;
  for (const Written& w : delivered) written[w.id] = w;
  // The last delivered entry of a key in id order is its newest.
  std::unordered_map<std::string_view, Written> newest;
  for (const OutboxEntry& e : entries) {
    if (auto it = written.find(e.id); it != written.end()) newest[e.record.key] = it->second;
  }
  // Keys whose newest delivered record is not the last written: an older one got a higher
  // offset in the same partition. Only a producer that does not keep order can do that.
  std::unordered_set<std::string_view> overtaken;
  for (const OutboxEntry& e : entries) {
    auto w = written.find(e.id);
    if (w == written.end()) continue;
    const Written& n = newest.at(e.record.key);
    if (w->second.offset >= 0 && n.offset >= 0 && w->second.partition == n.partition &&
        w->second.offset > n.offset) {
      overtaken.insert(e.record.key);
    }
  }
  Settlement out;
  for (const OutboxEntry& e : entries) {
    auto top = newest.find(e.record.key);
    if (top == newest.end() || e.id > top->second.id) continue;  // retried next round
    if (e.id == top->second.id && overtaken.count(e.record.key) > 0) {
      // Kept, so the next round writes the key's newest record last again.
      spdlog::error("status relay: record {} of key {} was written before an older one "
                    "(partition {} offset {}); sending it again",
                    e.id, e.record.key, top->second.partition, top->second.offset);
      continue;
    }
    out.remove.push_back(e.id);
    if (written.count(e.id) > 0) {
      ++out.published;
    } else {
      ++out.superseded;
    }
  }
  return out;
}

}  // namespace

OutboxRelay::OutboxRelay(StatusOutbox* outbox, kafka::Producer* producer,
                         OutboxRelayOptions options)
    : outbox_(outbox), producer_(producer), options_(std::move(options)) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() {
  thread_ = std::thread([this] { Run(); });
}

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
    clock()->AwaitWithTimeout(&mu_, absl::Condition(&woken), options_.idle_poll);
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
    std::vector<Written> delivered ABSL_GUARDED_BY(mu);
    size_t failures ABSL_GUARDED_BY(mu) = 0;
    std::string last_error ABSL_GUARDED_BY(mu);
  };
  auto round = std::make_shared<Round>();
  // Two entries of one key are written in id order within the round because: the key
  // picks the partition (partitioner murmur2_random is deterministic for a non-empty key),
  // they are produced from this one thread in id order, and the producer is idempotent
  // (kafka.cc: enable.idempotence=true, acks=all), so librdkafka numbers each record and
  // keeps produce order within a partition across its retries. Rounds do not overlap: the
  // next one starts once every report of this one is in (or the relay stops). What that
  // does not cover — a record that fails (message.timeout.ms=0 leaves permanent errors, a
  // purge, a fatal producer error) while a later one of its key is delivered — is settled
  // by SettleRound, which also checks the reported offsets, as Producer::Create's extra
  // settings could turn idempotence off.
  for (const OutboxEntry& e : *entries) {
    kafka::Record record{options_.topic, e.record.key, e.record.value, {}};
    if (!e.record.traceparent.empty())
      record.headers.push_back({"traceparent", e.record.traceparent});
    {
      absl::MutexLock lock(&round->mu);
      ++round->pending;
    }
    const int64_t id = e.id;
    absl::Status s = producer_->Produce(record, [round, id](const kafka::Delivery& d) {
      absl::MutexLock lock(&round->mu);
      --round->pending;
      if (d.status.ok()) {
        round->delivered.push_back({id, d.partition, d.offset});
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
  std::vector<Written> delivered;
  size_t failures = 0;
  std::string last_error;
  {
    absl::MutexLock lock(&round->mu);
    delivered = round->delivered;
    failures = round->failures;
    last_error = round->last_error;
  }
  const Settlement settled = SettleRound(*entries, delivered);
  if (absl::Status s = outbox_->Delete(settled.remove); !s.ok()) {
    // Nothing is counted: every entry of the round stays and is sent again, in id order.
    spdlog::warn("status relay: {}", s.ToString());
  } else {
    published_ += settled.published;
    superseded_ += settled.superseded;
  }
  if (failures > 0) {
    failed_ += static_cast<int64_t>(failures);
    spdlog::warn("status relay: {} of {} records not delivered ({}); retrying all but the {} "
                 "superseded by a newer delivered record of their key",
                 failures, entries->size(), last_error, settled.superseded);
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
    clock()->AwaitWithTimeout(&mu_, absl::Condition(&stopping), options_.retry_backoff);
    return false;
  }
  return !settled.remove.empty();
}

}  // namespace senren::regional::plane
