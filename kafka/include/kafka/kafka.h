#pragma once

// Senren's Kafka adapter: an idempotent producer, a partition-assigned consumer and topic
// administration over librdkafka, with absl::Status errors. Shared by the snapshot and
// status projectors (projections/) and the regional plane (regional/). Every client is made
// from a Connection (connection.h): the brokers and the identity of the daemon.
//
// Errors the broker returns map to codes callers can act on: an ACL refusal
// (TOPIC/GROUP/CLUSTER_AUTHORIZATION_FAILED) is PERMISSION_DENIED, a refused login
// (SASL_AUTHENTICATION_FAILED) UNAUTHENTICATED; the message names librdkafka's error
// (e.g. "TOPIC_AUTHORIZATION_FAILED").

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kafka/connection.h"

namespace senren::kafka {

struct Header {
  std::string name;
  std::string value;
};

// One record to produce. A record without value is a tombstone.
struct Record {
  // The producer's partitioner (murmur2 of the key over the partition count the producer
  // knows) picks the partition.
  static constexpr int32_t kAnyPartition = -1;

  std::string topic;
  std::string key;
  std::optional<std::string> value;
  std::vector<Header> headers;
  // An explicit partition, or kAnyPartition. A partition the producer's metadata does not
  // show (yet) fails the record (NOT_FOUND) rather than landing anywhere else.
  int32_t partition = kAnyPartition;
};

// Outcome of one produced record, delivered on the producer's poll thread.
struct Delivery {
  absl::Status status;  // OK when the broker acknowledged it (acks=all)
  int32_t partition = -1;
  int64_t offset = -1;
};

// librdkafka producer with delivery reports. Idempotent (enable.idempotence=true,
// acks=all), partitioner murmur2_random (the Java client's, so every consumer can compute a
// key's partition), zstd, and latency-tuned defaults (linger.ms=0). A background thread
// serves delivery callbacks; Produce is thread-safe.
class Producer {
 public:
  using OnDelivery = std::function<void(const Delivery&)>;

  // extra: librdkafka settings of this producer; they override the defaults and the
  // connection's properties.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const Connection& connection,
                                                          const Config& extra = {});
  virtual ~Producer() = default;

  // Queues a record. on_delivery runs once, on the poll thread, when the broker confirms or
  // the record finally fails (PERMISSION_DENIED when the principal may not write the
  // topic). Errors: INVALID_ARGUMENT (record larger than
  // message.max.bytes), RESOURCE_EXHAUSTED (local queue full), UNAVAILABLE (fatal producer
  // error, e.g. fenced idempotent producer).
  virtual absl::Status Produce(const Record& record, OnDelivery on_delivery) = 0;

  // Waits until every queued record is delivered or failed. DEADLINE_EXCEEDED on timeout.
  virtual absl::Status Flush(std::chrono::milliseconds timeout) = 0;

  // Drops the records not yet sent to a broker (e.g. while it is down); their
  // on_delivery runs with CANCELLED. Records already sent are left to their answer.
  virtual void PurgeQueued() = 0;
};

// How many times `producer` replaced its librdkafka handle after a fatal error (an
// idempotent producer fenced or out of sequence): each time, the records the old handle
// held failed through their on_delivery and later records went to the new handle.
int64_t ProducerRecoveries(const Producer* producer);

// Tests only: puts `producer`'s handle in librdkafka's fatal error state, as a broker
// fencing it would (rd_kafka_test_fatal_error).
absl::Status TriggerFatalErrorForTest(Producer* producer, const std::string& reason);

// One consumed record, or a tombstone (value empty optional).
struct Message {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::optional<std::string> value;
  std::vector<Header> headers;
  int64_t timestamp_ms = 0;

  // Last value of header `name`, or nullopt.
  std::optional<std::string> HeaderValue(const std::string& name) const;
};

struct PartitionOffset {
  std::string topic;
  int32_t partition = 0;
  // Next offset to read; kBeginning / kEnd for the log's ends.
  int64_t offset = 0;
  static constexpr int64_t kBeginning = -2;
  static constexpr int64_t kEnd = -1;
};

