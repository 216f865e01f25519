#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
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
  out.produced_at_ms = message.timestamp_ms;
  return std::optional<SnapshotMessage>(std::move(out));
}

common::SignatureCheck CheckSnapshotSignature(const kafka::Message& message,
                                              const common::SnapshotVerifier& verifier) {
  // A tombstone has no bytes to sign; DecodeSnapshot refuses it as bad.
  return verifier.Verify(message.value.value_or(""),
                         message.HeaderValue(common::kSnapshotKeyIdHeader),
                         message.HeaderValue(common::kSnapshotSignatureHeader));
}

std::string DescribeRejectedSnapshot(const kafka::Message& message,
                                     const common::SignatureCheck& check) {
  // The version header is the sender's word only; it is shown escaped and cut short.
  const std::optional<std::string> version = message.HeaderValue("senren-version");
  return absl::StrCat(
      "the snapshot at ", message.topic, "/", message.partition, "@", message.offset,
      version.has_value() ? absl::StrCat(" (version ", absl::CHexEscape(version->substr(0, 24)),
                                         ", as its header claims)")
                          : std::string(),
      " was refused: ", check.detail);
}

SnapshotRejections KafkaSnapshotSource::rejections() const {
  absl::MutexLock lock(&rejections_mu_);
  return rejections_;
}

KafkaSnapshotSource::KafkaSnapshotSource(kafka::Connection connection, std::string topic,
                                         std::string region)
    : connection_(std::move(connection)), topic_(std::move(topic)), region_(std::move(region)) {}

absl::Status KafkaSnapshotSource::Start(std::optional<SourcePosition> after) {
  auto count = kafka::PartitionCount(connection_, topic_);
  if (!count.ok()) return count.status();
  const int32_t partition = kafka::PartitionForKey(region_, *count);
  partition_ = partition;
  partition_count_ = *count;
  next_partition_check_ = std::chrono::steady_clock::now() + partition_check_interval_;
  auto marks = kafka::Watermarks(connection_, topic_, partition);
  if (!marks.ok()) return marks.status();
  const auto [low, high] = *marks;
  bool resume = after.has_value() && after->offset >= 0;
  if (resume && after->partition != partition) {
    // The region's key maps elsewhere now: the cached offset means nothing in this partition.
    spdlog::warn("the state cache's position (partition {}, offset {}) is treated as missing: "
                 "{} maps to partition {} of {} now (the partition count changed); reading "
                 "partition {} from the beginning",
                 after->partition, after->offset, region_, partition, *count, partition);
    resume = false;
  } else if (resume && after->offset + 1 > high) {
    spdlog::warn("the state cache's position (partition {}, offset {}) is treated as missing: "
                 "the partition ends at offset {} (was the topic recreated?); reading it from "
                 "the beginning",
                 after->partition, after->offset, high);
    resume = false;
  }
  auto consumer = kafka::Consumer::Create(connection_);
  if (!consumer.ok()) return consumer.status();
  const int64_t offset = resume ? after->offset + 1 : kafka::PartitionOffset::kBeginning;
  if (absl::Status s = (*consumer)->Assign({{topic_, partition, offset}}); !s.ok()) return s;
  consumer_ = std::move(*consumer);
  position_ = resume ? std::max(after->offset + 1, low) : low;
  catch_up_end_ = high;
  spdlog::info(
      "reading {} partition {} of {} from {}; {}", topic_, partition, *count,
      resume ? absl::StrCat("offset ", offset) : std::string("the beginning"),
      CaughtUp() ? std::string("nothing to catch up")
                 : absl::StrCat("catching up to offset ", high, " before applying what it holds"));
  return absl::OkStatus();
}

absl::Status KafkaSnapshotSource::CheckPartition() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_partition_check_) return absl::OkStatus();
  next_partition_check_ = now + partition_check_interval_;
  absl::StatusOr<int> count = consumer_->PartitionCount(topic_);
  if (!count.ok()) {
    // The consumer reports a topic that is gone by itself; anything else is tried again at
    // the next check.
    spdlog::debug("reading the partition count of {}: {}", topic_, count.status().ToString());
    return absl::OkStatus();
  }
  const int32_t partition = kafka::PartitionForKey(region_, *count);
  if (partition == partition_.load()) {
    partition_count_ = *count;
    return absl::OkStatus();
  }
  // What the projector publishes from now on, and its republish of every region, go to the
  // new partition; nothing read from the old one is lost (versions only go forward).
  return absl::AbortedError(
      absl::StrCat(topic_, " has ", *count, " partitions now (", partition_count_,
                   " before): ", region_, " maps to partition ", partition, ", not ",
                   partition_.load(), "; the source starts again on partition ", partition));
}

absl::StatusOr<std::optional<SnapshotMessage>> KafkaSnapshotSource::Next(
    std::chrono::milliseconds timeout) {
  if (consumer_ == nullptr) return absl::FailedPreconditionError("snapshot source not started");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (absl::Status moved = CheckPartition(); !moved.ok()) return moved;
  const bool was_caught_up = CaughtUp();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto polled = consumer_->Poll(std::max(left, std::chrono::milliseconds(0)));
    if (!polled.ok()) return polled.status();
    if (!polled->has_value()) return std::optional<SnapshotMessage>();
    const kafka::Message& m = **polled;
    position_ = std::max(position_.load(), m.offset + 1);
    ++records_read_;
    bytes_read_ += static_cast<int64_t>(m.key.size() + (m.value ? m.value->size() : 0));
    // Verified before anything of the value is parsed; a tombstone has nothing to verify.
    const bool verify = verifier_ != nullptr && m.key == region_ && m.value.has_value();
    if (common::SignatureCheck check =
            verify ? CheckSnapshotSignature(m, *verifier_)
                   : common::SignatureCheck{common::SignatureVerdict::kValid, ""};
        !check.ok()) {
      std::string why = DescribeRejectedSnapshot(m, check);
      spdlog::error("{}; nothing of it is applied", why);
      absl::MutexLock lock(&rejections_mu_);
      ++rejections_.total;
      ++rejections_.by_verdict[std::string(common::SignatureVerdictName(check.verdict))];
      rejections_.last = std::move(why);
    } else if (m.key == region_ && !m.value.has_value()) {
      // The projector's mark in a partition the region has moved out of (the topic grew and
      // the region's newest version is in its new partition): nothing is deleted, and the
      // partition count is read again now rather than at the next check, so the plane
      // follows at once. Not a bad message: the projector writes it.
      spdlog::info("a tombstone under {} at {}/{} offset {}: its record has moved to another "
                   "partition; nothing is deleted; reading the partition count now",
                   region_, m.topic, m.partition, m.offset);
      next_partition_check_ = {};
      if (absl::Status moved = CheckPartition(); !moved.ok()) return moved;
    } else if (auto decoded = DecodeSnapshot(m, region_); !decoded.ok()) {
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
