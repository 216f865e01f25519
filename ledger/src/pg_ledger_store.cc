#include "ledger/pg_ledger_store.h"

#include <algorithm>
#include <atomic>
#include <list>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/diff.h"
#include "common/resources.h"
#include "common/validation.h"
#include "migrations/migrations.h"
#include "spdlog/spdlog.h"

namespace senren::ledger {
namespace {

constexpr uint32_t kDefaultPageSize = 20;
constexpr uint32_t kMaxPageSize = 1000;
constexpr size_t kChangeRowsPerStatement = 1000;

// libpq messages end in newlines and tabs; a Status message is one line.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// "postgresql://user:secret@host:port/db" -> "host:port/db": never log a password.
std::string RedactUri(const std::string& uri) {
  std::string out = uri;
  if (auto scheme = out.find("://"); scheme != std::string::npos) out = out.substr(scheme + 3);
  if (auto at = out.rfind('@'); at != std::string::npos) out = out.substr(at + 1);
  if (auto q = out.find('?'); q != std::string::npos) out = out.substr(0, q);
  return out;
}

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

absl::Status FromSqlError(std::string_view op, const std::string& region, const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  std::string what = absl::StrCat("PostgreSQL failed to ", std::string(op));
  if (!region.empty()) absl::StrAppend(&what, " of region ", region);
  absl::StrAppend(&what, " (SQLSTATE ", state, "): ", OneLine(e.what()));
  if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" ||
      state == "53300") {
    return absl::UnavailableError(what);
  }
  if (state == "40001" || state == "40P01") return absl::AbortedError(what + "; retry");
  if (state == "57014") return absl::DeadlineExceededError(what);
  return absl::InternalError(what);
}

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

// Columns of a version's metadata, in the order ReadVersionInfo expects.
constexpr const char* kVersionColumns =
    "version, author, message, (extract(epoch from created_at) * 1000000)::bigint, origin, "
    "rollback_of, idempotency_key, traceparent, created_count, updated_count, deleted_count, "
    "resource_count";

v1::VersionInfo ReadVersionInfo(const std::string& region, const pqxx::row& row) {
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

using Resources = std::vector<v1::Resource>;
using ResourcesPtr = std::shared_ptr<const Resources>;

void PrepareStatements(pqxx::connection& c) {
  c.prepare("lock_head",
            "INSERT INTO regions (region) VALUES ($1) ON CONFLICT (region) DO UPDATE "
            "SET region = EXCLUDED.region RETURNING current_version");
  c.prepare("head", "SELECT current_version FROM regions WHERE region = $1");
  c.prepare("get_idem",
            "SELECT request_hash, response FROM idempotency_keys WHERE region = $1 AND key = $2");
  c.prepare("insert_idem",
            "INSERT INTO idempotency_keys (region, key, request_hash, response) "
            "VALUES ($1, $2, $3, $4)");
  c.prepare("insert_checkpoint",
            "INSERT INTO checkpoints (region, version, resources) VALUES ($1, $2, $3)");
  c.prepare("checkpoint_at",
            "SELECT version, resources FROM checkpoints WHERE region = $1 AND version <= $2 "
            "ORDER BY version DESC LIMIT 1");
  c.prepare("changes_between",
            "SELECT version, kind, name, spec FROM changes WHERE region = $1 AND version > $2 "
            "AND version <= $3 ORDER BY version");
  c.prepare("version_info", absl::StrCat("SELECT ", kVersionColumns,
                                         " FROM versions WHERE region = $1 AND version = $2"));
  c.prepare("history", absl::StrCat("SELECT ", kVersionColumns,
                                    " FROM versions WHERE region = $1 AND version <= $2 "
                                    "ORDER BY version DESC LIMIT $3"));
  c.prepare("regions",
            "SELECT region, current_version, resource_count, "
            "(extract(epoch from updated_at) * 1000000)::bigint FROM regions "
            "WHERE current_version > 0 ORDER BY region");
}

// A fixed-size pool of connections, opened on demand. Thread-safe.
class ConnectionPool {
 public:
  ConnectionPool(std::string uri, std::string schema, int size)
      : uri_(std::move(uri)), schema_(std::move(schema)), size_(size) {}

  // A connection checked out of the pool; returns it when destroyed unless MarkBroken().
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)),
          broken_(other.broken_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->Return(std::move(conn_), broken_);
    }
    pqxx::connection& operator*() { return *conn_; }
    void MarkBroken() { broken_ = true; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    bool broken_ = false;
  };

