#include <limits>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/diff.h"
#include "common/resources.h"
#include "common/validation.h"
#include "ledger/pg_ledger_store.h"
#include "pg_ledger_store_impl.h"

// The read side of PgLedgerStore: materializing versions, and the queries (the audit
// queries, GetHistory and Blame, are in pg_ledger_store_history.cc).

namespace senren::ledger {

void SetTimestamp(int64_t micros, google::protobuf::Timestamp* ts) {
  int64_t secs = micros / 1'000'000;
  int64_t rem = micros % 1'000'000;
  if (rem < 0) {
    rem += 1'000'000;
    --secs;
  }
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>(rem * 1000));
}

v1::VersionInfo ReadVersionInfo(const std::string& region, const pg::Row& row) {
  v1::VersionInfo v;
  v.set_region(region);
  v.set_version(row[0].as<uint64_t>());
  v.set_author(row[1].as<std::string>());
  v.set_message(row[2].as<std::string>());
  SetTimestamp(row[3].as<int64_t>(), v.mutable_created_at());
  v.set_origin(static_cast<v1::Origin>(row[4].as<int>()));
  v.set_rollback_of(row[5].as<uint64_t>());
  v.set_idempotency_key(row[6].as<std::string>());
  v.set_traceparent(row[7].as<std::string>());
  v.set_created(row[8].as<uint32_t>());
  v.set_updated(row[9].as<uint32_t>());
  v.set_deleted(row[10].as<uint32_t>());
  v.set_resource_count(row[11].as<uint32_t>());
  return v;
}

absl::StatusOr<v1::PlanStateResponse> PgLedgerStore::Impl::PlanState(
    const v1::ApplyStateRequest& request) {
  auto resources = PrepareResources(request.region(), request.resources());
  if (!resources.ok()) return resources.status();
  return Plan(request.region(), *resources, Expected(request), request.allow_empty(),
              request.allow_mass_delete());
}

absl::StatusOr<v1::RegionalState> PgLedgerStore::Impl::GetState(const std::string& region,
                                                                uint64_t version) {
  if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
  return RunTx<v1::RegionalState>("read the state", region,
                                  [&](pg::Transaction& tx) -> absl::StatusOr<v1::RegionalState> {
                                    const uint64_t head = Head(tx, region);
                                    v1::RegionalState state;
                                    state.set_region(region);
                                    if (version == 0 && head == 0)
                                      return state;  // no version yet: empty, version 0
                                    const uint64_t v = version == 0 ? head : version;
                                    if (v > head) return NoSuchVersion(region, v, head);
                                    auto resources = Materialize(tx, region, v);
                                    if (!resources.ok()) return resources.status();
                                    auto info = tx.ExecPrepared1("version_info", region, v);
                                    v1::VersionInfo meta = ReadVersionInfo(region, info);
                                    state.set_version(v);
                                    for (const auto& r : **resources) *state.add_resources() = r;
                                    state.set_origin(meta.origin());
                                    state.set_rollback_of(meta.rollback_of());
                                    *state.mutable_created_at() = meta.created_at();
                                    state.set_traceparent(meta.traceparent());
                                    state.set_author(meta.author());
                                    state.set_message(meta.message());
                                    return state;
                                  });
}

absl::StatusOr<v1::ListRegionsResponse> PgLedgerStore::Impl::ListRegions() {
  return RunTx<v1::ListRegionsResponse>(
      "list regions", "", [&](pg::Transaction& tx) -> absl::StatusOr<v1::ListRegionsResponse> {
        v1::ListRegionsResponse out;
        for (const auto& row : tx.ExecPrepared("regions")) {
          auto* r = out.add_regions();
          r->set_region(row[0].as<std::string>());
          r->set_current_version(row[1].as<uint64_t>());
          r->set_resource_count(row[2].as<uint32_t>());
          SetTimestamp(row[3].as<int64_t>(), r->mutable_updated_at());
        }
        return out;
      });
}

