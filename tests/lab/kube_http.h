#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace senren::testing {

// A bare HTTPS caller of one lab cluster's kube-apiserver, for smoke tests of the lab
// itself. Reads server, CA and bearer token from a lab kubeconfig. Not thread-safe.
// Senren's real Kubernetes client lives in regional/; this only checks the lab.
class KubeHttp {
 public:
  explicit KubeHttp(const std::string& kubeconfig_path);

  struct Response {
    long status = 0;
    nlohmann::json body;
  };
  // method: GET, POST, PUT, PATCH, DELETE; body sent as JSON when not null.
  Response Call(const std::string& method, const std::string& path,
                const nlohmann::json& body = nullptr,
                const std::string& content_type = "application/json");

 private:
  std::string server_;
  std::string ca_file_;
  std::string token_;
};

}  // namespace senren::testing
