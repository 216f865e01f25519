#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "regional/kube/credentials.h"
#include "regional/kube/kube_client.h"
#include "regional/kube/kubeconfig.h"

namespace senren::regional::kube {

// Options of CurlKubeClient.
struct CurlKubeClientOptions {
  // Whole-request timeout of non-watch requests. Default: 30 s.
  std::chrono::milliseconds request_timeout{30000};
  // Connect timeout of every request. Default: 5 s.
  std::chrono::milliseconds connect_timeout{5000};
  // Attempts of one request when the answer is 429, 5xx or a transport error (GET,
  // LIST, PUT, apply and DELETE are retried; POST only when nothing was sent). Default: 5.
  int max_attempts = 5;
  // First retry delay, doubled per attempt with full jitter, capped. A 429's Retry-After
  // wins when larger. Default: 50 ms .. 2 s.
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  // Watch streams that send no byte (not even a bookmark) for this long are treated as
  // dropped. Default: 330 s (the server ends a 300 s watch first).
  std::chrono::milliseconds watch_idle_timeout{330000};
  std::string user_agent = "senren/0.1";
  // Exec plugin timeout, expiry margin, token file re-read period (see credentials.h).
  CredentialOptions credentials;
};

// KubeClient over libcurl (HTTP/1.1 keep-alive, TLS with the kubeconfig's CA, bearer
// token or client certificate) and nlohmann::json.
//
// Credentials come from a CredentialSource (credentials.h): a static token, a token file
// re-read when it rotates, or an exec plugin whose credential is cached until it expires.
// A 401 drops the credential the request was sent with and sends the request once more
// with a fresh one when the source can give another (the plugin is run again, the token
// file holds a new token); a certificate from a plugin that changes retires the pooled
// connections made with the old one.
//
// Thread-safe. Each call borrows a curl easy handle from a small pool so connections are
// reused; a watch holds its handle (and connection) for the life of the stream.
class CurlKubeClient : public KubeClient {
 public:
  static absl::StatusOr<std::unique_ptr<CurlKubeClient>> Create(KubeConfig config,
                                                                CurlKubeClientOptions options = {});
  ~CurlKubeClient() override;

  CurlKubeClient(const CurlKubeClient&) = delete;
  CurlKubeClient& operator=(const CurlKubeClient&) = delete;

  absl::StatusOr<Json> Get(const Resource& resource, const std::string& ns,
                           const std::string& name) override;
  absl::StatusOr<ObjectList> List(const Resource& resource, const std::string& ns,
                                  const ListOptions& options) override;
  absl::StatusOr<Json> Create(const Resource& resource, const std::string& ns,
                              const Json& object) override;
  absl::StatusOr<Json> Update(const Resource& resource, const std::string& ns,
                              const Json& object) override;
  absl::StatusOr<Json> UpdateStatus(const Resource& resource, const std::string& ns,
                                    const Json& object) override;
  absl::StatusOr<Json> Apply(const Resource& resource, const std::string& ns, const Json& object,
                             const ApplyOptions& options) override;
  absl::Status Delete(const Resource& resource, const std::string& ns, const std::string& name,
                      const DeleteOptions& options) override;
  absl::Status Watch(const Resource& resource, const std::string& ns, const WatchOptions& options,
                     const WatchHandler& handler, const std::atomic<bool>* cancel) override;

  const KubeConfig& config() const { return config_; }

  // Requests sent, including retries (for tests and metrics).
  int64_t requests_sent() const { return requests_sent_.load(); }

 private:
  struct Request;
  struct Reply;
  CurlKubeClient(KubeConfig config, CurlKubeClientOptions options,
                 std::unique_ptr<CredentialSource> credentials);

  // One HTTP exchange with retries; `operation` and `object` name it in errors.
  absl::StatusOr<Reply> Call(const Request& request);
  absl::StatusOr<Reply> CallOnce(const Request& request, const Credential& credential, void* handle,
                                 bool* retryable);
  absl::StatusOr<Json> CallJson(const Request& request);
  absl::Status WatchOnce(const std::string& url, const std::string& object,
                         const Credential& credential, const WatchHandler& handler,
                         const std::atomic<bool>* cancel);
  // The credential for a request, its error prefixed with the request's operation.
  absl::StatusOr<Credential> CredentialFor(const std::string& operation, const std::string& object);
  // Pooled handles remember the client certificate generation their connections were
  // made with (0: the kubeconfig's own TLS settings); Borrow drops those of another.
  void* Borrow(uint64_t tls_generation);
  void Return(void* handle, uint64_t tls_generation);
  void Configure(void* handle) const;

  struct IdleHandle {
    void* curl;
    uint64_t tls_generation;
  };

  const KubeConfig config_;
  const CurlKubeClientOptions options_;
  const std::unique_ptr<CredentialSource> credentials_;
  std::atomic<int64_t> requests_sent_{0};
  absl::Mutex mu_;
  std::vector<IdleHandle> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace senren::regional::kube
