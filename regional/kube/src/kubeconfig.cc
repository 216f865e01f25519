#include "regional/kube/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
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

constexpr char kExecV1[] = "client.authentication.k8s.io/v1";
constexpr char kExecV1Beta1[] = "client.authentication.k8s.io/v1beta1";
constexpr char kExecExtension[] = "client.authentication.k8s.io/exec";

// users[].user.exec, checked as client-go's clientcmd validation does.
absl::StatusOr<ExecConfig> ParseExec(const YAML::Node& exec, const YAML::Node& cluster,
                                     const std::string& user_name, const std::string& base_dir) {
  const std::string where = absl::StrCat("user \"", user_name, "\": exec");
  if (!exec.IsMap()) return absl::InvalidArgumentError(absl::StrCat(where, " is not a map"));
  ExecConfig out;
  out.api_version = Str(exec, "apiVersion");
  if (out.api_version != kExecV1 && out.api_version != kExecV1Beta1) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": apiVersion \"", out.api_version,
                                                   "\" is not ", kExecV1, " or ", kExecV1Beta1));
  }
  out.command = Str(exec, "command");
  if (out.command.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": command is required"));
  }
  if (out.command.find('/') != std::string::npos) {
    out.command = fs::path(Resolve(out.command, base_dir)).lexically_normal().string();
  }
  if (const YAML::Node args = exec["args"]; !Missing(args)) {
    if (!args.IsSequence()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": args is not a list"));
    }
    for (const auto& arg : args) out.args.push_back(arg.as<std::string>());
  }
  if (const YAML::Node env = exec["env"]; !Missing(env)) {
    if (!env.IsSequence()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": env is not a list"));
    }
    for (const auto& var : env) {
      const std::string name = Str(var, "name");
      if (name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": an env entry has no name"));
      }
      out.env.emplace_back(name, Str(var, "value"));
    }
  }
  out.install_hint = Str(exec, "installHint");
  out.provide_cluster_info =
      !Missing(exec["provideClusterInfo"]) && exec["provideClusterInfo"].as<bool>();
  out.interactive_mode = Str(exec, "interactiveMode");
  if (out.interactive_mode.empty() && out.api_version == kExecV1Beta1) {
    out.interactive_mode = "IfAvailable";  // client-go's default for v1beta1
  }
  if (out.interactive_mode.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": interactiveMode must be specified (Never or IfAvailable) with ", kExecV1));
  }
  if (out.interactive_mode != "Never" && out.interactive_mode != "IfAvailable" &&
      out.interactive_mode != "Always") {
    return absl::InvalidArgumentError(absl::StrCat(where, ": interactiveMode \"",
                                                   out.interactive_mode,
                                                   "\" is not Never, IfAvailable or Always"));
  }
  const YAML::Node extensions = Missing(cluster) ? YAML::Node() : cluster["extensions"];
  if (const YAML::Node ext = FindNamed(extensions, kExecExtension); !Missing(ext)) {
    if (const YAML::Node body = ext["extension"]; !Missing(body)) {
      out.cluster_config_json = YamlToJson(body).dump();
    }
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
    config.user = user_name;
    if (!Missing(user)) {
      if (const YAML::Node exec = user["exec"]; !Missing(exec)) {
        absl::StatusOr<ExecConfig> parsed = ParseExec(exec, cluster, user_name, base_dir);
        if (!parsed.ok()) return parsed.status();
        config.exec = *std::move(parsed);
      }
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
  config.user = "in-cluster service account";
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

nlohmann::json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(YamlToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted
      int64_t i = 0;
      if (absl::SimpleAtoi(s, &i)) return i;
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      return s;
    }
    default:
      return nullptr;
  }
}

}  // namespace senren::regional::kube
