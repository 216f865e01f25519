// The CRD manifests carry what docs/design.md §6 and §7 promise, checked without a cluster (the
// lab's apiservers enforce them in tests/kube/crd_test.cc).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace senren::regional {
namespace {

YAML::Node LoadCrd(const std::string& file) {
  return YAML::LoadFile(std::string(SENREN_CRD_DIR) + "/" + file);
}

YAML::Node Version(const YAML::Node& crd) { return crd["spec"]["versions"][0]; }

YAML::Node SpecSchema(const YAML::Node& crd) {
  return Version(crd)["schema"]["openAPIV3Schema"]["properties"]["spec"];
}

void ExpectCommon(const YAML::Node& crd, const std::string& kind, const std::string& plural) {
  EXPECT_EQ(crd["kind"].as<std::string>(), "CustomResourceDefinition");
  EXPECT_EQ(crd["metadata"]["name"].as<std::string>(), plural + ".senren.io");
  EXPECT_EQ(crd["spec"]["group"].as<std::string>(), "senren.io");
  EXPECT_EQ(crd["spec"]["scope"].as<std::string>(), "Namespaced");
  EXPECT_EQ(crd["spec"]["names"]["kind"].as<std::string>(), kind);
  EXPECT_EQ(crd["spec"]["names"]["plural"].as<std::string>(), plural);
  EXPECT_EQ(Version(crd)["name"].as<std::string>(), "v1alpha1");
  EXPECT_TRUE(Version(crd)["subresources"]["status"].IsDefined());
  std::vector<std::string> columns;
  for (const auto& c : Version(crd)["additionalPrinterColumns"]) {
    if (!c["priority"]) columns.push_back(c["name"].as<std::string>());
  }
  EXPECT_EQ(columns, (std::vector<std::string>{"Ready", "Host", "Port", "Phase", "Age"}));
  YAML::Node status = Version(crd)["schema"]["openAPIV3Schema"]["properties"]["status"];
  for (const char* field : {"ready", "host", "port", "phase", "readyReplicas",
                            "observedGeneration", "conditions", "message"}) {
    EXPECT_TRUE(status["properties"][field].IsDefined()) << field;
  }
}

TEST(CrdManifestTest, RedisDatabaseBounds) {
  YAML::Node crd = LoadCrd("redisdatabases.yaml");
  ExpectCommon(crd, "RedisDatabase", "redisdatabases");
  YAML::Node p = SpecSchema(crd)["properties"];
  EXPECT_EQ(p["memoryMb"]["minimum"].as<int>(), 16);
  EXPECT_EQ(p["memoryMb"]["maximum"].as<int>(), 1048576);
  EXPECT_EQ(p["replicas"]["minimum"].as<int>(), 1);
  EXPECT_EQ(p["replicas"]["maximum"].as<int>(), 9);
  EXPECT_EQ(p["persistence"]["enum"].size(), 3u);
  EXPECT_TRUE(p["version"]["pattern"].IsDefined());
  EXPECT_TRUE(p["evictionPolicy"]["enum"].IsDefined());
}

TEST(CrdManifestTest, AerospikeClusterBounds) {
  YAML::Node crd = LoadCrd("aerospikeclusters.yaml");
  ExpectCommon(crd, "AerospikeCluster", "aerospikeclusters");
  YAML::Node spec = SpecSchema(crd);
  YAML::Node p = spec["properties"];
  EXPECT_EQ(p["size"]["minimum"].as<int>(), 1);
  EXPECT_EQ(p["size"]["maximum"].as<int>(), 32);
  EXPECT_EQ(p["namespaces"]["minItems"].as<int>(), 1);
  EXPECT_EQ(p["namespaces"]["x-kubernetes-list-map-keys"][0].as<std::string>(), "name");
  YAML::Node ns = p["namespaces"]["items"]["properties"];
  EXPECT_EQ(ns["replicationFactor"]["minimum"].as<int>(), 1);
  EXPECT_EQ(ns["memoryMb"]["minimum"].as<int>(), 16);
  EXPECT_EQ(ns["storage"]["enum"].size(), 2u);
  // replication factor ≤ size is a cross-field rule: CEL.
  EXPECT_NE(spec["x-kubernetes-validations"][0]["rule"].as<std::string>().find(
                "replicationFactor <= self.size"),
            std::string::npos);
}

}  // namespace
}  // namespace senren::regional
