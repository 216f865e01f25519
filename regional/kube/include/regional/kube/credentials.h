#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "regional/kube/kubeconfig.h"

namespace senren::regional::kube {

// What one request authenticates with: a bearer token, a client certificate and key
// (PEM), or nothing (the TLS settings of the KubeConfig alone).
struct Credential {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  // Differs between any two credentials sources have produced: a renewed token or
  // certificate gets a new number, so a client can tell whether its connections were made
  // with the current certificate and a source whether a 401 was about its current one.
  uint64_t generation = 0;
};

// Options of the credential sources.
struct CredentialOptions {
  // The wall clock expiration timestamps and the token file's age are judged on (tests
  // inject their own). Default: absl::Now.
  std::function<absl::Time()> now;
  // A plugin's credential is renewed this long before its expirationTimestamp, so a
  // request never leaves with a token about to expire in flight. Default: 10 s.
  absl::Duration expiry_margin = absl::Seconds(10);
  // A plugin still running after this long is killed (with its process group) and the
  // request fails with DeadlineExceeded. Default: 30 s.
  absl::Duration exec_timeout = absl::Seconds(30);
  // A token file is re-read when its inode, size or mtime change, and at least this often
  // even when they do not (client-go re-reads every minute). Default: 1 min.
  absl::Duration token_file_max_age = absl::Minutes(1);
};

// Where a KubeConfig's credentials come from: a static token, a token file or an exec
// plugin. Thread-safe: CurlKubeClient asks it from every thread that sends a request. An
// exec plugin runs at most once at a time; callers that need a credential meanwhile wait
// for that run and share its result.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;

  // The credential for the next request, cached until it expires (exec) or its file
  // changes (token file). Errors name the kubeconfig user and the plugin or file:
  // FailedPrecondition (command not found, with the install hint; token file unreadable),
  // Unauthenticated (the plugin failed or printed no valid ExecCredential; stderr's first
  // lines are quoted), DeadlineExceeded (the plugin timed out).
  virtual absl::StatusOr<Credential> Get() = 0;

  // The apiserver answered 401 to a request sent with `used`. Drops it (if still current)
  // so the next Get fetches a fresh one. Returns true when sending the request again may
  // succeed: a plugin can be run again, or the token file now holds another token.
  virtual bool Unauthorized(const Credential& used) = 0;
};

// The source for `config`: its exec plugin if set, else its token file, else its token
// (possibly none). FailedPrecondition when the plugin's interactiveMode is Always (it
// would need a terminal, which a server never has), naming the user.
absl::StatusOr<std::unique_ptr<CredentialSource>> NewCredentialSource(
    const KubeConfig& config, CredentialOptions options = {});

}  // namespace senren::regional::kube
