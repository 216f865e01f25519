#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/resources.h"
#include "common/validation.h"
#include "ledger/audit.h"
#include "ledger/pg_ledger_store.h"
#include "pg_ledger_store_impl.h"

// The audit queries of PgLedgerStore: GetHistory with its filters and Blame. Each is a
// range scan of one index (migration 0006) that stops after a page; none reads a
// region's versions one by one (docs/ledger.md "Audit" shows the plans).

namespace senren::ledger {
namespace {

constexpr uint32_t kDefaultPageSize = 20;
constexpr uint32_t kMaxPageSize = 1000;
// Versions of one resource read per round trip of a blame walk.
constexpr int64_t kBlameBatch = 1024;

int64_t Micros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000 + ts.nanos() / 1000;
}

// A time parameter as SQL: the exact microsecond, no floating point.
std::string TimeParam(int n) {
  return absl::StrCat("('epoch'::timestamptz + $", n, "::bigint * interval '1 microsecond')");
}

v1::Resource ParseSpec(const pg::Field& f, bool* ok) {
  const std::string bytes = f.Bytes();
  v1::Resource r;
  *ok = r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  return r;
}

absl::Status SpecDoesNotParse(const std::string& region, const ResourceKey& key, uint64_t version) {
  return absl::DataLossError(absl::StrCat("the spec of ", std::string(common::KindName(key.kind)),
                                          "/", key.name, " in version ", version, " of region ",
                                          region, " does not parse"));
}

}  // namespace