// A consumer of explicitly assigned partitions (no group rebalancing, no committed
// offsets: Senren stores its offsets with the data they produced). Latency-tuned
// (fetch.wait.max.ms, fetch.queue.backoff.ms). Not thread-safe: one thread polls.
class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const Connection& connection,
                                                          const Config& extra = {});
  virtual ~Consumer() = default;

  virtual absl::Status Assign(const std::vector<PartitionOffset>& partitions) = 0;

  // Next message, or nullopt when none arrived within timeout. Partition EOF is not an
  // error. Broker errors that librdkafka retries by itself are logged and skipped; a
  // non-retriable one is returned (UNAVAILABLE, NOT_FOUND for an unknown topic,
  // PERMISSION_DENIED when the principal may not read it).
  virtual absl::StatusOr<std::optional<Message>> Poll(std::chrono::milliseconds timeout) = 0;

  // The topic's partition count as the brokers report it now, asked over this consumer's
  // own connections (no new client). Errors as kafka::PartitionCount.
  virtual absl::StatusOr<int> PartitionCount(
      const std::string& topic, std::chrono::milliseconds timeout = std::chrono::seconds(10)) = 0;

  // Bytes of keys and values and records this consumer returned so far (what it read).
  virtual int64_t BytesRead() const = 0;
  virtual int64_t RecordsRead() const = 0;
};

// Topic settings for EnsureTopic.
struct TopicSpec {
  // The broker's default.replication.factor (KIP-464), so a topic Senren creates on a
  // production cluster is replicated as the operator configured the brokers.
  static constexpr int kBrokerDefault = -1;

  std::string name;
  int partitions = 1;
  int replication_factor = kBrokerDefault;
  Config config;  // e.g. cleanup.policy=compact
};

// Creates the topic with its config when missing; an existing topic is left as it is. A
// principal allowed to describe the topic but not to create it (a plane, for the status
// topic) gets OK when the topic exists. UNAVAILABLE when no broker answers within timeout;
// PERMISSION_DENIED when the topic is missing and the principal may not create it. On OK the
// topic is in the brokers' metadata (a new topic is waited for, within timeout).
absl::Status EnsureTopic(const Connection& connection, const TopicSpec& spec,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Number of partitions of a topic. NOT_FOUND when it does not exist, PERMISSION_DENIED
// when the principal may not describe it.
absl::StatusOr<int> PartitionCount(const Connection& connection, const std::string& topic,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Raises the topic's partition count to `count` (Kafka's CreatePartitions, as
// `kafka-topics --alter --partitions`); a topic that has `count` or more is left as it is
// (Kafka cannot take partitions away). Returns the count the topic has afterwards, once the
// brokers' metadata shows it. NOT_FOUND when the topic does not exist, PERMISSION_DENIED when
// the principal may not alter it, UNAVAILABLE when no broker answers within timeout.
// Growing moves keys: PartitionForKey(key, new count) differs from the old one for most
// keys, and what was published before stays in the old partitions.
absl::StatusOr<int> GrowPartitions(const Connection& connection, const std::string& topic,
                                   int count,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Deletes the topic (tests and benchmarks clean up with it). OK when it does not exist.
absl::Status DeleteTopic(const Connection& connection, const std::string& topic,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The low and high watermarks (first offset, next offset to be written) of one partition.
// NOT_FOUND for an unknown topic or partition, PERMISSION_DENIED when the principal may not
// describe the topic, UNAVAILABLE when no broker answers within timeout.
absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(
    const Connection& connection, const std::string& topic, int32_t partition,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Kafka's murmur2 hash of a key (Utils.murmur2 of the Java client).
int32_t Murmur2(const std::string& key);

// The partition the producer puts `key` in (murmur2, as the Java client and our producer).
int32_t PartitionForKey(const std::string& key, int partition_count);

}  // namespace senren::kafka