absl::StatusOr<v1::DiffVersionsResponse> PgLedgerStore::Impl::DiffVersions(
    const v1::DiffVersionsRequest& request) {
  const std::string& region = request.region();
  if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
  return RunTx<v1::DiffVersionsResponse>(
      "diff versions", region,
      [&](pg::Transaction& tx) -> absl::StatusOr<v1::DiffVersionsResponse> {
        const uint64_t head = Head(tx, region);
        for (uint64_t v : {request.from_version(), request.to_version()}) {
          if (v > head) return NoSuchVersion(region, v, head);
        }
        auto before = Materialize(tx, region, request.from_version());
        if (!before.ok()) return before.status();
        auto after = Materialize(tx, region, request.to_version());
        if (!after.ok()) return after.status();
        v1::DiffVersionsResponse out;
        out.set_region(region);
        out.set_from_version(request.from_version());
        out.set_to_version(request.to_version());
        for (auto& c : ToResourceChanges(common::DiffResources(**before, **after))) {
          *out.add_changes() = std::move(c);
        }
        return out;
      });
}

// The resources of `version` (0 = the empty state): the newest checkpoint at or below
// it plus the change sets after it.
absl::StatusOr<ResourcesPtr> PgLedgerStore::Impl::Materialize(pg::Transaction& tx,
                                                              const std::string& region,
                                                              uint64_t version) {
  if (version == 0) return std::make_shared<const Resources>();
  if (ResourcesPtr cached = cache_.Get(region, version)) return cached;
  std::map<std::pair<int, std::string>, v1::Resource> state;
  uint64_t base = 0;
  auto cp = tx.ExecPrepared("checkpoint_at", region, version);
  if (!cp.empty()) {
    base = cp[0][0].as<uint64_t>();
    const std::string bytes = cp[0][1].Bytes();
    v1::RegionalState snapshot;
    if (!snapshot.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(
          absl::StrCat("checkpoint ", base, " of region ", region, " does not parse"));
    }
    for (auto& r : *snapshot.mutable_resources()) {
      std::pair<int, std::string> key(static_cast<int>(common::KindOf(r)), r.name());
      state.emplace(std::move(key), std::move(r));
    }
  }
  for (const auto& row : tx.ExecPrepared("changes_between", region, base, version)) {
    std::pair<int, std::string> key(row[1].as<int>(), row[2].as<std::string>());
    if (row[3].is_null()) {
      state.erase(key);
      continue;
    }
    const std::string bytes = row[3].Bytes();
    v1::Resource r;
    if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(absl::StrCat("change ", key.second, " of version ",
                                              row[0].as<uint64_t>(), " of region ", region,
                                              " does not parse"));
    }
    state[std::move(key)] = std::move(r);
  }
  auto out = std::make_shared<Resources>();
  out->reserve(state.size());
  for (auto& [key, r] : state) out->push_back(std::move(r));
  // Only committed versions are ever materialized (a transaction never reads back the
  // version it is writing), so the result may be cached.
  ResourcesPtr result(std::move(out));
  cache_.Put(region, version, result);
  return result;
}

absl::StatusOr<v1::PlanStateResponse> PgLedgerStore::Impl::Plan(const std::string& region,
                                                                const Resources& desired,
                                                                std::optional<uint64_t> expected,
                                                                bool allow_empty,
                                                                bool allow_mass_delete) {
  return RunTx<v1::PlanStateResponse>(
      "plan the state", region, [&](pg::Transaction& tx) -> absl::StatusOr<v1::PlanStateResponse> {
        const uint64_t head = Head(tx, region);
        if (absl::Status s = CheckExpectedVersion(region, expected, head); !s.ok()) return s;
        auto current = Materialize(tx, region, head);
        if (!current.ok()) return current.status();
        common::ResourceSetDiff diff = common::DiffResources(**current, desired);
        if (!diff.empty()) {
          if (absl::Status s = CheckGuards(region, (*current)->size(), diff, desired.size(),
                                           allow_empty, allow_mass_delete, options_.mass_delete);
              !s.ok()) {
            return s;
          }
        }
        v1::PlanStateResponse out;
        out.set_region(region);
        out.set_base_version(head);
        for (auto& id : common::CreatedIds(diff)) out.add_created(std::move(id));
        for (auto& id : common::UpdatedIds(diff)) out.add_updated(std::move(id));
        for (auto& id : common::DeletedIds(diff)) out.add_deleted(std::move(id));
        for (auto& c : ToResourceChanges(diff)) *out.add_changes() = std::move(c);
        return out;
      });
}

}  // namespace senren::ledger
