#include "regional/plane/regional_plane.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/resources.h"
#include "google/protobuf/util/time_util.h"
#include "regional/kube/errors.h"
#include "regional/plane/convert.h"

namespace senren::regional::plane {
namespace {

using google::protobuf::util::TimeUtil;

// How long before now (wall clock) a record stamped `produced_at_ms` was produced; -1 when
// the record carries no timestamp.
double PublishedMsAgo(int64_t produced_at_ms) {
  if (produced_at_ms <= 0) return -1;
  return absl::ToDoubleMilliseconds(absl::Now() - absl::FromUnixMillis(produced_at_ms));
}

int64_t ResourceVersionNumber(const Json& obj) {
  int64_t rv = -1;
  if (obj.contains("metadata")) {
    (void)absl::SimpleAtoi(obj["metadata"].value("resourceVersion", ""), &rv);
  }
  return rv;
}

std::string NameOf(const Json& obj) {
  return obj.contains("metadata") ? obj["metadata"].value("name", "") : "";
}

std::string UidOf(const Json& obj) {
  return obj.contains("metadata") ? obj["metadata"].value("uid", "") : "";
}

// Whether an update event changes anything the plan looks at (spec, labels, annotations):
// status-only updates of the controller do not need a reconcile.
bool PlanRelevantChange(const Json& a, const Json& b) {
  auto part = [](const Json& o, const char* f) -> Json { return o.contains(f) ? o[f] : Json(); };
  auto meta = [](const Json& o, const char* f) -> Json {
    return o.contains("metadata") && o["metadata"].contains(f) ? o["metadata"][f] : Json();
  };
  return part(a, "spec") != part(b, "spec") || meta(a, "labels") != meta(b, "labels") ||
         meta(a, "annotations") != meta(b, "annotations");
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

}  // namespace

std::string LeaseName(std::string_view region) {
  std::string out = absl::StrCat("senren-regional-", RegionLabelValue(region));
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) c = '-';
  }
  if (out.size() > 253) out.resize(253);
  // A name ends with a letter or digit.
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  return out;
}

std::string AppliedRecordName(std::string_view region) {
  const std::string suffix = "-applied";
  std::string out = LeaseName(region);
  if (out.size() > 253 - suffix.size()) out.resize(253 - suffix.size());
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  return out + suffix;
}

RegionalPlane::RegionalPlane(RegionalPlaneOptions options, kube::KubeClient* kube,
                             SnapshotSource* source, StateCache* cache, StatusOutbox* outbox,
                             std::function<void()> on_outbox_put)
    : options_(std::move(options)),
      kube_(kube),
      source_(source),
      cache_(cache),
      outbox_(outbox),
      on_outbox_put_(std::move(on_outbox_put)),
      clock_(options_.clock != nullptr ? options_.clock : kube::Clock::Real()) {
  backoff_ = options_.retry_backoff;
}

RegionalPlane::~RegionalPlane() { Stop(); }

bool RegionalPlane::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

bool RegionalPlane::MayWrite(const char* what) {
  if (!options_.may_write || options_.may_write()) return true;
  int64_t fenced = 0;
  {
    absl::MutexLock lock(&mu_);
    fenced = ++stats_.writes_fenced;
    known_record_.reset();  // the Lease lapsed: someone else may write the record meanwhile
  }
  if (fenced == 1) {
    spdlog::warn("not leading: {} not written; this plane writes nothing until it leads", what);
  }
  return false;
}

absl::StatusOr<RegionalPlane::AppliedRecord> RegionalPlane::ReadAppliedRecord() {
  const std::string name = AppliedRecordName(options_.region);
  AppliedRecord record;
  auto got = kube_->Get(kube::resources::ConfigMaps(), options_.ns, name);
  if (absl::IsNotFound(got.status())) return record;
  if (!got.ok()) return got.status();
  record.object = std::move(*got);
  if (!IsManagedBy(*record.object, options_.region)) {
    record.foreign = true;
    return record;
  }
  const Json& data = record.object->contains("data") ? (*record.object)["data"] : Json();
  const std::string text =
      data.is_object() && data.contains("version") && data["version"].is_string()
          ? data["version"].get<std::string>()
          : "";
  if (!absl::SimpleAtoi(text, &record.version)) {
    // Written only by planes, so a hand edit: the next version applied writes it anew.
    spdlog::warn("ConfigMap {}/{}: data.version \"{}\" is not a version; the applied-version "
                 "record is read as 0 until the next version rewrites it",
                 options_.ns, name, text);
    record.version = 0;
  }
  return record;
}

