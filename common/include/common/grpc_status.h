#pragma once

// absl::Status <-> grpc::Status. Both use the canonical codes, so the mapping is one to
// one and keeps the message.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace senren::common {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// "INVALID_ARGUMENT", "UNAVAILABLE", ... for logs and metrics labels.
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace senren::common
