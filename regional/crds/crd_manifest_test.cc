// The CRD manifests carry what docs/design.md §6 and §7 promise and every rule of the rules
// table (sdk-proto/senren/v1/rules.json), checked without a cluster (the lab's apiservers
// enforce them in tests/kube/crd_test.cc, on the shared edge cases of tests/rules).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/testing/camel_case.h"
#include "nlohmann/json.hpp"

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
  for (const char* field : {"ready", "host", "port", "phase", "readyReplicas", "observedGeneration",
                            "conditions", "message"}) {
    EXPECT_TRUE(status["properties"][field].IsDefined()) << field;
  }
}

using common::testing::CamelCase;

nlohmann::json RulesTable() {
  std::ifstream in(SENREN_RULES_JSON_PATH);
  return nlohmann::json::parse(in);
}

// Every rule of one table entry (minimum, maximum, default, pattern, max_length, enum,
// min_items, max_items) is in the schema of the same field, and the schema has no bound
// the table lacks.
void ExpectSchemaFollowsTable(const YAML::Node& properties, const nlohmann::json& entry,
                              const std::string& where) {
  static const std::map<std::string, std::string> kKeywords = {
      {"minimum", "minimum"},    {"maximum", "maximum"},      {"default", "default"},
      {"pattern", "pattern"},    {"max_length", "maxLength"}, {"enum", "enum"},
      {"min_items", "minItems"}, {"max_items", "maxItems"}};
  for (const auto& [field, rule] : entry.items()) {
    const std::string name = where + "." + CamelCase(field);
    YAML::Node schema = properties[CamelCase(field)];
    ASSERT_TRUE(schema.IsDefined()) << name << " is missing from the CRD";
    for (const auto& [keyword, crd_keyword] : kKeywords) {
      if (!rule.contains(keyword)) {
        EXPECT_FALSE(schema[crd_keyword].IsDefined())
            << name << " has " << crd_keyword << " that the rules table does not";
        continue;
      }
      const nlohmann::json& want = rule[keyword];
      YAML::Node got = schema[crd_keyword];
      ASSERT_TRUE(got.IsDefined()) << name << " lacks " << crd_keyword;
      if (want.is_number_integer()) {
        EXPECT_EQ(got.as<int64_t>(), want.get<int64_t>()) << name << "." << crd_keyword;
      } else if (want.is_string()) {
        EXPECT_EQ(got.as<std::string>(), want.get<std::string>()) << name << "." << crd_keyword;
      } else if (want.is_array()) {
        EXPECT_EQ(got.as<std::vector<std::string>>(), want.get<std::vector<std::string>>())
            << name << "." << crd_keyword;
      }
    }
  }
}

// The object's name is checked by a CEL rule with the table's name pattern and length.
void ExpectNameRule(const YAML::Node& crd, const nlohmann::json& name) {
  std::string rule =
      Version(crd)["schema"]["openAPIV3Schema"]["x-kubernetes-validations"][0]["rule"]
          .as<std::string>();
  EXPECT_NE(rule.find("matches('" + name["pattern"].get<std::string>() + "')"), std::string::npos)
      << rule;
  EXPECT_NE(rule.find("size() <= " + std::to_string(name["max_length"].get<int>())),
            std::string::npos)
      << rule;
}

TEST(CrdManifestTest, RedisDatabaseFollowsTheRulesTable) {
  YAML::Node crd = LoadCrd("redisdatabases.yaml");
  ExpectCommon(crd, "RedisDatabase", "redisdatabases");
  const nlohmann::json table = RulesTable();
  ExpectSchemaFollowsTable(SpecSchema(crd)["properties"], table["RedisDatabase"], "spec");
  ExpectNameRule(crd, table["name"]);
}

TEST(CrdManifestTest, AerospikeClusterFollowsTheRulesTable) {
  YAML::Node crd = LoadCrd("aerospikeclusters.yaml");
  ExpectCommon(crd, "AerospikeCluster", "aerospikeclusters");
  const nlohmann::json table = RulesTable();
  YAML::Node spec = SpecSchema(crd);
  YAML::Node p = spec["properties"];
  ExpectSchemaFollowsTable(p, table["AerospikeCluster"], "spec");
  ExpectSchemaFollowsTable(p["namespaces"]["items"]["properties"], table["AerospikeNamespace"],
                           "spec.namespaces[]");
  ExpectNameRule(crd, table["name"]);
  EXPECT_EQ(p["namespaces"]["x-kubernetes-list-map-keys"][0].as<std::string>(), "name");
  // replication factor ≤ size is a cross-field rule: CEL.
  EXPECT_NE(spec["x-kubernetes-validations"][0]["rule"].as<std::string>().find(
                "replicationFactor <= self.size"),
            std::string::npos);
}

}  // namespace
}  // namespace senren::regional
