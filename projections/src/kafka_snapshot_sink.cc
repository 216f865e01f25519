// SnapshotSink on a Kafka producer of its own.
#include "common/snapshot_signature.h"
#include "kafka/kafka.h"
#include "projections/snapshot_ports.h"

namespace senren::projections {
namespace {

class KafkaSnapshotSink final : public SnapshotSink {
 public:
  KafkaSnapshotSink(std::unique_ptr<kafka::Producer> producer, std::string topic,
                    std::shared_ptr<const common::SnapshotSigner> signer, int partitions)
      : producer_(std::move(producer)),
        topic_(std::move(topic)),
        signer_(std::move(signer)),
        partitions_(partitions) {}

  // What was not sent is dropped rather than sent by a producer whose owner no longer
  // leads; the producer's own destructor then waits up to 5 s for what is on the wire.
  ~KafkaSnapshotSink() override { producer_->PurgeQueued(); }

  absl::Status Publish(const SnapshotRecord& record, OnDelivery on_delivery) override {
    kafka::Record r{
        topic_,
        record.region,
        record.bytes,
        {{"senren-version", std::to_string(record.version)}, {"senren-region", record.region}}};
    // The partition regional planes compute from the count they read: never one the
    // producer's own (possibly older) metadata would pick.
    if (partitions_ > 0) r.partition = kafka::PartitionForKey(record.region, partitions_);
    if (!record.traceparent.empty()) r.headers.push_back({"traceparent", record.traceparent});
    if (signer_ != nullptr) {
      // Over the exact bytes produced: the plane verifies the value it consumes.
      auto sig = signer_->Sign(record.bytes);
      if (!sig.ok()) return sig.status();
      r.headers.push_back({common::kSnapshotKeyIdHeader, sig->key_id});
      r.headers.push_back({common::kSnapshotSignatureHeader, sig->signature});
    }
    return producer_->Produce(r, std::move(on_delivery));
  }

  absl::Status PublishTombstone(const std::string& region, int32_t partition,
                                OnDelivery on_delivery) override {
    kafka::Record r{topic_, region, std::nullopt, {{"senren-region", region}}};
    r.partition = partition;
    return producer_->Produce(r, std::move(on_delivery));
  }

  void PurgeQueued() override { producer_->PurgeQueued(); }

  absl::Status Flush(std::chrono::milliseconds timeout) override {
    return producer_->Flush(timeout);
  }

 private:
  std::unique_ptr<kafka::Producer> producer_;
  const std::string topic_;
  const std::shared_ptr<const common::SnapshotSigner> signer_;
  const int partitions_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SnapshotSink>> NewKafkaSnapshotSink(
    const kafka::Connection& connection, std::string topic, const kafka::Config& config,
    std::shared_ptr<const common::SnapshotSigner> signer, int partitions) {
  auto producer = kafka::Producer::Create(connection, config);
  if (!producer.ok()) return producer.status();
  return std::unique_ptr<SnapshotSink>(
      new KafkaSnapshotSink(std::move(*producer), std::move(topic), std::move(signer), partitions));
}

}  // namespace senren::projections
