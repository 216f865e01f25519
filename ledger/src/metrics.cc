#include "ledger/metrics.h"

#include "ledger/pg_ledger_store.h"

namespace senren::ledger {

RequestMetrics::RequestMetrics(daemon::Metrics* registry) : registry_(registry) {
  registry_->Describe("senren_ledger_requests_total", "counter",
                      "gRPC requests by method and status code.");
  registry_->Describe("senren_ledger_request_seconds", "histogram",
                      "gRPC request latency by method.");
}

void RequestMetrics::RecordRequest(const std::string& rpc, const std::string& code,
                                   double seconds) {
  registry_->Add("senren_ledger_requests_total", daemon::Labels({{"rpc", rpc}, {"code", code}}));
  registry_->Observe("senren_ledger_request_seconds", daemon::Labels({{"rpc", rpc}}), seconds);
}

void ExportStoreStats(const PgLedgerStoreStats& stats, daemon::Metrics& registry) {
  registry.Describe("senren_ledger_versions_appended_total", "counter",
                    "Versions appended to the ledger by this process.");
  registry.Describe("senren_ledger_pg_pool_size", "gauge", "PostgreSQL connections allowed.");
  registry.Describe("senren_ledger_pg_pool_in_use", "gauge", "PostgreSQL connections in use.");
  registry.Describe("senren_ledger_pg_pool_open", "gauge", "PostgreSQL connections open.");
  registry.Describe("senren_ledger_pg_reconnects_total", "counter",
                    "PostgreSQL connections reopened after a break.");
  registry.Set("senren_ledger_versions_appended_total", "",
               static_cast<double>(stats.versions_appended));
  registry.Set("senren_ledger_pg_pool_size", "", stats.pool_size);
  registry.Set("senren_ledger_pg_pool_in_use", "", stats.pool_in_use);
  registry.Set("senren_ledger_pg_pool_open", "", stats.pool_open);
  registry.Set("senren_ledger_pg_reconnects_total", "", static_cast<double>(stats.reconnects));
}

}  // namespace senren::ledger
