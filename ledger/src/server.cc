#include "ledger/server.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "google/protobuf/util/time_util.h"
#include "senren/v1/control_plane.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace senren::ledger {
namespace {

std::string Metadata(const grpc::ServerContext& ctx, const std::string& key) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(key);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The ControlPlane service: authenticates, authorizes, delegates to the store, and
// records one metric and one debug log line per request. Runs on gRPC's threads.
class ControlPlaneService final : public v1::ControlPlane::Service {
 public:
  ControlPlaneService(LedgerStore* store, std::shared_ptr<const TokenAuthenticator> auth,
                      RequestMetrics* metrics, projections::StatusReadModel* status)
      : store_(store), auth_(std::move(auth)), metrics_(metrics), status_(status) {}

  // Ends open WatchStatus streams (server shutdown).
  void StopStreams() { stopping_ = true; }

  grpc::Status ApplyState(grpc::ServerContext* ctx, const v1::ApplyStateRequest* req,
                          v1::ApplyStateResponse* resp) override {
    return Handle("ApplyState", ctx, Role::kWriter, req->region(), [&](const Principal& p) {
      return Assign(store_->ApplyState(*req, Context(*ctx, p)), resp);
    });
  }

  grpc::Status PlanState(grpc::ServerContext* ctx, const v1::ApplyStateRequest* req,
                         v1::PlanStateResponse* resp) override {
    return Handle("PlanState", ctx, Role::kWriter, req->region(),
                  [&](const Principal&) { return Assign(store_->PlanState(*req), resp); });
  }

  grpc::Status GetState(grpc::ServerContext* ctx, const v1::GetStateRequest* req,
                        v1::RegionalState* resp) override {
    return Handle("GetState", ctx, Role::kReader, req->region(), [&](const Principal&) {
      if (!req->has_at()) return Assign(store_->GetState(req->region(), req->version()), resp);
      auto version = VersionAt(*req);
      if (!version.ok()) return version.status();
      return Assign(store_->GetState(req->region(), *version), resp);
    });
  }

  grpc::Status ListRegions(grpc::ServerContext* ctx, const v1::ListRegionsRequest*,
                           v1::ListRegionsResponse* resp) override {
    return Handle("ListRegions", ctx, Role::kReader, "", [&](const Principal&) {
      absl::Status s = Assign(store_->ListRegions(), resp);
      if (!s.ok() || status_ == nullptr) return s;
      auto convergence = status_->Convergence();
      if (!convergence.ok()) return convergence.status();
      for (auto& region : *resp->mutable_regions()) {
        auto it = convergence->find(region.region());
        if (it == convergence->end()) continue;
        for (const auto& c : it->second.clusters) region.add_clusters(c);
        region.set_clusters_converged(it->second.converged);
      }
      return absl::OkStatus();
    });
  }

  grpc::Status GetHistory(grpc::ServerContext* ctx, const v1::GetHistoryRequest* req,
                          v1::GetHistoryResponse* resp) override {
    return Handle("GetHistory", ctx, Role::kReader, req->region(),
                  [&](const Principal&) { return Assign(store_->GetHistory(*req), resp); });
  }

  grpc::Status Blame(grpc::ServerContext* ctx, const v1::BlameRequest* req,
                     v1::BlameResponse* resp) override {
    return Handle("Blame", ctx, Role::kReader, req->region(),
                  [&](const Principal&) { return Assign(store_->Blame(*req), resp); });
  }

  grpc::Status DiffVersions(grpc::ServerContext* ctx, const v1::DiffVersionsRequest* req,
                            v1::DiffVersionsResponse* resp) override {
    return Handle("DiffVersions", ctx, Role::kReader, req->region(),
                  [&](const Principal&) { return Assign(store_->DiffVersions(*req), resp); });
  }

  grpc::Status Rollback(grpc::ServerContext* ctx, const v1::RollbackRequest* req,
                        v1::ApplyStateResponse* resp) override {
    return Handle("Rollback", ctx, Role::kWriter, req->region(), [&](const Principal& p) {
      return Assign(store_->Rollback(*req, Context(*ctx, p)), resp);
    });
  }

  grpc::Status GetStatus(grpc::ServerContext* ctx, const v1::GetStatusRequest* req,
                         v1::GetStatusResponse* resp) override {
    return Handle("GetStatus", ctx, Role::kReader, req->region(), [&](const Principal&) {
      if (status_ == nullptr) return NoStatus();
      return Assign(status_->GetStatus(*req), resp);
    });
  }

  grpc::Status WatchStatus(grpc::ServerContext* ctx, const v1::WatchStatusRequest* req,
                           grpc::ServerWriter<v1::StatusEvent>* writer) override {
    return Handle("WatchStatus", ctx, Role::kReader, req->region(), [&](const Principal&) {
      if (status_ == nullptr) return NoStatus();
      auto sub = status_->Watch(req->region(), req->from_version());
      if (!sub.ok()) return sub.status();
      while (!ctx->IsCancelled() && !stopping_) {
        auto event = (*sub)->Next(std::chrono::milliseconds(250));
        if (event) {
          if (!writer->Write(*event)) break;  // the client went away
        } else if ((*sub)->Closed()) {
          if ((*sub)->Overflowed()) {
            return absl::ResourceExhaustedError(
                "this WatchStatus stream fell more than 10,000 events behind; watch again and "
                "read GetStatus for the current state");
          }
          break;
        }
      }
      return absl::OkStatus();
    });
  }

