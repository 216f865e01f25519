// SnapshotSink on a Kafka producer of its own.
#include "kafka/kafka.h"
#include "projections/snapshot_ports.h"

namespace senren::projections {
namespace {

class KafkaSnapshotSink final : public SnapshotSink {
 public:
  KafkaSnapshotSink(std::unique_ptr<kafka::Producer> producer, std::string topic)
      : producer_(std::move(producer)), topic_(std::move(topic)) {}

  // What was not sent is dropped rather than sent by a producer whose owner no longer
  // leads; the producer's own destructor then waits up to 5 s for what is on the wire.
  ~KafkaSnapshotSink() override { producer_->PurgeQueued(); }

  absl::Status Publish(const SnapshotRecord& record, OnDelivery on_delivery) override {
    kafka::Record r{
        topic_,
        record.region,
        record.bytes,
        {{"senren-version", std::to_string(record.version)}, {"senren-region", record.region}}};
    if (!record.traceparent.empty()) r.headers.push_back({"traceparent", record.traceparent});
    return producer_->Produce(r, std::move(on_delivery));
  }

  void PurgeQueued() override { producer_->PurgeQueued(); }

  absl::Status Flush(std::chrono::milliseconds timeout) override {
    return producer_->Flush(timeout);
  }

 private:
  std::unique_ptr<kafka::Producer> producer_;
  const std::string topic_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SnapshotSink>> NewKafkaSnapshotSink(const std::string& brokers,
                                                                   std::string topic,
                                                                   const kafka::Config& config) {
  auto producer = kafka::Producer::Create(brokers, config);
  if (!producer.ok()) return producer.status();
  return std::unique_ptr<SnapshotSink>(
      new KafkaSnapshotSink(std::move(*producer), std::move(topic)));
}

}  // namespace senren::projections
