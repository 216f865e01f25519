#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "regional/plane/snapshot_source.h"

namespace senren::regional::plane {

absl::StatusOr<std::optional<SnapshotMessage>> DecodeSnapshot(const kafka::Message& message,
                                                              const std::string& region) {
  if (message.key != region) return std::optional<SnapshotMessage>();
  if (!message.value.has_value()) {
    return absl::InvalidArgumentError("a tombstone under the region's key (ignored: only a "
                                      "snapshot can delete resources)");
  }
  SnapshotMessage out;
  if (!out.state.ParseFromString(*message.value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("value of ", message.value->size(), " bytes is not a senren.v1.RegionalState"));
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

KafkaSnapshotSource::KafkaSnapshotSource(std::string brokers, std::string topic,
                                         std::string region)
    : brokers_(std::move(brokers)), topic_(std::move(topic)), region_(std::move(region)) {}

absl::Status KafkaSnapshotSource::Start(std::optional<int64_t> after_offset) {
  auto count = kafka::PartitionCount(brokers_, topic_);
  if (!count.ok()) return count.status();
  partition_ = kafka::PartitionForKey(region_, *count);
  auto consumer = kafka::Consumer::Create(brokers_);
  if (!consumer.ok()) return consumer.status();
  const int64_t offset =
      after_offset.has_value() && *after_offset >= 0 ? *after_offset + 1
                                                     : kafka::PartitionOffset::kBeginning;
  if (absl::Status s = (*consumer)->Assign({{topic_, partition_, offset}}); !s.ok()) return s;
  consumer_ = std::move(*consumer);
  spdlog::info("reading {} partition {} of {} from {}", topic_, partition_, *count,
               offset == kafka::PartitionOffset::kBeginning ? std::string("the beginning")
                                                            : absl::StrCat("offset ", offset));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SnapshotMessage>> KafkaSnapshotSource::Next(
    std::chrono::milliseconds timeout) {
  if (consumer_ == nullptr) return absl::FailedPreconditionError("snapshot source not started");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto polled = consumer_->Poll(std::max(left, std::chrono::milliseconds(0)));
    if (!polled.ok()) return polled.status();
    if (!polled->has_value()) return std::optional<SnapshotMessage>();
    const kafka::Message& m = **polled;
    auto decoded = DecodeSnapshot(m, region_);
    if (!decoded.ok()) {
      ++bad_;
      spdlog::warn("skipping bad message at {}/{} offset {}: {}", m.topic, m.partition, m.offset,
                   std::string(decoded.status().message()));
      continue;
    }
    if (decoded->has_value()) return decoded;
    if (std::chrono::steady_clock::now() >= deadline) return std::optional<SnapshotMessage>();
  }
}

}  // namespace senren::regional::plane
