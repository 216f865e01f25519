#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "regional/plane/snapshot_source.h"

namespace senren::regional::plane {
namespace {

// The low and high watermarks of one partition. NOT_FOUND for an unknown topic or
// partition, UNAVAILABLE when no broker answers.
// (The adapter in kafka/ has no watermark query; this is its only use so far.)
absl::StatusOr<std::pair<int64_t, int64_t>> QueryWatermarks(const std::string& brokers,
                                                            const std::string& topic,
                                                            int32_t partition) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka setting bootstrap.servers: ", err));
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("creating kafka client: ", err));
  }
  int64_t low = -1, high = -1;
  const rd_kafka_resp_err_t e =
      rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &low, &high, 10000);
  rd_kafka_destroy(rk);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return std::make_pair(low, high);
  const std::string msg = absl::StrCat("reading the watermarks of ", topic, " partition ",
                                       partition, ": ", rd_kafka_err2str(e));
  if (e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
      e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
    return absl::NotFoundError(msg);
  }
  return absl::UnavailableError(msg);
}

}  // namespace

absl::StatusOr<std::optional<SnapshotMessage>> DecodeSnapshot(const kafka::Message& message,
                                                              const std::string& region) {
  if (message.key != region) return std::optional<SnapshotMessage>();
  if (!message.value.has_value()) {
    return absl::InvalidArgumentError("a tombstone under the region's key (ignored: only a "
                                      "snapshot can delete resources)");
  }
  SnapshotMessage out;
  if (!out.state.ParseFromString(*message.value)) {
    return absl::InvalidArgumentError(absl::StrCat("value of ", message.value->size(),
                                                   " bytes is not a senren.v1.RegionalState"));
  }
  if (out.state.region() != region) {
    return absl::InvalidArgumentError(absl::StrCat("the state is of region \"", out.state.region(),
                                                   "\", not of its key \"", region, "\""));
  }
  if (out.state.version() == 0) {
    return absl::InvalidArgumentError("the state has version 0");
  }
  out.partition = message.partition;
  out.offset = message.offset;
  out.traceparent = message.HeaderValue("traceparent").value_or(out.state.traceparent());
  return std::optional<SnapshotMessage>(std::move(out));
}

KafkaSnapshotSource::KafkaSnapshotSource(std::string brokers, std::string topic, std::string region)
    : brokers_(std::move(brokers)), topic_(std::move(topic)), region_(std::move(region)) {}

absl::Status KafkaSnapshotSource::Start(std::optional<SourcePosition> after) {
  auto count = kafka::PartitionCount(brokers_, topic_);
  if (!count.ok()) return count.status();
  partition_ = kafka::PartitionForKey(region_, *count);
  auto marks = QueryWatermarks(brokers_, topic_, partition_);
  if (!marks.ok()) return marks.status();
  const auto [low, high] = *marks;
  bool resume = after.has_value() && after->offset >= 0;
  if (resume && after->partition != partition_) {
    // The region's key maps elsewhere now: the cached offset means nothing in this partition.
    spdlog::warn("the state cache's position (partition {}, offset {}) is treated as missing: "
                 "{} maps to partition {} of {} now (the partition count changed); reading "
                 "partition {} from the beginning",
                 after->partition, after->offset, region_, partition_, *count, partition_);
    resume = false;
  } else if (resume && after->offset + 1 > high) {
    spdlog::warn("the state cache's position (partition {}, offset {}) is treated as missing: "
                 "the partition ends at offset {} (was the topic recreated?); reading it from "
                 "the beginning",
                 after->partition, after->offset, high);
    resume = false;
  }
  auto consumer = kafka::Consumer::Create(brokers_);
  if (!consumer.ok()) return consumer.status();
  const int64_t offset = resume ? after->offset + 1 : kafka::PartitionOffset::kBeginning;
  if (absl::Status s = (*consumer)->Assign({{topic_, partition_, offset}}); !s.ok()) return s;
  consumer_ = std::move(*consumer);
  position_ = resume ? std::max(after->offset + 1, low) : low;
  catch_up_end_ = high;
  spdlog::info(
      "reading {} partition {} of {} from {}; {}", topic_, partition_, *count,
      resume ? absl::StrCat("offset ", offset) : std::string("the beginning"),
      CaughtUp() ? std::string("nothing to catch up")
                 : absl::StrCat("catching up to offset ", high, " before applying what it holds"));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SnapshotMessage>> KafkaSnapshotSource::Next(
    std::chrono::milliseconds timeout) {
  if (consumer_ == nullptr) return absl::FailedPreconditionError("snapshot source not started");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const bool was_caught_up = CaughtUp();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto polled = consumer_->Poll(std::max(left, std::chrono::milliseconds(0)));
    if (!polled.ok()) return polled.status();
    if (!polled->has_value()) return std::optional<SnapshotMessage>();
    const kafka::Message& m = **polled;
    position_ = std::max(position_.load(), m.offset + 1);
    auto decoded = DecodeSnapshot(m, region_);
    if (!decoded.ok()) {
      ++bad_;
      spdlog::warn("skipping bad message at {}/{} offset {}: {}", m.topic, m.partition, m.offset,
                   std::string(decoded.status().message()));
    } else if (decoded->has_value()) {
      return decoded;
    }
    // The end of the backlog is news for the caller, even when other regions' records or
    // a bad message end it.
    if (!was_caught_up && CaughtUp()) return std::optional<SnapshotMessage>();
    if (std::chrono::steady_clock::now() >= deadline) return std::optional<SnapshotMessage>();
  }
}

}  // namespace senren::regional::plane
