#include "regional/plane/status_outbox.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "regional/kube/testing/fake_clock.h"
#include "regional/plane/outbox_relay.h"
#include "regional/plane/testing/fakes.h"

namespace senren::regional::plane {
namespace {

namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() /
          ("senren-outbox-" + std::to_string(::getpid()) + "-" + name + ".sqlite"))
      .string();
}

TEST(SqliteStatusOutboxTest, PutPeekDeleteAndReopen) {
  const std::string path = TempPath("basic");
  fs::remove(path);
  {
    auto outbox = SqliteStatusOutbox::Open(path);
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    ASSERT_TRUE((*outbox)
                    ->Put({{"r/c/RedisDatabase/a", std::string("v1\0x", 4), "tp"},
                           {"r/c/RedisDatabase/b", std::nullopt, ""}})
                    .ok());
    ASSERT_TRUE((*outbox)->Put({{"r/c", std::string("report"), ""}}).ok());
    auto peek = (*outbox)->Peek(0, 10);
    ASSERT_TRUE(peek.ok());
    ASSERT_EQ(peek->size(), 3u);
    EXPECT_EQ((*peek)[0].record.value, std::string("v1\0x", 4));  // binary-safe
    EXPECT_EQ((*peek)[0].record.traceparent, "tp");
    EXPECT_FALSE((*peek)[1].record.value.has_value());  // tombstone kept as NULL
    EXPECT_LT((*peek)[0].id, (*peek)[1].id);
    ASSERT_TRUE((*outbox)->Delete({(*peek)[0].id}).ok());
    EXPECT_EQ(*(*outbox)->Size(), 2);
    EXPECT_EQ((*outbox)->Peek((*peek)[1].id, 10)->size(), 1u);
  }
  auto reopened = SqliteStatusOutbox::Open(path);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->Size(), 2);  // committed rows survive the process
  fs::remove(path);
  fs::remove(path + "-wal");
  fs::remove(path + "-shm");
}

TEST(SqliteStatusOutboxTest, UnopenablePathIsAnError) {
  auto outbox = SqliteStatusOutbox::Open("/proc/nonexistent/dir/outbox.sqlite");
  EXPECT_TRUE(absl::IsUnavailable(outbox.status())) << outbox.status();
}

// A producer whose deliveries the test controls.
class FakeProducer : public kafka::Producer {
 public:
  absl::Status Produce(const kafka::Record& record, OnDelivery on_delivery) override {
    absl::MutexLock lock(&mu_);
    records_.push_back(record);
    if (hold_) {
      held_.push_back(std::move(on_delivery));
      return absl::OkStatus();
    }
    kafka::Delivery d;
    d.status = fail_ ? absl::UnavailableError("broker down") : absl::OkStatus();
    on_delivery(d);
    return absl::OkStatus();
  }
  absl::Status Flush(std::chrono::milliseconds) override { return absl::OkStatus(); }
  // Not marked override: kafka::Producer gains PurgeQueued in a pending change.
  void PurgeQueued() {}  // NOLINT(modernize-use-override)

  void Hold(bool hold) {
    std::vector<OnDelivery> release;
    {
      absl::MutexLock lock(&mu_);
      hold_ = hold;
      if (!hold) release.swap(held_);
    }
    for (auto& cb : release) cb(kafka::Delivery{});
  }
  void Fail(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_ = fail;
  }
  std::vector<kafka::Record> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  // Blocks until `n` records were produced.
  void AwaitRecords(size_t n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return records_.size() >= n; };
    mu_.Await(absl::Condition(&reached));
  }

 private:
  absl::Mutex mu_;
  bool hold_ = false;
  bool fail_ = false;
  std::vector<OnDelivery> held_;
  std::vector<kafka::Record> records_;
};

// Lets the relay run until `pred` holds while it waits on the clock (idle, or backing off
// after a failed round): each time it waits, `pred` is checked and, if false, the clock is
// moved past the wait. False after 100 waits.
bool RunRelayUntil(kube::testing::FakeClock& clock, const std::function<bool()>& pred) {
  for (int i = 0; i < 100; ++i) {
    if (!clock.BlockUntilWaiters(1)) return false;
    if (pred()) return true;
    clock.Advance(std::chrono::seconds(1));
  }
  return false;
}

TEST(OutboxRelayTest, PublishesInOrderAndDeletesOnlyConfirmed) {
  testing::InMemoryStatusOutbox outbox;
  FakeProducer producer;
  kube::testing::FakeClock clock;
  OutboxRelayOptions o;
  o.topic = "t-status";
  o.clock = &clock;  // idle poll 200 ms, retry backoff 1 s
  OutboxRelay relay(&outbox, &producer, o);
  producer.Hold(true);  // Kafka does not answer yet
  ASSERT_TRUE(outbox.Put({{"a", std::string("1"), "tp"}, {"b", std::nullopt, ""}}).ok());
  relay.Start();
  producer.AwaitRecords(2);
  EXPECT_EQ(*outbox.Size(), 2);  // nothing confirmed, nothing deleted
  producer.Hold(false);
  ASSERT_TRUE(RunRelayUntil(clock, [&] { return *outbox.Size() == 0; }));
  auto recs = producer.records();
  EXPECT_EQ(recs[0].topic, "t-status");
  EXPECT_EQ(recs[0].key, "a");
  ASSERT_EQ(recs[0].headers.size(), 1u);
  EXPECT_EQ(recs[0].headers[0].value, "tp");
  EXPECT_FALSE(recs[1].value.has_value());

  producer.Fail(true);  // failed deliveries stay in the outbox and are retried
  ASSERT_TRUE(outbox.Put({{"c", std::string("3"), ""}}).ok());
  relay.Notify();
  ASSERT_TRUE(RunRelayUntil(clock, [&] { return relay.failed() >= 2; }));
  EXPECT_EQ(*outbox.Size(), 1);
  producer.Fail(false);
  ASSERT_TRUE(RunRelayUntil(clock, [&] { return *outbox.Size() == 0; }));
  EXPECT_EQ(relay.published(), 3);
  relay.Stop();
}

}  // namespace
}  // namespace senren::regional::plane