  absl::StatusOr<Lease> Acquire() {
    std::unique_ptr<pqxx::connection> conn;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_use_ < size_; });
      ++in_use_;
      if (!idle_.empty()) {
        conn = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (conn == nullptr) {
      auto opened = Open();
      if (!opened.ok()) {
        Return(nullptr, true);
        return opened.status();
      }
      conn = std::move(*opened);
    }
    return Lease(this, std::move(conn));
  }

  // Forgets idle connections: after one broke, the others most likely did too.
  void DropIdle() {
    std::vector<std::unique_ptr<pqxx::connection>> dropped;
    std::lock_guard lock(mu_);
    dropped.swap(idle_);
    open_ -= static_cast<int>(dropped.size());
  }

  PgLedgerStoreStats Stats() const {
    std::lock_guard lock(mu_);
    PgLedgerStoreStats s;
    s.pool_size = size_;
    s.pool_in_use = in_use_;
    s.pool_open = open_;
    s.reconnects = opens_ > 0 ? opens_ - 1 : 0;
    return s;
  }

 private:
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Open() {
    try {
      auto conn = std::make_unique<pqxx::connection>(uri_);
      {
        pqxx::nontransaction n(*conn);
        n.exec0("SET search_path TO " + QuoteIdent(schema_));
        // A hung statement must not hold a pooled connection (and its caller) forever.
        n.exec0("SET statement_timeout TO '60s'");
      }
      PrepareStatements(*conn);
      std::lock_guard lock(mu_);
      ++open_;
      ++opens_;
      return conn;
    } catch (const pqxx::broken_connection& e) {
      return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL at ",
                                                 RedactUri(uri_), ": ", OneLine(e.what())));
    } catch (const pqxx::sql_error& e) {
      return FromSqlError("open a connection", "", e);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL at ",
                                                 RedactUri(uri_), ": ", OneLine(e.what())));
    }
  }

  void Return(std::unique_ptr<pqxx::connection> conn, bool broken) {
    {
      std::lock_guard lock(mu_);
      --in_use_;
      if (conn != nullptr) {
        if (broken) {
          --open_;
        } else {
          idle_.push_back(std::move(conn));
        }
      }
    }
    cv_.notify_one();
  }

  const std::string uri_;
  const std::string schema_;
  const int size_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t opens_ ABSL_GUARDED_BY(mu_) = 0;
};

// The latest materialized version per region. Versions never change once committed, so
// an entry is correct forever; only committed versions are put.
class StateCache {
 public:
  explicit StateCache(size_t max_regions) : max_regions_(max_regions) {}

  ResourcesPtr Get(const std::string& region, uint64_t version) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(region);
    if (it == entries_.end() || it->second.first != version) return nullptr;
    return it->second.second;
  }

  void Put(const std::string& region, uint64_t version, ResourcesPtr resources) {
    if (max_regions_ == 0) return;
    std::lock_guard lock(mu_);
    auto it = entries_.find(region);
    if (it != entries_.end()) {
      if (it->second.first < version) it->second = {version, std::move(resources)};
      return;
    }
    if (entries_.size() >= max_regions_) entries_.erase(entries_.begin());
    entries_.emplace(region, std::make_pair(version, std::move(resources)));
  }

 private:
  const size_t max_regions_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::pair<uint64_t, ResourcesPtr>> entries_ ABSL_GUARDED_BY(mu_);
};

// What an append asks for, after validation.
struct Intent {
  std::string region;
  Resources resources;  // canonical, sorted, valid
  v1::Origin origin = v1::ORIGIN_APPLY;
  uint64_t rollback_of = 0;
  std::string author;
  std::string message;
  std::string idempotency_key;
  std::string fingerprint;
  std::string traceparent;
  std::optional<uint64_t> expected_version;
  bool allow_empty = false;
  bool allow_mass_delete = false;
};

// The answer of a write transaction, plus the state to cache once it committed.
struct WriteResult {
  v1::ApplyStateResponse response;
  uint64_t new_version = 0;  // 0 when nothing was appended
  ResourcesPtr new_state;
  // In a batch: the region was locked by someone else; nothing done, run it alone.
  bool deferred = false;
};

}  // namespace

