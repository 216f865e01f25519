#pragma once

// Bearer-token authentication and role authorization of the API (docs/design.md §14).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class AuthMetadataProcessor;
}  // namespace grpc

namespace senren::ledger {

// reader: queries; writer: + apply, plan, rollback; admin: everything. Ordered.
enum class Role { kReader = 1, kWriter = 2, kAdmin = 3 };

std::string_view RoleName(Role role);

struct Principal {
  std::string subject;  // e.g. "lab-admin"; recorded as the default author
  Role role = Role::kReader;
};

// The tokens of a `--tokens FILE`:
//   tokens:
//     - {token: "…", subject: lab-admin, role: admin}
// Immutable once built; thread-safe.
class TokenAuthenticator {
 public:
  // INVALID_ARGUMENT naming the file and entry for a malformed file (an unknown role, an
  // empty or duplicate token); NOT_FOUND when it cannot be read.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromYaml(std::string_view text,
                                                                      std::string_view source);

  // `authorization` is the metadata value, "Bearer <token>". UNAUTHENTICATED when it is
  // missing, malformed or unknown (the message never echoes the token).
  absl::StatusOr<Principal> Authenticate(std::string_view authorization) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string token;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

// PERMISSION_DENIED naming the subject, its role, the RPC and the role it needs.
absl::Status Authorize(const Principal& principal, Role needed, std::string_view rpc);

class RequestMetrics;

// For a TLS listener (gRPC runs an AuthMetadataProcessor only on secure credentials): checks
// the bearer token as soon as a call's metadata arrives, so a call with a missing or
// unknown token is refused UNAUTHENTICATED before gRPC reads and parses its message (up to
// --max-request-bytes), and is counted in `metrics` under its RPC. The handlers still
// authenticate and authorize by role. `auth` and `metrics` outlive the processor.
std::shared_ptr<grpc::AuthMetadataProcessor> NewTokenMetadataProcessor(
    std::shared_ptr<const TokenAuthenticator> auth, RequestMetrics* metrics);

}  // namespace senren::ledger
