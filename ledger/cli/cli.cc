#include "cli/cli.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/resources.h"
#include "common/state_file.h"
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

// "localhost" or a literal loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z).
bool IsLoopbackHost(std::string host) {
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (!host.empty() && host.back() == '.') host.pop_back();
  if (host == "localhost") return true;
  if (auto zone = host.find('%'); zone != std::string::npos) host.resize(zone);
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  if (!IN6_IS_ADDR_V4MAPPED(&v6)) return false;
  return v6.s6_addr[12] == 127;
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
// when TLS was asked for. Without TLS, a token goes in plain text only to a loopback
// address or with --insecure: a token read off the network is the role it grants.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const ClientOptions& o) {
  if (o.tls_ca.empty() && o.tls_cert.empty() && o.tls_key.empty()) {
    if (!o.token.empty() && !o.insecure && !IsLoopbackTarget(o.addr)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to send the bearer token in plain text to ", o.addr,
          ", which is not a loopback address: give the CA that signed the server's certificate "
          "with --tls-ca FILE (PEM; or the file's path in $SENREN_TLS_CA), or --insecure to send "
          "the token unencrypted anyway"));
    }
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

void PrintJsonValue(const ClientOptions& c, const nlohmann::json& value) {
  if (c.output != Output::kYaml) {
    std::cout << value.dump(2) << "\n";
  } else {
    std::cout << common::JsonToYaml(value);
  }
}

// The table, or `json()` as JSON or YAML: the one path of every command's -o json|yaml, so
// all of them speak the state files' vocabulary (cli.h says which words).
void Print(const ClientOptions& c, const std::function<nlohmann::json()>& json,
           const std::function<void()>& table) {
  if (c.output == Output::kTable) {
    table();
  } else {
    PrintJsonValue(c, json());
  }
}

// RFC 3339 in UTC ("2026-11-26T18:00:00.123456Z"), or null when the time is unset.
nlohmann::json TimeJson(const google::protobuf::Timestamp& ts, bool has) {
  if (!has) return nullptr;
  return google::protobuf::util::TimeUtil::ToString(ts);
}

std::string Time(const google::protobuf::Timestamp& ts) {
  std::time_t t = static_cast<std::time_t>(ts.seconds());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A spec field's value as text: strings bare, anything else as JSON.
std::string FieldText(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// "memory_mb 512 -> 1024, replicas 1 -> 3"
std::string FieldChanges(const v1::Resource& before, const v1::Resource& after) {
  const auto a = common::SpecFields(before);
  const auto b = common::SpecFields(after);
  std::string out;
  auto add = [&](const std::string& k, const std::string& from, const std::string& to) {
    if (!out.empty()) out += ", ";
    absl::StrAppend(&out, k, " ", from, " -> ", to);
  };
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      add(k, FieldText(v), "(none)");
    } else if (it->second != v) {
      add(k, FieldText(v), FieldText(it->second));
    }
  }
  for (const auto& [k, v] : b) {
    if (!a.contains(k)) add(k, "(none)", FieldText(v));
  }
  return out;
}

std::string SpecSummary(const v1::Resource& r) {
  std::string out;
  for (const auto& [k, v] : common::SpecFields(r)) {
    if (!out.empty()) out += " ";
    absl::StrAppend(&out, k, "=", FieldText(v));
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

std::string ChangeName(v1::ResourceChange::Type t) {
  switch (t) {
    case v1::ResourceChange::TYPE_CREATED:
      return "created";
    case v1::ResourceChange::TYPE_UPDATED:
      return "updated";
    case v1::ResourceChange::TYPE_DELETED:
      return "deleted";
    default:
      return "";
  }
}

// Each spec field that differs between two versions of a resource: {path: {from, to}}, a
// missing field as null.
nlohmann::json ChangedFields(const v1::Resource& before, const v1::Resource& after) {
  const auto a = common::SpecFields(before);
  const auto b = common::SpecFields(after);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      out[k] = {{"from", v}, {"to", nullptr}};
    } else if (it->second != v) {
      out[k] = {{"from", v}, {"to", it->second}};
    }
  }
  for (const auto& [k, v] : b) {
    if (!a.contains(k)) out[k] = {{"from", nullptr}, {"to", v}};
  }
  return out;
}