class PgLedgerStore::Impl {
 public:
  explicit Impl(PgLedgerStoreOptions options)
      : options_(std::move(options)),
        pool_(options_.uri, options_.schema, options_.pool_size),
        cache_(options_.state_cache_regions) {}

  absl::StatusOr<v1::ApplyStateResponse> ApplyState(const v1::ApplyStateRequest& request,
                                                    const WriteContext& context) {
    auto resources = PrepareResources(request.region(), request.resources());
    if (!resources.ok()) return resources.status();
    if (request.dry_run()) {
      auto plan = Plan(request.region(), *resources, Expected(request), request.allow_empty(),
                       request.allow_mass_delete());
      if (!plan.ok()) return plan.status();
      v1::ApplyStateResponse response;
      response.set_region(request.region());
      response.set_version(plan->base_version());
      response.set_changed(plan->changes_size() > 0);
      *response.mutable_created() = plan->created();
      *response.mutable_updated() = plan->updated();
      *response.mutable_deleted() = plan->deleted();
      return response;
    }
    Intent in;
    in.region = request.region();
    in.resources = std::move(*resources);
    in.author = request.author().empty() ? context.default_author : request.author();
    in.message = request.message();
    in.idempotency_key = request.idempotency_key();
    in.traceparent = context.traceparent;
    in.expected_version = Expected(request);
    in.allow_empty = request.allow_empty();
    in.allow_mass_delete = request.allow_mass_delete();
    if (!in.idempotency_key.empty()) {
      in.fingerprint = RequestFingerprint(in.region, in.resources, in.expected_version, in.author,
                                          in.message, in.allow_empty, in.allow_mass_delete);
    }
    return Finish(in.region, Write(in, nullptr));
  }

  absl::StatusOr<v1::PlanStateResponse> PlanState(const v1::ApplyStateRequest& request) {
    auto resources = PrepareResources(request.region(), request.resources());
    if (!resources.ok()) return resources.status();
    return Plan(request.region(), *resources, Expected(request), request.allow_empty(),
                request.allow_mass_delete());
  }

  absl::StatusOr<v1::ApplyStateResponse> Rollback(const v1::RollbackRequest& request,
                                                  const WriteContext& context) {
    if (absl::Status s = common::ValidateRegionKey(request.region()); !s.ok()) return s;
    if (request.to_version() == 0) {
      return absl::InvalidArgumentError("field to_version: a version >= 1 is required");
    }
    Intent in;
    in.region = request.region();
    in.origin = v1::ORIGIN_ROLLBACK;
    in.rollback_of = request.to_version();
    in.author = request.author().empty() ? context.default_author : request.author();
    in.message = request.message().empty()
                     ? absl::StrCat("rollback to version ", request.to_version())
                     : request.message();
    in.traceparent = context.traceparent;
    if (request.has_expected_version()) in.expected_version = request.expected_version();
    in.allow_empty = request.allow_empty();
    in.allow_mass_delete = request.allow_mass_delete();
    return Finish(in.region, Write(in, &in.rollback_of));
  }

