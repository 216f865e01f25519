// The adapter's partition helpers on the lab's Kafka: GrowPartitions (never shrinks),
// records produced to an explicit partition, a consumer's own view of the partition count,
// and DeleteTopic. What the growth of {prefix}-state relies on (docs/design.md §4, Fan-out).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "kafka/kafka.h"
#include "lab/lab_env.h"

namespace senren::kafka {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Connection Lab() { return {senren::testing::Lab().kafka_brokers}; }

class KafkaPartitionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topic_ = senren::testing::UniqueName("kparts");
    ASSERT_TRUE(EnsureTopic(Lab(), {topic_, 2, 1, {{"cleanup.policy", "compact"}}}).ok());
  }
  void TearDown() override { DeleteTopic(Lab(), topic_).IgnoreError(); }

  // Produces one record and waits for its answer.
  Delivery ProduceOne(Producer& producer, int32_t partition, const std::string& key) {
    Record r{topic_, key, std::string("v"), {}};
    r.partition = partition;
    std::atomic<bool> done{false};
    Delivery out;
    absl::Status s = producer.Produce(r, [&](const Delivery& d) {
      out = d;
      done = true;
    });
    if (!s.ok()) {
      out.status = s;
      return out;
    }
    EXPECT_TRUE(producer.Flush(seconds(10)).ok());
    EXPECT_TRUE(done.load());
    return out;
  }

  std::string topic_;
};

TEST_F(KafkaPartitionsTest, GrowsNeverShrinksAndConsumersSeeTheNewCount) {
  auto consumer = Consumer::Create(Lab());
  ASSERT_TRUE(consumer.ok());
  auto seen = (*consumer)->PartitionCount(topic_);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, 2);

  auto grown = GrowPartitions(Lab(), topic_, 5);
  ASSERT_TRUE(grown.ok()) << grown.status();
  EXPECT_EQ(*grown, 5);
  auto count = PartitionCount(Lab(), topic_);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 5);
  seen = (*consumer)->PartitionCount(topic_);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, 5) << "a consumer's metadata request must see the growth at once";

  // Fewer than it has, or as many: left as it is.
  grown = GrowPartitions(Lab(), topic_, 3);
  ASSERT_TRUE(grown.ok()) << grown.status();
  EXPECT_EQ(*grown, 5);
  grown = GrowPartitions(Lab(), topic_, 5);
  ASSERT_TRUE(grown.ok()) << grown.status();
  EXPECT_EQ(*grown, 5);

  EXPECT_TRUE(absl::IsNotFound(GrowPartitions(Lab(), topic_ + "-missing", 4).status()));
  EXPECT_TRUE(absl::IsNotFound((*consumer)->PartitionCount(topic_ + "-missing").status()));
}

TEST_F(KafkaPartitionsTest, ExplicitPartitionLandsThereOrFailsNeverElsewhere) {
  auto producer = Producer::Create(Lab());
  ASSERT_TRUE(producer.ok());
  // A key whose murmur2 partition is 0: the explicit partition 1 must win over it.
  std::string key;
  for (int i = 0; key.empty(); ++i) {
    if (PartitionForKey("k" + std::to_string(i), 2) == 0) key = "k" + std::to_string(i);
  }
  Delivery d = ProduceOne(**producer, 1, key);
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.partition, 1);

  // The topic grows; this producer's metadata still shows 2 partitions. A record for
  // partition 4 fails rather than going to a partition the producer knows.
  ASSERT_TRUE(GrowPartitions(Lab(), topic_, 5).ok());
  d = ProduceOne(**producer, 4, key);
  std::printf("a producer that knew 2 partitions, asked for partition 4: %s\n",
              d.status.ok() ? "landed in it" : d.status.ToString().c_str());
  if (d.status.ok()) {
    EXPECT_EQ(d.partition, 4) << "a record for partition 4 landed elsewhere";
  } else {
    EXPECT_TRUE(absl::IsNotFound(d.status)) << d.status;
  }
  auto low_high = Watermarks(Lab(), topic_, 0);
  ASSERT_TRUE(low_high.ok());
  EXPECT_EQ(low_high->second, 0) << "nothing was asked to go to partition 0";

  // A new producer knows the new partitions.
  auto fresh = Producer::Create(Lab());
  ASSERT_TRUE(fresh.ok());
  d = ProduceOne(**fresh, 4, key);
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.partition, 4);

  // The consumer counts what it returned.
  auto consumer = Consumer::Create(Lab());
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Assign({{topic_, 4, PartitionOffset::kBeginning}}).ok());
  int64_t got = 0;
  for (auto deadline = std::chrono::steady_clock::now() + seconds(10);
       got == 0 && std::chrono::steady_clock::now() < deadline;) {
    auto m = (*consumer)->Poll(milliseconds(100));
    ASSERT_TRUE(m.ok()) << m.status();
    if (m->has_value()) ++got;
  }
  EXPECT_GE(got, 1);
  EXPECT_EQ((*consumer)->RecordsRead(), got);
  EXPECT_EQ((*consumer)->BytesRead(), got * static_cast<int64_t>(key.size() + 1));
}

TEST_F(KafkaPartitionsTest, DeleteTopicRemovesItAndAMissingTopicIsFine) {
  ASSERT_TRUE(DeleteTopic(Lab(), topic_).ok());
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = absl::IsNotFound(PartitionCount(Lab(), topic_).status());
    if (!gone) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(gone);
  EXPECT_TRUE(DeleteTopic(Lab(), topic_ + "-never").ok());
}

}  // namespace
}  // namespace senren::kafka
