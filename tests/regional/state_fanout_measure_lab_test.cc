// What one regional plane reads from {prefix}-state, on the lab's Kafka, with R regions of
// S bytes at P = 12 partitions and at P = R (docs/design.md §4, "Fan-out"): at a cold
// start (no cache) and for one round of changes (every region publishes a new version).
// A plane reads its whole partition, so both grow with R / P; the test prints the figures
// and checks that P = R makes them independent of R. SENREN_FANOUT_REGIONS (default 200) and
// SENREN_FANOUT_BYTES (default 16384) size it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "kafka/kafka.h"
#include "lab/lab_env.h"
#include "regional/plane/snapshot_source.h"
#include "senren/v1/state.pb.h"

namespace senren::regional::plane {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::atoi(v);
}

kafka::Connection Kafka() { return {senren::testing::Lab().kafka_brokers}; }

struct Figures {
  int partitions = 0;
  int sharing = 0;  // regions whose key maps to the plane's partition (itself included)
  int64_t cold_records = 0, cold_bytes = 0;
  int64_t round_records = 0, round_bytes = 0;
};

// R regions publish v1, a plane of region 0 starts cold and catches up, then every region
// publishes v2 and the plane reads until its partition's end.
Figures Measure(int regions, int bytes, int partitions) {
  Figures f;
  f.partitions = partitions;
  const std::string topic = senren::testing::UniqueName("rfmeasure") + "-state";
  kafka::TopicSpec spec{topic, partitions, 1, {{"cleanup.policy", "compact"}}};
  EXPECT_TRUE(kafka::EnsureTopic(Kafka(), spec).ok());
  auto producer = kafka::Producer::Create(Kafka());
  EXPECT_TRUE(producer.ok());
  std::mt19937_64 rng(7);
  auto publish_round = [&](uint64_t version) {
    for (int i = 0; i < regions; ++i) {
      v1::RegionalState s;
      s.set_region("lab:m-" + std::to_string(i));
      s.set_version(version);
      // Padding to S bytes, little compressible, as real states are after zstd.
      std::string pad(bytes, 'a');
      for (char& c : pad) c = static_cast<char>('a' + rng() % 26);
      s.set_traceparent(pad);
      kafka::Record r{topic, s.region(), s.SerializeAsString(), {}};
      r.partition = kafka::PartitionForKey(s.region(), partitions);
      EXPECT_TRUE((*producer)->Produce(r, [](const kafka::Delivery&) {}).ok());
    }
    EXPECT_TRUE((*producer)->Flush(seconds(60)).ok());
  };
  const std::string region = "lab:m-0";
  const int32_t partition = kafka::PartitionForKey(region, partitions);
  for (int i = 0; i < regions; ++i) {
    if (kafka::PartitionForKey("lab:m-" + std::to_string(i), partitions) == partition) ++f.sharing;
  }
  publish_round(1);

  KafkaSnapshotSource source(Kafka(), topic, region);
  EXPECT_TRUE(source.Start(std::nullopt).ok());
  uint64_t newest = 0;
  for (auto deadline = std::chrono::steady_clock::now() + seconds(60);
       !(source.CaughtUp() && newest >= 1) && std::chrono::steady_clock::now() < deadline;) {
    auto m = source.Next(milliseconds(200));
    EXPECT_TRUE(m.ok()) << m.status();
    if (m.ok() && m->has_value()) newest = std::max<uint64_t>(newest, (*m)->state.version());
  }
  EXPECT_EQ(newest, 1u);
  f.cold_records = source.records_read();
  f.cold_bytes = source.bytes_read();

  auto before = kafka::Watermarks(Kafka(), topic, partition);
  publish_round(2);
  auto after = kafka::Watermarks(Kafka(), topic, partition);
  EXPECT_TRUE(before.ok() && after.ok());
  const int64_t expected = after->second - before->second;
  for (auto deadline = std::chrono::steady_clock::now() + seconds(60);
       source.records_read() - f.cold_records < expected &&
       std::chrono::steady_clock::now() < deadline;) {
    auto m = source.Next(milliseconds(200));
    EXPECT_TRUE(m.ok()) << m.status();
    if (m.ok() && m->has_value()) newest = std::max<uint64_t>(newest, (*m)->state.version());
  }
  EXPECT_EQ(newest, 2u);
  f.round_records = source.records_read() - f.cold_records;
  f.round_bytes = source.bytes_read() - f.cold_bytes;
  producer->reset();
  EXPECT_TRUE(kafka::DeleteTopic(Kafka(), topic).ok());
  return f;
}

TEST(StateFanoutMeasureLabTest, APlanesReadsDoNotGrowWithRegionsWhenPartitionsDo) {
  const int regions = EnvInt("SENREN_FANOUT_REGIONS", 200);
  const int bytes = EnvInt("SENREN_FANOUT_BYTES", 16384);
  ASSERT_GE(regions, 50);
  const Figures shared = Measure(regions, bytes, 12);
  const Figures own = Measure(regions, bytes, regions);

  std::printf("\nOne plane's reads of {prefix}-state, R = %d regions of %d bytes\n", regions,
              bytes);
  std::printf("%-6s %-8s %-22s %-22s %-18s\n", "P", "sharing", "cold start rec/bytes",
              "one round rec/bytes", "bytes per change");
  for (const Figures& f : {shared, own}) {
    std::printf("%-6d %-8d %6lld / %-13lld %6lld / %-13lld %-18.0f\n", f.partitions, f.sharing,
                static_cast<long long>(f.cold_records), static_cast<long long>(f.cold_bytes),
                static_cast<long long>(f.round_records), static_cast<long long>(f.round_bytes),
                static_cast<double>(f.round_bytes) / regions);
  }
  std::printf("(sharing: regions in the plane's partition; bytes per change: what the plane "
              "reads per change anywhere, one round = one change of every region)\n\n");

  // A plane reads exactly its partition: every record of every region sharing it.
  for (const Figures& f : {shared, own}) {
    EXPECT_EQ(f.cold_records, f.sharing) << "P=" << f.partitions;
    EXPECT_EQ(f.round_records, f.sharing) << "P=" << f.partitions;
    EXPECT_GE(f.cold_bytes, static_cast<int64_t>(f.sharing) * bytes);
  }
  EXPECT_LE(own.sharing, 6) << "with P = R a partition holds a handful of regions";
  EXPECT_LT(own.cold_bytes * 3, shared.cold_bytes);
  EXPECT_LT(own.round_bytes * 3, shared.round_bytes);
}

}  // namespace
}  // namespace senren::regional::plane