// One change of plan or diff, as `history --resource` prints one: resource, change, the spec
// after it (created, updated) and the changed fields (updated).
nlohmann::json ChangeJson(const v1::ResourceChange& c) {
  nlohmann::json j = nlohmann::json::object();
  j["resource"] = absl::StrCat(std::string(common::KindName(c.kind())), "/", c.name());
  j["change"] = ChangeName(c.type());
  if (c.has_after()) j["spec"] = common::ResourceToJson(c.after())["spec"];
  if (c.type() == v1::ResourceChange::TYPE_UPDATED) {
    j["changed_fields"] = ChangedFields(c.before(), c.after());
  }
  return j;
}

nlohmann::json ChangesJson(const google::protobuf::RepeatedPtrField<v1::ResourceChange>& changes) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : changes) out.push_back(ChangeJson(c));
  return out;
}

nlohmann::json Names(const google::protobuf::RepeatedPtrField<std::string>& names) {
  return nlohmann::json(std::vector<std::string>(names.begin(), names.end()));
}

// apply and rollback: the SDK's ApplyResult (version, changed, created, updated, deleted).
nlohmann::json ApplyJson(const v1::ApplyStateResponse& r) {
  nlohmann::json j = nlohmann::json::object();
  j["region"] = r.region();
  j["version"] = r.version();
  j["changed"] = r.changed();
  j["created"] = Names(r.created());
  j["updated"] = Names(r.updated());
  j["deleted"] = Names(r.deleted());
  return j;
}

std::string ResultName(v1::ApplyResult r) {
  switch (r) {
    case v1::APPLY_RESULT_APPLIED:
      return "applied";
    case v1::APPLY_RESULT_REJECTED:
      return "rejected";
    case v1::APPLY_RESULT_PARTIAL:
      return "partial";
    default:
      return "";
  }
}

// The CR's .status.phase words, as the controller writes them.
std::string PhaseName(v1::Phase p) {
  switch (p) {
    case v1::PHASE_PENDING:
      return "Pending";
    case v1::PHASE_PROVISIONING:
      return "Provisioning";
    case v1::PHASE_READY:
      return "Ready";
    case v1::PHASE_FAILED:
      return "Failed";
    default:
      return "";
  }
}

