#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace YAML {
class Node;
}  // namespace YAML

namespace senren::regional::kube {

// A kubeconfig user's `exec` credential plugin (client-go's clientcmdapi.ExecConfig): a
// command that prints an ExecCredential (client.authentication.k8s.io/v1 or v1beta1) with
// a bearer token or a client certificate, as cloud CLIs do (aws eks get-token,
// gke-gcloud-auth-plugin, kubelogin).
struct ExecConfig {
  std::string api_version;  // "client.authentication.k8s.io/v1" or ".../v1beta1"
  // Run without a shell: a name looked up on $PATH, or a path (a relative path with a
  // slash is resolved against the kubeconfig's folder, as kubectl does).
  std::string command;
  std::vector<std::string> args;
  // Set in the plugin's environment on top of this process's.
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;  // shown when the command cannot be found
  // Pass the cluster (server, CA, the cluster's client.authentication.k8s.io/exec
  // extension) in KUBERNETES_EXEC_INFO.
  bool provide_cluster_info = false;
  // "Never", "IfAvailable" or "Always". Required with v1; v1beta1 defaults to
  // "IfAvailable". The plugin never gets a terminal here, so "Always" cannot work.
  std::string interactive_mode;
  // The cluster's `extensions[client.authentication.k8s.io/exec]` as JSON text (empty
  // when absent), passed as spec.cluster.config with provide_cluster_info.
  std::string cluster_config_json;
};

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
  std::string token;  // bearer token
  // A bearer token in a file, re-read when the file changes and at least every minute
  // (projected service-account tokens rotate in place).
  std::string token_file;
  // A credential plugin; wins over `token` and `token_file` when set.
  std::optional<ExecConfig> exec;
  std::string user;  // the kubeconfig user's name, for errors about its credentials
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

// YAML to JSON (for opaque kubeconfig extensions, CRD manifests): plain scalars stay
// strings except booleans, integers and null, as the YAML-to-JSON step of kubectl would
// type them; a quoted scalar is always a string.
nlohmann::json YamlToJson(const YAML::Node& node);

}  // namespace senren::regional::kube