 private:
  static absl::Status NoStatus() {
    return absl::UnimplementedError(
        "status is not available: senren-ledger serve runs without the status projector "
        "(start it with --kafka-brokers)");
  }

  // The version current at req.at(): the newest created at or before it, through the
  // history's time filter (versions_by_time).
  absl::StatusOr<uint64_t> VersionAt(const v1::GetStateRequest& req) {
    if (req.version() != 0) {
      return absl::InvalidArgumentError("fields version and at: give one, not both");
    }
    v1::GetHistoryRequest h;
    h.set_region(req.region());
    h.set_page_size(1);
    *h.mutable_until() = req.at();
    auto page = store_->GetHistory(h);
    if (!page.ok()) return page.status();
    if (page->versions().empty()) {
      return absl::NotFoundError(
          absl::StrCat("region ", req.region(), " had no version at ",
                       google::protobuf::util::TimeUtil::ToString(req.at())));
    }
    return page->versions(0).version();
  }

  template <typename T>
  static absl::Status Assign(absl::StatusOr<T> result, T* out) {
    if (!result.ok()) return result.status();
    *out = std::move(*result);
    return absl::OkStatus();
  }

  static WriteContext Context(const grpc::ServerContext& ctx, const Principal& p) {
    return WriteContext{p.subject, Metadata(ctx, "traceparent")};
  }

  template <typename Fn>
  grpc::Status Handle(const char* rpc, grpc::ServerContext* ctx, Role needed,
                      const std::string& region, Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    std::string subject = "-";
    absl::Status status;
    auto principal = auth_->Authenticate(Metadata(*ctx, "authorization"));
    if (!principal.ok()) {
      status = principal.status();
    } else {
      subject = principal->subject;
      status = Authorize(*principal, needed, rpc);
      if (status.ok()) status = fn(*principal);
    }
    const grpc::Status out = common::ToGrpcStatus(status);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const char* code = common::GrpcCodeName(out.error_code());
    metrics_->RecordRequest(rpc, code, seconds);
    switch (status.code()) {
      case absl::StatusCode::kInternal:
      case absl::StatusCode::kDataLoss:
      case absl::StatusCode::kUnknown:
        spdlog::error("rpc={} region={} subject={} code={} ms={:.2f}: {}", rpc, region, subject,
                      code, seconds * 1000, std::string(status.message()));
        break;
      case absl::StatusCode::kUnavailable:
        spdlog::warn("rpc={} region={} subject={} code={} ms={:.2f}: {}", rpc, region, subject,
                     code, seconds * 1000, std::string(status.message()));
        break;
      default:
        spdlog::debug("rpc={} region={} subject={} code={} ms={:.2f}{}{}", rpc, region, subject,
                      code, seconds * 1000, status.ok() ? "" : ": ", std::string(status.message()));
    }
    return out;
  }

  LedgerStore* store_;
  std::shared_ptr<const TokenAuthenticator> auth_;
  RequestMetrics* metrics_;
  projections::StatusReadModel* const status_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

class LedgerServer::Impl {
 public:
  explicit Impl(daemon::Metrics* registry)
      : metrics(registry != nullptr ? registry : &own_registry) {}
  daemon::Metrics own_registry;
  RequestMetrics metrics;
  std::unique_ptr<ControlPlaneService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

absl::StatusOr<std::unique_ptr<LedgerServer>> LedgerServer::Start(
    const ServerOptions& options, LedgerStore* store,
    std::shared_ptr<const TokenAuthenticator> authenticator) {
  auto impl = std::make_unique<Impl>(options.metrics);
  impl->service =
      std::make_unique<ControlPlaneService>(store, authenticator, &impl->metrics, options.status);
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
    grpc::SslServerCredentialsOptions ssl(
        options.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                      : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    auto cert = ReadPem(options.tls_cert, "--tls-cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(options.tls_key, "--tls-key");
    if (!key.ok()) return key.status();
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!options.tls_client_ca.empty()) {
      auto ca = ReadPem(options.tls_client_ca, "--tls-client-ca");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    creds = grpc::SslServerCredentials(ssl);
    creds->SetAuthMetadataProcessor(NewTokenMetadataProcessor(authenticator, &impl->metrics));
  } else if (!options.tls_client_ca.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, creds, &impl->port);
  builder.RegisterService(impl->service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<size_t>(options.max_request_bytes, static_cast<size_t>(INT32_MAX))));
  builder.SetMaxSendMessageSize(INT32_MAX);
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", options.listen));
  }
  return std::unique_ptr<LedgerServer>(new LedgerServer(std::move(impl)));
}

LedgerServer::LedgerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LedgerServer::~LedgerServer() { Shutdown(); }

int LedgerServer::port() const { return impl_->port; }

void LedgerServer::Shutdown() {
  if (impl_->server) {
    impl_->service->StopStreams();
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    impl_->server->Wait();
    impl_->server.reset();
  }
}

void LedgerServer::Wait() {
  if (impl_->server) impl_->server->Wait();
}

}  // namespace senren::ledger