nlohmann::json StatusJson(const v1::GetStatusResponse& resp) {
  nlohmann::json doc = nlohmann::json::object();
  doc["region"] = resp.region();
  doc["desired_version"] = resp.desired_version();
  doc["at"] = TimeJson(resp.at(), resp.has_at());
  doc["clusters"] = nlohmann::json::array();
  for (const auto& cl : resp.clusters()) {
    nlohmann::json j = nlohmann::json::object();
    j["cluster"] = cl.cluster();
    j["applied_version"] = cl.applied_version();
    j["result"] = ResultName(cl.result());
    j["reason"] = cl.reason();
    j["resources_total"] = cl.resources_total();
    j["resources_ready"] = cl.resources_ready();
    j["heartbeat_at"] = TimeJson(cl.heartbeat_at(), cl.has_heartbeat_at());
    j["heartbeat_age_seconds"] = cl.heartbeat_age_seconds();
    j["stale"] = cl.stale();
    j["drift_corrections"] = cl.drift_corrections();
    j["rejected_snapshots"] = cl.rejected_snapshots();
    j["last_rejected_snapshot"] = cl.last_rejected_snapshot();
    doc["clusters"].push_back(std::move(j));
  }
  doc["resources"] = nlohmann::json::array();
  for (const auto& r : resp.resources()) {
    nlohmann::json j = nlohmann::json::object();
    j["cluster"] = r.cluster();
    j["kind"] = std::string(common::KindName(r.kind()));
    j["name"] = r.name();
    j["ready"] = r.ready();
    j["phase"] = PhaseName(r.phase());
    j["message"] = r.message();
    j["host"] = r.host();
    j["read_host"] = r.read_host();
    j["port"] = r.port();
    j["ready_replicas"] = r.ready_replicas();
    j["replicas"] = r.replicas();
    j["state_version"] = r.state_version();
    j["observed_at"] = TimeJson(r.observed_at(), r.has_observed_at());
    doc["resources"].push_back(std::move(j));
  }
  return doc;
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
  Print(
      c,
      [&] {
        nlohmann::json j = ApplyJson(resp);
        j["dry_run"] = flags.dry_run;
        return j;
      },
      [&] { PrintApplyTable(resp, flags.dry_run); });
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
  auto json = [&] {
    nlohmann::json j = nlohmann::json::object();
    j["region"] = resp.region();
    j["base_version"] = resp.base_version();
    j["created"] = Names(resp.created());
    j["updated"] = Names(resp.updated());
    j["deleted"] = Names(resp.deleted());
    j["changes"] = ChangesJson(resp.changes());
    return j;
  };
  Print(c, json, [&] {
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

namespace {

absl::Status ParseTime(const char* flag, const std::string& text,
                       google::protobuf::Timestamp* out) {
  if (google::protobuf::util::TimeUtil::FromString(text, out)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": '", text, "' is not an RFC 3339 time (e.g. 2026-11-26T18:00:00Z)"));
}

int64_t Nanos(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000'000 + ts.nanos();
}

// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
std::string Csv(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string CsvValue(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return Csv(v.get<std::string>());
  if (v.is_array()) {
    std::string joined;
    for (const auto& x : v) {
      if (!joined.empty()) joined += ";";
      joined += x.is_string() ? x.get<std::string>() : x.dump();
    }
    return Csv(joined);
  }
  if (v.is_object()) return Csv(v.dump());
  return v.dump();
}

// Rows of JSON objects as CSV with the given columns, a header first.
void PrintCsv(const std::vector<std::string>& columns, const nlohmann::json& rows) {
  std::string line;
  for (const auto& col : columns) absl::StrAppend(&line, line.empty() ? "" : ",", col);
  std::cout << line << "\n";
  for (const auto& row : rows) {
    line.clear();
    for (size_t i = 0; i < columns.size(); ++i) {
      if (i > 0) line += ",";
      if (row.contains(columns[i])) line += CsvValue(row[columns[i]]);
    }
    std::cout << line << "\n";
  }
}

std::string OriginName(v1::Origin o) { return o == v1::ORIGIN_ROLLBACK ? "rollback" : "apply"; }

// A version in the state files' vocabulary: numbers as numbers, origins as words.
nlohmann::json VersionJson(const v1::VersionInfo& v) {
  nlohmann::json j = nlohmann::json::object();
  j["region"] = v.region();
  j["version"] = v.version();
  j["time"] = google::protobuf::util::TimeUtil::ToString(v.created_at());
  j["author"] = v.author();
  j["message"] = v.message();
  j["origin"] = OriginName(v.origin());
  if (v.origin() == v1::ORIGIN_ROLLBACK) j["rollback_of"] = v.rollback_of();
  j["created"] = v.created();
  j["updated"] = v.updated();
  j["deleted"] = v.deleted();
  j["resource_count"] = v.resource_count();
  return j;
}

// What one version did to the resource of `history --resource`.
void AddChangeJson(const v1::ResourceVersionChange& c, nlohmann::json* j) {
  const v1::ResourceChange& ch = c.change();
  (*j)["resource"] = absl::StrCat(std::string(common::KindName(ch.kind())), "/", ch.name());
  (*j)["change"] = ChangeName(ch.type());
  if (ch.has_after()) (*j)["spec"] = common::ResourceToJson(ch.after())["spec"];
  if (ch.type() != v1::ResourceChange::TYPE_UPDATED) return;
  const auto before = common::SpecFields(ch.before());
  const auto after = common::SpecFields(ch.after());
  nlohmann::json fields = nlohmann::json::object();
  for (const auto& f : c.changed_fields()) {
    auto b = before.find(f);
    auto a = after.find(f);
    fields[f] = {{"from", b == before.end() ? nlohmann::json() : b->second},
                 {"to", a == after.end() ? nlohmann::json() : a->second}};
  }
  (*j)["changed_fields"] = fields;
}

// Reads one region's history with the filters, newest first, up to `limit` versions.
absl::Status ReadHistory(Client& client, v1::GetHistoryRequest req, uint64_t limit,
                         nlohmann::json* rows, std::vector<v1::ResourceVersionChange>* changes,
                         std::vector<v1::VersionInfo>* versions) {
  while (versions->size() < limit) {
    req.set_page_size(static_cast<uint32_t>(std::min<uint64_t>(1000, limit - versions->size())));
    v1::GetHistoryResponse page;
    grpc::Status s = client.stub().GetHistory(client.Context().get(), req, &page);
    if (!s.ok()) return common::FromGrpcStatus(s);
    for (int i = 0; i < page.versions_size(); ++i) {
      nlohmann::json j = VersionJson(page.versions(i));
      if (i < page.changes_size()) {
        AddChangeJson(page.changes(i), &j);
        changes->push_back(page.changes(i));
      }
      rows->push_back(std::move(j));
      versions->push_back(page.versions(i));
    }
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  return absl::OkStatus();
}

}  // namespace

int History(const ClientOptions& c, const HistoryFlags& flags) {
  v1::GetHistoryRequest req;
  req.set_resource(flags.resource);
  req.set_author(flags.author);
  if (!flags.since.empty()) {
    if (absl::Status s = ParseTime("--since", flags.since, req.mutable_since()); !s.ok())
      return LocalError(std::string(s.message()));
  }
  if (!flags.until.empty()) {
    if (absl::Status s = ParseTime("--until", flags.until, req.mutable_until()); !s.ok())
      return LocalError(std::string(s.message()));
  }
  if (flags.origin == "rollback") {
    req.set_origin(v1::ORIGIN_ROLLBACK);
  } else if (flags.origin == "apply") {
    req.set_origin(v1::ORIGIN_APPLY);
  } else if (!flags.origin.empty()) {
    return LocalError("--origin: '" + flags.origin + "' is not apply or rollback");
  }
  const uint64_t limit = flags.all ? std::numeric_limits<uint64_t>::max() : flags.limit;
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;

  std::vector<std::string> regions{flags.region};
  if (flags.all_regions) {
    v1::ListRegionsResponse list;
    grpc::Status s =
        client.stub().ListRegions(client.Context().get(), v1::ListRegionsRequest(), &list);
    if (!s.ok()) return ServerError(s);
    regions.clear();
    for (const auto& r : list.regions()) regions.push_back(r.region());
  }
  // Each region's newest `limit` matches, then the newest `limit` of them all by time.
  struct Entry {
    v1::VersionInfo version;
    nlohmann::json json;
    std::optional<v1::ResourceVersionChange> change;
  };
  std::vector<Entry> entries;
  for (const auto& region : regions) {
    req.set_region(region);
    nlohmann::json rows = nlohmann::json::array();
    std::vector<v1::ResourceVersionChange> changes;
    std::vector<v1::VersionInfo> versions;
    if (absl::Status s = ReadHistory(client, req, limit, &rows, &changes, &versions); !s.ok()) {
      return ServerError(common::ToGrpcStatus(s));
    }
    for (size_t i = 0; i < versions.size(); ++i) {
      Entry e{versions[i], rows[i], std::nullopt};
      if (i < changes.size()) e.change = changes[i];
      entries.push_back(std::move(e));
    }
  }
  if (flags.all_regions) {
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return Nanos(a.version.created_at()) > Nanos(b.version.created_at());
    });
    if (entries.size() > limit) entries.resize(limit);
  }
  const bool with_change = !flags.resource.empty();
  if (c.output != Output::kTable) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& e : entries) rows.push_back(e.json);
    if (c.output == Output::kCsv) {
      std::vector<std::string> columns{"region",  "version",        "time",    "author",
                                       "origin",  "rollback_of",    "created", "updated",
                                       "deleted", "resource_count", "message"};
      if (with_change) {
        for (const char* col : {"resource", "change", "changed_fields"}) columns.push_back(col);
      }
      PrintCsv(columns, rows);
      return 0;
    }
    nlohmann::json doc = nlohmann::json::object();
    if (!flags.all_regions) doc["region"] = flags.region;
    doc["versions"] = rows;
    PrintJsonValue(c, doc);
    return 0;
  }
  if (entries.empty()) {
    std::cout << (flags.all_regions ? std::string("every region") : flags.region)
              << ": no versions match\n";
    return 0;
  }
  if (flags.all_regions) std::cout << Pad("REGION", 20);
  std::cout << Pad("VERSION", 8) << Pad("TIME", 21) << Pad("AUTHOR", 14) << Pad("ORIGIN", 14);
  if (with_change) {
    std::cout << Pad("CHANGE", 9);
  } else {
    std::cout << Pad("CREATED", 8) << Pad("UPDATED", 8) << Pad("DELETED", 8) << Pad("TOTAL", 6);
  }
  std::cout << "MESSAGE\n";
  for (const auto& e : entries) {
    const v1::VersionInfo& v = e.version;
    const std::string origin = v.origin() == v1::ORIGIN_ROLLBACK
                                   ? absl::StrCat("rollback:", v.rollback_of())
                                   : std::string("apply");
    if (flags.all_regions) std::cout << Pad(v.region(), 20);
    std::cout << Pad(std::to_string(v.version()), 8) << Pad(Time(v.created_at()), 21)
              << Pad(v.author(), 14) << Pad(origin, 14);
    if (with_change) {
      std::cout << Pad(e.change ? ChangeName(e.change->change().type()) : "", 9);
    } else {
      std::cout << Pad(std::to_string(v.created()), 8) << Pad(std::to_string(v.updated()), 8)
                << Pad(std::to_string(v.deleted()), 8)
                << Pad(std::to_string(v.resource_count()), 6);
    }
    std::cout << v.message() << "\n";
    if (e.change && e.change->change().type() == v1::ResourceChange::TYPE_UPDATED) {
      std::cout << "    " << FieldChanges(e.change->change().before(), e.change->change().after())
                << "\n";
    } else if (e.change && e.change->change().type() == v1::ResourceChange::TYPE_CREATED) {
      std::cout << "    " << SpecSummary(e.change->change().after()) << "\n";
    }
  }
  return 0;
}

