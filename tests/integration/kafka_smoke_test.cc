// The lab's Kafka broker creates a compacted topic, and librdkafka produces to it and
// consumes from it (keys, values, headers).
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "lab/lab_env.h"

namespace senren {
namespace {

using Clock = std::chrono::steady_clock;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

KafkaHandle NewClient(rd_kafka_type_t type, const std::map<std::string, std::string>& extra) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::map<std::string, std::string> settings = {
      {"bootstrap.servers", testing::Lab().kafka_brokers}};
  settings.insert(extra.begin(), extra.end());
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << k << ": " << err;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  return KafkaHandle(rk);
}

void CreateCompactedTopic(rd_kafka_t* rk, const std::string& topic) {
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), 1, 1, err, sizeof err);
  ASSERT_NE(nt, nullptr) << err;
  ASSERT_EQ(rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact"),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_NewTopic_set_config(nt, "max.message.bytes", "67108864"),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  ASSERT_NE(ev, nullptr) << "no answer to CreateTopics in 30 s";
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
  ASSERT_NE(res, nullptr);
  size_t n = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(res, &n);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(rd_kafka_topic_result_error(topics[0]), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_topic_result_error_string(topics[0]);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
}

TEST(KafkaSmoke, ProducesAndConsumesOnCompactedTopic) {
  const std::string topic = testing::UniqueName("smoke");
  auto producer = NewClient(RD_KAFKA_PRODUCER, {{"enable.idempotence", "true"},
                                                {"acks", "all"},
                                                {"compression.codec", "zstd"},
                                                {"linger.ms", "1"}});
  ASSERT_NE(producer, nullptr);
  CreateCompactedTopic(producer.get(), topic);

  for (const std::string value : {"v1", "v2"}) {
    const std::string key = "aws:us-east-1";
    rd_kafka_vu_t vus[5] = {};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem = {const_cast<char*>(key.data()), key.size()};
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem = {const_cast<char*>(value.data()), value.size()};
    vus[3].vtype = RD_KAFKA_VTYPE_HEADER;
    vus[3].u.header = {"traceparent", "00-abc-def-01", -1};
    vus[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[4].u.i = RD_KAFKA_MSG_F_COPY;
    rd_kafka_error_t* error = rd_kafka_produceva(producer.get(), vus, 5);
    rd_kafka_resp_err_t e =
        error == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(error);
    if (error != nullptr) rd_kafka_error_destroy(error);
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
  }
  ASSERT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

  auto consumer = NewClient(
      RD_KAFKA_CONSUMER,
      {{"group.id", topic}, {"auto.offset.reset", "earliest"}, {"enable.auto.commit", "false"}});
  ASSERT_NE(consumer, nullptr);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  ASSERT_EQ(rd_kafka_assign(consumer.get(), parts), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);

  std::vector<std::string> values;
  std::string header;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (values.size() < 2 && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      EXPECT_EQ(std::string(static_cast<char*>(m->key), m->key_len), "aws:us-east-1");
      values.emplace_back(static_cast<char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      const void* hv = nullptr;
      size_t hs = 0;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_header_get_last(hdrs, "traceparent", &hv, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        header.assign(static_cast<const char*>(hv), hs);
      }
    }
    rd_kafka_message_destroy(m);
  }
  ASSERT_EQ(values, (std::vector<std::string>{"v1", "v2"}));
  EXPECT_EQ(header, "00-abc-def-01");
  rd_kafka_consumer_close(consumer.get());
}

}  // namespace
}  // namespace senren