absl::StatusOr<RegionalPlane::AppliedRecord> RegionalPlane::WriteAppliedRecord(
    const AppliedRecord& read, uint64_t version) {
  Json cm = read.object.value_or(Json::object());
  cm["apiVersion"] = "v1";
  cm["kind"] = "ConfigMap";
  Json& meta = cm["metadata"];
  meta["name"] = AppliedRecordName(options_.region);
  meta["namespace"] = options_.ns;
  meta["labels"][kManagedByLabel] = kManagedByValue;
  meta["labels"][kRegionLabel] = RegionLabelValue(options_.region);
  meta["annotations"][kRegionAnnotation] = options_.region;
  cm["data"] = {{"version", std::to_string(version)}};
  // The resourceVersion as read makes the update conditional.
  auto res = read.object ? kube_->Update(kube::resources::ConfigMaps(), options_.ns, cm)
                         : kube_->Create(kube::resources::ConfigMaps(), options_.ns, cm);
  if (!res.ok()) return res.status();
  AppliedRecord written;
  written.version = version;
  written.object = std::move(*res);
  return written;
}

absl::Status RegionalPlane::Start() {
  started_at_ = absl::Now();
  auto cached = cache_->Load();
  if (!cached.ok()) return cached.status();
  {
    absl::MutexLock lock(&mu_);
    started_ = true;
    known_record_.reset();
    if (cached->has_value()) {
      auto snap = std::make_shared<CachedSnapshot>(std::move(**cached));
      spdlog::info("state cache: version {} ({} resources, offset {}); reconciling it before "
                   "Kafka answers",
                   snap->state.version(), snap->state.resources_size(), snap->offset);
      applied_version_ = snap->state.version();
      applied_total_ = static_cast<uint32_t>(snap->state.resources_size());
      applied_traceparent_ = snap->state.traceparent();
      if (snap->offset >= 0) cached_position_ = SourcePosition{snap->partition, snap->offset};
      floor_ = snap->state.version();
      stats_.floor_version = floor_;
      converged_ = true;  // what changed while the plane was down is drift
      stats_.first_reconcile_from_cache = true;
      stats_.applied_version = applied_version_;
      SetDesired(std::move(snap));
      triggered_ = true;
    } else {
      spdlog::info("state cache empty: reading the partition to its end first; nothing is "
                   "written before its newest snapshot");
    }
  }
  for (v1::ResourceKind kind : ManagedKinds()) {
    kube::InformerOptions io;
    io.resource = KubeResourceOf(kind);
    io.ns = options_.ns;
    io.min_backoff = std::chrono::milliseconds(200);
    io.max_backoff = std::chrono::milliseconds(5000);
    auto informer = std::make_unique<kube::Informer>(kube_, io);
    kube::EventHandlers h;
    h.on_add = [this, kind](const ObjectPtr& o) { OnObject(kind, nullptr, o, false); };
    h.on_update = [this, kind](const ObjectPtr& old_obj, const ObjectPtr& o) {
      OnObject(kind, old_obj, o, false);
    };
    h.on_delete = [this, kind](const ObjectPtr& o) { OnObject(kind, nullptr, o, true); };
    informer->AddEventHandlers(std::move(h));
    informer->Start();
    informers_[kind] = std::move(informer);
  }
  worker_thread_ = std::thread([this] { WorkerLoop(); });
  source_thread_ = std::thread([this] { SourceLoop(); });
  ticker_thread_ = std::thread([this] { TickerLoop(); });
  return absl::OkStatus();
}

void RegionalPlane::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_) return;
    started_ = false;
    stop_ = true;
    known_record_.reset();
  }
  if (source_thread_.joinable()) source_thread_.join();
  if (worker_thread_.joinable()) worker_thread_.join();
  if (ticker_thread_.joinable()) ticker_thread_.join();
  for (auto& [kind, informer] : informers_) informer->Stop();
}

void RegionalPlane::Trigger() {
  absl::MutexLock lock(&mu_);
  triggered_ = true;
}

