#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/diff.h"
#include "common/resources.h"
#include "common/validation.h"
#include "ledger/pg_ledger_store.h"
#include "pg_ledger_store_impl.h"
#include "spdlog/spdlog.h"

// The write side of PgLedgerStore: ApplyState and Rollback through group commit, and
// the append of one version under its region's lock.

namespace senren::ledger {
namespace {

constexpr size_t kChangeRowsPerStatement = 1000;

}  // namespace

absl::StatusOr<v1::ApplyStateResponse> PgLedgerStore::Impl::ApplyState(
    const v1::ApplyStateRequest& request, const WriteContext& context) {
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
  if (absl::Status s =
          CheckRecordedFields(in.author, in.message, in.idempotency_key, in.traceparent);
      !s.ok()) {
    return s;
  }
  if (!in.idempotency_key.empty()) {
    in.fingerprint = RequestFingerprint(in.region, in.resources, in.expected_version, in.author,
                                        in.message, in.allow_empty, in.allow_mass_delete);
  }
  return Finish(in.region, Write(in, nullptr));
}

absl::StatusOr<v1::ApplyStateResponse> PgLedgerStore::Impl::Rollback(
    const v1::RollbackRequest& request, const WriteContext& context) {
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
  if (absl::Status s = CheckRecordedFields(in.author, in.message, "", in.traceparent); !s.ok())
    return s;
  return Finish(in.region, Write(in, &in.rollback_of));
}

absl::Status PgLedgerStore::Impl::EnterRegion(const std::string& region) {
  std::unique_lock lock(regions_mu_);
  std::unique_ptr<RegionTurn>& turn = region_turns_[region];
  if (turn == nullptr) turn = std::make_unique<RegionTurn>();
  RegionTurn* t = turn.get();
  ++t->waiting;
  const bool entered = t->cv.wait_for(lock, options_.wait_timeout, [t] { return !t->busy; });
  --t->waiting;
  if (!entered) {
    return absl::UnavailableError(absl::StrCat("region ", region,
                                               " stayed busy with earlier writes for ",
                                               options_.wait_timeout.count(), " ms; retry"));
  }
  t->busy = true;
  return absl::OkStatus();
}

void PgLedgerStore::Impl::LeaveRegion(const std::string& region) {
  std::lock_guard lock(regions_mu_);
  auto it = region_turns_.find(region);
  RegionTurn* t = it->second.get();
  t->busy = false;
  if (t->waiting == 0) {
    region_turns_.erase(it);
  } else {
    t->cv.notify_one();
  }
}

absl::StatusOr<WriteResult> PgLedgerStore::Impl::Write(const Intent& in,
                                                       const uint64_t* rollback_to) {
  if (absl::Status s = EnterRegion(in.region); !s.ok()) return s;
  struct Leave {
    Impl* impl;
    const std::string& region;
    ~Leave() { impl->LeaveRegion(region); }
  } leave{this, in.region};
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
std::vector<PgLedgerStore::Impl::Pending*> PgLedgerStore::Impl::TakeBatch(Pending* self) {
  std::vector<Pending*> batch;
  auto take = [&](std::list<Pending*>::iterator it) {
    (*it)->taken = true;
    batch.push_back(*it);
    return queue_.erase(it);
  };
  take(std::find(queue_.begin(), queue_.end(), self));
  for (auto it = queue_.begin(); it != queue_.end() && batch.size() < kMaxBatch;) {
    bool same_region = false;
    for (const Pending* b : batch)
      same_region = same_region || b->intent->region == (*it)->intent->region;
    it = same_region ? std::next(it) : take(it);
  }
  std::sort(batch.begin(), batch.end(), [](const Pending* a, const Pending* b) {
    return a->intent->region < b->intent->region;
  });
  return batch;
}

absl::StatusOr<WriteResult> PgLedgerStore::Impl::RunAlone(const Pending& p, bool skip_locked) {
  return RunTx<WriteResult>("apply the state", p.intent->region, [&](pg::Transaction& tx) {
    return AppendUnderLock(tx, *p.intent, p.rollback_to, skip_locked);
  });
}

void PgLedgerStore::Impl::RunBatch(const std::vector<Pending*>& batch) {
  if (batch.size() == 1) {
    batch[0]->result = RunAlone(*batch[0], /*skip_locked=*/true);
    return;
  }
  std::vector<absl::StatusOr<WriteResult>> results;
  auto committed =
      RunTx<bool>("apply a batch of states", "", [&](pg::Transaction& tx) -> absl::StatusOr<bool> {
        results.clear();
        for (Pending* p : batch) {
          results.push_back(AppendUnderLock(tx, *p->intent, p->rollback_to, /*skip_locked=*/true,
                                            /*savepoint=*/true));
          // A failed intent leaves nothing behind, not even the head row of a new region.
          if (!results.back().ok()) tx.Exec("ROLLBACK TO SAVEPOINT intent");
        }
        return true;
      });
  if (committed.ok()) {
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
    return;
  }
  // Unreachable or too slow (an unknown outcome included): each intent alone would
  // only wait as long again, one after the other.
  if (committed.status().code() == absl::StatusCode::kUnavailable ||
      committed.status().code() == absl::StatusCode::kDeadlineExceeded) {
    for (Pending* p : batch) p->result = committed.status();
    return;
  }
  spdlog::warn("a batch of {} appends failed ({}); retrying them one by one", batch.size(),
               std::string(committed.status().message()));
  for (Pending* p : batch) p->result = RunAlone(*p, /*skip_locked=*/true);
}

absl::StatusOr<v1::ApplyStateResponse> PgLedgerStore::Impl::Finish(
    const std::string& region, absl::StatusOr<WriteResult> result) {
  if (!result.ok()) return result.status();
  if (result->new_version > 0) {
    cache_.Put(region, result->new_version, std::move(result->new_state));
    versions_appended_.fetch_add(1);
  }
  return std::move(result->response);
}

// Locks the region's head row, then appends `in` (or, with rollback_to, the resources
// of that version) as the next version when it changes anything.
// With skip_locked (in a batch), a region another transaction holds is not waited
// for: the answer is `deferred` and nothing is done. With savepoint, the intent's
// statements start at SAVEPOINT intent (in the first round trip), for the batch to roll
// back a failed intent alone.
absl::StatusOr<WriteResult> PgLedgerStore::Impl::AppendUnderLock(pg::Transaction& tx,
                                                                 const Intent& in,
                                                                 const uint64_t* rollback_to,
                                                                 bool skip_locked, bool savepoint) {
  const std::string& region = in.region;
  WriteResult result;
  uint64_t head = 0;
  if (skip_locked) {
    // One round trip: create the head row if new, then lock it unless someone holds it.
    const std::string q = tx.Quote(region);
    auto locked = tx.Exec(std::string(savepoint ? "SAVEPOINT intent; " : "") +
                          "INSERT INTO regions (region) VALUES (" + q +
                          ") ON CONFLICT (region) DO NOTHING; SELECT current_version FROM "
                          "regions WHERE region = " +
                          q + " FOR UPDATE SKIP LOCKED");
    if (locked.empty()) {
      result.deferred = true;
      return result;
    }
    head = locked[0][0].as<uint64_t>();
  } else {
    head = tx.ExecPrepared1("lock_head", region)[0].as<uint64_t>();
  }
  result.response.set_region(region);
  if (!in.idempotency_key.empty()) {
    auto seen = tx.ExecPrepared("get_idem", region, in.idempotency_key);
    if (!seen.empty()) {
      if (seen[0][0].as<std::string>() != in.fingerprint) {
        return absl::InvalidArgumentError(absl::StrCat(
            "field idempotency_key: \"", in.idempotency_key, "\" was already used in region ",
            region, " for a different request; use a new key"));
      }
      const std::string bytes = seen[0][1].Bytes();
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
  // The version's changes, its row and the head move go in one round trip: this is the
  // hot path of every apply (the head row is already locked). Changes first: the version
  // row's hash (migration 0005) covers them; their foreign key is checked at commit.
  std::string batch;
  AppendChangeInserts(tx, region, version, diff, &batch);
  absl::StrAppend(&batch,
                  "INSERT INTO versions (region, version, author, message, origin, rollback_of, "
                  "idempotency_key, traceparent, created_count, updated_count, deleted_count, "
                  "resource_count) VALUES (",
                  tx.Quote(region), ",", version, ",", tx.Quote(in.author), ",",
                  tx.Quote(in.message), ",", static_cast<int>(in.origin), ",", in.rollback_of, ",",
                  tx.Quote(in.idempotency_key), ",", tx.Quote(in.traceparent), ",",
                  diff.created.size(), ",", diff.updated.size(), ",", diff.deleted.size(), ",",
                  desired->size(), ");");
  absl::StrAppend(&batch, "UPDATE regions SET current_version = ", version,
                  ", resource_count = ", desired->size(),
                  ", updated_at = now() WHERE region = ", tx.Quote(region));
  tx.Exec(batch);
  if (options_.checkpoint_interval > 0 && version % options_.checkpoint_interval == 0) {
    v1::RegionalState snapshot;
    snapshot.mutable_resources()->Reserve(static_cast<int>(desired->size()));
    for (const auto& r : *desired) *snapshot.add_resources() = r;
    tx.ExecPrepared("insert_checkpoint", region, version,
                    pg::Param::Bytes(snapshot.SerializeAsString()));
  }
  result.response.set_version(version);
  result.response.set_changed(true);
  FillNames(diff, &result.response);
  if (!in.idempotency_key.empty()) RecordKey(tx, in, result.response);
  result.new_version = version;
  result.new_state = std::move(desired);
  return result;
}

void PgLedgerStore::Impl::RecordKey(pg::Transaction& tx, const Intent& in,
                                    const v1::ApplyStateResponse& response) {
  tx.ExecPrepared("insert_idem", in.region, in.idempotency_key, in.fingerprint,
                  pg::Param::Bytes(response.SerializeAsString()));
}

// "INSERT INTO changes ...;" statements (at most kChangeRowsPerStatement rows each).
void PgLedgerStore::Impl::AppendChangeInserts(pg::Transaction& tx, const std::string& region,
                                              uint64_t version, const common::ResourceSetDiff& diff,
                                              std::string* sql) {
  const std::string prefix = absl::StrCat("(", tx.Quote(region), ",", version, ",");
  size_t rows = 0;
  auto add = [&](const v1::Resource& r, bool deleted) {
    sql->append(rows == 0 ? "INSERT INTO changes (region, version, kind, name, spec) VALUES "
                          : ",");
    absl::StrAppend(sql, prefix, static_cast<int>(common::KindOf(r)), ",", tx.Quote(r.name()), ",",
                    deleted ? std::string("NULL") : tx.QuoteBytes(r.SerializeAsString()), ")");
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

}  // namespace senren::ledger
