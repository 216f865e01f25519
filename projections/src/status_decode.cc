#include "projections/status_decode.h"

#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/validation.h"

namespace senren::projections {
namespace {

absl::Status Bad(const std::string& why) { return absl::InvalidArgumentError(why); }

// A timestamp PostgreSQL's to_timestamp takes and the read model can show.
bool InRange(const google::protobuf::Timestamp& t) {
  return t.seconds() >= 0 && t.seconds() <= kMaxTimestampSeconds && t.nanos() >= 0 &&
         t.nanos() <= 999'999'999;
}

double EpochSeconds(const google::protobuf::Timestamp& t) {
  return static_cast<double>(t.seconds()) + static_cast<double>(t.nanos()) / 1e9;
}

absl::Status CheckKey(const StatusKey& key) {
  if (!common::ValidateRegionKey(key.region).ok())
    return Bad("region is not a region key cloud:region");
  if (key.cluster.size() > kMaxClusterBytes || !IsPrintableUtf8(key.cluster)) {
    return Bad(absl::StrCat("cluster is not 1..", kMaxClusterBytes, " bytes of printable UTF-8"));
  }
  if (!key.IsCluster() && !common::IsDns1123Label(key.name))
    return Bad("name is not a DNS-1123 label");
  return absl::OkStatus();
}

// The record's own timestamp, for changes without one in their value.
absl::StatusOr<double> RecordSeconds(const kafka::Message& m) {
  if (m.timestamp_ms < 0 || m.timestamp_ms / 1000 > kMaxTimestampSeconds) {
    return Bad(absl::StrCat("record timestamp ", m.timestamp_ms, " ms is out of range"));
  }
  return static_cast<double>(m.timestamp_ms) / 1000.0;
}

// The time a change speaks for: the value's own timestamp `field` when it has one, else the
// record's.
absl::StatusOr<double> ChangeSeconds(bool has, const google::protobuf::Timestamp& t,
                                     const char* field, const kafka::Message& m) {
  if (!has) return RecordSeconds(m);
  if (!InRange(t)) return Bad(absl::StrCat(field, " is out of range"));
  return EpochSeconds(t);
}

}  // namespace

bool IsPrintableUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // a continuation byte first, or 0xf8..0xff
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp <= 0x9f) return false;  // C1 controls
    i += len;
  }
  return true;
}

absl::StatusOr<StatusKey> DecodeStatusKey(const std::string& raw) {
  if (!IsPrintableUtf8(raw)) return Bad("key is not printable UTF-8");
  auto key = ParseStatusKey(raw);
  if (!key) return Bad("key is not {region}/{cluster} or {region}/{cluster}/{kind}/{name}");
  if (absl::Status s = CheckKey(*key); !s.ok()) return s;
  return *key;
}

absl::StatusOr<StatusChange> DecodeStatusMessage(const kafka::Message& m) {
  auto key = DecodeStatusKey(m.key);
  if (!key.ok()) return key.status();

  StatusChange c;
  c.topic = m.topic;
  c.partition = m.partition;
  c.offset = m.offset;
  c.key = *key;
  if (key->IsCluster()) {
    if (!m.value) {
      // In history too, at the record's time: GetStatus(at) after it shows no cluster.
      c.type = StatusChange::Type::kClusterGone;
      auto at = RecordSeconds(m);
      if (!at.ok()) return at.status();
      c.at = *at;
      return c;
    }
    c.type = StatusChange::Type::kCluster;
    if (!c.report.ParseFromString(*m.value)) return Bad("value is not a ClusterReport");
    if (c.report.region() != key->region || c.report.cluster() != key->cluster) {
      return Bad("value is a ClusterReport of another key");
    }
    if (c.report.applied_version() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Bad("applied_version is out of range");
    }
    auto at =
        ChangeSeconds(c.report.has_heartbeat_at(), c.report.heartbeat_at(), "heartbeat_at", m);
    if (!at.ok()) return at.status();
    c.at = *at;
    c.payload = *m.value;
    return c;
  }
  if (!m.value) {
    c.type = StatusChange::Type::kResourceGone;
    auto at = RecordSeconds(m);
    if (!at.ok()) return at.status();
    c.at = *at;
    return c;
  }
  c.type = StatusChange::Type::kResource;
  if (!c.resource.ParseFromString(*m.value)) return Bad("value is not a ResourceStatus");
  if (c.resource.region() != key->region || c.resource.cluster() != key->cluster ||
      c.resource.name() != key->name ||
      (c.resource.kind() != v1::RESOURCE_KIND_UNSPECIFIED && c.resource.kind() != key->kind)) {
    return Bad("value is a ResourceStatus of another key");
  }
  auto at = ChangeSeconds(c.resource.has_observed_at(), c.resource.observed_at(), "observed_at", m);
  if (!at.ok()) return at.status();
  c.at = *at;
  c.payload = *m.value;
  return c;
}

}  // namespace senren::projections
