#include "projections/status_fold.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "common/resources.h"
#include "projections/status_decode.h"

namespace senren::projections {
namespace {

// The key as a log can show it: bytes that are not printable are escaped.
std::string Printable(std::string_view key) {
  std::string out;
  for (char ch : key.substr(0, 300)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(ch);
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  if (key.size() > 300) absl::StrAppend(&out, "... (", key.size(), " bytes)");
  return out;
}

}  // namespace

StatusFold::StatusFold(std::string topic, int batch_max, StatusStore* store, StatusSource* source,
                       StatusHub* hub, StatusCounters* counters)
    : topic_(std::move(topic)),
      batch_max_(batch_max),
      store_(store),
      source_(source),
      hub_(hub),
      counters_(counters) {}

absl::Status StatusFold::Resume() {
  auto next = store_->Offsets();
  if (!next.ok()) return next.status();
  return source_->Start(*next);
}

void StatusFold::Skip(const kafka::Message& m, std::string_view why) {
  ++counters_->bad_messages;
  spdlog::warn("status projector: skipping {}/{}@{} (key '{}'): {}", m.topic, m.partition, m.offset,
               Printable(m.key), why);
}

absl::Status StatusFold::Step(std::chrono::milliseconds timeout) {
  auto messages = source_->Poll(batch_max_, timeout);
  if (!messages.ok()) return messages.status();
  if (messages->empty()) return absl::OkStatus();
  StatusBatch batch;
  for (const kafka::Message& m : *messages) {
    ++counters_->consumed;
    batch.next_offsets[m.partition] = m.offset + 1;
    auto key = DecodeStatusKey(m.key);
    if (!key.ok()) {
      Skip(m, std::string(key.status().message()));
      continue;
    }
    const std::string& region = key->region;
    if (known_regions_.count(region) == 0) {
      auto known = store_->RegionKnown(region);
      if (!known.ok()) return known.status();
      if (!*known) {
        // Heartbeats of a region with no version yet would repeat this every 10 s: warn
        // once per region, count every message.
        ++counters_->unknown_region;
        if (warned_regions_.insert(region).second) {
          spdlog::warn(
              "status projector: skipping {}/{}@{} (key '{}'): region {} is not in the ledger "
              "(further messages of this region are counted, not logged)",
              m.topic, m.partition, m.offset, m.key, region);
        }
        continue;
      }
      known_regions_.insert(region);
    }
    auto change = DecodeStatusMessage(m);
    if (!change.ok()) {
      Skip(m, std::string(change.status().message()));
      continue;
    }
    batch.changes.push_back(std::move(*change));
  }
  return ApplyBatch(batch);
}

absl::Status StatusFold::ApplyBatch(StatusBatch& batch) {
  auto applied = store_->Apply(batch);
  if (applied.ok()) {
    ++counters_->transactions;
    counters_->applied += batch.changes.size();
    Publish(batch, *applied);
    return absl::OkStatus();
  }
  if (!absl::IsInvalidArgument(applied.status())) return applied.status();
  // A value passed validation yet the database refused it: find it by applying the
  // batch a message at a time, so no single message holds the fold at one offset.
  ++counters_->one_by_one;
  spdlog::warn(
      "status projector: a batch of {} changes was refused ({}); applying them one at a time",
      batch.changes.size(), applied.status().ToString());
  for (StatusChange& change : batch.changes) {
    StatusBatch one;
    one.next_offsets[change.partition] = change.offset + 1;
    one.changes.push_back(std::move(change));
    auto r = store_->Apply(one);
    if (r.ok()) {
      ++counters_->transactions;
      ++counters_->applied;
      Publish(one, *r);
      continue;
    }
    if (!absl::IsInvalidArgument(r.status())) return r.status();
    const StatusChange& c = one.changes.front();
    ++counters_->bad_messages;
    spdlog::warn("status projector: skipping {}/{}@{} (key {}/{}): refused by the database: {}",
                 c.topic, c.partition, c.offset, c.key.region, c.key.cluster,
                 r.status().ToString());
    one.changes.clear();
    if (auto s = store_->Apply(one); !s.ok()) return s.status();
  }
  // The offsets of the batch's last messages, skipped ones included.
  batch.changes.clear();
  if (auto s = store_->Apply(batch); !s.ok()) return s.status();
  ++counters_->transactions;
  return absl::OkStatus();
}

void StatusFold::Publish(const StatusBatch& batch, const StatusApplied& applied) {
  if (hub_ == nullptr) return;
  for (size_t i = 0; i < batch.changes.size() && i < applied.visible.size(); ++i) {
    if (!applied.visible[i]) continue;
    const StatusChange& c = batch.changes[i];
    v1::StatusEvent event;
    switch (c.type) {
      case StatusChange::Type::kResource:
        *event.mutable_resource() = c.resource;
        break;
      case StatusChange::Type::kResourceGone:
        event.set_resource_removed(absl::StrCat(
            c.key.cluster, "/", std::string(common::KindName(c.key.kind)), "/", c.key.name));
        break;
      case StatusChange::Type::kCluster:
        *event.mutable_cluster() = c.report;
        break;
      case StatusChange::Type::kClusterGone:
        continue;
    }
    auto it = applied.desired_versions.find(c.key.region);
    event.set_desired_version(it == applied.desired_versions.end() ? 0 : it->second);
    hub_->Publish(c.key.region, event);
  }
}

}  // namespace senren::projections