absl::StatusOr<v1::GetHistoryResponse> PgLedgerStore::Impl::GetHistory(
    const v1::GetHistoryRequest& request) {
  const std::string& region = request.region();
  if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
  uint32_t page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (page_size > kMaxPageSize) page_size = kMaxPageSize;
  uint64_t from = std::numeric_limits<int64_t>::max();
  if (!request.page_token().empty()) {
    if (!absl::SimpleAtoi(request.page_token(), &from) || from == 0 ||
        from > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("field page_token: \"", request.page_token(),
                       "\" is not a token from a previous GetHistory answer"));
    }
  }
  std::optional<ResourceKey> resource;
  if (!request.resource().empty()) {
    auto key = ParseResourceKey(request.resource(), "resource");
    if (!key.ok()) return key.status();
    resource = *std::move(key);
  }
  if (request.has_since() && request.has_until() &&
      Micros(request.since()) > Micros(request.until())) {
    return absl::InvalidArgumentError("field since: after until; nothing can match");
  }

  // One statement per combination of filters, so PostgreSQL plans each with the index
  // that serves it (a generic plan with "$n = '' OR author = $n" would use none).
  // Times bound versions too: a region's versions are appended one at a time under its
  // lock, so created_at grows with version and a time range is a version range, found
  // in versions_by_time; the created_at predicates keep the answer exact regardless (a
  // clock stepping back can only hide versions, never add wrong ones).
  std::vector<pg::Param> params{region, static_cast<int64_t>(from),
                                static_cast<int64_t>(page_size) + 1};
  std::string filters;
  if (!request.author().empty()) {
    params.emplace_back(request.author());
    absl::StrAppend(&filters, " AND v.author = $", params.size());
  }
  if (request.origin() != v1::ORIGIN_UNSPECIFIED) {
    params.emplace_back(static_cast<int>(request.origin()));
    absl::StrAppend(&filters, " AND v.origin = $", params.size());
  }
  if (request.has_since()) {
    params.emplace_back(static_cast<int64_t>(Micros(request.since())));
    const int n = static_cast<int>(params.size());
    absl::StrAppend(&filters, " AND v.created_at >= ", TimeParam(n),
                    " AND v.version >= coalesce((SELECT t.version FROM versions t WHERE "
                    "t.region = $1 AND t.created_at >= ",
                    TimeParam(n), " ORDER BY t.created_at LIMIT 1), 9223372036854775807)");
  }
  if (request.has_until()) {
    params.emplace_back(static_cast<int64_t>(Micros(request.until())));
    const int n = static_cast<int>(params.size());
    absl::StrAppend(&filters, " AND v.created_at <= ", TimeParam(n),
                    " AND v.version <= coalesce((SELECT t.version FROM versions t WHERE "
                    "t.region = $1 AND t.created_at <= ",
                    TimeParam(n), " ORDER BY t.created_at DESC LIMIT 1), 0)");
  }
  std::string sql;
  if (!resource) {
    sql = absl::StrCat("SELECT ", kVersionColumns,
                       " FROM versions v WHERE v.region = $1 AND v.version <= $2", filters,
                       " ORDER BY v.version DESC LIMIT $3");
  } else {
    params.emplace_back(static_cast<int>(resource->kind));
    const size_t kind_n = params.size();
    params.emplace_back(resource->name);
    const size_t name_n = params.size();
    // The resource's versions from changes_by_resource, each with its metadata and the
    // spec before it: the newest older change of the same resource (NULL when it did not
    // exist), one index probe per row.
    sql = absl::StrCat(
        "SELECT ", kVersionColumns,
        ", spec, prev FROM (SELECT v.*, c.spec, "
        "(SELECT p.spec FROM changes p WHERE p.region = c.region AND p.kind = c.kind AND "
        "p.name = c.name AND p.version < c.version ORDER BY p.version DESC LIMIT 1) AS prev "
        "FROM changes c JOIN versions v ON v.region = c.region AND v.version = c.version "
        "WHERE c.region = $1 AND c.kind = $",
        kind_n, " AND c.name = $", name_n, " AND c.version <= $2", filters,
        " ORDER BY c.version DESC LIMIT $3) h ORDER BY version DESC");
  }
  return RunTx<v1::GetHistoryResponse>(
      "read the history", region,
      [&](pg::Transaction& tx) -> absl::StatusOr<v1::GetHistoryResponse> {
        v1::GetHistoryResponse out;
        for (const auto& row : tx.ExecParams(sql, params)) {
          if (out.versions_size() == static_cast<int>(page_size)) {
            out.set_next_page_token(std::to_string(row[0].as<uint64_t>()));
            break;
          }
          v1::VersionInfo info = ReadVersionInfo(region, row);
          if (resource) {
            const size_t spec_col = 12;
            std::optional<v1::Resource> before;
            std::optional<v1::Resource> after;
            for (size_t col : {spec_col, spec_col + 1}) {
              if (row[col].is_null()) continue;
              bool ok = false;
              v1::Resource r = ParseSpec(row[col], &ok);
              if (!ok) return SpecDoesNotParse(region, *resource, info.version());
              (col == spec_col ? after : before) = std::move(r);
            }
            if (!before && !after) continue;  // deleted again: nothing to say (never stored)
            *out.add_changes() =
                ResourceChangeAt(info.version(), resource->kind, resource->name,
                                 before ? &*before : nullptr, after ? &*after : nullptr);
          }
          *out.add_versions() = std::move(info);
        }
        return out;
      });
}

