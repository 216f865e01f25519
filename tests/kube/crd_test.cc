// The apiserver itself enforces the CRD schemas (docs/design.md §7): a bad spec is rejected
// with the field named, a good one is stored with defaults.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/testing/camel_case.h"
#include "kube_lab.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube {
namespace {

using ::testing::HasSubstr;

class CrdLabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (size_t i = 0; i < 4; ++i) {
      auto client = labtest::ClusterClient(i);
      absl::Status s = labtest::InstallCrds(client.get());
      ASSERT_TRUE(s.ok()) << s;
    }
  }
  void SetUp() override {
    client_ = labtest::ClusterClient(0);
    ns_ = labtest::CreateNamespace(client_.get(), "crd");
  }
  void TearDown() override { labtest::DeleteNamespace(client_.get(), ns_); }

  absl::StatusOr<Json> CreateRedis(const std::string& name, const Json& spec) {
    return client_->Create(resources::RedisDatabases(), ns_,
                           {{"apiVersion", "senren.io/v1alpha1"},
                            {"kind", "RedisDatabase"},
                            {"metadata", {{"name", name}}},
                            {"spec", spec}});
  }
  absl::StatusOr<Json> CreateAerospike(const std::string& name, const Json& spec) {
    return client_->Create(resources::AerospikeClusters(), ns_,
                           {{"apiVersion", "senren.io/v1alpha1"},
                            {"kind", "AerospikeCluster"},
                            {"metadata", {{"name", name}}},
                            {"spec", spec}});
  }

  std::unique_ptr<CurlKubeClient> client_;
  std::string ns_;
};

TEST_F(CrdLabTest, InstalledInEveryClusterWithPrinterColumns) {
  for (size_t i = 0; i < 4; ++i) {
    auto client = labtest::ClusterClient(i);
    for (const char* name : {"redisdatabases.senren.io", "aerospikeclusters.senren.io"}) {
      auto crd = client->Get(resources::CustomResourceDefinitions(), "", name);
      ASSERT_TRUE(crd.ok()) << crd.status();
      std::vector<std::string> columns;
      for (const auto& c : (*crd)["spec"]["versions"][0]["additionalPrinterColumns"]) {
        if (c.value("priority", 0) == 0) columns.push_back(c["name"]);
      }
      EXPECT_THAT(columns, ::testing::ElementsAre("Ready", "Host", "Port", "Phase", "Age"));
    }
  }
}

