#include "projections/snapshot_publisher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace senren::projections {

SnapshotPublisher::SnapshotPublisher(SnapshotPublisherOptions options,
                                     SnapshotProgressStore* progress, ledger::LedgerStore* states,
                                     SnapshotSink* sink, SnapshotCounters* counters)
    : options_(std::move(options)),
      progress_(progress),
      states_(states),
      sink_(sink),
      counters_(counters),
      term_start_(Now()) {}

absl::Status SnapshotPublisher::Step() {
  if (absl::Status s = RecordConfirmed(); !s.ok()) return s;
  if (!republish_done_ && Now() - term_start_ >= options_.republish_after) {
    republish_done_ = true;
    republish_all_ = true;
  }
  return PublishPending();
}

std::chrono::milliseconds SnapshotPublisher::NextWait(std::chrono::milliseconds poll) const {
  // Deliveries do not wake the leader's connection: look again soon while any is in
  // flight (every 5 ms while Kafka answers quickly, every 100 ms while it does not).
  auto wait = poll;
  const auto now = Now();
  for (const auto& [region, f] : inflight_) {
    auto w = now - f.since < std::chrono::milliseconds(100) ? std::chrono::milliseconds(5)
                                                            : std::chrono::milliseconds(100);
    wait = std::min(wait, w);
  }
  return wait;
}

absl::Status SnapshotPublisher::RecordConfirmed() {
  std::vector<Completion> done;
  {
    std::lock_guard lock(completions_mu_);
    done.swap(completions_);
  }
  absl::Status failed;
  for (size_t i = 0; i < done.size(); ++i) {
    const Completion& c = done[i];
    inflight_.erase(c.region);
    if (absl::IsCancelled(c.delivery.status)) continue;  // purged for a newer state
    if (!c.delivery.status.ok()) {
      ++counters_->publish_errors;
      spdlog::warn("snapshot projector: publishing {} version {} failed: {}; will retry", c.region,
                   c.version, c.delivery.status.ToString());
      failed = absl::UnavailableError(absl::StrCat("publishing ", c.region, " version ", c.version,
                                                   " failed: ", c.delivery.status.message()));
      continue;
    }
    if (absl::Status s = progress_->RecordPublished(c.region, c.version, c.delivery.partition,
                                                    c.delivery.offset);
        !s.ok()) {
      // Not recorded: the region stays pending and is published again by whoever leads.
      return s;
    }
    ++counters_->published;
    spdlog::debug("snapshot projector: {} version {} at {}/{}", c.region, c.version,
                  c.delivery.partition, c.delivery.offset);
    ClearOldPartition(c.region, c.delivery.partition);
  }
  // A producer whose record timed out may not recover by itself (an idempotent producer
  // whose in-flight records timed out keeps timing out after the broker is back): the
  // term ends, and the next one has a new producer and publishes the region again.
  return failed;
}

void SnapshotPublisher::ClearOldPartition(const std::string& region, int32_t landed) {
  // A smaller count than before: the topic was recreated, there is nothing to clear.
  if (options_.partitions <= 0 || options_.previous_partitions <= 0 ||
      options_.previous_partitions >= options_.partitions) {
    return;
  }
  const int32_t old_partition = kafka::PartitionForKey(region, options_.previous_partitions);
  if (old_partition == landed || landed != kafka::PartitionForKey(region, options_.partitions) ||
      tombstoned_.count(region) != 0) {
    return;
  }
  // Only after the region's version is confirmed in its new partition: the old copy goes
  // once the new one is there. A plane still reading the old partition counts it as a bad
  // message and keeps what it has.
  absl::Status s = sink_->PublishTombstone(
      region, old_partition, [region, old_partition](const kafka::Delivery& d) {
        if (!d.status.ok() && !absl::IsCancelled(d.status)) {
          spdlog::warn("snapshot projector: tombstone of {} in its old partition {}: {}", region,
                       old_partition, d.status.ToString());
        }
      });
  if (s.ok()) {
    tombstoned_.insert(region);
    ++counters_->tombstones;
  } else if (!absl::IsUnimplemented(s)) {
    spdlog::warn("snapshot projector: tombstone of {} in its old partition {}: {}", region,
                 old_partition, s.ToString());
  }
}

absl::Status SnapshotPublisher::PublishPending() {
  auto asked = Now();
  const bool all = republish_all_ || !republish_later_.empty();
  auto pending = progress_->Pending(all);
  if (!pending.ok()) return pending.status();
  const bool republish_round = republish_all_;
  republish_all_ = false;
  bool purge = false;
  for (const auto& [region, version, published] : *pending) {
    const bool again = republish_round || republish_later_.count(region) != 0;
    if (version <= published && !again) continue;
    if (auto it = inflight_.find(region); it != inflight_.end()) {
      // Coalesce: the newest goes out after this one lands. If Kafka has not answered
      // for a while (broker down), drop what waits in the producer's queue, so only
      // each region's newest state goes out when the broker is back.
      if (version > it->second.version && Now() - it->second.since > options_.stale_publish)
        purge = true;
      // A publish in flight during the takeover republish may have been made before a
      // previous leader's last record landed: the region goes out again after it.
      if (again) republish_later_.insert(region);
      continue;
    }
    if (too_large_seen_.count({region, version}) != 0) continue;
    auto state = states_->GetState(region, version);
    if (!state.ok()) {
      spdlog::warn("snapshot projector: reading {} version {}: {}", region, version,
                   state.status().ToString());
      if (again) republish_later_.insert(region);
      continue;
    }
    SnapshotRecord record{region, version, {}, state->traceparent()};
    state->SerializeToString(&record.bytes);
    if (record.bytes.size() > options_.max_message_bytes) {
      ++counters_->too_large;
      too_large_seen_.insert({region, version});
      republish_later_.erase(region);
      spdlog::error("snapshot projector: region {} version {} is {} bytes, over the {} byte limit "
                    "of topic {}; "
                    "it is not published (regional planes keep the previous version)",
                    region, version, record.bytes.size(), options_.max_message_bytes,
                    options_.topic);
      continue;
    }
    // Reading states may take long: the session may be gone by now and another leader
    // publishing. Hear from the store again before handing anything to the sink.
    if (Now() - asked > options_.lease) {
      ++counters_->lease_renewals;
      asked = Now();
      if (absl::Status s = progress_->Ping(); !s.ok()) return s;
    }
    absl::Status s = sink_->Publish(
        record, [this, region = region, version = version](const kafka::Delivery& d) {
          std::lock_guard lock(completions_mu_);
          completions_.push_back({region, version, d});
        });
    if (!s.ok()) {
      ++counters_->publish_errors;
      spdlog::warn("snapshot projector: producing {} version {}: {}", region, version,
                   s.ToString());
      if (again) republish_later_.insert(region);
      // The producer does not know the region's partition (the topic grew after it read
      // its metadata): the term ends, and the next one's producer reads it afresh.
      if (absl::IsNotFound(s)) {
        return absl::UnavailableError(
            absl::StrCat("producing ", region, " version ", version, ": ", s.message()));
      }
      continue;
    }
    if (again) ++counters_->republished;
    republish_later_.erase(region);
    inflight_[region] = {version, Now()};
  }
  if (purge) {
    ++counters_->purges;
    spdlog::warn("snapshot projector: Kafka has not confirmed a publish for {} ms; dropping queued "
                 "publishes "
                 "so each region's newest state goes out when it answers",
                 options_.stale_publish.count());
    sink_->PurgeQueued();
  }
  return absl::OkStatus();
}

}  // namespace senren::projections