absl::StatusOr<v1::BlameResponse> PgLedgerStore::Impl::Blame(const v1::BlameRequest& request) {
  const std::string& region = request.region();
  if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
  auto parsed = ParseResourceKey(request.resource(), "resource");
  if (!parsed.ok()) return parsed.status();
  const ResourceKey key = *std::move(parsed);
  const int kind = static_cast<int>(key.kind);
  return RunTx<v1::BlameResponse>(
      "blame a resource", region, [&](pg::Transaction& tx) -> absl::StatusOr<v1::BlameResponse> {
        const uint64_t head = Head(tx, region);
        const uint64_t at = request.version() == 0 ? head : request.version();
        if (at == 0 || at > head) return NoSuchVersion(region, at, head);
        auto newest = tx.ExecParams(
            "SELECT version, spec FROM changes WHERE region = $1 AND kind = $2 AND name = $3 "
            "AND version <= $4 ORDER BY version DESC LIMIT 1",
            region, kind, key.name, static_cast<int64_t>(at));
        if (newest.empty() || newest[0][1].is_null()) {
          return absl::NotFoundError(absl::StrCat(
              "region ", region, " has no ", request.resource(), " at version ", at,
              newest.empty()
                  ? std::string()
                  : absl::StrCat(" (deleted in version ", newest[0][0].as<uint64_t>(), ")")));
        }
        const uint64_t last = newest[0][0].as<uint64_t>();
        bool ok = false;
        const v1::Resource current = ParseSpec(newest[0][1], &ok);
        if (!ok) return SpecDoesNotParse(region, key, last);
        // The latest creation: the first change after the latest delete (changes_deletes),
        // so the walk below never reads past it.
        const uint64_t created =
            tx.ExecParams1(
                  "SELECT min(version) FROM changes WHERE region = $1 AND kind = $2 AND name = $3 "
                  "AND version <= $4 AND version > coalesce((SELECT max(version) FROM changes "
                  "WHERE region = $1 AND kind = $2 AND name = $3 AND version <= $4 AND spec IS "
                  "NULL), 0)",
                  region, kind, key.name, static_cast<int64_t>(at))[0]
                .as<uint64_t>();
        BlameWalk walk(current, last);
        // Specs that fit a B-tree entry come from changes_by_resource_spec, an index-only
        // scan; a resource with a larger spec in its history is read from the table.
        const bool large =
            !tx.ExecParams("SELECT 1 FROM changes WHERE region = $1 AND kind = $2 AND "
                           "name = $3 AND version >= $4 AND version <= $5 AND "
                           "octet_length(spec) > 2000 LIMIT 1",
                           region, kind, key.name, static_cast<int64_t>(created),
                           static_cast<int64_t>(last))
                 .empty();
        const std::string walk_sql = absl::StrCat(
            "SELECT version, spec FROM changes WHERE region = $1 AND kind = $2 AND name = $3 "
            "AND version >= $4 AND version < $5",
            large ? "" : " AND octet_length(spec) <= 2000", " ORDER BY version DESC LIMIT $6");
        int64_t cursor = static_cast<int64_t>(last);
        bool done = walk.Done();
        while (!done) {
          auto rows = tx.ExecParams(walk_sql, region, kind, key.name, static_cast<int64_t>(created),
                                    cursor, kBlameBatch);
          for (const auto& row : rows) {
            const uint64_t v = row[0].as<uint64_t>();
            cursor = static_cast<int64_t>(v);
            auto older = walk.OlderSerialized(v, row[1].Bytes());
            if (!older.ok()) return SpecDoesNotParse(region, key, v);
            if (*older) {
              done = true;
              break;
            }
          }
          if (!done && static_cast<int64_t>(rows.size()) < kBlameBatch) {
            walk.Finish();  // reached the creation: the rest was set by it
            done = true;
          }
        }
        std::set<uint64_t> wanted{created};
        for (const auto& [path, f] : walk.fields()) wanted.insert(f.set_by);
        std::map<uint64_t, v1::VersionInfo> infos;
        for (const auto& row :
             tx.ExecParams(absl::StrCat("SELECT ", kVersionColumns,
                                        " FROM versions WHERE region = $1 AND version IN (",
                                        absl::StrJoin(wanted, ","), ")"),
                           region)) {
          v1::VersionInfo info = ReadVersionInfo(region, row);
          infos.emplace(info.version(), std::move(info));
        }
        v1::BlameResponse out;
        out.set_region(region);
        out.set_version(at);
        *out.mutable_resource() = current;
        *out.mutable_created_by() = infos[created];
        for (const auto& [path, f] : walk.fields()) {
          auto* field = out.add_fields();
          field->set_field(path);
          field->set_value_json(f.value.dump());
          *field->mutable_set_by() = infos[f.set_by];
        }
        return out;
      });
}

}  // namespace senren::ledger
