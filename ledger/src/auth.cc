#include "ledger/auth.h"

#include <grpcpp/security/auth_metadata_processor.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "ledger/metrics.h"

namespace senren::ledger {
namespace {

// Compares without an early exit, so the time does not tell how much of a token matched.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWriter:
      return "writer";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::FromFile(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the tokens file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return FromYaml(text.str(), path);
}

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::FromYaml(
    std::string_view text, std::string_view source) {
  const std::string src(source);
  auto bad = [&](size_t i, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": tokens[", i, "]: ", why));
  };
  auto out = std::unique_ptr<TokenAuthenticator>(new TokenAuthenticator());
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsMap() || !root["tokens"] || !root["tokens"].IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": expected `tokens: [{token, subject, role}, ...]`"));
    }
    std::set<std::string> seen;
    const YAML::Node tokens = root["tokens"];
    for (size_t i = 0; i < tokens.size(); ++i) {
      const YAML::Node t = tokens[i];
      if (!t.IsMap() || !t["token"] || !t["subject"] || !t["role"]) {
        return bad(i, "needs token, subject and role");
      }
      Entry e;
      e.token = t["token"].as<std::string>();
      e.principal.subject = t["subject"].as<std::string>();
      const std::string role = t["role"].as<std::string>();
      if (role == "reader") {
        e.principal.role = Role::kReader;
      } else if (role == "writer") {
        e.principal.role = Role::kWriter;
      } else if (role == "admin") {
        e.principal.role = Role::kAdmin;
      } else {
        return bad(i, absl::StrCat("role \"", role, "\" is not one of reader, writer, admin"));
      }
      if (e.token.empty()) return bad(i, "empty token");
      if (!seen.insert(e.token).second) return bad(i, "the same token is listed twice");
      out->entries_.push_back(std::move(e));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": not valid YAML: ", e.what()));
  }
  return out;
}

absl::StatusOr<Principal> TokenAuthenticator::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing bearer token: send the metadata `authorization: Bearer <token>` "
        "(senren-ledger: --token or SENREN_TOKEN)");
  }
  if (authorization.size() <= kBearer.size() ||
      !(authorization.substr(0, kBearer.size()) == kBearer ||
        authorization.substr(0, kBearer.size()) == "bearer ")) {
    return absl::UnauthenticatedError("the authorization metadata is not `Bearer <token>`");
  }
  const std::string_view token = authorization.substr(kBearer.size());
  const Entry* found = nullptr;
  for (const auto& e : entries_) {
    if (ConstantTimeEquals(e.token, token)) found = &e;
  }
  if (found == nullptr) return absl::UnauthenticatedError("unknown bearer token");
  return found->principal;
}

absl::Status Authorize(const Principal& principal, Role needed, std::string_view rpc) {
  if (static_cast<int>(principal.role) >= static_cast<int>(needed)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      principal.subject, " has the role ", std::string(RoleName(principal.role)), "; ",
      std::string(rpc), " needs the role ", std::string(RoleName(needed)), " or higher"));
}

namespace {

class TokenMetadataProcessor : public grpc::AuthMetadataProcessor {
 public:
  TokenMetadataProcessor(std::shared_ptr<const TokenAuthenticator> auth, RequestMetrics* metrics)
      : auth_(std::move(auth)), metrics_(metrics) {}

  // An in-memory lookup: run on gRPC's own thread, without a hop.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext*, OutputMetadata*,
                       OutputMetadata*) override {
    auto value = [&metadata](const char* key) {
      auto it = metadata.find(key);
      return it == metadata.end() ? std::string_view()
                                  : std::string_view(it->second.data(), it->second.size());
    };
    auto principal = auth_->Authenticate(value("authorization"));
    if (principal.ok()) return grpc::Status::OK;
    // ":path" is "/senren.v1.ControlPlane/ApplyState": count it under "ApplyState".
    std::string_view rpc = value(":path");
    rpc = rpc.substr(rpc.rfind('/') == std::string_view::npos ? 0 : rpc.rfind('/') + 1);
    metrics_->RecordRequest(rpc.empty() ? "-" : std::string(rpc), "UNAUTHENTICATED", 0);
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        std::string(principal.status().message()));
  }

 private:
  const std::shared_ptr<const TokenAuthenticator> auth_;
  RequestMetrics* const metrics_;
};

}  // namespace

std::shared_ptr<grpc::AuthMetadataProcessor> NewTokenMetadataProcessor(
    std::shared_ptr<const TokenAuthenticator> auth, RequestMetrics* metrics) {
  return std::make_shared<TokenMetadataProcessor>(std::move(auth), metrics);
}

}  // namespace senren::ledger
