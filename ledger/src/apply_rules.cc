#include "ledger/apply_rules.h"

#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/resources.h"
#include "common/validation.h"

namespace senren::ledger {
namespace {

// FNV-1a, 64-bit, over length-prefixed fields; two lanes with different bases give a
// 128-bit fingerprint. Not cryptographic: it tells a retry from a mistake.
class Fingerprint {
 public:
  void Add(std::string_view bytes) {
    AddRaw(std::to_string(bytes.size()));
    AddRaw(":");
    AddRaw(bytes);
  }
  std::string Hex() const {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%016" PRIx64 "%016" PRIx64, a_, b_);
    return buf;
  }

 private:
  void AddRaw(std::string_view bytes) {
    for (unsigned char c : bytes) {
      a_ = (a_ ^ c) * 0x100000001b3ULL;
      b_ = (b_ ^ c) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
    }
  }
  uint64_t a_ = 0xcbf29ce484222325ULL;
  uint64_t b_ = 0x84222325cbf29ce4ULL;
};

}  // namespace

absl::StatusOr<std::vector<v1::Resource>> PrepareResources(
    const std::string& region, const google::protobuf::RepeatedPtrField<v1::Resource>& resources) {
  if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
  std::vector<v1::Resource> out(resources.begin(), resources.end());
  for (auto& r : out) common::Canonicalize(&r);
  common::SortResources(&out);
  if (absl::Status s = common::ValidateResourceSet(out); !s.ok()) return s;
  return out;
}

absl::Status CheckRecordedFields(const std::string& author, const std::string& message,
                                 const std::string& idempotency_key,
                                 const std::string& traceparent) {
  const struct {
    const char* name;
    const std::string& value;
    size_t limit;
  } fields[] = {{"author", author, FieldLimits::kAuthor},
                {"message", message, FieldLimits::kMessage},
                {"idempotency_key", idempotency_key, FieldLimits::kIdempotencyKey},
                {"traceparent (metadata)", traceparent, FieldLimits::kTraceparent}};
  for (const auto& f : fields) {
    if (f.value.size() > f.limit) {
      return absl::InvalidArgumentError(absl::StrCat("field ", f.name, ": ", f.value.size(),
                                                     " bytes, at most ", f.limit, " allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckExpectedVersion(const std::string& region, std::optional<uint64_t> expected,
                                  uint64_t current) {
  if (!expected.has_value() || *expected == current) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat("region ", region, " is at version ", current, ", not the expected version ",
                   *expected, "; re-plan against version ", current, " and apply again"));
}

absl::Status CheckGuards(const std::string& region, size_t current_size,
                         const common::ResourceSetDiff& diff, size_t desired_size, bool allow_empty,
                         bool allow_mass_delete, const MassDeleteGuard& guard) {
  if (desired_size == 0 && current_size > 0) {
    if (!allow_empty) {
      return absl::FailedPreconditionError(
          absl::StrCat("the state would delete all ", current_size, " resources of region ", region,
                       "; set allow_empty to empty a region on purpose"));
    }
    return absl::OkStatus();
  }
  const size_t deleted = diff.deleted.size();
  if (!allow_mass_delete && current_size >= guard.min_region_size &&
      static_cast<double>(deleted) > guard.max_delete_share * static_cast<double>(current_size)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the state would delete ", deleted, " of the ", current_size, " resources of region ",
        region, " (more than ", static_cast<int>(guard.max_delete_share * 100),
        " %); set allow_mass_delete if this is intended"));
  }
  return absl::OkStatus();
}

std::string RequestFingerprint(const std::string& region,
                               const std::vector<v1::Resource>& resources,
                               std::optional<uint64_t> expected_version, const std::string& author,
                               const std::string& message, bool allow_empty,
                               bool allow_mass_delete) {
  Fingerprint f;
  f.Add(region);
  f.Add(std::to_string(resources.size()));
  for (const auto& r : resources) f.Add(r.SerializeAsString());
  f.Add(expected_version ? std::to_string(*expected_version) : "-");
  f.Add(author);
  f.Add(message);
  f.Add(allow_empty ? "1" : "0");
  f.Add(allow_mass_delete ? "1" : "0");
  return f.Hex();
}

std::vector<v1::ResourceChange> ToResourceChanges(const common::ResourceSetDiff& diff) {
  std::vector<v1::ResourceChange> out;
  out.reserve(diff.size());
  for (const auto& r : diff.created) {
    v1::ResourceChange c;
    c.set_type(v1::ResourceChange::TYPE_CREATED);
    c.set_kind(common::KindOf(r));
    c.set_name(r.name());
    *c.mutable_after() = r;
    out.push_back(std::move(c));
  }
  for (const auto& u : diff.updated) {
    v1::ResourceChange c;
    c.set_type(v1::ResourceChange::TYPE_UPDATED);
    c.set_kind(common::KindOf(u.after));
    c.set_name(u.after.name());
    *c.mutable_before() = u.before;
    *c.mutable_after() = u.after;
    out.push_back(std::move(c));
  }
  for (const auto& r : diff.deleted) {
    v1::ResourceChange c;
    c.set_type(v1::ResourceChange::TYPE_DELETED);
    c.set_kind(common::KindOf(r));
    c.set_name(r.name());
    *c.mutable_before() = r;
    out.push_back(std::move(c));
  }
  return out;
}

void FillNames(const common::ResourceSetDiff& diff, v1::ApplyStateResponse* response) {
  for (auto& id : common::CreatedIds(diff)) response->add_created(std::move(id));
  for (auto& id : common::UpdatedIds(diff)) response->add_updated(std::move(id));
  for (auto& id : common::DeletedIds(diff)) response->add_deleted(std::move(id));
}

}  // namespace senren::ledger
