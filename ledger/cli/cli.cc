#include "cli/cli.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/resources.h"
#include "common/state_file.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "senren/v1/control_plane.grpc.pb.h"

namespace senren::ledger::cli {
namespace {

constexpr int kExitServer = 1;
constexpr int kExitLocal = 2;

int LocalError(const std::string& message) {
  std::cerr << "senren-ledger: " << message << "\n";
  return kExitLocal;
}

int ServerError(const grpc::Status& status) {
  std::cerr << "senren-ledger: " << common::GrpcCodeName(status.error_code()) << ": "
            << status.error_message() << "\n";
  return kExitServer;
}

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": cannot read the file"));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": not a PEM file"));
  }
  return text.str();
}

// TLS as soon as any TLS flag is given: the server is verified against --tls-ca, or
// against gRPC's default roots without it. A client certificate without its key (or the
// reverse) and an unreadable file are errors: the client never falls back to plaintext
// when TLS was asked for.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const ClientOptions& o) {
  if (o.tls_ca.empty() && o.tls_cert.empty() && o.tls_key.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together (mutual TLS needs the certificate and its key)");
  }
  grpc::SslCredentialsOptions ssl;
  const std::pair<const char*, std::pair<const std::string*, std::string*>> files[] = {
      {"--tls-ca", {&o.tls_ca, &ssl.pem_root_certs}},
      {"--tls-cert", {&o.tls_cert, &ssl.pem_cert_chain}},
      {"--tls-key", {&o.tls_key, &ssl.pem_private_key}}};
  for (const auto& [flag, paths] : files) {
    if (paths.first->empty()) continue;
    auto pem = ReadPem(flag, *paths.first);
    if (!pem.ok()) return pem.status();
    *paths.second = *std::move(pem);
  }
  return grpc::SslCredentials(ssl);
}

class Client {
 public:
  // A client for the commands, or the local error (exit 2) that prevents one.
  static absl::StatusOr<Client> Connect(const ClientOptions& options) {
    auto creds = Credentials(options);
    if (!creds.ok()) return creds.status();
    return Client(options, *creds);
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!options_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options_.token);
    ctx->set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_seconds * 1000)));
    return ctx;
  }

  v1::ControlPlane::Stub& stub() { return *stub_; }

 private:
  Client(const ClientOptions& options, const std::shared_ptr<grpc::ChannelCredentials>& creds)
      : options_(options) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(INT32_MAX);
    args.SetMaxSendMessageSize(INT32_MAX);
    stub_ = v1::ControlPlane::NewStub(grpc::CreateCustomChannel(options.addr, creds, args));
  }

  ClientOptions options_;
  std::unique_ptr<v1::ControlPlane::Stub> stub_;
};

std::string ProtoJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  o.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

void Print(const ClientOptions& c, const google::protobuf::Message& m,
           const std::function<void()>& table) {
  if (c.output == Output::kTable) {
    table();
    return;
  }
  const std::string json = ProtoJson(m);
  if (c.output == Output::kJson) {
    std::cout << json;
    if (json.empty() || json.back() != '\n') std::cout << "\n";
  } else {
    std::cout << common::JsonToYaml(nlohmann::json::parse(json));
  }
}

void PrintJsonValue(const ClientOptions& c, const nlohmann::json& value) {
  if (c.output == Output::kJson) {
    std::cout << value.dump(2) << "\n";
  } else {
    std::cout << common::JsonToYaml(value);
  }
}

std::string Time(const google::protobuf::Timestamp& ts) {
  std::time_t t = static_cast<std::time_t>(ts.seconds());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void Flatten(const std::string& prefix, const nlohmann::json& v,
             std::map<std::string, std::string>* out) {
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) Flatten(prefix.empty() ? k : prefix + "." + k, x, out);
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) Flatten(absl::StrCat(prefix, "[", i, "]"), v[i], out);
  } else {
    (*out)[prefix] = v.is_string() ? v.get<std::string>() : v.dump();
  }
}

