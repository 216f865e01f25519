// StatusSource on a Kafka consumer with explicitly assigned partitions.
#include "kafka/kafka.h"
#include "projections/status_ports.h"

namespace senren::projections {
namespace {

class KafkaStatusSource final : public StatusSource {
 public:
  KafkaStatusSource(kafka::Connection connection, std::string topic)
      : connection_(std::move(connection)), topic_(std::move(topic)) {}

  absl::Status Start(const std::map<int32_t, int64_t>& next) override {
    auto partitions = kafka::PartitionCount(connection_, topic_);
    if (!partitions.ok()) return partitions.status();
    std::vector<kafka::PartitionOffset> assign;
    for (int32_t p = 0; p < *partitions; ++p) {
      auto it = next.find(p);
      assign.push_back(
          {topic_, p, it == next.end() ? kafka::PartitionOffset::kBeginning : it->second});
    }
    auto consumer = kafka::Consumer::Create(connection_);
    if (!consumer.ok()) return consumer.status();
    if (absl::Status s = (*consumer)->Assign(assign); !s.ok()) return s;
    consumer_ = std::move(*consumer);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<kafka::Message>> Poll(int max,
                                                   std::chrono::milliseconds timeout) override {
    std::vector<kafka::Message> batch;
    if (consumer_ == nullptr)
      return absl::FailedPreconditionError("status source: Poll before Start");
    auto first = consumer_->Poll(timeout);
    if (!first.ok()) return first.status();
    if (!*first) return batch;
    batch.push_back(std::move(**first));
    while (static_cast<int>(batch.size()) < max) {
      auto more = consumer_->Poll(std::chrono::milliseconds(0));
      if (!more.ok() || !*more) break;
      batch.push_back(std::move(**more));
    }
    return batch;
  }

 private:
  const kafka::Connection connection_;
  const std::string topic_;
  std::unique_ptr<kafka::Consumer> consumer_;
};

}  // namespace

std::unique_ptr<StatusSource> NewKafkaStatusSource(kafka::Connection connection,
                                                   std::string topic) {
  return std::make_unique<KafkaStatusSource>(std::move(connection), std::move(topic));
}

}  // namespace senren::projections
