// The Kafka adapter against the lab's broker: topics are created with their config,
// records land in the partition PartitionForKey names, tombstones and headers survive.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "kafka/kafka.h"
#include "lab/lab_env.h"

namespace senren::kafka {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(KafkaAdapter, EnsureTopicIsIdempotentAndPartitionCountSeesIt) {
  const auto& lab = testing::Lab();
  const std::string topic = testing::UniqueName("adapter");
  TopicSpec spec{topic, 8, 1, {{"cleanup.policy", "compact"}}};
  ASSERT_TRUE(EnsureTopic({lab.kafka_brokers}, spec).ok());
  ASSERT_TRUE(EnsureTopic({lab.kafka_brokers}, spec).ok());
  auto n = PartitionCount({lab.kafka_brokers}, topic);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 8);
  auto missing = PartitionCount({lab.kafka_brokers}, topic + "-missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

TEST(KafkaAdapter, EnsureTopicWithTheBrokersReplicationFactor) {
  const auto& lab = testing::Lab();
  const std::string topic = testing::UniqueName("adapter");
  ASSERT_EQ(TopicSpec{}.replication_factor, TopicSpec::kBrokerDefault);
  absl::Status s = EnsureTopic({lab.kafka_brokers}, {topic, 3, TopicSpec::kBrokerDefault, {}});
  ASSERT_TRUE(s.ok()) << s;
  auto n = PartitionCount({lab.kafka_brokers}, topic);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3);
}

TEST(KafkaAdapter, RecordsLandInPartitionForKeyAndRoundTrip) {
  const auto& lab = testing::Lab();
  const std::string topic = testing::UniqueName("adapter");
  ASSERT_TRUE(
      EnsureTopic({lab.kafka_brokers}, {topic, 8, 1, {{"cleanup.policy", "compact"}}}).ok());
  auto producer = Producer::Create({lab.kafka_brokers});
  ASSERT_TRUE(producer.ok()) << producer.status();

  const std::vector<std::string> keys = {"aws:us-east-1", "gcp:us-central1", "gcp:europe-west1",
                                         "a:b"};
  std::vector<std::promise<Delivery>> done(keys.size() + 1);
  for (size_t i = 0; i < keys.size(); ++i) {
    Record r{topic, keys[i], "value-" + keys[i], {{"traceparent", "00-t-" + std::to_string(i)}}};
    ASSERT_TRUE(
        (*producer)->Produce(r, [&done, i](const Delivery& d) { done[i].set_value(d); }).ok());
  }
  // A tombstone for the first key.
  ASSERT_TRUE((*producer)
                  ->Produce({topic, keys[0], std::nullopt, {}},
                            [&done, n = keys.size()](const Delivery& d) { done[n].set_value(d); })
                  .ok());
  ASSERT_TRUE((*producer)->Flush(seconds(30)).ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    Delivery d = done[i].get_future().get();
    ASSERT_TRUE(d.status.ok()) << d.status;
    EXPECT_EQ(d.partition, PartitionForKey(keys[i], 8)) << keys[i];
  }
  Delivery tomb = done[keys.size()].get_future().get();
  ASSERT_TRUE(tomb.status.ok());

  // Read back the first key's partition only.
  auto consumer = Consumer::Create({lab.kafka_brokers});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  const int32_t p = PartitionForKey(keys[0], 8);
  ASSERT_TRUE((*consumer)->Assign({{topic, p, PartitionOffset::kBeginning}}).ok());
  std::vector<Message> got;
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline && got.size() < 2) {
    auto m = (*consumer)->Poll(milliseconds(200));
    ASSERT_TRUE(m.ok()) << m.status();
    if (*m && (*m)->key == keys[0]) got.push_back(**m);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].value, "value-" + keys[0]);
  EXPECT_EQ(got[0].HeaderValue("traceparent"), "00-t-0");
  EXPECT_EQ(got[0].partition, p);
  EXPECT_FALSE(got[1].value.has_value()) << "tombstone expected";
  EXPECT_GT(got[1].offset, got[0].offset);
}

// A fatal producer error (what a broker fencing an idempotent producer causes) used to
// leave the producer refusing every record for good, and the daemon using it frozen. Now
// the records it held fail through on_delivery and a new handle takes the next ones.
TEST(KafkaAdapter, ProducerRecoversFromAFatalError) {
  const auto& lab = testing::Lab();
  const std::string topic = testing::UniqueName("adapter");
  ASSERT_TRUE(EnsureTopic({lab.kafka_brokers}, {topic, 1, 1, {}}).ok());
  auto producer = Producer::Create({lab.kafka_brokers});
  ASSERT_TRUE(producer.ok()) << producer.status();
  auto produce = [&](const std::string& value) {
    auto done = std::make_shared<std::promise<Delivery>>();
    absl::Status s = (*producer)->Produce({topic, "k", value, {}},
                                          [done](const Delivery& d) { done->set_value(d); });
    if (!s.ok()) done->set_value(Delivery{s, -1, -1});
    return done->get_future();
  };
  ASSERT_TRUE(produce("before").get().status.ok());

  ASSERT_TRUE(TriggerFatalErrorForTest(producer->get(), "fenced by the test").ok());
  // Until the poll thread has replaced the handle, a record may be refused or fail; the
  // caller sends it again, as Senren's producers do with a failed delivery.
  Delivery after;
  for (int attempt = 0; attempt < 100; ++attempt) {
    after = produce("after").get();
    if (after.status.ok()) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(after.status.ok()) << after.status;
  EXPECT_EQ(ProducerRecoveries(producer->get()), 1);
  ASSERT_TRUE((*producer)->Flush(seconds(30)).ok());

  auto consumer = Consumer::Create({lab.kafka_brokers});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->Assign({{topic, 0, PartitionOffset::kBeginning}}).ok());
  std::vector<std::string> values;
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline && values.size() < 2) {
    auto m = (*consumer)->Poll(milliseconds(200));
    ASSERT_TRUE(m.ok()) << m.status();
    if (*m) values.push_back((*m)->value.value_or(""));
  }
  EXPECT_EQ(values, (std::vector<std::string>{"before", "after"}));
}

TEST(KafkaAdapter, UnknownSettingIsAnErrorNamingIt) {
  auto producer = Producer::Create({"127.0.0.1:1"}, {{"no.such.setting", "1"}});
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(producer.status().message().find("no.such.setting"), std::string::npos);
}

}  // namespace
}  // namespace senren::kafka
