#pragma once

// LedgerServer: the senren.v1.ControlPlane gRPC server of `senren-ledger serve` over a
// LedgerStore, with bearer-token auth, a request size limit, request metrics and logs.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/auth.h"
#include "ledger/ledger_store.h"
#include "ledger/metrics.h"
#include "projections/status_read_model.h"

namespace senren::ledger {

struct ServerOptions {
  // gRPC address; port 0 picks a free port (see LedgerServer::port). Default: 127.0.0.1:57070.
  std::string listen = "127.0.0.1:57070";
  // Larger requests are refused with RESOURCE_EXHAUSTED. Default: 64 MiB.
  size_t max_request_bytes = 64u << 20;
  // PEM files; both set = TLS. tls_client_ca set = clients must present a certificate
  // signed by it. Default: plaintext.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // The registry requests are recorded in (senren_ledger_requests_total and
  // senren_ledger_request_seconds); not owned, outlives the server. The daemon serves it
  // on --metrics-listen. Default: a registry of the server's own, served by nobody.
  daemon::Metrics* metrics = nullptr;
  // Answers GetStatus, WatchStatus and ListRegions' convergence; not owned, outlives the
  // server. Default: none (those RPCs answer UNIMPLEMENTED, ListRegions has no clusters).
  projections::StatusReadModel* status = nullptr;
};

// Owns the gRPC server and its threads; the store and authenticator must outlive it.
// Start() returns once the server listens; Shutdown() stops it (also on destruction).
class LedgerServer {
 public:
  static absl::StatusOr<std::unique_ptr<LedgerServer>> Start(
      const ServerOptions& options, LedgerStore* store,
      std::shared_ptr<const TokenAuthenticator> authenticator);
  ~LedgerServer();

  int port() const;
  void Shutdown();
  void Wait();

  class Impl;

 private:
  explicit LedgerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace senren::ledger
