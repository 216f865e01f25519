// libFuzzer target over DecodeStatusMessage: any key, value (or tombstone) and record
// timestamp. Crashes, sanitizer reports, and a change that passed validation with text
// PostgreSQL would refuse or a timestamp out of range are findings. Run: tools/fuzz.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "projections/status_decode.h"

// Protobuf logs every string field with invalid UTF-8 it refuses: quiet, so the fuzzer
// spends its time fuzzing.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Layout: 1 byte flags, 8 bytes timestamp, 1 byte key length, key, value (the rest).
  if (size < 10) return 0;
  senren::kafka::Message m;
  m.topic = "senren-status";
  const bool tombstone = (data[0] & 1) != 0;
  std::memcpy(&m.timestamp_ms, data + 1, sizeof(int64_t));
  const size_t key_len = std::min<size_t>(data[9], size - 10);
  m.key.assign(reinterpret_cast<const char*>(data + 10), key_len);
  if (!tombstone)
    m.value.emplace(reinterpret_cast<const char*>(data + 10 + key_len), size - 10 - key_len);
  auto change = senren::projections::DecodeStatusMessage(m);
  if (!change.ok()) return 0;
  const auto& k = change->key;
  if (!senren::projections::IsPrintableUtf8(k.region) ||
      !senren::projections::IsPrintableUtf8(k.cluster) ||
      !senren::projections::IsPrintableUtf8(k.name)) {
    std::abort();
  }
  if (change->at < 0 ||
      change->at > static_cast<double>(senren::projections::kMaxTimestampSeconds) + 1)
    std::abort();
  if (k.region.empty() || k.cluster.empty() || (!k.IsCluster() && k.name.empty())) std::abort();
  return 0;
}