// "memory_mb 512 -> 1024, replicas 1 -> 3"
std::string FieldChanges(const v1::Resource& before, const v1::Resource& after) {
  std::map<std::string, std::string> a;
  std::map<std::string, std::string> b;
  Flatten("", common::ResourceToJson(before)["spec"], &a);
  Flatten("", common::ResourceToJson(after)["spec"], &b);
  std::string out;
  auto add = [&](const std::string& k, const std::string& from, const std::string& to) {
    if (!out.empty()) out += ", ";
    absl::StrAppend(&out, k, " ", from, " -> ", to);
  };
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      add(k, v, "(none)");
    } else if (it->second != v) {
      add(k, v, it->second);
    }
  }
  for (const auto& [k, v] : b) {
    if (!a.contains(k)) add(k, "(none)", v);
  }
  return out;
}

std::string SpecSummary(const v1::Resource& r) {
  std::map<std::string, std::string> flat;
  Flatten("", common::ResourceToJson(r)["spec"], &flat);
  std::string out;
  for (const auto& [k, v] : flat) {
    if (!out.empty()) out += " ";
    absl::StrAppend(&out, k, "=", v);
  }
  return out;
}

void PrintChanges(const google::protobuf::RepeatedPtrField<v1::ResourceChange>& changes) {
  for (const auto& c : changes) {
    const std::string id = absl::StrCat(std::string(common::KindName(c.kind())), "/", c.name());
    switch (c.type()) {
      case v1::ResourceChange::TYPE_CREATED:
        std::cout << "  + " << id << "  " << SpecSummary(c.after()) << "\n";
        break;
      case v1::ResourceChange::TYPE_UPDATED:
        std::cout << "  ~ " << id << "  " << FieldChanges(c.before(), c.after()) << "\n";
        break;
      case v1::ResourceChange::TYPE_DELETED:
        std::cout << "  - " << id << "\n";
        break;
      default:
        break;
    }
  }
}

void PrintApplyTable(const v1::ApplyStateResponse& r, bool dry_run) {
  if (dry_run) {
    std::cout << r.region() << ": dry run against version " << r.version() << ", "
              << (r.changed() ? "would change" : "no change") << "\n";
  } else if (!r.changed()) {
    std::cout << r.region() << ": unchanged at version " << r.version() << "\n";
    return;
  } else {
    std::cout << r.region() << ": version " << r.version() << " (created " << r.created_size()
              << ", updated " << r.updated_size() << ", deleted " << r.deleted_size() << ")\n";
  }
  for (const auto& n : r.created()) std::cout << "  + " << n << "\n";
  for (const auto& n : r.updated()) std::cout << "  ~ " << n << "\n";
  for (const auto& n : r.deleted()) std::cout << "  - " << n << "\n";
}

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

absl::StatusOr<v1::ApplyStateRequest> RequestFromFile(const ApplyFlags& flags) {
  auto file = common::ReadStateFile(flags.file);
  if (!file.ok()) return file.status();
  v1::ApplyStateRequest req;
  req.set_region(file->region);
  for (auto& r : file->resources) *req.add_resources() = std::move(r);
  req.set_message(flags.message.empty() ? file->message : flags.message);
  req.set_author(flags.author);
  if (flags.expected_version) req.set_expected_version(*flags.expected_version);
  req.set_idempotency_key(flags.idempotency_key);
  req.set_allow_empty(flags.allow_empty);
  req.set_allow_mass_delete(flags.allow_mass_delete);
  req.set_dry_run(flags.dry_run);
  return req;
}

}  // namespace

int Apply(const ClientOptions& c, const ApplyFlags& flags) {
  auto req = RequestFromFile(flags);
  if (!req.ok()) return LocalError(std::string(req.status().message()));
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::ApplyStateResponse resp;
  grpc::Status s = client.stub().ApplyState(client.Context().get(), *req, &resp);
  if (!s.ok()) return ServerError(s);
  Print(c, resp, [&] { PrintApplyTable(resp, flags.dry_run); });
  return 0;
}

int Plan(const ClientOptions& c, const ApplyFlags& flags) {
  auto req = RequestFromFile(flags);
  if (!req.ok()) return LocalError(std::string(req.status().message()));
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::PlanStateResponse resp;
  grpc::Status s = client.stub().PlanState(client.Context().get(), *req, &resp);
  if (!s.ok()) return ServerError(s);
  Print(c, resp, [&] {
    if (resp.changes().empty()) {
      std::cout << resp.region() << ": no changes against version " << resp.base_version() << "\n";
      return;
    }
    std::cout << resp.region() << ": plan against version " << resp.base_version() << " (create "
              << resp.created_size() << ", update " << resp.updated_size() << ", delete "
              << resp.deleted_size() << ")\n";
    PrintChanges(resp.changes());
    std::cout << "apply exactly this plan with: senren-ledger apply -f " << flags.file
              << " --expected-version " << resp.base_version() << "\n";
  });
  return 0;
}

