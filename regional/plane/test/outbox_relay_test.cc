// OutboxRelay against a scripted broker: status must never go backwards on the compacted
// status topic, whatever fails within a round.

#include "regional/plane/outbox_relay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "kafka/kafka.h"
#include "regional/kube/testing/fake_clock.h"
#include "regional/plane/testing/fakes.h"

namespace senren::regional::plane {
namespace {

// One partition of a broker behind kafka::Producer. Written records get increasing
// offsets; the test chooses which deliveries fail, and may hold answers and then write
// the held records in any order (as a producer that does not keep order would).
class ScriptedProducer : public kafka::Producer {
 public:
  absl::Status Produce(const kafka::Record& record, OnDelivery on_delivery) override {
    kafka::Delivery d;
    {
      absl::MutexLock lock(&mu_);
      sent_.push_back(record);
      auto fail = fail_.find(record.value.value_or(""));
      if (fail != fail_.end() && fail->second > 0) {
        --fail->second;
        d.status = absl::UnavailableError("broker down");
      } else if (hold_) {
        held_.push_back({record, std::move(on_delivery)});
        return absl::OkStatus();
      } else {
        d = WriteLocked(record);
      }
    }
    on_delivery(d);
    return absl::OkStatus();
  }
  absl::Status Flush(std::chrono::milliseconds) override { return absl::OkStatus(); }
  // Held records are dropped unwritten and answered CANCELLED, as when a stopped relay's
  // producer is destroyed.
  void PurgeQueued() override {
    std::vector<Held> held;
    {
      absl::MutexLock lock(&mu_);
      hold_ = false;
      held.swap(held_);
    }
    kafka::Delivery d;
    d.status = absl::CancelledError("purged");
    for (Held& h : held) h.on_delivery(d);
  }

  // The next `times` deliveries of the record with this value fail.
  void FailNext(const std::string& value, int times) {
    absl::MutexLock lock(&mu_);
    fail_[value] = times;
  }
  // Records produced from now on wait for Release / ReleaseValue.
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  // Writes every held record, newest first when asked, answers them, stops holding.
  void Release(bool newest_first) {
    std::vector<std::pair<OnDelivery, kafka::Delivery>> answers;
    {
      absl::MutexLock lock(&mu_);
      hold_ = false;
      std::vector<Held> held;
      held.swap(held_);
      if (newest_first) std::reverse(held.begin(), held.end());
      for (Held& h : held) answers.emplace_back(std::move(h.on_delivery), WriteLocked(h.record));
    }
    for (auto& [cb, d] : answers) cb(d);
  }
  // Writes and answers the held record with this value only; the others stay held.
  void ReleaseValue(const std::string& value) {
    std::optional<std::pair<OnDelivery, kafka::Delivery>> answer;
    {
      absl::MutexLock lock(&mu_);
      for (auto it = held_.begin(); it != held_.end(); ++it) {
        if (it->record.value == value) {
          answer.emplace(std::move(it->on_delivery), WriteLocked(it->record));
          held_.erase(it);
          break;
        }
      }
    }
    if (answer) answer->first(answer->second);
  }

  // Values of every record produced under `key`, delivered or not, in produce order.
  std::vector<std::string> Sent(const std::string& key) {
    absl::MutexLock lock(&mu_);
    return ValuesLocked(sent_, key);
  }
  size_t sent_count() {
    absl::MutexLock lock(&mu_);
    return sent_.size();
  }
  // Blocks until `n` records were produced.
  void AwaitSent(size_t n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return sent_.size() >= n; };
    mu_.Await(absl::Condition(&reached));
  }
  // Values written under `key`, in offset order; the last is what compaction keeps.
  std::vector<std::string> Log(const std::string& key) {
    absl::MutexLock lock(&mu_);
    return ValuesLocked(log_, key);
  }

 private:
  struct Held {
    kafka::Record record;
    OnDelivery on_delivery;
  };

  kafka::Delivery WriteLocked(const kafka::Record& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    log_.push_back(record);
    kafka::Delivery d;
    d.partition = 0;
    d.offset = static_cast<int64_t>(log_.size()) - 1;
    return d;
  }
  static std::vector<std::string> ValuesLocked(const std::vector<kafka::Record>& records,
                                               const std::string& key) {
    std::vector<std::string> out;
    for (const auto& r : records) {
      if (r.key == key) out.push_back(r.value.value_or("<tombstone>"));
    }
    return out;
  }

  absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, int> fail_ ABSL_GUARDED_BY(mu_);
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
  std::vector<kafka::Record> sent_ ABSL_GUARDED_BY(mu_);
  std::vector<kafka::Record> log_ ABSL_GUARDED_BY(mu_);
};

using kube::testing::FakeClock;

// The default idle poll (200 ms) and retry backoff (1 s), on a clock the test moves.
OutboxRelayOptions Options(FakeClock* clock) {
  OutboxRelayOptions o;
  o.topic = "t-status";
  o.clock = clock;
  return o;
}

// Lets the relay run until `pred` holds while it waits on the clock (idle, or backing off
// after a failed round): each time it waits, `pred` is checked and, if false, the clock is
// moved past the wait. False after 100 waits.
bool RunRelayUntil(FakeClock& clock, const std::function<bool()>& pred) {
  for (int i = 0; i < 100; ++i) {
    if (!clock.BlockUntilWaiters(1)) return false;
    if (pred()) return true;
    clock.Advance(std::chrono::seconds(1));
  }
  return false;
}

using Values = std::vector<std::string>;

TEST(OutboxRelayOrderTest, OlderFailedEntryIsSupersededByNewerDelivered) {
  FakeClock clock;
  testing::InMemoryStatusOutbox outbox;
  ScriptedProducer producer;
  // One round holds all of them: they are put before the relay starts.
  ASSERT_TRUE(outbox
                  .Put({{"K", std::string("k1"), ""},
                        {"X", std::string("x1"), ""},
                        {"K", std::string("k2"), ""},
                        {"Y", std::string("y1"), ""},
                        {"K", std::string("k3"), ""}})
                  .ok());
  producer.FailNext("k1", 1);  // older than the delivered k2: superseded
  producer.FailNext("k3", 1);  // newer than k2: retried
  producer.FailNext("y1", 1);  // another key, nothing newer: retried
  OutboxRelay relay(&outbox, &producer, Options(&clock));
  relay.Start();
  ASSERT_TRUE(RunRelayUntil(clock, [&] { return *outbox.Size() == 0; }));
  relay.Stop();

  EXPECT_EQ(producer.Sent("K"), (Values{"k1", "k2", "k3", "k3"}));  // k1 never again
  EXPECT_EQ(producer.Log("K"), (Values{"k2", "k3"}));               // newest last
  EXPECT_EQ(producer.Log("X"), (Values{"x1"}));
  EXPECT_EQ(producer.Sent("Y"), (Values{"y1", "y1"}));
  EXPECT_EQ(producer.Log("Y"), (Values{"y1"}));
  EXPECT_EQ(relay.published(), 4);   // x1 k2 y1 k3
  EXPECT_EQ(relay.superseded(), 1);  // k1
  EXPECT_EQ(relay.failed(), 3);
}

TEST(OutboxRelayOrderTest, NewerFailedEntryIsRetriedAndEndsLast) {
  FakeClock clock;
  testing::InMemoryStatusOutbox outbox;
  ScriptedProducer producer;
  ASSERT_TRUE(outbox
                  .Put({{"K", std::string("k1"), ""},
                        {"K", std::string("k2"), ""},
                        {"X", std::string("x1"), ""}})
                  .ok());
  producer.FailNext("k2", 2);
  OutboxRelay relay(&outbox, &producer, Options(&clock));
  relay.Start();
  ASSERT_TRUE(RunRelayUntil(clock, [&] { return *outbox.Size() == 0; }));
  relay.Stop();

  EXPECT_EQ(producer.Sent("K"), (Values{"k1", "k2", "k2", "k2"}));  // k1 not re-sent
  EXPECT_EQ(producer.Log("K"), (Values{"k1", "k2"}));
  EXPECT_EQ(producer.Log("X"), (Values{"x1"}));
  EXPECT_EQ(relay.published(), 3);
  EXPECT_EQ(relay.superseded(), 0);
  EXPECT_EQ(relay.failed(), 2);
}

TEST(OutboxRelayOrderTest, OlderEntryUnansweredAtStopIsNotSentAgain) {
  FakeClock clock;
  testing::InMemoryStatusOutbox outbox;
  ScriptedProducer producer;
  ASSERT_TRUE(outbox
                  .Put({{"K", std::string("k1"), ""},
                        {"K", std::string("k2"), ""},
                        {"X", std::string("x1"), ""}})
                  .ok());
  producer.Hold();
  {
    OutboxRelay relay(&outbox, &producer, Options(&clock));
    relay.Start();
    producer.AwaitSent(3);  // the round waits for their answers
    producer.ReleaseValue("k2");
    relay.Stop();  // k1 and x1 still unanswered
    EXPECT_EQ(relay.published(), 1);
    EXPECT_EQ(relay.superseded(), 1);
  }
  // k1 is gone with the round; x1, never answered, waits for the next relay.
  auto left = outbox.Peek(0, 10);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].record.key, "X");

  producer.PurgeQueued();  // the stopped round's late answers reach nobody
  OutboxRelay next(&outbox, &producer, Options(&clock));
  next.Start();
  ASSERT_TRUE(RunRelayUntil(clock, [&] { return *outbox.Size() == 0; }));
  next.Stop();
  EXPECT_EQ(producer.Sent("K"), (Values{"k1", "k2"}));
  EXPECT_EQ(producer.Log("K"), (Values{"k2"}));
  EXPECT_EQ(producer.Sent("X"), (Values{"x1", "x1"}));  // duplicate, in order: harmless
}

TEST(OutboxRelayOrderTest, NewestWrittenBeforeAnOlderOneIsSentAgain) {
  FakeClock clock;
  testing::InMemoryStatusOutbox outbox;
  ScriptedProducer producer;
  ASSERT_TRUE(outbox.Put({{"K", std::string("k1"), ""}, {"K", std::string("k2"), ""}}).ok());
  producer.Hold();
  OutboxRelay relay(&outbox, &producer, Options(&clock));
  relay.Start();
  producer.AwaitSent(2);
  producer.Release(/*newest_first=*/true);  // k2 at offset 0, k1 at offset 1
  ASSERT_TRUE(RunRelayUntil(clock, [&] { return *outbox.Size() == 0; }));
  relay.Stop();

  EXPECT_EQ(producer.Log("K"), (Values{"k2", "k1", "k2"}));
  EXPECT_EQ(relay.published(), 2);
  EXPECT_EQ(relay.superseded(), 0);
  EXPECT_EQ(relay.failed(), 0);
}

}  // namespace
}  // namespace senren::regional::plane
