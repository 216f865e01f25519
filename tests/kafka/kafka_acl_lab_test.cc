// The lab broker's SASL_SSL listener holds each of Senren's principals to its ACLs
// (docs/lab.md, docs/design.md §14): a regional plane may read the state topic and write
// the status topic, the control plane may write the state topic and read the status topic,
// nothing else. The principals are those of the lab's own daemons, through the
// --kafka-config files the lab gives them.
#include <gtest/gtest.h>

#include <future>
#include <string>

#include "kafka/kafka.h"
#include "lab/lab_env.h"

namespace senren::kafka {
namespace {

constexpr char kStaleLab[] =
    " (a lab from before the SASL_SSL listener lacks its client files: run `tools/lab down "
    "--purge && tools/lab up`)";

Connection Load(const std::string& file) {
  auto c = LoadConnection(file, "");
  EXPECT_TRUE(c.ok()) << c.status() << kStaleLab;
  return c.ok() ? *c : Connection{"127.0.0.1:1"};
}

std::string StateTopic() { return testing::Lab().topic_prefix + "-state"; }
std::string StatusTopic() { return testing::Lab().topic_prefix + "-status"; }

// What the broker answers to one record produced with `connection`. The bound on
// message.timeout.ms only turns a broker that never answers into a failure (UNAVAILABLE)
// instead of a hung test.
Delivery ProduceOne(const Connection& connection, const Record& record) {
  auto producer = Producer::Create(connection, {{"message.timeout.ms", "60000"}});
  if (!producer.ok()) return {producer.status()};
  std::promise<Delivery> answer;
  std::future<Delivery> answered = answer.get_future();
  absl::Status queued =
      (*producer)->Produce(record, [&answer](const Delivery& d) { answer.set_value(d); });
  if (!queued.ok()) return {queued};
  return answered.get();
}

// Reads `partition` of `topic` from `offset` with `connection` until the record of `key`:
// OK when it came, else the consumer's error. A bounded number of polls, not a deadline.
absl::Status ReadBack(const Connection& connection, const std::string& topic, int32_t partition,
                      int64_t offset, const std::string& key) {
  auto consumer = Consumer::Create(connection);
  if (!consumer.ok()) return consumer.status();
  if (absl::Status s = (*consumer)->Assign({{topic, partition, offset}}); !s.ok()) return s;
  for (int i = 0; i < 120; ++i) {
    auto m = (*consumer)->Poll(std::chrono::milliseconds(500));
    if (!m.ok()) return m.status();
    if (m->has_value() && (*m)->key == key) return absl::OkStatus();
  }
  return absl::DeadlineExceededError("the record did not come back in 120 polls");
}

class KafkaAclLab : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto& lab = testing::Lab();
    ASSERT_FALSE(lab.kafka_ledger_config.empty()) << "SENREN_KAFKA_LEDGER_CONFIG" << kStaleLab;
    for (const auto& c : lab.clusters) {
      ASSERT_FALSE(c.kafka_config.empty()) << "SENREN_KAFKA_PLANE_CONFIGS" << kStaleLab;
    }
    // The lab's daemons made them; as the super user (PLAINTEXT), so that the test holds
    // on a lab whose ledger has not run yet. A no-op on a running lab.
    const Connection admin{lab.kafka_brokers};
    for (const std::string& topic : {StateTopic(), StatusTopic()}) {
      ASSERT_TRUE(EnsureTopic(admin, {topic, 12, 1, {{"cleanup.policy", "compact"}}}).ok());
    }
  }
};

TEST_F(KafkaAclLab, EveryPlaneIsRefusedWritingTheStateTopic) {
  for (const auto& cluster : testing::Lab().clusters) {
    // A snapshot under the plane's own region's key: the most harm a plane could try.
    Delivery d =
        ProduceOne(Load(cluster.kafka_config), {StateTopic(), cluster.region, "forged", {}});
    EXPECT_EQ(d.status.code(), absl::StatusCode::kPermissionDenied)
        << cluster.kafka_config << ": " << d.status;
    EXPECT_NE(d.status.message().find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos) << d.status;
  }
}

TEST_F(KafkaAclLab, PlaneWritesTheStatusTopicAndTheControlPlaneReadsIt) {
  const auto& cluster = testing::Lab().clusters[0];
  // The tombstone of a resource that never was: the status projector records it gone,
  // which changes nothing any other test looks at.
  const std::string key =
      cluster.region + "/" + cluster.cluster + "/RedisDatabase/" + testing::UniqueName("acl-probe");
  Delivery d = ProduceOne(Load(cluster.kafka_config), {StatusTopic(), key, std::nullopt, {}});
  ASSERT_TRUE(d.status.ok()) << d.status;
  absl::Status read =
      ReadBack(Load(testing::Lab().kafka_ledger_config), StatusTopic(), d.partition, d.offset, key);
  EXPECT_TRUE(read.ok()) << read;
}

TEST_F(KafkaAclLab, ControlPlaneIsRefusedWritingTheStatusTopic) {
  const auto& cluster = testing::Lab().clusters[0];
  Delivery d = ProduceOne(Load(testing::Lab().kafka_ledger_config),
                          {StatusTopic(), cluster.region + "/" + cluster.cluster, "forged", {}});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kPermissionDenied) << d.status;
  EXPECT_NE(d.status.message().find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos) << d.status;
}

TEST_F(KafkaAclLab, PlaneReadsTheStateTopicButNotTheStatusTopic) {
  const Connection plane = Load(testing::Lab().clusters[0].kafka_config);
  // A record under a key no region has, so the planes sharing its partition pass over it.
  const std::string key = testing::UniqueName("acl-probe");
  Delivery d = ProduceOne({testing::Lab().kafka_brokers}, {StateTopic(), key, "not a state", {}});
  ASSERT_TRUE(d.status.ok()) << d.status;
  auto marks = Watermarks(plane, StateTopic(), d.partition);
  ASSERT_TRUE(marks.ok()) << marks.status();
  EXPECT_GT(marks->second, d.offset);
  absl::Status read = ReadBack(plane, StateTopic(), d.partition, d.offset, key);
  EXPECT_TRUE(read.ok()) << read;

  absl::Status refused =
      ReadBack(plane, StatusTopic(), 0, PartitionOffset::kBeginning, "no such key");
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_NE(refused.message().find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos) << refused;
}

TEST_F(KafkaAclLab, PlaneCannotCreateTopics) {
  const std::string topic = testing::UniqueName("acl-create");
  absl::Status s = EnsureTopic(Load(testing::Lab().clusters[0].kafka_config), {topic, 1, 1, {}});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  auto n = PartitionCount({testing::Lab().kafka_brokers}, topic);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kNotFound) << n.status();
}

}  // namespace
}  // namespace senren::kafka
