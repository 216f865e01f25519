// Every lab cluster runs a StatefulSet of 3 replicas to Ready: the apiserver stores it,
// the controller manager makes Pods, the scheduler places them on the fake nodes and
// kwok reports them Running and Ready.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "lab/kube_http.h"
#include "lab/lab_env.h"

namespace senren {
namespace {

using nlohmann::json;

json StatefulSet(const std::string& name) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"replicas", 3},
            {"serviceName", name},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec",
               {{"containers",
                 json::array({{{"name", "redis"},
                               {"image", "redis:7.2"},
                               {"ports", json::array({{{"containerPort", 6379}}})}}})}}}}}}}};
}

TEST(KubeSmoke, StatefulSetOfThreeBecomesReadyInEveryCluster) {
  const auto& lab = testing::Lab();
  ASSERT_EQ(lab.clusters.size(), 4u);
  for (const auto& cluster : lab.clusters) {
    SCOPED_TRACE(cluster.region + "/" + cluster.cluster);
    testing::KubeHttp kube(cluster.kubeconfig);

    auto nodes = kube.Call("GET", "/api/v1/nodes?labelSelector=senren.io%2Flab-node%3Dtrue");
    ASSERT_EQ(nodes.status, 200) << nodes.body.dump();
    EXPECT_EQ(nodes.body["items"].size(), 3u);

    const std::string ns = testing::UniqueName("smoke");
    auto created =
        kube.Call("POST", "/api/v1/namespaces",
                  {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    ASSERT_EQ(created.status, 201) << created.body.dump();
    auto sts =
        kube.Call("POST", "/apis/apps/v1/namespaces/" + ns + "/statefulsets", StatefulSet("cache"));
    ASSERT_EQ(sts.status, 201) << sts.body.dump();

    int ready = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    while (std::chrono::steady_clock::now() < deadline) {
      auto got = kube.Call("GET", "/apis/apps/v1/namespaces/" + ns + "/statefulsets/cache");
      ASSERT_EQ(got.status, 200) << got.body.dump();
      ready = got.body["status"].value("readyReplicas", 0);
      if (ready == 3) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_EQ(ready, 3) << "StatefulSet in " << ns << " did not become ready";

    auto pods = kube.Call("GET", "/api/v1/namespaces/" + ns + "/pods?labelSelector=app%3Dcache");
    ASSERT_EQ(pods.status, 200);
    ASSERT_EQ(pods.body["items"].size(), 3u);
    for (const auto& pod : pods.body["items"]) {
      EXPECT_EQ(pod["status"].value("phase", ""), "Running");
      EXPECT_FALSE(pod["spec"].value("nodeName", "").empty());
    }
    auto del = kube.Call("DELETE", "/api/v1/namespaces/" + ns);
    EXPECT_EQ(del.status, 200) << del.body.dump();
  }
}

}  // namespace
}  // namespace senren