int Blame(const ClientOptions& c, const std::string& region, const std::string& resource,
          uint64_t version) {
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
  v1::BlameRequest req;
  req.set_region(region);
  req.set_resource(resource);
  req.set_version(version);
  v1::BlameResponse resp;
  grpc::Status s = client.stub().Blame(client.Context().get(), req, &resp);
  if (!s.ok()) return ServerError(s);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& f : resp.fields()) {
    nlohmann::json j = nlohmann::json::object();
    j["field"] = f.field();
    j["value"] = nlohmann::json::parse(f.value_json(), nullptr, false);
    j["version"] = f.set_by().version();
    j["author"] = f.set_by().author();
    j["time"] = google::protobuf::util::TimeUtil::ToString(f.set_by().created_at());
    j["message"] = f.set_by().message();
    rows.push_back(std::move(j));
  }
  if (c.output == Output::kCsv) {
    PrintCsv({"field", "value", "version", "author", "time", "message"}, rows);
    return 0;
  }
  if (c.output != Output::kTable) {
    nlohmann::json doc = nlohmann::json::object();
    doc["region"] = resp.region();
    doc["version"] = resp.version();
    doc["resource"] = common::ResourceToJson(resp.resource());
    doc["created"] = VersionJson(resp.created_by());
    doc["fields"] = rows;
    PrintJsonValue(c, doc);
    return 0;
  }
  std::cout << resp.region() << " " << resource << " at version " << resp.version()
            << " (created in version " << resp.created_by().version() << " by "
            << resp.created_by().author() << " at " << Time(resp.created_by().created_at())
            << ")\n";
  std::cout << Pad("FIELD", 28) << Pad("VALUE", 16) << Pad("VERSION", 8) << Pad("AUTHOR", 14)
            << Pad("TIME", 21) << "MESSAGE\n";
  for (const auto& f : resp.fields()) {
    std::string value = f.value_json();
    if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
    std::cout << Pad(f.field(), 28) << Pad(value, 16)
              << Pad(std::to_string(f.set_by().version()), 8) << Pad(f.set_by().author(), 14)
              << Pad(Time(f.set_by().created_at()), 21) << f.set_by().message() << "\n";
  }
  return 0;
}