  absl::StatusOr<v1::RegionalState> GetState(const std::string& region, uint64_t version) {
    if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
    return RunTx<v1::RegionalState>(
        "read the state", region, [&](pqxx::work& tx) -> absl::StatusOr<v1::RegionalState> {
          const uint64_t head = Head(tx, region);
          v1::RegionalState state;
          state.set_region(region);
          if (version == 0 && head == 0) return state;  // no version yet: empty, version 0
          const uint64_t v = version == 0 ? head : version;
          if (v > head) return NoSuchVersion(region, v, head);
          auto resources = Materialize(tx, region, v);
          if (!resources.ok()) return resources.status();
          auto info = tx.exec_prepared1("version_info", region, v);
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

  absl::StatusOr<v1::ListRegionsResponse> ListRegions() {
    return RunTx<v1::ListRegionsResponse>(
        "list regions", "", [&](pqxx::work& tx) -> absl::StatusOr<v1::ListRegionsResponse> {
          v1::ListRegionsResponse out;
          for (const auto& row : tx.exec_prepared("regions")) {
            auto* r = out.add_regions();
            r->set_region(row[0].as<std::string>());
            r->set_current_version(row[1].as<uint64_t>());
            r->set_resource_count(row[2].as<uint32_t>());
            SetTimestamp(row[3].as<int64_t>(), r->mutable_updated_at());
          }
          return out;
        });
  }

  absl::StatusOr<v1::GetHistoryResponse> GetHistory(const v1::GetHistoryRequest& request) {
    const std::string& region = request.region();
    if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
    uint32_t page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
    if (page_size > kMaxPageSize) page_size = kMaxPageSize;
    uint64_t from = std::numeric_limits<int64_t>::max();
    if (!request.page_token().empty()) {
      if (!absl::SimpleAtoi(request.page_token(), &from) || from == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("field page_token: \"", request.page_token(),
                         "\" is not a token from a previous GetHistory answer"));
      }
    }
    return RunTx<v1::GetHistoryResponse>(
        "read the history", region, [&](pqxx::work& tx) -> absl::StatusOr<v1::GetHistoryResponse> {
          v1::GetHistoryResponse out;
          auto rows = tx.exec_prepared("history", region, static_cast<int64_t>(from),
                                       static_cast<int64_t>(page_size) + 1);
          for (const auto& row : rows) {
            if (out.versions_size() == static_cast<int>(page_size)) {
              out.set_next_page_token(std::to_string(row[0].as<uint64_t>()));
              break;
            }
            *out.add_versions() = ReadVersionInfo(region, row);
          }
          return out;
        });
  }

  absl::StatusOr<v1::DiffVersionsResponse> DiffVersions(const v1::DiffVersionsRequest& request) {
    const std::string& region = request.region();
    if (absl::Status s = common::ValidateRegionKey(region); !s.ok()) return s;
    return RunTx<v1::DiffVersionsResponse>(
        "diff versions", region, [&](pqxx::work& tx) -> absl::StatusOr<v1::DiffVersionsResponse> {
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

  PgLedgerStoreStats Stats() const {
    PgLedgerStoreStats s = pool_.Stats();
    s.versions_appended = versions_appended_.load();
    return s;
  }

 private:
  static std::optional<uint64_t> Expected(const v1::ApplyStateRequest& r) {
    if (!r.has_expected_version()) return std::nullopt;
    return r.expected_version();
  }

  static absl::Status NoSuchVersion(const std::string& region, uint64_t v, uint64_t head) {
    if (head == 0) {
      return absl::NotFoundError(absl::StrCat("region ", region, " has no versions; no version ", v));
    }
    return absl::NotFoundError(absl::StrCat("region ", region, " has versions 1..", head,
                                            "; no version ", v));
  }

  // Group commit. Writers queue their intent; a writer that finds a free write slot
  // (max_write_transactions) takes the queued intents of distinct regions, up to
  // kMaxBatch, and appends them in one transaction, then commits once: under load many
  // versions share one WAL flush; alone, a writer commits its own at once. Regions are
  // locked with SKIP LOCKED, so a region held by another transaction never holds up the
  // batch: its intent is deferred and its writer then waits for that region alone,
  // outside the write slots. A failed check of one intent (ABORTED, a guard, ...) is
  // answered to that writer only, as every check precedes every write. A batch whose
  // transaction fails is retried one intent per transaction.
  struct Pending {
    const Intent* intent;
    const uint64_t* rollback_to;
    bool taken = false;
    bool done = false;
    bool deferred = false;
    absl::StatusOr<WriteResult> result = absl::UnknownError("not run");
  };

  absl::StatusOr<WriteResult> Write(const Intent& in, const uint64_t* rollback_to) {
    Pending self{&in, rollback_to};
    std::unique_lock lock(batch_mu_);
    queue_.push_back(&self);
    while (!self.done) {
      if (self.deferred) {
        lock.unlock();
        return RunAlone(self, /*skip_locked=*/false);
      }
      if (!self.taken && leaders_ < max_leaders_) {
        std::vector<Pending*> batch = TakeBatch(&self);
        ++leaders_;
        lock.unlock();
        RunBatch(batch);
        lock.lock();
        --leaders_;
        for (Pending* p : batch) {
          if (p->result.ok() && p->result->deferred) {
            p->deferred = true;
          } else {
            p->done = true;
          }
        }
        batch_cv_.notify_all();
        continue;
      }
      batch_cv_.wait(lock);
    }
    return std::move(self.result);
  }

  // `self` and, FIFO, queued intents of other regions, up to kMaxBatch, sorted by region.
  // Called with batch_mu_ held.
  std::vector<Pending*> TakeBatch(Pending* self) {
    std::vector<Pending*> batch;
    auto take = [&](std::list<Pending*>::iterator it) {
      (*it)->taken = true;
      batch.push_back(*it);
      return queue_.erase(it);
    };
    take(std::find(queue_.begin(), queue_.end(), self));
    for (auto it = queue_.begin(); it != queue_.end() && batch.size() < kMaxBatch;) {
      bool same_region = false;
      for (const Pending* b : batch) same_region = same_region || b->intent->region == (*it)->intent->region;
      it = same_region ? std::next(it) : take(it);
    }
    std::sort(batch.begin(), batch.end(), [](const Pending* a, const Pending* b) {
      return a->intent->region < b->intent->region;
    });
    return batch;
  }

  absl::StatusOr<WriteResult> RunAlone(const Pending& p, bool skip_locked) {
    return RunTx<WriteResult>("apply the state", p.intent->region, [&](pqxx::work& tx) {
      return AppendUnderLock(tx, *p.intent, p.rollback_to, skip_locked);
    });
  }

  void RunBatch(const std::vector<Pending*>& batch) {
    if (batch.size() == 1) {
      batch[0]->result = RunAlone(*batch[0], /*skip_locked=*/true);
      return;
    }
    std::vector<absl::StatusOr<WriteResult>> results;
    auto committed =
        RunTx<bool>("apply a batch of states", "", [&](pqxx::work& tx) -> absl::StatusOr<bool> {
          results.clear();
          for (Pending* p : batch) {
            results.push_back(AppendUnderLock(tx, *p->intent, p->rollback_to, /*skip_locked=*/true));
          }
          return true;
        });
    if (committed.ok()) {
      for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
      return;
    }
    if (absl::StrContains(committed.status().message(), "outcome is unknown")) {
      for (Pending* p : batch) p->result = committed.status();
      return;
    }
    spdlog::warn("a batch of {} appends failed ({}); retrying them one by one", batch.size(),
                 std::string(committed.status().message()));
    for (Pending* p : batch) p->result = RunAlone(*p, /*skip_locked=*/true);
  }

  absl::StatusOr<v1::ApplyStateResponse> Finish(const std::string& region,
                                                absl::StatusOr<WriteResult> result) {
    if (!result.ok()) return result.status();
    if (result->new_version > 0) {
      cache_.Put(region, result->new_version, std::move(result->new_state));
      versions_appended_.fetch_add(1);
    }
    return std::move(result->response);
  }

  static uint64_t Head(pqxx::work& tx, const std::string& region) {
    auto rows = tx.exec_prepared("head", region);
    return rows.empty() ? 0 : rows[0][0].as<uint64_t>();
  }

  // The resources of `version` (0 = the empty state): the newest checkpoint at or below
  // it plus the change sets after it.
  absl::StatusOr<ResourcesPtr> Materialize(pqxx::work& tx, const std::string& region,
                                           uint64_t version) {
    if (version == 0) return std::make_shared<const Resources>();
    if (ResourcesPtr cached = cache_.Get(region, version)) return cached;
    std::map<std::pair<int, std::string>, v1::Resource> state;
    uint64_t base = 0;
    auto cp = tx.exec_prepared("checkpoint_at", region, version);
    if (!cp.empty()) {
      base = cp[0][0].as<uint64_t>();
      pqxx::binarystring bytes(cp[0][1]);
      v1::RegionalState snapshot;
      if (!snapshot.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::DataLossError(absl::StrCat("checkpoint ", base, " of region ", region,
                                                " does not parse"));
      }
      for (auto& r : *snapshot.mutable_resources()) {
        std::pair<int, std::string> key(static_cast<int>(common::KindOf(r)), r.name());
        state.emplace(std::move(key), std::move(r));
      }
    }
    for (const auto& row : tx.exec_prepared("changes_between", region, base, version)) {
      std::pair<int, std::string> key(row[1].as<int>(), row[2].as<std::string>());
      if (row[3].is_null()) {
        state.erase(key);
        continue;
      }
      pqxx::binarystring bytes(row[3]);
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

  absl::StatusOr<v1::PlanStateResponse> Plan(const std::string& region, const Resources& desired,
                                             std::optional<uint64_t> expected, bool allow_empty,
                                             bool allow_mass_delete) {
    return RunTx<v1::PlanStateResponse>(
        "plan the state", region, [&](pqxx::work& tx) -> absl::StatusOr<v1::PlanStateResponse> {
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

  // Locks the region's head row, then appends `in` (or, with rollback_to, the resources
  // of that version) as the next version when it changes anything.
  // With skip_locked (in a batch), a region another transaction holds is not waited
  // for: the answer is `deferred` and nothing is done.
  absl::StatusOr<WriteResult> AppendUnderLock(pqxx::work& tx, const Intent& in,
                                              const uint64_t* rollback_to, bool skip_locked) {
    const std::string& region = in.region;
    WriteResult result;
    uint64_t head = 0;
    if (skip_locked) {
      // One round trip: create the head row if new, then lock it unless someone holds it.
      const std::string q = tx.quote(region);
      auto locked = tx.exec("INSERT INTO regions (region) VALUES (" + q +
                            ") ON CONFLICT (region) DO NOTHING; SELECT current_version FROM "
                            "regions WHERE region = " + q + " FOR UPDATE SKIP LOCKED");
      if (locked.empty()) {
        result.deferred = true;
        return result;
      }
      head = locked[0][0].as<uint64_t>();
    } else {
      head = tx.exec_prepared1("lock_head", region)[0].as<uint64_t>();
    }
    result.response.set_region(region);
    if (!in.idempotency_key.empty()) {
      auto seen = tx.exec_prepared("get_idem", region, in.idempotency_key);
      if (!seen.empty()) {
        if (seen[0][0].as<std::string>() != in.fingerprint) {
          return absl::InvalidArgumentError(absl::StrCat(
              "field idempotency_key: \"", in.idempotency_key, "\" was already used in region ",
              region, " for a different request; use a new key"));
        }
        pqxx::binarystring bytes(seen[0][1]);
        if (!result.response.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          return absl::DataLossError(absl::StrCat("stored answer of idempotency key ",
                                                  in.idempotency_key, " does not parse"));
        }
        return result;
      }
    }
    if (absl::Status s = CheckExpectedVersion(region, in.expected_version, head); !s.ok()) return s;
    auto current = Materialize(tx, region, head);
    if (!current.ok()) return current.status();
    ResourcesPtr desired;
    if (rollback_to != nullptr) {
      if (*rollback_to > head) return NoSuchVersion(region, *rollback_to, head);
      auto target = Materialize(tx, region, *rollback_to);
      if (!target.ok()) return target.status();
      desired = *target;
    } else {
      desired = std::make_shared<const Resources>(in.resources);
    }
    const common::ResourceSetDiff diff = common::DiffResources(**current, *desired);
    if (diff.empty()) {
      result.response.set_version(head);
      result.response.set_changed(false);
      if (!in.idempotency_key.empty()) RecordKey(tx, in, result.response);
      return result;
    }
    if (absl::Status s = CheckGuards(region, (*current)->size(), diff, desired->size(),
                                     in.allow_empty, in.allow_mass_delete, options_.mass_delete);
        !s.ok()) {
      return s;
    }
    const uint64_t version = head + 1;
    // The version row, its changes and the head move go in one round trip: this is the
    // hot path of every apply (the head row is already locked).
    std::string batch = absl::StrCat(
        "INSERT INTO versions (region, version, author, message, origin, rollback_of, "
        "idempotency_key, traceparent, created_count, updated_count, deleted_count, "
        "resource_count) VALUES (",
        tx.quote(region), ",", version, ",", tx.quote(in.author), ",", tx.quote(in.message), ",",
        static_cast<int>(in.origin), ",", in.rollback_of, ",", tx.quote(in.idempotency_key), ",",
        tx.quote(in.traceparent), ",", diff.created.size(), ",", diff.updated.size(), ",",
        diff.deleted.size(), ",", desired->size(), ");");
    AppendChangeInserts(tx, region, version, diff, &batch);
    absl::StrAppend(&batch, "UPDATE regions SET current_version = ", version,
                    ", resource_count = ", desired->size(),
                    ", updated_at = now() WHERE region = ", tx.quote(region));
    tx.exec(batch);
    if (options_.checkpoint_interval > 0 && version % options_.checkpoint_interval == 0) {
      v1::RegionalState snapshot;
      snapshot.mutable_resources()->Reserve(static_cast<int>(desired->size()));
      for (const auto& r : *desired) *snapshot.add_resources() = r;
      tx.exec_prepared0("insert_checkpoint", region, version,
                        pqxx::binarystring(snapshot.SerializeAsString()));
    }
    result.response.set_version(version);
    result.response.set_changed(true);
    FillNames(diff, &result.response);
    if (!in.idempotency_key.empty()) RecordKey(tx, in, result.response);
    result.new_version = version;
    result.new_state = std::move(desired);
    return result;
  }

  static void RecordKey(pqxx::work& tx, const Intent& in, const v1::ApplyStateResponse& response) {
    tx.exec_prepared0("insert_idem", in.region, in.idempotency_key, in.fingerprint,
                      pqxx::binarystring(response.SerializeAsString()));
  }

  // "INSERT INTO changes ...;" statements (at most kChangeRowsPerStatement rows each).
  static void AppendChangeInserts(pqxx::work& tx, const std::string& region, uint64_t version,
                                  const common::ResourceSetDiff& diff, std::string* sql) {
    const std::string prefix = absl::StrCat("(", tx.quote(region), ",", version, ",");
    size_t rows = 0;
    auto add = [&](const v1::Resource& r, bool deleted) {
      sql->append(rows == 0 ? "INSERT INTO changes (region, version, kind, name, spec) VALUES "
                            : ",");
      absl::StrAppend(sql, prefix, static_cast<int>(common::KindOf(r)), ",", tx.quote(r.name()),
                      ",", deleted ? std::string("NULL") : tx.quote_raw(r.SerializeAsString()),
                      ")");
      if (++rows == kChangeRowsPerStatement) {
        sql->append(";");
        rows = 0;
      }
    };
    for (const auto& r : diff.created) add(r, false);
    for (const auto& u : diff.updated) add(u.after, false);
    for (const auto& r : diff.deleted) add(r, true);
    if (rows > 0) sql->append(";");
  }

  // Runs `fn` in a transaction and commits when it returns OK. A connection that breaks
  // before the commit is replaced and the transaction retried once; one that breaks
  // during the commit leaves the outcome unknown: UNAVAILABLE, and the caller retries
  // with its idempotency key.
  template <typename T, typename Fn>
  absl::StatusOr<T> RunTx(std::string_view op, const std::string& region, Fn&& fn) {
    absl::Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto lease = pool_.Acquire();
      if (!lease.ok()) return lease.status();
      try {
        pqxx::work tx(**lease);
        absl::StatusOr<T> result = fn(tx);
        if (result.ok()) tx.commit();
        return result;
      } catch (const pqxx::in_doubt_error& e) {
        lease->MarkBroken();
        pool_.DropIdle();
        return absl::UnavailableError(absl::StrCat(
            "the connection to PostgreSQL broke while committing (", std::string(op),
            " of region ", region, "); the outcome is unknown: retry with the same idempotency key"));
      } catch (const pqxx::broken_connection& e) {
        lease->MarkBroken();
        pool_.DropIdle();
        last = absl::UnavailableError(absl::StrCat("PostgreSQL is unreachable (", std::string(op),
                                                   region.empty() ? "" : " of region " + region,
                                                   "): ", OneLine(e.what())));
        continue;
      } catch (const pqxx::sql_error& e) {
        absl::Status s = FromSqlError(op, region, e);
        if (s.code() == absl::StatusCode::kUnavailable) {
          lease->MarkBroken();
          pool_.DropIdle();
        }
        return s;
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat("failed to ", std::string(op),
                                                region.empty() ? "" : " of region " + region, ": ",
                                                e.what()));
      }
    }
    return last;
  }

  const PgLedgerStoreOptions options_;
  ConnectionPool pool_;
  StateCache cache_;
  std::atomic<uint64_t> versions_appended_{0};

  static constexpr size_t kMaxBatch = 32;
  const int max_leaders_ = std::max(1, std::min(options_.pool_size, options_.max_write_transactions));
  std::mutex batch_mu_;
  std::condition_variable batch_cv_;
  std::list<Pending*> queue_ ABSL_GUARDED_BY(batch_mu_);
  int leaders_ ABSL_GUARDED_BY(batch_mu_) = 0;
};

absl::StatusOr<std::unique_ptr<PgLedgerStore>> PgLedgerStore::Create(PgLedgerStoreOptions options) {
  if (options.uri.empty()) return absl::InvalidArgumentError("PostgreSQL URI is required");
  if (options.schema.empty()) return absl::InvalidArgumentError("schema is required");
  if (options.pool_size < 1) return absl::InvalidArgumentError("pool_size must be >= 1");
  // Without it libpq waits on an unreachable host for as long as TCP does.
  if (options.uri.find("connect_timeout") == std::string::npos) {
    const bool is_url = options.uri.find("://") != std::string::npos;
    if (is_url) {
      options.uri += options.uri.find('?') == std::string::npos ? "?" : "&";
      options.uri += "connect_timeout=5";
    } else {
      options.uri += " connect_timeout=5";
    }
  }
  return std::unique_ptr<PgLedgerStore>(
      new PgLedgerStore(std::make_unique<Impl>(std::move(options))));
}

PgLedgerStore::PgLedgerStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgLedgerStore::~PgLedgerStore() = default;

absl::StatusOr<v1::ApplyStateResponse> PgLedgerStore::ApplyState(
    const v1::ApplyStateRequest& request, const WriteContext& context) {
  return impl_->ApplyState(request, context);
}
absl::StatusOr<v1::PlanStateResponse> PgLedgerStore::PlanState(const v1::ApplyStateRequest& request) {
  return impl_->PlanState(request);
}
absl::StatusOr<v1::ApplyStateResponse> PgLedgerStore::Rollback(const v1::RollbackRequest& request,
                                                               const WriteContext& context) {
  return impl_->Rollback(request, context);
}
absl::StatusOr<v1::RegionalState> PgLedgerStore::GetState(const std::string& region,
                                                          uint64_t version) {
  return impl_->GetState(region, version);
}
absl::StatusOr<v1::ListRegionsResponse> PgLedgerStore::ListRegions() { return impl_->ListRegions(); }
absl::StatusOr<v1::GetHistoryResponse> PgLedgerStore::GetHistory(
    const v1::GetHistoryRequest& request) {
  return impl_->GetHistory(request);
}
absl::StatusOr<v1::DiffVersionsResponse> PgLedgerStore::DiffVersions(
    const v1::DiffVersionsRequest& request) {
  return impl_->DiffVersions(request);
}
PgLedgerStoreStats PgLedgerStore::Stats() const { return impl_->Stats(); }

// ---- migrations ----

namespace {

template <typename Fn>
absl::StatusOr<int> WithConnection(const std::string& uri, std::string_view op, Fn&& fn) {
  try {
    pqxx::connection conn(uri);
    return fn(conn);
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL at ", RedactUri(uri), ": ", OneLine(e.what())));
  } catch (const pqxx::sql_error& e) {
    return FromSqlError(op, "", e);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("failed to ", std::string(op), ": ", e.what()));
  }
}

}  // namespace

absl::StatusOr<int> Migrate(const std::string& uri, const std::string& schema) {
  return WithConnection(uri, "migrate the schema", [&](pqxx::connection& conn) -> absl::StatusOr<int> {
    pqxx::work tx(conn);
    // One migrator per schema at a time, even across processes.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "senren_migrations:" + schema);
    tx.exec0("CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(schema));
    tx.exec0("SET LOCAL search_path TO " + QuoteIdent(schema));
    tx.exec0(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    const int current = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
    const int latest = migrations::LatestVersion();
    if (current > latest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database schema ", schema, " is at migration ", current,
          " but this senren-ledger knows migrations up to ", latest,
          "; run a newer senren-ledger"));
    }
    int applied = current;
    for (const auto& m : migrations::All()) {
      if (m.version <= current) continue;
      tx.exec0(std::string(m.sql));
      tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                      std::string(m.name));
      applied = m.version;
      spdlog::info("migrations: applied {} to schema {}", m.name, schema);
    }
    tx.commit();
    return applied;
  });
}

absl::StatusOr<int> SchemaVersion(const std::string& uri, const std::string& schema) {
  return WithConnection(uri, "read the schema version", [&](pqxx::connection& conn) -> absl::StatusOr<int> {
    pqxx::work tx(conn);
    auto exists = tx.exec_params1("SELECT to_regclass($1) IS NOT NULL",
                                  QuoteIdent(schema) + ".schema_migrations");
    if (!exists[0].as<bool>()) return 0;
    return tx.exec1("SELECT coalesce(max(version), 0) FROM " + QuoteIdent(schema) +
                    ".schema_migrations")[0]
        .as<int>();
  });
}

}  // namespace senren::ledger
