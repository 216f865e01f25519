#pragma once

// Decoding and validating one {prefix}-status message before anything of it reaches
// SQL, without I/O: a message that fails here is skipped and counted (bad_messages), so
// no message can stop the fold.

#include <string_view>

#include "absl/status/statusor.h"
#include "kafka/kafka.h"
#include "projections/status_ports.h"

namespace senren::projections {

// Limits of the key's parts: the ledger's rules (docs/design.md §7) for region and name;
// a cluster is 1..63 bytes of printable UTF-8.
inline constexpr size_t kMaxClusterBytes = 63;
// Timestamps accepted: 1970-01-01 to 9999-12-31 (protobuf's Timestamp range; PostgreSQL's
// to_timestamp takes them all).
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Whether `s` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
// without control characters (U+0000..U+001F, U+007F): what PostgreSQL's text takes.
bool IsPrintableUtf8(std::string_view s);

// The key alone: INVALID_ARGUMENT when it is not {region}/{cluster}[/{kind}/{name}]
// within the rules above. The fold checks the region against the ledger before the value,
// so a message of an unknown region counts as unknown_region whatever its value.
absl::StatusOr<StatusKey> DecodeStatusKey(const std::string& key);

// The change `message` asks for. INVALID_ARGUMENT naming what is wrong when the key is
// not {region}/{cluster}[/{kind}/{name}] within the rules above, the value does not parse
// as the key's type, names another key (region, cluster, kind, name) or carries a
// timestamp or version out of range, or a value-less change has no usable timestamp.
absl::StatusOr<StatusChange> DecodeStatusMessage(const kafka::Message& message);

}  // namespace senren::projections
