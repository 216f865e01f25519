#include "testing/fake_ledger_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/diff.h"
#include "common/resources.h"
#include "common/validation.h"
#include "ledger/audit.h"

namespace senren::ledger::testing {
namespace {

const std::vector<v1::Resource> kEmpty;

const v1::Resource* Find(const std::vector<v1::Resource>& resources, const ResourceKey& key) {
  for (const auto& r : resources) {
    if (common::KindOf(r) == key.kind && r.name() == key.name) return &r;
  }
  return nullptr;
}

absl::Status NoSuchVersion(const std::string& region, uint64_t v, uint64_t head) {
  return absl::NotFoundError(
      absl::StrCat("region ", region, " has versions 1..", head, "; no version ", v));
}

}  // namespace

absl::Status FakeLedgerStore::Injected() {
  if (fail_count_ == 0) return absl::OkStatus();
  --fail_count_;
  return fail_status_;
}

void FakeLedgerStore::FailNextCalls(absl::Status status, int count) {
  std::lock_guard lock(mu_);
  fail_status_ = std::move(status);
  fail_count_ = count;
}

const std::vector<v1::Resource>& FakeLedgerStore::At(const Region& r, uint64_t version) const {
  return version == 0 ? kEmpty : r.versions[version - 1].resources;
}

absl::StatusOr<v1::ApplyStateResponse> FakeLedgerStore::Append(
    const std::string& region, std::vector<v1::Resource> desired, v1::VersionInfo info,
    std::optional<uint64_t> expected, bool allow_empty, bool allow_mass_delete) {
  Region& r = regions_[region];
  const uint64_t head = r.versions.size();
  if (absl::Status s = CheckExpectedVersion(region, expected, head); !s.ok()) return s;
  const auto& current = At(r, head);
  const common::ResourceSetDiff diff = common::DiffResources(current, desired);
  v1::ApplyStateResponse response;
  response.set_region(region);
  if (diff.empty()) {
    response.set_version(head);
    return response;
  }
  if (absl::Status s = CheckGuards(region, current.size(), diff, desired.size(), allow_empty,
                                   allow_mass_delete, guard_);
      !s.ok()) {
    return s;
  }
  info.set_region(region);
  info.set_version(head + 1);
  info.mutable_created_at()->set_seconds(++clock_);
  info.set_created(static_cast<uint32_t>(diff.created.size()));
  info.set_updated(static_cast<uint32_t>(diff.updated.size()));
  info.set_deleted(static_cast<uint32_t>(diff.deleted.size()));
  info.set_resource_count(static_cast<uint32_t>(desired.size()));
  r.versions.push_back({std::move(info), std::move(desired)});
  response.set_version(head + 1);
  response.set_changed(true);
  FillNames(diff, &response);
  return response;
}

absl::StatusOr<v1::ApplyStateResponse> FakeLedgerStore::ApplyState(
    const v1::ApplyStateRequest& request, const WriteContext& context) {
  auto resources = PrepareResources(request.region(), request.resources());
  if (!resources.ok()) return resources.status();
  if (request.dry_run()) {
    auto plan = PlanState(request);
    if (!plan.ok()) return plan.status();
    v1::ApplyStateResponse out;
    out.set_region(request.region());
    out.set_version(plan->base_version());
    out.set_changed(plan->changes_size() > 0);
    *out.mutable_created() = plan->created();
    *out.mutable_updated() = plan->updated();
    *out.mutable_deleted() = plan->deleted();
    return out;
  }
  std::lock_guard lock(mu_);
  if (absl::Status s = Injected(); !s.ok()) return s;
  const std::string author = request.author().empty() ? context.default_author : request.author();
  std::optional<uint64_t> expected;
  if (request.has_expected_version()) expected = request.expected_version();
  std::string fingerprint;
  if (!request.idempotency_key().empty()) {
    fingerprint =
        RequestFingerprint(request.region(), *resources, expected, author, request.message(),
                           request.allow_empty(), request.allow_mass_delete());
    Region& r = regions_[request.region()];
    if (auto it = r.keys.find(request.idempotency_key()); it != r.keys.end()) {
      if (it->second.first != fingerprint) {
        return absl::InvalidArgumentError(absl::StrCat(
            "field idempotency_key: \"", request.idempotency_key(),
            "\" was already used in region ", request.region(), " for a different request"));
      }
      return it->second.second;
    }
  }
  v1::VersionInfo info;
  info.set_author(author);
  info.set_message(request.message());
  info.set_origin(v1::ORIGIN_APPLY);
  info.set_traceparent(context.traceparent);
  info.set_idempotency_key(request.idempotency_key());
  auto out = Append(request.region(), std::move(*resources), std::move(info), expected,
                    request.allow_empty(), request.allow_mass_delete());
  if (out.ok() && !request.idempotency_key().empty()) {
    regions_[request.region()].keys[request.idempotency_key()] = {fingerprint, *out};
  }
  return out;
}

absl::StatusOr<v1::PlanStateResponse> FakeLedgerStore::PlanState(
    const v1::ApplyStateRequest& request) {
  auto resources = PrepareResources(request.region(), request.resources());
  if (!resources.ok()) return resources.status();
  std::lock_guard lock(mu_);
  if (absl::Status s = Injected(); !s.ok()) return s;
  auto it = regions_.find(request.region());
  const uint64_t head = it == regions_.end() ? 0 : it->second.versions.size();
  std::optional<uint64_t> expected;
  if (request.has_expected_version()) expected = request.expected_version();
  if (absl::Status s = CheckExpectedVersion(request.region(), expected, head); !s.ok()) return s;
  const auto& current = it == regions_.end() ? kEmpty : At(it->second, head);
  const auto diff = common::DiffResources(current, *resources);
  if (!diff.empty()) {
    if (absl::Status s = CheckGuards(request.region(), current.size(), diff, resources->size(),
                                     request.allow_empty(), request.allow_mass_delete(), guard_);
        !s.ok()) {
      return s;
    }
  }
  v1::PlanStateResponse out;
  out.set_region(request.region());
  out.set_base_version(head);
  for (auto& id : common::CreatedIds(diff)) out.add_created(std::move(id));
  for (auto& id : common::UpdatedIds(diff)) out.add_updated(std::move(id));
  for (auto& id : common::DeletedIds(diff)) out.add_deleted(std::move(id));
  for (auto& c : ToResourceChanges(diff)) *out.add_changes() = std::move(c);
  return out;
}

absl::StatusOr<v1::ApplyStateResponse> FakeLedgerStore::Rollback(const v1::RollbackRequest& request,
                                                                 const WriteContext& context) {
  if (absl::Status s = common::ValidateRegionKey(request.region()); !s.ok()) return s;
  std::lock_guard lock(mu_);
  if (absl::Status s = Injected(); !s.ok()) return s;
  Region& r = regions_[request.region()];
  const uint64_t head = r.versions.size();
  if (request.to_version() == 0 || request.to_version() > head) {
    return NoSuchVersion(request.region(), request.to_version(), head);
  }
  v1::VersionInfo info;
  info.set_author(request.author().empty() ? context.default_author : request.author());
  info.set_message(request.message().empty()
                       ? absl::StrCat("rollback to version ", request.to_version())
                       : request.message());
  info.set_origin(v1::ORIGIN_ROLLBACK);
  info.set_rollback_of(request.to_version());
  info.set_traceparent(context.traceparent);
  std::optional<uint64_t> expected;
  if (request.has_expected_version()) expected = request.expected_version();
  return Append(request.region(), At(r, request.to_version()), std::move(info), expected,
                request.allow_empty(), request.allow_mass_delete());
}

absl::StatusOr<v1::RegionalState> FakeLedgerStore::GetState(const std::string& region,
                                                            uint64_t version) {
  if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
  std::lock_guard lock(mu_);
  if (absl::Status s = Injected(); !s.ok()) return s;
  v1::RegionalState out;
  out.set_region(region);
  auto it = regions_.find(region);
  const uint64_t head = it == regions_.end() ? 0 : it->second.versions.size();
  if (version == 0 && head == 0) return out;
  const uint64_t v = version == 0 ? head : version;
  if (v > head) return NoSuchVersion(region, v, head);
  const Version& ver = it->second.versions[v - 1];
  out.set_version(v);
  for (const auto& r : ver.resources) *out.add_resources() = r;
  out.set_origin(ver.info.origin());
  out.set_rollback_of(ver.info.rollback_of());
  *out.mutable_created_at() = ver.info.created_at();
  out.set_traceparent(ver.info.traceparent());
  out.set_author(ver.info.author());
  out.set_message(ver.info.message());
  return out;
}

absl::StatusOr<v1::ListRegionsResponse> FakeLedgerStore::ListRegions() {
  std::lock_guard lock(mu_);
  if (absl::Status s = Injected(); !s.ok()) return s;
  v1::ListRegionsResponse out;
  for (const auto& [name, r] : regions_) {
    if (r.versions.empty()) continue;
    auto* s = out.add_regions();
    s->set_region(name);
    s->set_current_version(r.versions.size());
    s->set_resource_count(static_cast<uint32_t>(r.versions.back().resources.size()));
    *s->mutable_updated_at() = r.versions.back().info.created_at();
  }
  return out;
}

absl::StatusOr<v1::GetHistoryResponse> FakeLedgerStore::GetHistory(
    const v1::GetHistoryRequest& request) {
  if (absl::Status s = common::ValidateRegionKey(request.region()); !s.ok()) return s;
  std::optional<ResourceKey> resource;
  if (!request.resource().empty()) {
    auto key = ParseResourceKey(request.resource(), "resource");
    if (!key.ok()) return key.status();
    resource = *std::move(key);
  }
  std::lock_guard lock(mu_);
  if (absl::Status s = Injected(); !s.ok()) return s;
  v1::GetHistoryResponse out;
  auto it = regions_.find(request.region());
  if (it == regions_.end()) return out;
  const auto& versions = it->second.versions;
  uint64_t from = versions.size();
  if (!request.page_token().empty() && !absl::SimpleAtoi(request.page_token(), &from)) {
    return absl::InvalidArgumentError("field page_token: not a token from a previous answer");
  }
  const uint32_t size = request.page_size() == 0 ? 20 : std::min(request.page_size(), 1000u);
  auto seconds = [](const google::protobuf::Timestamp& t) {
    return t.seconds() * 1'000'000'000 + t.nanos();
  };
  for (uint64_t v = std::min<uint64_t>(from, versions.size()); v >= 1; --v) {
    const v1::VersionInfo& info = versions[v - 1].info;
    if (!request.author().empty() && info.author() != request.author()) continue;
    if (request.origin() != v1::ORIGIN_UNSPECIFIED && info.origin() != request.origin()) continue;
    if (request.has_since() && seconds(info.created_at()) < seconds(request.since())) continue;
    if (request.has_until() && seconds(info.created_at()) > seconds(request.until())) continue;
    const v1::Resource* before = nullptr;
    const v1::Resource* after = nullptr;
    if (resource) {
      before = Find(At(it->second, v - 1), *resource);
      after = Find(versions[v - 1].resources, *resource);
      if (before == nullptr && after == nullptr) continue;
      if (before != nullptr && after != nullptr && common::SameResource(*before, *after)) continue;
    }
    if (out.versions_size() == static_cast<int>(size)) {
      out.set_next_page_token(std::to_string(v));
      break;
    }
    *out.add_versions() = info;
    if (resource) {
      *out.add_changes() = ResourceChangeAt(v, resource->kind, resource->name, before, after);
    }
  }
  return out;
}

absl::StatusOr<v1::BlameResponse> FakeLedgerStore::Blame(const v1::BlameRequest& request) {
  if (absl::Status s = common::ValidateRegionKey(request.region()); !s.ok()) return s;
  auto key = ParseResourceKey(request.resource(), "resource");
  if (!key.ok()) return key.status();
  std::lock_guard lock(mu_);
  if (absl::Status s = Injected(); !s.ok()) return s;
  auto it = regions_.find(request.region());
  const uint64_t head = it == regions_.end() ? 0 : it->second.versions.size();
  const uint64_t at = request.version() == 0 ? head : request.version();
  if (at == 0 || at > head) return NoSuchVersion(request.region(), at, head);
  const Region& region = it->second;
  const v1::Resource* current = Find(region.versions[at - 1].resources, *key);
  if (current == nullptr) {
    return absl::NotFoundError(absl::StrCat("region ", request.region(), " has no ",
                                            request.resource(), " at version ", at));
  }
  // The versions that touched it (changed it, created or deleted it), oldest first.
  std::vector<std::pair<uint64_t, const v1::Resource*>> touches;
  for (uint64_t v = 1; v <= at; ++v) {
    const v1::Resource* before = Find(At(region, v - 1), *key);
    const v1::Resource* after = Find(region.versions[v - 1].resources, *key);
    const bool same = before == nullptr ? after == nullptr
                                        : after != nullptr && common::SameResource(*before, *after);
    if (!same) touches.emplace_back(v, after);
  }
  BlameWalk walk(*current, touches.back().first);
  bool done = false;
  for (size_t i = touches.size() - 1; i-- > 0;) {
    if (walk.Older(touches[i].first, touches[i].second)) {
      done = true;
      break;
    }
  }
  if (!done) walk.Finish();
  v1::BlameResponse out;
  out.set_region(request.region());
  out.set_version(at);
  *out.mutable_resource() = *current;
  uint64_t created = at;
  while (created > 1 && Find(region.versions[created - 2].resources, *key) != nullptr) --created;
  *out.mutable_created_by() = region.versions[created - 1].info;
  for (const auto& [path, f] : walk.fields()) {
    auto* field = out.add_fields();
    field->set_field(path);
    field->set_value_json(f.value.dump());
    *field->mutable_set_by() = region.versions[f.set_by - 1].info;
  }
  return out;
}

absl::StatusOr<v1::DiffVersionsResponse> FakeLedgerStore::DiffVersions(
    const v1::DiffVersionsRequest& request) {
  if (absl::Status s = common::ValidateRegionKey(request.region()); !s.ok()) return s;
  std::lock_guard lock(mu_);
  if (absl::Status s = Injected(); !s.ok()) return s;
  auto it = regions_.find(request.region());
  const uint64_t head = it == regions_.end() ? 0 : it->second.versions.size();
  for (uint64_t v : {request.from_version(), request.to_version()}) {
    if (v > head) return NoSuchVersion(request.region(), v, head);
  }
  v1::DiffVersionsResponse out;
  out.set_region(request.region());
  out.set_from_version(request.from_version());
  out.set_to_version(request.to_version());
  if (head == 0) return out;
  for (auto& c : ToResourceChanges(common::DiffResources(At(it->second, request.from_version()),
                                                         At(it->second, request.to_version())))) {
    *out.add_changes() = std::move(c);
  }
  return out;
}

}  // namespace senren::ledger::testing
