#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace senren::regional::kube {

// Where and how to reach one kube-apiserver: the parts of a kubeconfig context (or of an
// in-cluster service account) a REST client needs. File fields and inline *_data fields
// (PEM, already base64-decoded) are alternatives; the file wins when both are set.
struct KubeConfig {
  std::string server;  // "https://127.0.0.1:56443"; http:// is accepted (tests)
  std::string ca_file;
  std::string ca_data;
  std::string client_cert_file;
  std::string client_cert_data;
  std::string client_key_file;
  std::string client_key_data;
  std::string token;       // bearer token
  std::string token_file;  // re-read on each request (service-account tokens rotate)
  bool insecure_skip_tls_verify = false;
  std::string default_namespace;  // the context's namespace, or "default"
};

// Reads a kubeconfig file and resolves `context` (empty: current-context). Relative file
// paths are taken relative to the kubeconfig's folder, as kubectl does. InvalidArgument
// names the file and the missing or malformed field; NotFound when the file is missing.
absl::StatusOr<KubeConfig> LoadKubeConfig(const std::string& path, const std::string& context = "");

// Parses kubeconfig text (YAML); `base_dir` resolves relative paths.
absl::StatusOr<KubeConfig> ParseKubeConfig(const std::string& yaml, const std::string& base_dir,
                                           const std::string& context = "");

// The in-cluster service account: KUBERNETES_SERVICE_HOST/PORT and the files under
// /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt, namespace).
// FailedPrecondition when not running in a pod.
absl::StatusOr<KubeConfig> InClusterConfig(
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// client-go's order: `explicit_path` (a --kubeconfig flag) if not empty, else the first
// file of $KUBECONFIG, else the in-cluster service account, else ~/.kube/config.
absl::StatusOr<KubeConfig> ResolveKubeConfig(const std::string& explicit_path,
                                             const std::string& context = "");

}  // namespace senren::regional::kube