void RegionalPlane::SourceLoop() {
  std::optional<SourcePosition> after;
  {
    absl::MutexLock lock(&mu_);
    after = cached_position_;
  }
  bool started = false;
  bool caught_up = false;
  // The newest snapshot read while catching up. It becomes desired only once the partition
  // has been read to the end it had at start: the backlog may hold many older versions
  // (compaction leaves the active segment whole), and reconciling one of them would delete
  // or roll back what later versions put in place.
  std::shared_ptr<const CachedSnapshot> pending;
  int64_t passed_over = 0;  // versions of the backlog superseded while catching up
  kube::Clock::Duration backoff = std::chrono::milliseconds(200);
  while (!Stopping()) {
    if (!started) {
      absl::Status s = source_->Start(after);
      if (!s.ok()) {
        spdlog::warn("snapshot source: {}; retrying in {}", s.ToString(),
                     absl::FormatDuration(absl::FromChrono(backoff)));
        absl::MutexLock lock(&mu_);
        auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
        clock_->AwaitWithTimeout(&mu_, absl::Condition(&stopping), backoff);
        backoff = std::min<kube::Clock::Duration>(backoff * 2, std::chrono::seconds(5));
        continue;
      }
      started = true;
      // Every start reads to the partition's then-end before applying anything it reads.
      caught_up = false;
    }
    auto next = source_->Next(options_.poll_timeout);
    {
      absl::MutexLock lock(&mu_);
      stats_.bad_messages = source_->bad_messages();
      SnapshotRejections rejected = source_->rejections();
      if (rejected.total != stats_.rejected_snapshots) {
        stats_.rejected_snapshots = rejected.total;
        stats_.rejected_by_verdict = std::move(rejected.by_verdict);
        stats_.last_rejected_snapshot = std::move(rejected.last);
        // The control plane hears of it at once; the plane keeps what it applied.
        report_due_ = true;
      }
    }
    if (!next.ok()) {
      // E.g. the topic was deleted: start again, re-reading its partition count.
      spdlog::warn("snapshot source: {}; reconnecting", next.status().ToString());
      started = false;
      absl::MutexLock lock(&mu_);
      if (pending != nullptr && pending->offset >= 0) {
        after = SourcePosition{pending->partition, pending->offset};
      } else if (desired_ != nullptr && desired_->offset >= 0) {
        after = SourcePosition{desired_->partition, desired_->offset};
      } else {
        after = cached_position_;
      }
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      clock_->AwaitWithTimeout(&mu_, absl::Condition(&stopping), std::chrono::milliseconds(500));
      continue;
    }
    if (next->has_value()) {
      SnapshotMessage& m = **next;
      absl::MutexLock lock(&mu_);
      ++stats_.snapshots_received;
      const uint64_t version = m.state.version();
      const uint64_t held = std::max(desired_ ? desired_->state.version() : 0,
                                     pending ? pending->state.version() : 0);
      if (version <= held || version < floor_) {
        ++stats_.old_versions_ignored;
        if (caught_up) {
          spdlog::info("snapshot version {} at {}:{} ignored: {}", version, m.partition, m.offset,
                       version < floor_ ? absl::StrCat("this cluster already had version ", floor_)
                                        : absl::StrCat("version ", held, " is held"));
        } else {
          ++passed_over;  // summed up in one line once caught up
        }
      } else {
        auto snap = std::make_shared<CachedSnapshot>();
        if (m.state.traceparent().empty()) m.state.set_traceparent(m.traceparent);
        snap->state = std::move(m.state);
        snap->partition = m.partition;
        snap->offset = m.offset;
        if (caught_up) {
          spdlog::info("snapshot version {} ({} resources) at {}:{}, published {:.3f} ms earlier",
                       version, snap->state.resources_size(), m.partition, m.offset,
                       PublishedMsAgo(m.produced_at_ms));
          SetDesired(std::move(snap));
          triggered_ = true;
        } else {
          if (pending != nullptr) {
            ++stats_.old_versions_ignored;
            ++passed_over;
          }
          pending = std::move(snap);
        }
      }
    }
    if (!caught_up && source_->CaughtUp()) {
      caught_up = true;
      absl::MutexLock lock(&mu_);
      stats_.caught_up = true;
      if (pending != nullptr) {
        spdlog::info("caught up with the partition: applying its newest version {} ({} "
                     "resources) at {}:{}; {} older version(s) passed over",
                     pending->state.version(), pending->state.resources_size(), pending->partition,
                     pending->offset, passed_over);
        SetDesired(std::move(pending));
        triggered_ = true;
      } else {
        spdlog::info("caught up with the partition: no version newer than {} ({} older "
                     "passed over)",
                     std::max(floor_, desired_ ? desired_->state.version() : 0), passed_over);
      }
      pending.reset();
      passed_over = 0;
    }
  }
}

