#pragma once

// StatusFold: the status projector's logic for one leadership term, without I/O of its
// own: reads a batch from a StatusSource, validates each message (DecodeStatusMessage),
// stores the changes and the offsets after them in one StatusStore transaction, then
// tells the StatusHub.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "projections/status_hub.h"
#include "projections/status_ports.h"

namespace senren::projections {

// Counters of the status projector, kept across terms. Thread-safe.
struct StatusCounters {
  std::atomic<uint64_t> consumed{0};        // messages read
  std::atomic<uint64_t> applied{0};         // messages folded into the read model
  std::atomic<uint64_t> bad_messages{0};    // invalid, or refused by the database: skipped
  std::atomic<uint64_t> unknown_region{0};  // region the ledger does not know: skipped
  std::atomic<uint64_t> transactions{0};
  std::atomic<uint64_t> one_by_one{0};  // batches applied a message at a time after a data error
};

// One object per term; Resume and Step run on the projector's thread. None of the
// pointers is owned; hub may be null.
class StatusFold {
 public:
  StatusFold(std::string topic, int batch_max, StatusStore* store, StatusSource* source,
             StatusHub* hub, StatusCounters* counters);

  // Starts the source at the stored offsets.
  absl::Status Resume();

  // Folds one batch (waiting up to `timeout` for its first message). A message that does
  // not validate, or that the database refuses (the batch is then applied a message at a
  // time), is skipped and counted; a store or source error ends the term and is returned.
  absl::Status Step(std::chrono::milliseconds timeout);

 private:
  // Applies `batch`; with a data error, one message at a time, skipping the refused one.
  absl::Status ApplyBatch(StatusBatch& batch);
  void Skip(const kafka::Message& m, std::string_view why);
  void Publish(const StatusBatch& batch, const StatusApplied& applied);

  const std::string topic_;
  const int batch_max_;
  StatusStore* const store_;
  StatusSource* const source_;
  StatusHub* const hub_;
  StatusCounters* const counters_;
  std::set<std::string> known_regions_;
  std::set<std::string> warned_regions_;
};

}  // namespace senren::projections
