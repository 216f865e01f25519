#pragma once

// SnapshotPublisher: the snapshot projector's logic for one leadership term, without I/O
// of its own: reads pending regions from a SnapshotProgressStore, their states from a
// LedgerStore, publishes to a SnapshotSink and records what the sink confirmed.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "ledger/ledger_store.h"
#include "projections/snapshot_ports.h"

namespace senren::projections {

// Counters of the snapshot projector, kept across leadership terms. Thread-safe.
struct SnapshotCounters {
  std::atomic<uint64_t> published{0};       // versions confirmed by Kafka
  std::atomic<uint64_t> publish_errors{0};  // deliveries that failed (retried later)
  std::atomic<uint64_t> too_large{0};       // versions over max_message_bytes
  std::atomic<uint64_t> purges{0};          // queued publishes dropped for newer ones
  std::atomic<uint64_t> lease_renewals{
      0};                                // store pinged: its last answer was older than the lease
  std::atomic<uint64_t> republished{0};  // publishes of the takeover republish
  std::atomic<uint64_t> tombstones{0};   // old partitions' copies of moved regions cleared
};

struct SnapshotPublisherOptions {
  std::string topic;
  // Largest state published. Default: 100 MiB.
  size_t max_message_bytes = 100u << 20;
  // A publish unanswered this long while a newer version waits makes the queued
  // publishes go (PurgeQueued), so only the newest goes out when Kafka answers.
  // Default: 1 s.
  std::chrono::milliseconds stale_publish{1000};
  // A record is handed to the sink only this soon after the store last answered (the
  // leader's session was alive then); older, the store is pinged first. With the sink's publish
  // timeout it bounds how long after losing its lock a leader's record can land; see
  // SnapshotProjectorOptions. Default: 1 s.
  std::chrono::milliseconds lease{1000};
  // A new leader publishes every region's newest version again this long after its
  // term began: by then every record of a previous leader has landed or failed (lease +
  // its publish timeout after the previous leader's last store answer, which came before
  // this leader got the lock), so the topic's last value per region is the newest even
  // when an older record of the previous leader landed after this leader's.
  // Default: 6 s (SnapshotProjectorOptions::publish_timeout + lease).
  std::chrono::milliseconds republish_after{6000};
  // The partition count this term publishes by, and the one the previous term published by
  // when it differs (the topic grew; 0: unknown or the same). With both, every region whose
  // partition moved gets a tombstone in its old partition once its version in the new one is
  // confirmed, so compaction clears what it left there. Default: 0, 0 (no tombstones).
  int partitions = 0;
  int previous_partitions = 0;
  // Injected clock. Default: steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> now;
};

// One object per leadership term; Step and NextWait run on the leader's thread, the
// sink's delivery callbacks on any. Destroy the sink before the publisher (callbacks
// refer to it).
class SnapshotPublisher {
 public:
  using Clock = std::chrono::steady_clock;

  // None of the pointers is owned; all outlive the publisher.
  SnapshotPublisher(SnapshotPublisherOptions options, SnapshotProgressStore* progress,
                    ledger::LedgerStore* states, SnapshotSink* sink, SnapshotCounters* counters);

  // One round: records confirmed deliveries, then publishes pending regions that have no
  // publish in flight. A store error, or a delivery that failed (UNAVAILABLE: the sink is
  // to be replaced; the region stays pending), ends the round and is returned (the term
  // ends).
  absl::Status Step();

  // How long to wait for a notification before the next Step: `poll` when nothing is in
  // flight, 5 ms while deliveries are young, 100 ms while they are slow.
  std::chrono::milliseconds NextWait(std::chrono::milliseconds poll) const;

  // Records the deliveries confirmed so far (Step does it first; a leader that stops
  // flushes its sink, then calls this).
  absl::Status RecordConfirmed();

  // Regions with a publish in flight.
  size_t InFlight() const { return inflight_.size(); }
  // Whether the takeover republish (republish_after) is done.
  bool Republished() const {
    return republish_done_ && !republish_all_ && republish_later_.empty();
  }

 private:
  struct Completion {
    std::string region;
    uint64_t version = 0;
    kafka::Delivery delivery;
  };
  struct InFlightPublish {
    uint64_t version = 0;
    Clock::time_point since;
  };

  absl::Status PublishPending();
  // After `region`'s version landed in partition `landed`: a tombstone in its partition
  // under previous_partitions, when it moved (once per term).
  void ClearOldPartition(const std::string& region, int32_t landed);
  Clock::time_point Now() const { return options_.now ? options_.now() : Clock::now(); }

  const SnapshotPublisherOptions options_;
  SnapshotProgressStore* const progress_;
  ledger::LedgerStore* const states_;
  SnapshotSink* const sink_;
  SnapshotCounters* const counters_;

  std::mutex completions_mu_;
  std::vector<Completion> completions_ ABSL_GUARDED_BY(completions_mu_);

  // Leader thread only.
  const Clock::time_point term_start_;
  bool republish_done_ = false;            // the takeover republish has begun
  bool republish_all_ = false;             // this round republishes every region
  std::set<std::string> republish_later_;  // in flight during the republish: again when answered
  std::map<std::string, InFlightPublish> inflight_;
  std::set<std::pair<std::string, uint64_t>> too_large_seen_;
  std::set<std::string> tombstoned_;  // regions whose old partition got its tombstone
};

}  // namespace senren::projections
