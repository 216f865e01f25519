#include "lab/kube_http.h"

#include <curl/curl.h>
#include <yaml-cpp/yaml.h>

#include <stdexcept>

namespace senren::testing {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

KubeHttp::KubeHttp(const std::string& kubeconfig_path) {
  YAML::Node kc = YAML::LoadFile(kubeconfig_path);
  server_ = kc["clusters"][0]["cluster"]["server"].as<std::string>();
  ca_file_ = kc["clusters"][0]["cluster"]["certificate-authority"].as<std::string>();
  token_ = kc["users"][0]["user"]["token"].as<std::string>();
}

KubeHttp::Response KubeHttp::Call(const std::string& method, const std::string& path,
                                  const nlohmann::json& body, const std::string& content_type) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) throw std::runtime_error("curl_easy_init failed");
  std::string url = server_ + path;
  std::string payload = body.is_null() ? "" : body.dump();
  std::string out;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
  headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file_.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  if (!payload.empty()) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
  CURLcode rc = curl_easy_perform(curl);
  Response r;
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    throw std::runtime_error(method + " " + url + ": " + curl_easy_strerror(rc));
  }
  r.body = out.empty() ? nlohmann::json() : nlohmann::json::parse(out, nullptr, false);
  return r;
}

}  // namespace senren::testing
