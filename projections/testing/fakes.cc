#include "projections/testing/fakes.h"

#include <algorithm>

namespace senren::projections::testing {

// FakeSnapshotProgressStore

void FakeSnapshotProgressStore::SetCurrent(const std::string& region, uint64_t version) {
  absl::MutexLock lock(&mu_);
  current_[region] = version;
}

void FakeSnapshotProgressStore::FailNext(absl::Status status, int count) {
  absl::MutexLock lock(&mu_);
  fail_status_ = std::move(status);
  fail_count_ = count;
}

absl::Status FakeSnapshotProgressStore::Fail() {
  if (fail_count_ == 0) return absl::OkStatus();
  --fail_count_;
  return fail_status_;
}

absl::StatusOr<std::vector<PendingRegion>> FakeSnapshotProgressStore::Pending(bool all) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Fail(); !s.ok()) return s;
  std::vector<PendingRegion> out;
  for (const auto& [region, version] : current_) {
    auto it = published_.find(region);
    const uint64_t published = it == published_.end() ? 0 : it->second;
    if (version > published || (all && version > 0)) out.push_back({region, version, published});
  }
  return out;
}

absl::Status FakeSnapshotProgressStore::RecordPublished(const std::string& region, uint64_t version,
                                                        int32_t, int64_t) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Fail(); !s.ok()) return s;
  ++records_;
  uint64_t& p = published_[region];
  p = std::max(p, version);
  return absl::OkStatus();
}

absl::Status FakeSnapshotProgressStore::Ping() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Fail(); !s.ok()) return s;
  ++pings_;
  return absl::OkStatus();
}

int FakeSnapshotProgressStore::pings() const {
  absl::MutexLock lock(&mu_);
  return pings_;
}

uint64_t FakeSnapshotProgressStore::Published(const std::string& region) const {
  absl::MutexLock lock(&mu_);
  auto it = published_.find(region);
  return it == published_.end() ? 0 : it->second;
}

int FakeSnapshotProgressStore::records() const {
  absl::MutexLock lock(&mu_);
  return records_;
}

// FakeStateTopic

int64_t FakeStateTopic::Append(const std::string& region, uint64_t version) {
  absl::MutexLock lock(&mu_);
  const auto offset = static_cast<int64_t>(log_.size());
  log_.push_back({region, version, offset});
  return offset;
}

std::vector<FakeStateTopic::Landed> FakeStateTopic::Log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

uint64_t FakeStateTopic::Last(const std::string& region) const {
  absl::MutexLock lock(&mu_);
  for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
    if (it->region == region) return it->version;
  }
  return 0;
}

std::vector<uint64_t> FakeStateTopic::Versions(const std::string& region) const {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> out;
  for (const auto& l : log_) {
    if (l.region == region) out.push_back(l.version);
  }
  return out;
}

// FakeSnapshotSink

FakeSnapshotSink::~FakeSnapshotSink() { PurgeQueued(); }

absl::Status FakeSnapshotSink::Publish(const SnapshotRecord& record, OnDelivery on_delivery) {
  absl::MutexLock lock(&mu_);
  if (!refuse_.ok()) return refuse_;
  published_.push_back(record);
  waiting_.push_back({record, std::move(on_delivery)});
  return absl::OkStatus();
}

std::vector<FakeSnapshotSink::Queued> FakeSnapshotSink::TakeOldest(int n) {
  absl::MutexLock lock(&mu_);
  std::vector<Queued> out;
  while (!waiting_.empty() && (n < 0 || static_cast<int>(out.size()) < n)) {
    out.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return out;
}

void FakeSnapshotSink::PurgeQueued() {
  std::vector<Queued> purged = TakeOldest(-1);
  {
    absl::MutexLock lock(&mu_);
    ++purges_;
  }
  for (auto& w : purged) w.on_delivery({absl::CancelledError("purged"), -1, -1});
}

absl::Status FakeSnapshotSink::Flush(std::chrono::milliseconds) {
  Deliver(-1);
  return absl::OkStatus();
}

void FakeSnapshotSink::Deliver(int n) {
  for (auto& w : TakeOldest(n)) {
    const int64_t offset = topic_->Append(w.record.region, w.record.version);
    w.on_delivery({absl::OkStatus(), 0, offset});
  }
}

void FakeSnapshotSink::FailOldest(absl::Status status) {
  for (auto& w : TakeOldest(1)) w.on_delivery({status, -1, -1});
}

void FakeSnapshotSink::RefusePublish(absl::Status status) {
  absl::MutexLock lock(&mu_);
  refuse_ = std::move(status);
}

std::vector<SnapshotRecord> FakeSnapshotSink::Published() const {
  absl::MutexLock lock(&mu_);
  return published_;
}

size_t FakeSnapshotSink::Waiting() const {
  absl::MutexLock lock(&mu_);
  return waiting_.size();
}

int FakeSnapshotSink::purges() const {
  absl::MutexLock lock(&mu_);
  return purges_;
}

// FakeStatusSource

int64_t FakeStatusSource::Push(int32_t partition, std::string key, std::optional<std::string> value,
                               int64_t timestamp_ms) {
  absl::MutexLock lock(&mu_);
  auto& log = log_[partition];
  kafka::Message m;
  m.topic = "status";
  m.partition = partition;
  m.offset = static_cast<int64_t>(log.size());
  m.key = std::move(key);
  m.value = std::move(value);
  m.timestamp_ms = timestamp_ms;
  log.push_back(std::move(m));
  return log.back().offset;
}

void FakeStatusSource::Fail(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_ = std::move(status);
}

absl::Status FakeStatusSource::Start(const std::map<int32_t, int64_t>& next) {
  absl::MutexLock lock(&mu_);
  if (!fail_.ok()) return fail_;
  position_ = next;
  started_at_ = next;
  started_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<kafka::Message>> FakeStatusSource::Poll(int max,
                                                                   std::chrono::milliseconds) {
  absl::MutexLock lock(&mu_);
  if (!fail_.ok()) return fail_;
  if (!started_) return absl::FailedPreconditionError("Poll before Start");
  std::vector<kafka::Message> out;
  for (auto& [partition, log] : log_) {
    int64_t& pos = position_[partition];
    while (pos < static_cast<int64_t>(log.size()) && static_cast<int>(out.size()) < max) {
      out.push_back(log[static_cast<size_t>(pos++)]);
    }
  }
  return out;
}

std::map<int32_t, int64_t> FakeStatusSource::started_at() const {
  absl::MutexLock lock(&mu_);
  return started_at_;
}

// FakeStatusStore

void FakeStatusStore::AddRegion(const std::string& region, uint64_t current_version) {
  absl::MutexLock lock(&mu_);
  regions_[region] = current_version;
}

void FakeStatusStore::RefuseIf(std::function<bool(const StatusChange&)> refuse) {
  absl::MutexLock lock(&mu_);
  refuse_ = std::move(refuse);
}

void FakeStatusStore::FailNext(absl::Status status, int count) {
  absl::MutexLock lock(&mu_);
  fail_status_ = std::move(status);
  fail_count_ = count;
}

absl::Status FakeStatusStore::Fail() {
  if (fail_count_ == 0) return absl::OkStatus();
  --fail_count_;
  return fail_status_;
}

absl::StatusOr<std::map<int32_t, int64_t>> FakeStatusStore::Offsets() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Fail(); !s.ok()) return s;
  return offsets_;
}