int History(const ClientOptions& c, const std::string& region, uint32_t limit) {
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::GetHistoryResponse all;
  v1::GetHistoryRequest req;
  req.set_region(region);
  while (static_cast<uint32_t>(all.versions_size()) < limit) {
    req.set_page_size(std::min<uint32_t>(1000, limit - static_cast<uint32_t>(all.versions_size())));
    v1::GetHistoryResponse page;
    grpc::Status s = client.stub().GetHistory(client.Context().get(), req, &page);
    if (!s.ok()) return ServerError(s);
    for (auto& v : *page.mutable_versions()) *all.add_versions() = std::move(v);
    all.set_next_page_token(page.next_page_token());
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  Print(c, all, [&] {
    if (all.versions().empty()) {
      std::cout << region << ": no versions\n";
      return;
    }
    std::cout << Pad("VERSION", 8) << Pad("TIME", 21) << Pad("AUTHOR", 14) << Pad("ORIGIN", 14)
              << Pad("CREATED", 8) << Pad("UPDATED", 8) << Pad("DELETED", 8) << Pad("TOTAL", 6)
              << "MESSAGE\n";
    for (const auto& v : all.versions()) {
      const std::string origin = v.origin() == v1::ORIGIN_ROLLBACK
                                     ? absl::StrCat("rollback:", v.rollback_of())
                                     : std::string("apply");
      std::cout << Pad(std::to_string(v.version()), 8) << Pad(Time(v.created_at()), 21)
                << Pad(v.author(), 14) << Pad(origin, 14) << Pad(std::to_string(v.created()), 8)
                << Pad(std::to_string(v.updated()), 8) << Pad(std::to_string(v.deleted()), 8)
                << Pad(std::to_string(v.resource_count()), 6) << v.message() << "\n";
    }
  });
  return 0;
}

int Show(const ClientOptions& c, const std::string& region, uint64_t version) {
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::GetStateRequest req;
  req.set_region(region);
  req.set_version(version);
  v1::RegionalState state;
  grpc::Status s = client.stub().GetState(client.Context().get(), req, &state);
  if (!s.ok()) return ServerError(s);
  if (c.output == Output::kTable) {
    std::cout << state.region() << " version " << state.version();
    if (state.version() > 0) {
      std::cout << " by " << state.author() << " at " << Time(state.created_at());
      if (state.origin() == v1::ORIGIN_ROLLBACK)
        std::cout << " (rollback to " << state.rollback_of() << ")";
      if (!state.message().empty()) std::cout << ": " << state.message();
    }
    std::cout << "\n";
    if (state.resources().empty()) return 0;
    std::cout << Pad("KIND", 18) << Pad("NAME", 24) << "SPEC\n";
    for (const auto& r : state.resources()) {
      std::cout << Pad(std::string(common::KindName(common::KindOf(r))), 18) << Pad(r.name(), 24)
                << SpecSummary(r) << "\n";
    }
    return 0;
  }
  // The state-file form (docs/design.md §12), so `show -o yaml > f && apply -f f` round-trips.
  nlohmann::json doc = nlohmann::json::object();
  doc["region"] = state.region();
  doc["version"] = state.version();
  if (!state.message().empty()) doc["message"] = state.message();
  doc["resources"] = nlohmann::json::array();
  for (const auto& r : state.resources()) doc["resources"].push_back(common::ResourceToJson(r));
  PrintJsonValue(c, doc);
  return 0;
}

int Diff(const ClientOptions& c, const std::string& region, uint64_t from, uint64_t to) {
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::DiffVersionsRequest req;
  req.set_region(region);
  req.set_from_version(from);
  req.set_to_version(to);
  v1::DiffVersionsResponse resp;
  grpc::Status s = client.stub().DiffVersions(client.Context().get(), req, &resp);
  if (!s.ok()) return ServerError(s);
  Print(c, resp, [&] {
    std::cout << region << ": version " << from << " -> " << to << ": " << resp.changes_size()
              << " change(s)\n";
    PrintChanges(resp.changes());
  });
  return 0;
}

int Rollback(const ClientOptions& c, const RollbackFlags& flags) {
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::RollbackRequest req;
  req.set_region(flags.region);
  req.set_to_version(flags.to_version);
  req.set_message(flags.message);
  req.set_author(flags.author);
  if (flags.expected_version) req.set_expected_version(*flags.expected_version);
  req.set_allow_empty(flags.allow_empty);
  req.set_allow_mass_delete(flags.allow_mass_delete);
  v1::ApplyStateResponse resp;
  grpc::Status s = client.stub().Rollback(client.Context().get(), req, &resp);
  if (!s.ok()) return ServerError(s);
  Print(c, resp, [&] { PrintApplyTable(resp, false); });
  return 0;
}

int Regions(const ClientOptions& c) {
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::ListRegionsResponse resp;
  grpc::Status s =
      client.stub().ListRegions(client.Context().get(), v1::ListRegionsRequest(), &resp);
  if (!s.ok()) return ServerError(s);
  Print(c, resp, [&] {
    std::cout << Pad("REGION", 24) << Pad("VERSION", 9) << Pad("RESOURCES", 11)
              << Pad("CONVERGED", 11) << "UPDATED\n";
    for (const auto& r : resp.regions()) {
      std::string converged = absl::StrCat(r.clusters_converged(), "/", r.clusters_size());
      std::cout << Pad(r.region(), 24) << Pad(std::to_string(r.current_version()), 9)
                << Pad(std::to_string(r.resource_count()), 11) << Pad(converged, 11)
                << Time(r.updated_at()) << "\n";
    }
  });
  return 0;
}

int Status(const ClientOptions& c, const std::string& region, const std::string& resource,
           const std::string& at) {
  v1::GetStatusRequest req;
  req.set_region(region);
  req.set_resource(resource);
  if (!at.empty() && !google::protobuf::util::TimeUtil::FromString(at, req.mutable_at())) {
    std::cerr << "senren-ledger: --at: '" << at
              << "' is not an RFC 3339 time (e.g. 2026-11-26T18:00:00Z)\n";
    return 2;
  }
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::GetStatusResponse resp;
  grpc::Status s = client.stub().GetStatus(client.Context().get(), req, &resp);
  if (!s.ok()) return ServerError(s);
  Print(c, resp, [&] {
    std::cout << region << ": desired version " << resp.desired_version();
    if (resp.has_at()) std::cout << " at " << Time(resp.at());
    std::cout << "\n\n"
              << Pad("CLUSTER", 12) << Pad("APPLIED", 9) << Pad("RESULT", 10) << Pad("READY", 8)
              << Pad("HEARTBEAT", 11) << Pad("STALE", 7) << "REASON\n";
    for (const auto& cl : resp.clusters()) {
      std::string result = v1::ApplyResult_Name(cl.result());
      if (result.rfind("APPLY_RESULT_", 0) == 0) result = result.substr(13);
      std::cout << Pad(cl.cluster(), 12) << Pad(std::to_string(cl.applied_version()), 9)
                << Pad(result, 10)
                << Pad(absl::StrCat(cl.resources_ready(), "/", cl.resources_total()), 8)
                << Pad(absl::StrCat(static_cast<int64_t>(cl.heartbeat_age_seconds()), "s ago"), 11)
                << Pad(cl.stale() ? "yes" : "no", 7) << cl.reason() << "\n";
    }
    std::cout << "\n"
              << Pad("RESOURCE", 34) << Pad("CLUSTER", 12) << Pad("READY", 7) << Pad("PHASE", 14)
              << Pad("VERSION", 9) << Pad("HOST", 46) << "PORT\n";
    for (const auto& r : resp.resources()) {
      std::string kind(common::KindName(r.kind()));
      std::string phase = v1::Phase_Name(r.phase());
      if (phase.rfind("PHASE_", 0) == 0) phase = phase.substr(6);
      std::cout << Pad(kind + "/" + r.name(), 34) << Pad(r.cluster(), 12)
                << Pad(r.ready() ? "true" : "false", 7) << Pad(phase, 14)
                << Pad(std::to_string(r.state_version()), 9) << Pad(r.host(), 46) << r.port()
                << "\n";
    }
  });
  return 0;
}

}  // namespace senren::ledger::cli
