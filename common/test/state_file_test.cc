#include "common/state_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/resources.h"

namespace senren::common {
namespace {

using ::testing::HasSubstr;

constexpr const char* kSpecExample = R"(
region: aws:us-east-1
message: "grow sessions cache"        # optional
resources:
  - kind: RedisDatabase
    name: sessions
    spec: {memory_mb: 512, replicas: 3, version: "7.2", persistence: rdb}
  - kind: AerospikeCluster
    name: profiles
    spec:
      size: 3
      namespaces: [{name: users, replication_factor: 2, memory_mb: 1024, storage: memory}]
)";

TEST(StateFile, ParsesTheSpecExample) {
  auto f = ParseStateFile(kSpecExample, "a.yaml");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->region, "aws:us-east-1");
  EXPECT_EQ(f->message, "grow sessions cache");
  ASSERT_EQ(f->resources.size(), 2u);
  EXPECT_EQ(ResourceId(f->resources[0]), "RedisDatabase/sessions");
  EXPECT_EQ(f->resources[0].redis_database().replicas(), 3u);
  EXPECT_EQ(f->resources[0].redis_database().persistence(), v1::REDIS_PERSISTENCE_RDB);
  EXPECT_EQ(f->resources[1].aerospike_cluster().namespaces(0).replication_factor(), 2u);
  EXPECT_EQ(f->resources[1].aerospike_cluster().version(), "7.1");  // default filled
}

TEST(StateFile, ParsesJson) {
  auto f = ParseStateFile(
      R"({"region": "gcp:us-central1", "resources": [{"kind": "RedisDatabase", "name": "c",
          "spec": {"memory_mb": 64}}]})",
      "a.json");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->resources[0].redis_database().memory_mb(), 64u);
  EXPECT_EQ(f->resources[0].redis_database().replicas(), 1u);
}

void ExpectError(const std::string& text, const std::vector<std::string>& parts) {
  auto f = ParseStateFile(text, "states/bad.yaml");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), HasSubstr("states/bad.yaml:"));
  for (const auto& p : parts) EXPECT_THAT(f.status().message(), HasSubstr(p)) << text;
}

TEST(StateFile, ErrorsNameFileResourceAndField) {
  ExpectError(R"(region: aws:us-east-1
resources:
  - {kind: RedisDatabase, name: s, spec: {memory_mb: 8}}
)",
              {"RedisDatabase/s", "spec.memory_mb", "out of bounds"});
  ExpectError(R"(region: aws:us-east-1
resources:
  - {kind: RedisDatabase, name: s, spec: {memory_mb: 64, colour: red}}
)",
              {"RedisDatabase/s", "spec.colour", "unknown field"});
  ExpectError(R"(region: aws:us-east-1
resources:
  - {kind: Memcached, name: s, spec: {}}
)",
              {"Memcached/s", "field kind", "unknown kind"});
  ExpectError(R"(region: aws:us-east-1
resources:
  - {kind: RedisDatabase, name: s, spec: {memory_mb: 64}}
  - {kind: RedisDatabase, name: s, spec: {memory_mb: 128}}
)",
              {"RedisDatabase/s", "duplicate", "resources[0]"});
  ExpectError(R"(region: aws:us-east-1
resources:
  - {kind: RedisDatabase, name: s, spec: {memory_mb: lots}}
)",
              {"spec.memory_mb", "not a whole number"});
  ExpectError(R"(region: aws:us-east-1
resources:
  - {kind: AerospikeCluster, name: p, spec: {size: 1, namespaces: [{name: u, memory_mb: 64, storage: tape}]}}
)",
              {"AerospikeCluster/p", "spec.namespaces[0].storage"});
  ExpectError("region: Nowhere\nresources: []\n", {"region"});
  ExpectError("region: aws:x\nresourcez: []\n", {"resourcez", "unknown field"});
  ExpectError("region: aws:x\nresources: [\n", {"not valid YAML"});
}

TEST(StateFile, ErrorsCarryTheLine) {
  auto f = ParseStateFile("region: aws:x\nresources:\n  - kind: RedisDatabase\n    name: s\n"
                          "    spec: {memory_mb: 1}\n",
                          "f.yaml");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("f.yaml:3:"));
}

// Found by tools/fuzz state: a mapping used as a key (YAML's "? " form) threw out of
// yaml-cpp's conversion and ended the CLI.
TEST(StateFile, AMappingAsAKeyIsAnErrorNotACrash) {
  auto f = ParseStateFile("region: aws:us-east-1\nresources:\n  - ? spec: {memory_mb: 64}\n"
                          "    name: profiles\n",
                          "odd.yaml");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), HasSubstr("odd.yaml:3"));
  EXPECT_THAT(f.status().message(), HasSubstr("a key must be a name"));
  auto top = ParseStateFile("? [a, b]\n: 1\n", "top.yaml");
  ASSERT_FALSE(top.ok());
  EXPECT_THAT(top.status().message(), HasSubstr("a key must be a name"));
}

TEST(StateFile, ResourceToJsonRoundTripsThroughYaml) {
  auto f = ParseStateFile(kSpecExample, "a.yaml");
  ASSERT_TRUE(f.ok());
  nlohmann::json doc = {
      {"region", f->region}, {"version", 3}, {"resources", nlohmann::json::array()}};
  for (const auto& r : f->resources) doc["resources"].push_back(ResourceToJson(r));
  const std::string yaml = JsonToYaml(doc);
  EXPECT_THAT(yaml, HasSubstr("version: \"7.2\""));
  EXPECT_THAT(JsonToYaml({{"deleted", nlohmann::json::array()}}), HasSubstr("deleted: []"));
  auto again = ParseStateFile(yaml, "b.yaml");
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << yaml;
  ASSERT_EQ(again->resources.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(SameResource(again->resources[i], f->resources[i]));
}

}  // namespace
}  // namespace senren::common