absl::StatusOr<bool> FakeStatusStore::RegionKnown(const std::string& region) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Fail(); !s.ok()) return s;
  return regions_.count(region) != 0;
}

absl::StatusOr<StatusApplied> FakeStatusStore::Apply(const StatusBatch& batch) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Fail(); !s.ok()) return s;
  if (refuse_) {
    for (const StatusChange& c : batch.changes) {
      if (refuse_(c)) return absl::InvalidArgumentError("refused (SQLSTATE 22021)");
    }
  }
  ++applies_;
  StatusApplied out;
  for (const StatusChange& c : batch.changes) {
    const StatusKey& k = c.key;
    const Position pos{c.topic, c.partition, c.offset};
    const ResourceKey rk{k.region, k.cluster, static_cast<int>(k.kind), k.name};
    bool visible = true;
    switch (c.type) {
      case StatusChange::Type::kClusterGone:
        clusters_.erase({k.region, k.cluster});
        history_.try_emplace(pos, HistoryRow{k, c.at, std::nullopt});
        visible = false;
        break;
      case StatusChange::Type::kCluster: {
        auto it = clusters_.find({k.region, k.cluster});
        if (it != clusters_.end()) {
          const v1::ClusterReport& a = it->second;
          const v1::ClusterReport& b = c.report;
          visible = !(a.applied_version() == b.applied_version() && a.result() == b.result() &&
                      a.reason() == b.reason() && a.resources_total() == b.resources_total() &&
                      a.resources_ready() == b.resources_ready() &&
                      a.drift_corrections() == b.drift_corrections() &&
                      a.rejected_snapshots() == b.rejected_snapshots());
        }
        clusters_[{k.region, k.cluster}] = c.report;
        HistoryRow* newest = nullptr;
        for (auto& [p, row] : history_) {
          if (row.key.region == k.region && row.key.cluster == k.cluster && row.key.IsCluster() &&
              (newest == nullptr || row.at >= newest->at)) {
            newest = &row;
          }
        }
        if (!visible && newest != nullptr && newest->payload &&
            c.at - newest->seen_until <= StaleAfterSeconds(c.report)) {
          newest->seen_until = std::max(newest->seen_until, c.at);
        } else {
          history_.try_emplace(pos, HistoryRow{k, c.at, c.payload, c.at});
        }
        break;
      }
      case StatusChange::Type::kResourceGone:
        resources_.erase(rk);
        history_.try_emplace(pos, HistoryRow{k, c.at, std::nullopt});
        break;
      case StatusChange::Type::kResource:
        resources_[rk] = c.resource;
        history_.try_emplace(pos, HistoryRow{k, c.at, c.payload});
        break;
    }
    out.visible.push_back(visible);
    auto r = regions_.find(k.region);
    out.desired_versions[k.region] = r == regions_.end() ? 0 : r->second;
  }
  for (const auto& [partition, offset] : batch.next_offsets) offsets_[partition] = offset;
  return out;
}

absl::StatusOr<uint64_t> FakeStatusStore::Trim(std::chrono::hours) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Fail(); !s.ok()) return s;
  return 0;
}

std::map<FakeStatusStore::ResourceKey, v1::ResourceStatus> FakeStatusStore::Resources() const {
  absl::MutexLock lock(&mu_);
  return resources_;
}

std::map<std::pair<std::string, std::string>, v1::ClusterReport> FakeStatusStore::Clusters() const {
  absl::MutexLock lock(&mu_);
  return clusters_;
}

std::map<FakeStatusStore::Position, FakeStatusStore::HistoryRow> FakeStatusStore::History() const {
  absl::MutexLock lock(&mu_);
  return history_;
}

int FakeStatusStore::applies() const {
  absl::MutexLock lock(&mu_);
  return applies_;
}

}  // namespace senren::projections::testing
