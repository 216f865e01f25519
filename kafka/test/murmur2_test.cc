#include <gtest/gtest.h>

#include "kafka/kafka.h"

namespace senren::kafka {
namespace {

// Vectors from the Java client's UtilsTest.testMurmur2: the regional plane must find the
// partition any Kafka producer put a region's key in.
TEST(Murmur2, MatchesJavaClient) {
  EXPECT_EQ(Murmur2("21"), -973932308);
  EXPECT_EQ(Murmur2("foobar"), -790332482);
  EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(Murmur2("abc"), 479470107);
}

TEST(PartitionForKey, IsPositiveModulo) {
  for (int n : {1, 3, 8, 100}) {
    for (const std::string key : {"aws:us-east-1", "gcp:us-central1", "", "x"}) {
      int32_t p = PartitionForKey(key, n);
      EXPECT_GE(p, 0);
      EXPECT_LT(p, n);
      EXPECT_EQ(p, static_cast<int32_t>((static_cast<uint32_t>(Murmur2(key)) & 0x7fffffff) % n));
    }
  }
}

}  // namespace
}  // namespace senren::kafka