void RegionalPlane::SetDesired(std::shared_ptr<const CachedSnapshot> snap) {
  desired_ids_.clear();
  for (const auto& r : snap->state.resources()) {
    desired_ids_.insert(KindSlashName(common::KindOf(r), r.name()));
  }
  desired_ = std::move(snap);
}

void RegionalPlane::WorkerLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_ || triggered_ || clock_->Now() >= retry_at_;
      };
      worker_waiting_ = true;
      clock_->AwaitWithDeadline(&mu_, absl::Condition(&ready), retry_at_);
      worker_waiting_ = false;
      if (stop_) return;
      if (!triggered_ && clock_->Now() < retry_at_) continue;
      triggered_ = false;
      retry_at_ = kube::Clock::TimePoint::max();
    }
    Reconcile();
  }
}

void RegionalPlane::TickerLoop() {
  using TimePoint = kube::Clock::TimePoint;
  TimePoint next_heartbeat = clock_->Now();
  TimePoint next_resync = clock_->Now() + options_.resync_interval;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || report_due_; };
      clock_->AwaitWithDeadline(&mu_, absl::Condition(&woken),
                                std::min(next_heartbeat, next_resync));
      if (stop_) return;
      if (report_due_) {
        report_due_ = false;
        next_heartbeat = clock_->Now();
      }
    }
    const TimePoint now = clock_->Now();
    if (now >= next_heartbeat) {
      EmitReport();
      next_heartbeat = now + options_.heartbeat_interval;
    }
    if (now >= next_resync) {
      Trigger();
      ResyncStatuses();
      next_resync = now + options_.resync_interval;
    }
  }
}

absl::Status RegionalPlane::CurrentObjects(
    std::map<v1::ResourceKind, std::vector<ObjectPtr>>* current,
    std::set<v1::ResourceKind>* missing) {
  // Our writes not yet seen, taken before the informers' stores: a write's watch event
  // updates the store before it removes the write from written_, so whichever comes
  // between the two reads, one of them holds the write.
  std::map<std::string, ObjectPtr> written;
  std::map<std::string, std::string> deleted;
  {
    absl::MutexLock lock(&mu_);
    written = written_;
    deleted = deleted_;
  }
  for (const auto& [kind, informer] : informers_) {
    if (!informer->HasSynced()) {
      // A kind whose list fails with 404 has no CRD in this cluster.
      kube::ListOptions lo;
      lo.limit = 1;
      auto probe = kube_->List(KubeResourceOf(kind), options_.ns, lo);
      if (absl::IsNotFound(probe.status())) {
        missing->insert(kind);
        continue;
      }
      if (!probe.ok()) return probe.status();
      if (!informer->WaitForSync(options_.sync_timeout)) {
        return absl::UnavailableError(
            absl::StrCat("the ", KubeResourceOf(kind).plural, " informer has not synced"));
      }
    }
    std::map<std::string, ObjectPtr> by_name;
    for (ObjectPtr& o : informer->List()) by_name[NameOf(*o)] = std::move(o);
    {
      const std::string prefix = absl::StrCat(std::string(common::KindName(kind)), "/");
      for (auto it = written.lower_bound(prefix);
           it != written.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        const std::string name = it->first.substr(prefix.size());
        auto seen = by_name.find(name);
        if (seen == by_name.end() ||
            ResourceVersionNumber(*seen->second) < ResourceVersionNumber(*it->second)) {
          by_name[name] = it->second;
        }
      }
      for (auto it = deleted.lower_bound(prefix);
           it != deleted.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        auto seen = by_name.find(it->first.substr(prefix.size()));
        if (seen != by_name.end() && UidOf(*seen->second) == it->second) by_name.erase(seen);
      }
    }
    auto& out = (*current)[kind];
    out.reserve(by_name.size());
    for (auto& [name, o] : by_name) out.push_back(std::move(o));
  }
  return absl::OkStatus();
}