int Show(const ClientOptions& c, const std::string& region, uint64_t version,
         const std::string& at) {
  v1::GetStateRequest req;
  req.set_region(region);
  req.set_version(version);
  if (!at.empty()) {
    if (absl::Status s = ParseTime("--at", at, req.mutable_at()); !s.ok())
      return LocalError(std::string(s.message()));
  }
  auto connected = Client::Connect(c);
  if (!connected.ok()) return LocalError(std::string(connected.status().message()));
  Client& client = *connected;
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
  auto json = [&] {
    nlohmann::json j = nlohmann::json::object();
    j["region"] = region;
    j["from_version"] = from;
    j["to_version"] = to;
    j["changes"] = ChangesJson(resp.changes());
    return j;
  };
  Print(c, json, [&] {
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
  Print(
      c, [&] { return ApplyJson(resp); }, [&] { PrintApplyTable(resp, false); });
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
  auto json = [&] {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : resp.regions()) {
      nlohmann::json j = nlohmann::json::object();
      j["region"] = r.region();
      j["current_version"] = r.current_version();
      j["resource_count"] = r.resource_count();
      j["clusters"] = Names(r.clusters());
      j["clusters_converged"] = r.clusters_converged();
      j["updated_at"] = TimeJson(r.updated_at(), r.has_updated_at());
      rows.push_back(std::move(j));
    }
    return nlohmann::json{{"regions", rows}};
  };
  Print(c, json, [&] {
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
  Print(
      c, [&] { return StatusJson(resp); },
      [&] {
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
                    << Pad(absl::StrCat(static_cast<int64_t>(cl.heartbeat_age_seconds()), "s ago"),
                           11)
                    << Pad(cl.stale() ? "yes" : "no", 7) << cl.reason() << "\n";
          if (cl.rejected_snapshots() > 0) {
            std::cout << "  " << cl.cluster() << " refused " << cl.rejected_snapshots()
                      << " snapshot(s) for their signature; the last: "
                      << cl.last_rejected_snapshot() << "\n";
          }
        }
        std::cout << "\n"
                  << Pad("RESOURCE", 34) << Pad("CLUSTER", 12) << Pad("READY", 7)
                  << Pad("PHASE", 14) << Pad("VERSION", 9) << Pad("HOST", 46) << "PORT\n";
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

bool IsLoopbackTarget(std::string_view target) {
  std::string_view t = target;
  if (t.starts_with("unix:") || t.starts_with("unix-abstract:")) return true;
  bool list = false;
  for (std::string_view scheme : {"dns:", "ipv4:", "ipv6:"}) {
    if (!t.starts_with(scheme)) continue;
    t.remove_prefix(scheme.size());
    list = scheme != "dns:";
    if (t.starts_with("//")) {  // dns://authority/host:port: the authority is the resolver
      t.remove_prefix(2);
      const size_t slash = t.find('/');
      t = slash == std::string_view::npos ? std::string_view() : t.substr(slash + 1);
    }
    break;
  }
  std::vector<std::string_view> parts;
  if (list) {
    for (size_t start = 0;;) {
      const size_t comma = t.find(',', start);
      parts.push_back(t.substr(start, comma == std::string_view::npos ? comma : comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  } else {
    parts.push_back(t);
  }
  for (std::string_view part : parts) {
    std::string_view host = part;
    if (part.starts_with("[")) {
      host = part.substr(1, part.find(']') == std::string_view::npos ? std::string_view::npos
                                                                     : part.find(']') - 1);
    } else if (std::count(part.begin(), part.end(), ':') == 1) {
      host = part.substr(0, part.find(':'));
    }  // else a bare host or a bare IPv6 address
    if (!IsLoopbackHost(std::string(host))) return false;
  }
  return true;
}

}  // namespace senren::ledger::cli
