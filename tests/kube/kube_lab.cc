#include "kube_lab.h"

#include <curl/curl.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lab/lab_env.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube::labtest {
namespace {

// POSTs JSON to an etcd v3 HTTP gateway path and returns the JSON answer.
absl::StatusOr<Json> EtcdPost(const std::string& url, const Json& body) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string out;
  const std::string payload = body.dump();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* s) -> size_t {
        static_cast<std::string*>(s)->append(p, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  const CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK)
    return absl::UnavailableError(absl::StrCat(url, ": ", curl_easy_strerror(rc)));
  if (code != 200) return absl::InternalError(absl::StrCat(url, ": HTTP ", code, ": ", out));
  Json j = Json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InternalError(absl::StrCat(url, ": not JSON: ", out));
  return j;
}

}  // namespace

absl::StatusOr<int64_t> CompactEtcd(size_t index) {
  const auto& lab = senren::testing::Lab();
  if (index >= lab.clusters.size() || lab.clusters[index].etcd.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("lab cluster ", index, " has no etcd endpoint (SENREN_ETCD_ENDPOINTS)"));
  }
  const std::string& etcd = lab.clusters[index].etcd;
  // Any key: the answer's header carries the store's current revision.
  auto range = EtcdPost(etcd + "/v3/kv/range", Json{{"key", "AA=="}, {"limit", "1"}});
  if (!range.ok()) return range.status();
  int64_t revision = 0;
  const Json& rev = (*range)["header"]["revision"];
  if (!rev.is_string() || !absl::SimpleAtoi(rev.get<std::string>(), &revision)) {
    return absl::InternalError(absl::StrCat("etcd range answer has no revision: ", range->dump()));
  }
  auto compacted = EtcdPost(etcd + "/v3/kv/compaction",
                            Json{{"revision", std::to_string(revision)}, {"physical", true}});
  if (!compacted.ok()) return compacted.status();
  return revision;
}

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
      Json crd = YamlToJson(doc);
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
  auto created =
      client->Create(resources::Namespaces(), "",
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
