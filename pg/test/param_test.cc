// Statement parameters as PostgreSQL receives them (text; bytea in hex), without a server.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "pg/session.h"

namespace senren::pg {
namespace {

TEST(Param, BytesGoInByteaHexForm) {
  EXPECT_EQ(Param::Bytes(std::string("\x00\x01\xff", 3)).text(), "\\x0001ff");
  EXPECT_EQ(Param::Bytes("").text(), "\\x");
  EXPECT_FALSE(Param::Bytes("").is_null());
}

TEST(Param, NumbersKeepEveryDigit) {
  EXPECT_EQ(Param(std::numeric_limits<int64_t>::max()).text(), "9223372036854775807");
  EXPECT_EQ(Param(std::numeric_limits<uint64_t>::max()).text(), "18446744073709551615");
  EXPECT_EQ(Param(int32_t{-7}).text(), "-7");
  // Epoch seconds with microseconds, as to_timestamp() gets them.
  EXPECT_EQ(std::stod(Param(1764630000.123456).text()), 1764630000.123456);
}

TEST(Param, NullAndText) {
  EXPECT_TRUE(Param(nullptr).is_null());
  EXPECT_EQ(Param("aws:us-east-1").text(), "aws:us-east-1");
  EXPECT_EQ(Param(std::string("a'b")).text(), "a'b");
}

}  // namespace
}  // namespace senren::pg
