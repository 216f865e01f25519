#include "regional/kube/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace senren::regional::kube {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The entry of a named list (clusters, users, contexts) whose name is `name`.
YAML::Node FindNamed(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& entry : list) {
    if (entry["name"] && entry["name"].as<std::string>() == name) return entry;
  }
  return YAML::Node();
}

bool Missing(const YAML::Node& node) { return !node || node.IsNull(); }

std::string Str(const YAML::Node& node, const char* key) {
  if (Missing(node) || !node.IsMap()) return std::string();
  const YAML::Node value = node[key];
  return Missing(value) ? std::string() : value.as<std::string>();
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || fs::path(path).is_absolute() || base_dir.empty()) return path;
  return (fs::path(base_dir) / path).string();
}

absl::StatusOr<std::string> Decode(const std::string& b64, const char* field) {
  std::string out;
  if (!absl::Base64Unescape(b64, &out)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not valid base64"));
  }
  return out;
}

}  // namespace

absl::StatusOr<KubeConfig> ParseKubeConfig(const std::string& yaml, const std::string& base_dir,
                                           const std::string& context) {
  try {
    YAML::Node root = YAML::Load(yaml);
    std::string ctx_name = context.empty() ? Str(root, "current-context") : context;
    YAML::Node ctx;
    if (ctx_name.empty()) {
      // No current-context: a kubeconfig with a single context uses it.
      if (!Missing(root["contexts"]) && root["contexts"].size() == 1) ctx = root["contexts"][0];
    } else {
      ctx = FindNamed(root["contexts"], ctx_name);
    }
    if (Missing(ctx)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig has no context \"", ctx_name, "\""));
    }
    const std::string cluster_name = Str(ctx["context"], "cluster");
    const std::string user_name = Str(ctx["context"], "user");
    const YAML::Node cluster_entry = FindNamed(root["clusters"], cluster_name);
    const YAML::Node cluster = Missing(cluster_entry) ? YAML::Node() : cluster_entry["cluster"];
    if (Missing(cluster)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig has no cluster \"", cluster_name, "\""));
    }
    KubeConfig config;
    config.server = Str(cluster, "server");
    if (config.server.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig cluster \"", cluster_name, "\" has no server"));
    }
    while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
    config.ca_file = Resolve(Str(cluster, "certificate-authority"), base_dir);
    if (std::string d = Str(cluster, "certificate-authority-data"); !d.empty()) {
      auto decoded = Decode(d, "certificate-authority-data");
      if (!decoded.ok()) return decoded.status();
      config.ca_data = *decoded;
    }
    config.insecure_skip_tls_verify = !Missing(cluster["insecure-skip-tls-verify"]) &&
                                      cluster["insecure-skip-tls-verify"].as<bool>();
    const YAML::Node user_entry = FindNamed(root["users"], user_name);
    const YAML::Node user = Missing(user_entry) ? YAML::Node() : user_entry["user"];
    if (!Missing(user)) {
      config.token = Str(user, "token");
      config.token_file = Resolve(Str(user, "tokenFile"), base_dir);
      config.client_cert_file = Resolve(Str(user, "client-certificate"), base_dir);
      config.client_key_file = Resolve(Str(user, "client-key"), base_dir);
      if (std::string d = Str(user, "client-certificate-data"); !d.empty()) {
        auto decoded = Decode(d, "client-certificate-data");
        if (!decoded.ok()) return decoded.status();
        config.client_cert_data = *decoded;
      }
      if (std::string d = Str(user, "client-key-data"); !d.empty()) {
        auto decoded = Decode(d, "client-key-data");
        if (!decoded.ok()) return decoded.status();
        config.client_key_data = *decoded;
      }
    }
    config.default_namespace = Str(ctx["context"], "namespace");
    if (config.default_namespace.empty()) config.default_namespace = "default";
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig is not valid YAML: ", e.what()));
  }
}

absl::StatusOr<KubeConfig> LoadKubeConfig(const std::string& path, const std::string& context) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<KubeConfig> config =
      ParseKubeConfig(*text, fs::path(path).parent_path().string(), context);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::StatusOr<KubeConfig> InClusterConfig(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0') {
    return absl::FailedPreconditionError(
        "not running in a pod: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set");
  }
  KubeConfig config;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  config.server = absl::StrCat("https://", h, ":", port);
  config.token_file = sa_dir + "/token";
  config.ca_file = sa_dir + "/ca.crt";
  if (!fs::exists(config.token_file)) {
    return absl::FailedPreconditionError(
        absl::StrCat("service account token ", config.token_file, " is missing"));
  }
  auto ns = ReadFile(sa_dir + "/namespace");
  config.default_namespace = ns.ok() ? std::string(absl::StripAsciiWhitespace(*ns)) : "default";
  return config;
}

absl::StatusOr<KubeConfig> ResolveKubeConfig(const std::string& explicit_path,
                                             const std::string& context) {
  if (!explicit_path.empty()) return LoadKubeConfig(explicit_path, context);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    for (absl::string_view part : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      if (fs::exists(std::string(part))) return LoadKubeConfig(std::string(part), context);
    }
  }
  absl::StatusOr<KubeConfig> in_cluster = InClusterConfig();
  if (in_cluster.ok()) return in_cluster;
  if (const char* home = std::getenv("HOME"); home != nullptr) {
    std::string path = std::string(home) + "/.kube/config";
    if (fs::exists(path)) return LoadKubeConfig(path, context);
  }
  return absl::FailedPreconditionError(
      "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod");
}

}  // namespace senren::regional::kube