void RegionalPlane::Reconcile() {
  std::shared_ptr<const CachedSnapshot> desired;
  bool was_converged = false;
  uint64_t applied_version = 0;
  {
    absl::MutexLock lock(&mu_);
    desired = desired_;
    was_converged = converged_;
    applied_version = applied_version_;
  }
  if (desired == nullptr) return;  // no snapshot yet: never write anything without one
  const absl::Time begin = absl::Now();
  const uint64_t version = desired->state.version();
  const bool new_version = version != applied_version;

  PlanInput input;
  input.region = options_.region;
  input.ns = options_.ns;
  input.version = version;
  input.traceparent = desired->state.traceparent();
  input.desired.assign(desired->state.resources().begin(), desired->state.resources().end());
  if (absl::Status s = CurrentObjects(&input.current, &input.missing_kinds); !s.ok()) {
    spdlog::warn("reconcile of version {}: reading the cluster failed: {}; retrying", version,
                 s.ToString());
    absl::MutexLock lock(&mu_);
    retry_at_ = clock_->Now() + backoff_;
    backoff_ = std::min<kube::Clock::Duration>(backoff_ * 2, std::chrono::seconds(30));
    return;
  }
  // The floor: the cluster's own record of the versions it had. A CR stamped with a newer
  // version than the desired one, or a higher applied-version record (which a version that
  // only deleted also raised), means this snapshot would roll the cluster back. The record
  // is read before every reconcile (another plane may have led since this one last wrote)
  // except when a new version is about to be recorded over the record this plane last
  // wrote or read: that update is conditional on it, so a record anyone else raised since
  // makes the update fail before any CR is touched, and the next reconcile reads it.
  absl::Time record_begin = absl::Now();
  std::optional<AppliedRecord> known;
  {
    absl::MutexLock lock(&mu_);
    if (known_record_.has_value() && known_record_->version < version) known = known_record_;
  }
  absl::StatusOr<AppliedRecord> record =
      known.has_value() ? std::move(*known) : ReadAppliedRecord();
  absl::Duration record_took = absl::Now() - record_begin;  // its read and its update
  if (!record.ok()) {
    spdlog::warn("reconcile of version {}: reading the applied-version record {}/{} failed: {}; "
                 "retrying",
                 version, options_.ns, AppliedRecordName(options_.region),
                 record.status().ToString());
    absl::MutexLock lock(&mu_);
    retry_at_ = clock_->Now() + backoff_;
    backoff_ = std::min<kube::Clock::Duration>(backoff_ * 2, std::chrono::seconds(30));
    return;
  }
  uint64_t stamped = 0;
  for (const auto& [kind, objects] : input.current) {
    for (const ObjectPtr& o : objects) {
      if (IsManagedBy(*o, options_.region)) stamped = std::max(stamped, StateVersionOf(*o));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (record->foreign && !record_foreign_logged_) {
      record_foreign_logged_ = true;
      spdlog::error("ConfigMap {}/{} exists and is not managed by senren for this region: it is "
                    "left untouched, so no applied-version record is kept and a hand-over to a "
                    "plane with an older cache could briefly apply an older version; rename or "
                    "delete that ConfigMap",
                    options_.ns, AppliedRecordName(options_.region));
    }
    stats_.applied_record_version = record->version;
    if (record->foreign) {
      known_record_.reset();
    } else {
      known_record_ = *record;
    }
    const uint64_t before = floor_;
    floor_ = std::max({floor_, stamped, record->version});
    stats_.floor_version = floor_;
    if (version < floor_) {
      if (refused_version_ != version) {
        refused_version_ = version;
        ++stats_.old_versions_ignored;
        const char* source = stamped >= floor_           ? "stamped on its CRs"
                             : record->version >= floor_ ? "its applied-version record"
                             : before >= floor_          ? "from the state cache"
                                                         : "applied by this plane";
        spdlog::warn("version {} is not applied: this cluster already had version {} ({}); "
                     "nothing is written until a version ≥ {} arrives",
                     version, floor_, source, floor_);
      }
      return;
    }
  }
  input.cache = &view_cache_;
  const ReconcilePlan plan = PlanReconcile(input);

  std::vector<std::string> failures;
  bool retryable = false;
  size_t created = 0, updated = 0, deleted = 0;
  std::string last_written;
  kube::ApplyOptions ao;
  ao.field_manager = kFieldManager;
  ao.force = true;
  // Without the Lease nothing more is written; should it come back, a later reconcile
  // finishes the job.
  auto fenced = [this](const char* what) {
    if (MayWrite(what)) return false;
    absl::MutexLock lock(&mu_);
    retry_at_ = clock_->Now() + backoff_;
    return true;
  };
  // The record goes up before any CR changes: a plane killed midway still leaves the
  // version recorded, and the next plane waits for it (or a newer one) rather than apply
  // an older cache over a half-applied version.
  if (!record->foreign && record->version < version) {
    if (Stopping() || fenced("applied-version record")) return;
    record_begin = absl::Now();
    auto written = WriteAppliedRecord(*record, version);
    record_took += absl::Now() - record_begin;
    if (!written.ok()) {
      spdlog::warn("reconcile of version {}: writing the applied-version record {}/{} failed: "
                   "{}; nothing written, retrying",
                   version, options_.ns, AppliedRecordName(options_.region),
                   written.status().ToString());
      absl::MutexLock lock(&mu_);
      known_record_.reset();  // read it again: someone else may have written it
      retry_at_ = clock_->Now() + backoff_;
      backoff_ = std::min<kube::Clock::Duration>(backoff_ * 2, std::chrono::seconds(30));
      return;
    }
    absl::MutexLock lock(&mu_);
    stats_.applied_record_version = version;
    known_record_ = std::move(*written);
  }
  const absl::Time crs_begin = absl::Now();
  // The applies go out apply_concurrency at a time; each worker takes the next one, and
  // every one checks the Lease right before its write. Results are folded in plan order.
  std::vector<std::optional<absl::StatusOr<Json>>> results(plan.applies.size());
  {
    std::atomic<size_t> next{0};
    std::atomic<bool> halted{false};
    auto work = [&] {
      for (size_t i; !halted.load() && (i = next.fetch_add(1)) < plan.applies.size();) {
        if (Stopping() || fenced("CR apply")) {
          halted.store(true);
          return;
        }
        const PlannedApply& a = plan.applies[i];
        const std::string id = KindSlashName(a.kind, a.name);
        {
          absl::MutexLock lock(&mu_);
          in_flight_[id];
        }
        results[i] = kube_->Apply(KubeResourceOf(a.kind), options_.ns, a.object, ao);
        // Recorded at once, so its watch event is known as this write's echo; an event
        // that came first and was not this write asks for another reconcile.
        absl::MutexLock lock(&mu_);
        auto f = in_flight_.find(id);
        const int64_t rv = results[i]->ok() ? ResourceVersionNumber(**results[i]) : -1;
        for (int64_t seen : f->second) {
          if (seen != rv) triggered_ = true;
        }
        in_flight_.erase(f);
        if (results[i]->ok()) {
          written_[id] = std::make_shared<const Json>(**results[i]);
          deleted_.erase(id);
        }
      }
    };
    const size_t workers =
        std::min<size_t>(std::max(options_.apply_concurrency, 1), plan.applies.size());
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(work);
    work();
    for (std::thread& t : threads) t.join();
    // Written before the fence stays recorded: a later reconcile sees it as unchanged.
    if (halted.load()) return;
  }
  for (size_t i = 0; i < plan.applies.size(); ++i) {
    const PlannedApply& a = plan.applies[i];
    const std::string id = KindSlashName(a.kind, a.name);
    absl::StatusOr<Json>& res = *results[i];
    if (!res.ok()) {
      failures.push_back(absl::StrCat(id, ": ", res.status().message()));
      retryable = retryable || !absl::IsInvalidArgument(res.status());
      continue;
    }
    (a.create ? created : updated)++;
    last_written = id;
  }
  for (const PlannedDelete& d : plan.deletes) {
    if (Stopping() || fenced("CR delete")) return;
    const std::string id = KindSlashName(d.kind, d.name);
    kube::DeleteOptions dopt;
    if (!d.uid.empty()) dopt.uid = d.uid;
    absl::Status s = kube_->Delete(KubeResourceOf(d.kind), options_.ns, d.name, dopt);
    if (!s.ok() && !absl::IsNotFound(s)) {
      failures.push_back(absl::StrCat(id, ": delete: ", s.message()));
      retryable = retryable || !kube::IsConflict(s);
      if (kube::IsConflict(s)) retryable = true;  // re-read and try again
      continue;
    }
    ++deleted;
    last_written = id;
    absl::MutexLock lock(&mu_);
    written_.erase(id);
    if (!d.uid.empty()) deleted_[id] = d.uid;
  }
  const absl::Duration crs_took = absl::Now() - crs_begin;
  const ApplyOutcome outcome = SummarizeApply(plan, failures);
  const size_t writes = created + updated + deleted;
  const bool missing_kind = plan.rejected_missing_kind > 0;

  bool report = new_version;
  HistoryEntry entry;
  {
    absl::MutexLock lock(&mu_);
    ++stats_.reconciles;
    ++stats_.reconciles_by_result[ApplyResultName(outcome.result)];
    stats_.applies += static_cast<int64_t>(created + updated);
    stats_.deletes += static_cast<int64_t>(deleted);
    if (!new_version && was_converged && writes > 0) {
      stats_.drift_corrections += writes;
      stats_.last_drifted_resource = last_written;
      report = true;
      spdlog::warn("drift: {} managed CR(s) put back (last: {})", writes, last_written);
    }
    if (outcome.result != last_outcome_.result || outcome.reason != last_outcome_.reason) {
      report = true;
    }
    last_outcome_ = outcome;
    stats_.last_result = outcome.result;
    stats_.last_reason = outcome.reason;
    converged_ = failures.empty();
    if (retryable || missing_kind) {
      retry_at_ = clock_->Now() + backoff_;
      backoff_ = std::min<kube::Clock::Duration>(backoff_ * 2, std::chrono::seconds(30));
    } else {
      backoff_ = options_.retry_backoff;
    }
    if (new_version) {
      applied_version_ = version;
      floor_ = std::max(floor_, version);
      stats_.floor_version = floor_;
      applied_at_ = absl::Now();
      applied_traceparent_ = desired->state.traceparent();
      applied_total_ = static_cast<uint32_t>(desired->state.resources_size());
      entry.version = version;
      entry.applied_at = applied_at_;
      entry.result = outcome.result;
      entry.reason = outcome.reason;
      entry.created = static_cast<uint32_t>(created);
      entry.updated = static_cast<uint32_t>(updated);
      entry.deleted = static_cast<uint32_t>(deleted);
      entry.total = applied_total_;
      entry.offset = desired->offset;
      entry.author = desired->state.author();
      entry.message = desired->state.message();
    }
    if (!first_done_) {
      first_done_ = true;
      stats_.first_reconcile = absl::Now() - started_at_;
    }
  }
  const absl::Time cache_begin = absl::Now();
  if (new_version) {
    if (absl::Status s = cache_->Save(*desired, entry); !s.ok()) {
      spdlog::error("state cache: {}", s.ToString());
    }
    absl::MutexLock lock(&mu_);
    stats_.applied_version = version;  // after the cache has it: WaitForVersion means durable
  }
  if (new_version || writes > 0 || !failures.empty()) {
    const absl::Time end = absl::Now();
    spdlog::info("reconciled version {}: {} ({} created, {} updated, {} deleted, {} unchanged, "
                 "{} refused, {} failed) in {:.3f} ms (record {:.3f} ms, CRs {:.3f} ms, cache "
                 "{:.3f} ms){}{}",
                 version, ApplyResultName(outcome.result), created, updated, deleted,
                 plan.unchanged, plan.refused.size(), failures.size(),
                 absl::ToDoubleMilliseconds(end - begin), absl::ToDoubleMilliseconds(record_took),
                 absl::ToDoubleMilliseconds(crs_took),
                 absl::ToDoubleMilliseconds(end - cache_begin), outcome.reason.empty() ? "" : ": ",
                 outcome.reason);
  }
  if (report) EmitReport();
}

void RegionalPlane::OnObject(v1::ResourceKind kind, const ObjectPtr& old_obj, const ObjectPtr& obj,
                             bool deleted) {
  const std::string name = NameOf(*obj);
  const std::string id = KindSlashName(kind, name);
  bool desired_name = false;
  {
    absl::MutexLock lock(&mu_);
    auto w = written_.find(id);
    // The echo of this plane's own write: the reconcile that wrote it planned with it
    // already, so it asks for no other. An event for a CR whose apply has not returned yet
    // is judged when it returns.
    bool own_echo = false;
    if (w != written_.end() &&
        (deleted || ResourceVersionNumber(*obj) >= ResourceVersionNumber(*w->second))) {
      own_echo = !deleted && ResourceVersionNumber(*obj) == ResourceVersionNumber(*w->second);
      written_.erase(w);
    }
    if (auto f = in_flight_.find(id); f != in_flight_.end() && !deleted) {
      f->second.push_back(ResourceVersionNumber(*obj));
      own_echo = true;
    }
    if (deleted) deleted_.erase(id);
    desired_name = desired_ids_.count(id) > 0;
    const bool relevant = IsManagedBy(*obj, options_.region) || desired_name;
    if (relevant && !own_echo &&
        (old_obj == nullptr || deleted || PlanRelevantChange(*old_obj, *obj))) {
      triggered_ = true;
    }
  }
  if (!IsManagedBy(*obj, options_.region)) return;
  const std::string key = ResourceStatusKey(options_.region, options_.cluster, kind, name);
  OutboxRecord record;
  record.key = key;
  absl::MutexLock lock(&status_mu_);
  if (deleted && !desired_name) {
    // Gone because a snapshot said so (or for good): a tombstone.
    last_status_.erase(key);
    PutStatus({record}, false);
    return;
  }
  v1::ResourceStatus status =
      BuildResourceStatus(*obj, options_.region, options_.cluster, absl::Now());
  if (deleted) {
    status.set_ready(false);
    status.set_phase(v1::PHASE_PENDING);
    status.set_message("the CR was deleted outside Senren; the regional plane recreates it");
  }
  auto it = last_status_.find(key);
  if (it != last_status_.end() && SameStatus(it->second, status)) return;
  last_status_[key] = status;
  record.value = status.SerializeAsString();
  record.traceparent = status.traceparent();
  // Not sent: the next change or resync tries again.
  if (!PutStatus({record}, false)) last_status_.erase(key);
}

// Callers hold status_mu_ for ResourceStatus records, so they enter the outbox in the order
// they were observed.
bool RegionalPlane::PutStatus(const std::vector<OutboxRecord>& records, bool report) {
  // A plane without the Lease reports nothing: its heartbeat would overwrite the
  // leader's ClusterReport under the same key.
  if (!MayWrite(report ? "ClusterReport" : "ResourceStatus")) return false;
  absl::Status s = outbox_->Put(records);
  if (!s.ok()) {
    spdlog::error("status outbox: {}", s.ToString());
    return false;
  }
  {
    absl::MutexLock lock(&mu_);
    (report ? stats_.cluster_reports : stats_.status_records) +=
        static_cast<int64_t>(records.size());
  }
  if (on_outbox_put_) on_outbox_put_();
  return true;
}

void RegionalPlane::ResyncStatuses() {
  for (const auto& [kind, informer] : informers_) {
    if (!informer->HasSynced()) continue;
    for (const ObjectPtr& o : informer->List()) {
      if (IsManagedBy(*o, options_.region)) OnObject(kind, o, o, false);
    }
  }
}

v1::ClusterReport RegionalPlane::BuildReport() const {
  v1::ClusterReport r;
  r.set_region(options_.region);
  r.set_cluster(options_.cluster);
  std::set<std::pair<int, std::string>> desired;
  {
    absl::MutexLock lock(&mu_);
    r.set_applied_version(applied_version_);
    r.set_result(last_outcome_.result);
    r.set_reason(last_outcome_.reason);
    r.set_resources_total(applied_total_);
    r.set_drift_corrections(stats_.drift_corrections);
    r.set_last_drifted_resource(stats_.last_drifted_resource);
    if (applied_at_ != absl::Time()) *r.mutable_applied_at() = ToProto(applied_at_);
    r.set_traceparent(applied_traceparent_);
    r.set_rejected_snapshots(static_cast<uint64_t>(stats_.rejected_snapshots));
    r.set_last_rejected_snapshot(stats_.last_rejected_snapshot);
    if (desired_ != nullptr && desired_->state.version() == applied_version_) {
      for (const auto& res : desired_->state.resources()) {
        desired.insert({static_cast<int>(common::KindOf(res)), res.name()});
      }
    }
  }
  uint32_t ready = 0;
  for (const auto& [kind, informer] : informers_) {
    for (const ObjectPtr& o : informer->List()) {
      if (desired.count({static_cast<int>(kind), NameOf(*o)}) > 0 &&
          IsManagedBy(*o, options_.region) && IsReady(*o)) {
        ++ready;
      }
    }
  }
  r.set_resources_ready(ready);
  *r.mutable_heartbeat_at() = ToProto(absl::Now());
  r.set_heartbeat_interval_seconds(static_cast<uint32_t>(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options_.heartbeat_interval).count())));
  return r;
}

void RegionalPlane::EmitReport() {
  const v1::ClusterReport report = BuildReport();
  OutboxRecord record;
  record.key = ClusterReportKey(options_.region, options_.cluster);
  record.value = report.SerializeAsString();
  record.traceparent = report.traceparent();
  PutStatus({record}, true);
}

PlaneStats RegionalPlane::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool RegionalPlane::WaitForVersion(uint64_t version, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, version]()
                  ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stats_.applied_version >= version; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool RegionalPlane::WaitForStats(const std::function<bool(const PlaneStats&)>& pred,
                                 absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, &pred]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return pred(stats_); };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool RegionalPlane::WaitForIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stop_ || (worker_waiting_ && !triggered_ && clock_->Now() < retry_at_);
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

bool RegionalPlane::WaitForFirstReconcile(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return first_done_; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

}  // namespace senren::regional::plane
