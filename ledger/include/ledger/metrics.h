#pragma once

// senren-ledger's series in the daemon's metrics registry (daemon/metrics.h).

#include <string>

#include "daemon/metrics.h"

namespace senren::ledger {

struct PgLedgerStoreStats;

// gRPC requests by RPC and code (senren_ledger_requests_total{rpc,code}) and latency by
// RPC (senren_ledger_request_seconds{rpc}, histogram). Records into a registry it does
// not own, which must outlive it. Thread-safe.
class RequestMetrics {
 public:
  explicit RequestMetrics(daemon::Metrics* registry);
  void RecordRequest(const std::string& rpc, const std::string& code, double seconds);

 private:
  daemon::Metrics* const registry_;
};

// senren_ledger_versions_appended_total, senren_ledger_pg_pool_{size,in_use,open} and
// senren_ledger_pg_reconnects_total from the store's stats (set at each scrape).
void ExportStoreStats(const PgLedgerStoreStats& stats, daemon::Metrics& registry);

}  // namespace senren::ledger