TEST_F(CrdLabTest, GoodRedisIsStoredWithDefaults) {
  auto created = CreateRedis("good", {{"memoryMb", 512}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["spec"]["replicas"], 1);
  EXPECT_EQ((*created)["spec"]["version"], "7.2");
  EXPECT_EQ((*created)["spec"]["persistence"], "none");
}

TEST_F(CrdLabTest, OutOfBoundsRedisIsRejectedNamingTheField) {
  struct Case {
    Json spec;
    std::string field;
  } cases[] = {
      {{{"memoryMb", 8}}, "spec.memoryMb"},
      {{{"memoryMb", 2000000}}, "spec.memoryMb"},
      {{{"memoryMb", 64}, {"replicas", 10}}, "spec.replicas"},
      {{{"memoryMb", 64}, {"replicas", 0}}, "spec.replicas"},
      {{{"memoryMb", 64}, {"persistence", "sometimes"}}, "spec.persistence"},
      {{{"memoryMb", 64}, {"evictionPolicy", "random"}}, "spec.evictionPolicy"},
      {{{"memoryMb", 64}, {"version", "latest"}}, "spec.version"},
      {{{"replicas", 1}}, "spec.memoryMb"},
  };
  int i = 0;
  for (const auto& c : cases) {
    auto created = CreateRedis("bad-" + std::to_string(i++), c.spec);
    EXPECT_TRUE(absl::IsInvalidArgument(created.status())) << c.spec.dump() << created.status();
    EXPECT_EQ(HttpStatusOf(created.status()), 422);
    EXPECT_THAT(created.status().message(), HasSubstr(c.field)) << c.spec.dump();
  }
}

TEST_F(CrdLabTest, AerospikeBoundsIncludingReplicationFactorAtMostSize) {
  Json ns = {{"name", "users"}, {"replicationFactor", 2}, {"memoryMb", 1024}};
  auto good = CreateAerospike("good", {{"size", 3}, {"namespaces", Json::array({ns})}});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)["spec"]["namespaces"][0]["storage"], "memory");
  EXPECT_EQ((*good)["spec"]["version"], "7.1");

  auto rf = CreateAerospike("rf", {{"size", 1}, {"namespaces", Json::array({ns})}});
  EXPECT_TRUE(absl::IsInvalidArgument(rf.status())) << rf.status();
  EXPECT_THAT(rf.status().message(), HasSubstr("replicationFactor must be at most size"));

  auto big = CreateAerospike("big", {{"size", 33}, {"namespaces", Json::array({ns})}});
  EXPECT_THAT(big.status().message(), HasSubstr("spec.size"));
  auto none = CreateAerospike("none", {{"size", 3}, {"namespaces", Json::array()}});
  EXPECT_THAT(none.status().message(), HasSubstr("spec.namespaces"));
  auto dup = CreateAerospike("dup", {{"size", 3}, {"namespaces", Json::array({ns, ns})}});
  EXPECT_THAT(dup.status().message(), HasSubstr("Duplicate value"));
  Json bad_storage = ns;
  bad_storage["storage"] = "tape";
  auto tape = CreateAerospike("tape", {{"size", 3}, {"namespaces", Json::array({bad_storage})}});
  EXPECT_THAT(tape.status().message(), HasSubstr("spec.namespaces[0].storage"));

  // Shrinking below a replication factor is rejected on update too.
  Json shrink = *good;
  shrink["spec"]["size"] = 1;
  auto updated = client_->Update(resources::AerospikeClusters(), ns_, shrink);
  EXPECT_TRUE(absl::IsInvalidArgument(updated.status())) << updated.status();
  EXPECT_THAT(updated.status().message(), HasSubstr("replicationFactor must be at most size"));
}

// "memory_mb" -> "memoryMb", in nested objects and arrays too.
Json CamelCaseKeys(const Json& v) {
  if (v.is_array()) {
    Json out = Json::array();
    for (const Json& e : v) out.push_back(CamelCaseKeys(e));
    return out;
  }
  if (!v.is_object()) return v;
  Json out = Json::object();
  for (const auto& [key, value] : v.items()) {
    out[common::testing::CamelCase(key)] = CamelCaseKeys(value);
  }
  return out;
}

// The apiserver accepts exactly what the ledger (common/test/rules_test.cc) and the SDK
// (test_sdk_rules.py) accept, on the shared edge cases of the rules table.
TEST_F(CrdLabTest, RulesTableEdgeCasesAgreeWithTheLedgerAndTheSdk) {
  std::ifstream in(std::string(SENREN_SOURCE_DIR) + "/tests/rules/cases.json");
  ASSERT_TRUE(in);
  const Json cases = Json::parse(in).at("cases");
  ASSERT_GT(cases.size(), 40u);
  int i = 0;
  for (const Json& c : cases) {
    ++i;
    // Cases about bounds share a default name; give each its own object.
    std::string name = c["name"];
    if (name == "r" || name == "a") name = "case-" + std::to_string(i);
    const Json spec = CamelCaseKeys(c["spec"]);
    auto created =
        c["kind"] == "RedisDatabase" ? CreateRedis(name, spec) : CreateAerospike(name, spec);
    if (c["valid"].get<bool>()) {
      EXPECT_TRUE(created.ok()) << c["why"] << ": " << created.status();
    } else {
      EXPECT_TRUE(absl::IsInvalidArgument(created.status()))
          << c["why"] << ": the apiserver answered " << created.status();
    }
  }
}

}  // namespace
}  // namespace senren::regional::kube
