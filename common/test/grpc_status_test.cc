#include "common/grpc_status.h"

#include <gtest/gtest.h>

namespace senren::common {
namespace {

TEST(GrpcStatus, MapsEveryCanonicalCodeBothWaysKeepingTheMessage) {
  for (int code = 0; code <= 16; ++code) {
    const absl::Status in(static_cast<absl::StatusCode>(code), code == 0 ? "" : "why");
    const grpc::Status out = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(out.error_code()), code);
    EXPECT_EQ(FromGrpcStatus(out), in);
    if (code != 0) {
      EXPECT_EQ(out.error_message(), "why");
    }
  }
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  EXPECT_STREQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
}

}  // namespace
}  // namespace senren::common
