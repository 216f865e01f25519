// The rules table (sdk-proto/senren/v1/rules.json) is what the ledger enforces: the edge
// cases of tests/rules/cases.json go through the state-file parser and ValidateResource
// exactly as an apply does, and defaults come from the table. The SDK
// (sdk-proto/python/tests/test_sdk_rules.py) and a real apiserver (tests/kube/crd_test.cc)
// run the same cases.
#include "common/rules.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/resources.h"
#include "common/state_file.h"
#include "nlohmann/json.hpp"

namespace senren::common {
namespace {

using nlohmann::json;

json Load(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::stringstream buf;
  buf << in.rdbuf();
  return json::parse(buf.str());
}

TEST(RulesTest, CompiledInTableIsTheSourceFile) {
  EXPECT_EQ(json::parse(RulesJson()), Load(SENREN_RULES_JSON_PATH))
      << "rebuild: the compiled-in table is older than sdk-proto/senren/v1/rules.json";
  const Rules& r = GetRules();
  EXPECT_EQ(r.redis.memory_mb.minimum, 16);
  EXPECT_TRUE(r.redis.version.Matches("7.2"));
  EXPECT_FALSE(r.redis.version.Matches("7"));
}

TEST(RulesTest, EdgeCasesAgreeWithTheTable) {
  const json cases = Load(SENREN_RULES_CASES_PATH).at("cases");
  ASSERT_GT(cases.size(), 40u);
  for (const json& c : cases) {
    json resource = {{"kind", c.at("kind")}, {"name", c.at("name")}, {"spec", c.at("spec")}};
    json file = {{"region", "aws:us-east-1"}, {"resources", json::array({resource})}};
    auto parsed = ParseStateFile(file.dump(), "cases.json");
    if (c.at("valid").get<bool>()) {
      EXPECT_TRUE(parsed.ok()) << c.at("why").get<std::string>() << ": " << parsed.status();
    } else {
      EXPECT_TRUE(absl::IsInvalidArgument(parsed.status()))
          << c.at("why").get<std::string>() << ": accepted " << c.dump();
    }
  }
}

TEST(RulesTest, DefaultsComeFromTheTable) {
  const json t = Load(SENREN_RULES_JSON_PATH);
  v1::Resource redis;
  redis.set_name("r");
  redis.mutable_redis_database()->set_memory_mb(64);
  Canonicalize(&redis);
  EXPECT_EQ(redis.redis_database().replicas(),
            t["RedisDatabase"]["replicas"]["default"].get<uint32_t>());
  EXPECT_EQ(redis.redis_database().version(), t["RedisDatabase"]["version"]["default"]);
  EXPECT_EQ(ResourceToJson(redis)["spec"]["persistence"],
            t["RedisDatabase"]["persistence"]["default"]);
  v1::Resource as;
  as.set_name("a");
  as.mutable_aerospike_cluster()->set_size(1);
  as.mutable_aerospike_cluster()->add_namespaces()->set_name("users");
  Canonicalize(&as);
  EXPECT_EQ(as.aerospike_cluster().version(), t["AerospikeCluster"]["version"]["default"]);
  EXPECT_EQ(ResourceToJson(as)["spec"]["namespaces"][0]["storage"],
            t["AerospikeNamespace"]["storage"]["default"]);
  EXPECT_EQ(as.aerospike_cluster().namespaces(0).replication_factor(),
            t["AerospikeNamespace"]["replication_factor"]["default"].get<uint32_t>());
}

}  // namespace
}  // namespace senren::common
