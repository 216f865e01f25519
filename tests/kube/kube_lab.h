#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "regional/kube/curl_kube_client.h"

// Helpers of the lab tests of the Kubernetes side: a client of one lab cluster, the CRDs
// installed, a namespace per test.
namespace senren::regional::kube::labtest {

// A CurlKubeClient of lab cluster `index` (0 = aws:us-east-1/prod); aborts the test
// binary when the lab cannot come up (lab tests never skip).
std::unique_ptr<CurlKubeClient> ClusterClient(size_t index = 0);
std::string KubeconfigPath(size_t index = 0);

// Compacts the etcd of lab cluster `index` at its current revision (physically), so every
// resourceVersion older than now is gone from the cluster, as the apiserver's own periodic
// compaction would make it. Returns that revision.
absl::StatusOr<int64_t> CompactEtcd(size_t index = 0);

// Applies regional/crds/*.yaml (as tools/lab up does) and waits until both CRDs are
// Established. Returns the first error.
absl::Status InstallCrds(KubeClient* client);

// Creates a namespace with a unique name; DeleteNamespace removes it.
std::string CreateNamespace(KubeClient* client, const std::string& prefix);
void DeleteNamespace(KubeClient* client, const std::string& ns);

// Polls `pred` every 20 ms until true; false after `limit` (a bound against hangs).
bool Eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds limit = std::chrono::seconds(120));

}  // namespace senren::regional::kube::labtest
