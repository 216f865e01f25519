#include "kube_lab.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "lab/lab_env.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube::labtest {
namespace {

Json Convert(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = Convert(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(Convert(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted: always a string
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

}  // namespace

Json YamlToJson(const std::string& yaml_document) { return Convert(YAML::Load(yaml_document)); }

std::string KubeconfigPath(size_t index) {
  const auto& lab = senren::testing::Lab();
  if (index >= lab.clusters.size()) {
    std::cerr << "lab has no cluster " << index << "\n";
    std::abort();
  }
  return lab.clusters[index].kubeconfig;
}

std::unique_ptr<CurlKubeClient> ClusterClient(size_t index) {
  auto config = LoadKubeConfig(KubeconfigPath(index));
  if (!config.ok()) {
    std::cerr << config.status() << "\n";
    std::abort();
  }
  auto client = CurlKubeClient::Create(*config);
  if (!client.ok()) {
    std::cerr << client.status() << "\n";
    std::abort();
  }
  return std::move(*client);
}

absl::Status InstallCrds(KubeClient* client) {
  for (const char* file : {"redisdatabases.yaml", "aerospikeclusters.yaml"}) {
    const std::string path = std::string(SENREN_SOURCE_DIR) + "/regional/crds/" + file;
    for (const YAML::Node& doc : YAML::LoadAllFromFile(path)) {
      if (!doc.IsMap()) continue;
      Json crd = Convert(doc);
      ApplyOptions options;
      options.field_manager = "senren-lab";  // the manager tools/lab applies them with
      options.force = true;
      auto applied = client->Apply(resources::CustomResourceDefinitions(), "", crd, options);
      if (!applied.ok()) return applied.status();
      const std::string name = crd["metadata"]["name"];
      bool established = Eventually([&] {
        auto got = client->Get(resources::CustomResourceDefinitions(), "", name);
        if (!got.ok() || !(*got).contains("status")) return false;
        for (const auto& c : (*got)["status"].value("conditions", Json::array())) {
          if (c.value("type", "") == "Established" && c.value("status", "") == "True") return true;
        }
        return false;
      });
      if (!established) return absl::DeadlineExceededError(name + " is not Established");
    }
  }
  return absl::OkStatus();
}

std::string CreateNamespace(KubeClient* client, const std::string& prefix) {
  const std::string ns = senren::testing::UniqueName(prefix);
  auto created = client->Create(resources::Namespaces(), "",
                                {{"apiVersion", "v1"},
                                 {"kind", "Namespace"},
                                 {"metadata", {{"name", ns}, {"labels", {{"senren.io/test", "true"}}}}}});
  if (!created.ok()) {
    std::cerr << created.status() << "\n";
    std::abort();
  }
  return ns;
}

void DeleteNamespace(KubeClient* client, const std::string& ns) {
  client->Delete(resources::Namespaces(), "", ns, {}).IgnoreError();
}

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace senren::regional::kube::labtest
