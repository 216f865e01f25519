#include "regional/controller/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace senren::regional::controller {
namespace {

using ::testing::HasSubstr;

Owner RedisOwner() {
  return {Kind::kRedisDatabase, "sessions", "senren", "uid-1", "aws.us-east-1"};
}
Owner AerospikeOwner() { return {Kind::kAerospikeCluster, "profiles", "senren", "uid-2", ""}; }

TEST(ParseSpecTest, RedisDefaultsAndBounds) {
  auto spec = ParseRedisSpec(Json{{"memoryMb", 512}});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->replicas, 1);
  EXPECT_EQ(spec->version, "7.2");
  EXPECT_EQ(spec->persistence, "none");
  auto low = ParseRedisSpec(Json{{"memoryMb", 8}});
  EXPECT_THAT(low.status().message(), HasSubstr("spec.memoryMb: 8 is not in 16..1048576"));
  auto many = ParseRedisSpec(Json{{"memoryMb", 64}, {"replicas", 10}});
  EXPECT_THAT(many.status().message(), HasSubstr("spec.replicas"));
  auto missing = ParseRedisSpec(Json::object());
  EXPECT_THAT(missing.status().message(), HasSubstr("spec.memoryMb: required"));
  auto bad = ParseRedisSpec(Json{{"memoryMb", 64}, {"persistence", "both"}});
  EXPECT_THAT(bad.status().message(), HasSubstr("spec.persistence"));
}

TEST(ParseSpecTest, AerospikeReplicationFactorAtMostSize) {
  Json spec = {{"size", 2},
               {"namespaces",
                Json::array({{{"name", "users"}, {"replicationFactor", 3}, {"memoryMb", 64}}})}};
  auto parsed = ParseAerospikeSpec(spec);
  EXPECT_TRUE(absl::IsInvalidArgument(parsed.status()));
  EXPECT_THAT(parsed.status().message(),
              HasSubstr("spec.namespaces[0].replicationFactor: 3 exceeds size 2"));
  spec["size"] = 3;
  ASSERT_TRUE(ParseAerospikeSpec(spec).ok());
  spec["namespaces"].push_back({{"name", "users"}, {"replicationFactor", 1}, {"memoryMb", 64}});
  EXPECT_THAT(ParseAerospikeSpec(spec).status().message(), HasSubstr("duplicate namespace"));
  EXPECT_THAT(ParseAerospikeSpec(Json{{"size", 1}}).status().message(),
              HasSubstr("spec.namespaces"));
}

TEST(ChildNameTest, KindPrefixKeepsKindsApart) {
  EXPECT_EQ(NamesFor(Kind::kRedisDatabase, "x").client_service, "redis-x");
  EXPECT_EQ(NamesFor(Kind::kAerospikeCluster, "x").headless_service, "aerospike-x-headless");
  EXPECT_EQ(NamesFor(Kind::kAerospikeCluster, "x").config_map, "aerospike-x-conf");
  EXPECT_EQ(NamesFor(Kind::kRedisDatabase, "1x").statefulset, "redis-1x");
  EXPECT_LE(NamesFor(Kind::kAerospikeCluster, std::string(63, 'a')).statefulset.size(), 52u);
}

TEST(ChildNameTest, ShortNamesStayLongOnesAreHashedDigitFirstGetsALetter) {
  EXPECT_EQ(ChildName("cache", "-headless", 63), "cache-headless");
  const std::string long_name(63, 'a');
  std::string sts = ChildName(long_name, "", 52);
  EXPECT_EQ(sts.size(), 52u);
  EXPECT_EQ(sts, ChildName(long_name, "", 52)) << "stable";
  EXPECT_NE(ChildName(long_name, "", 52), ChildName(std::string(62, 'a') + "b", "", 52));
  std::string svc = ChildName("1cache", "", 63);
  EXPECT_EQ(svc[0], 's');
  EXPECT_LE(ChildName(long_name, "-headless", 63).size(), 63u);
  EXPECT_THAT(ChildName(long_name, "-headless", 63), ::testing::EndsWith("-headless"));
}

TEST(RenderRedisTest, StatefulSetServicesOwnedAndLabelled) {
  RedisSpec spec;
  spec.memory_mb = 512;
  spec.replicas = 3;
  spec.persistence = "aof";
  spec.eviction_policy = "allkeys-lru";
  Children c = RenderRedis(RedisOwner(), spec);
  const Json& sts = c.statefulset;
  EXPECT_EQ(sts["kind"], "StatefulSet");
  EXPECT_EQ(sts["metadata"]["name"], "redis-sessions");
  EXPECT_EQ(sts["spec"]["replicas"], 3);
  EXPECT_EQ(sts["spec"]["serviceName"], "redis-sessions-headless");
  // aof: the data dir is a claim of ceil(2 × 512 / 1024) = 1 GiB per pod, kept on
  // scale-down and deletion.
  ASSERT_EQ(sts["spec"]["volumeClaimTemplates"].size(), 1u);
  const Json& claim = sts["spec"]["volumeClaimTemplates"][0];
  EXPECT_EQ(claim["metadata"]["name"], "data");
  EXPECT_EQ(claim["spec"]["accessModes"], Json::array({"ReadWriteOnce"}));
  EXPECT_EQ(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
  EXPECT_FALSE(claim["spec"].contains("storageClassName")) << "the cluster's default";
  EXPECT_EQ(sts["spec"]["persistentVolumeClaimRetentionPolicy"],
            (Json{{"whenDeleted", "Retain"}, {"whenScaled", "Retain"}}));
  EXPECT_FALSE(sts["spec"]["template"]["spec"].contains("volumes")) << "no emptyDir for /data";
  const Json& ref = sts["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["kind"], "RedisDatabase");
  EXPECT_EQ(ref["uid"], "uid-1");
  EXPECT_EQ(ref["controller"], true);
  const Json& labels = sts["metadata"]["labels"];
  EXPECT_EQ(labels["app.kubernetes.io/managed-by"], "senren-controller");
  EXPECT_EQ(labels["senren.io/owner-kind"], "RedisDatabase");
  EXPECT_EQ(labels["senren.io/region"], "aws.us-east-1");
  const Json& pod = sts["spec"]["template"]["spec"];
  EXPECT_FALSE(pod.contains("tolerations"));
  EXPECT_TRUE(pod["affinity"]["podAntiAffinity"].contains(
      "preferredDuringSchedulingIgnoredDuringExecution"));
  EXPECT_FALSE(pod["affinity"]["podAntiAffinity"].contains(
      "requiredDuringSchedulingIgnoredDuringExecution"));
  const Json& container = pod["containers"][0];
  EXPECT_EQ(container["image"], "redis:7.2");
  EXPECT_EQ(container["resources"]["requests"]["memory"], "512Mi");
  const std::string script = container["command"][2];
  EXPECT_THAT(script, HasSubstr("--maxmemory 512mb"));
  EXPECT_THAT(script, HasSubstr("--maxmemory-policy allkeys-lru"));
  EXPECT_THAT(script, HasSubstr("--appendonly yes"));
  EXPECT_THAT(
      script,
      HasSubstr("--replicaof redis-sessions-0.redis-sessions-headless.senren.svc.cluster.local"));
  EXPECT_TRUE(container.contains("readinessProbe"));
  EXPECT_EQ(c.headless_service["spec"]["clusterIP"], "None");
  EXPECT_EQ(c.client_service["metadata"]["name"], "redis-sessions");
  EXPECT_EQ(c.client_service["spec"]["ports"][0]["port"], 6379);
  // The client Service reaches the primary only; the read Service every pod.
  Json primary_selector = sts["spec"]["selector"]["matchLabels"];
  primary_selector["statefulset.kubernetes.io/pod-name"] = "redis-sessions-0";
  EXPECT_EQ(c.client_service["spec"]["selector"], primary_selector);
  EXPECT_EQ(c.read_service["metadata"]["name"], "redis-sessions-read");
  EXPECT_EQ(c.read_service["spec"]["selector"], sts["spec"]["selector"]["matchLabels"]);
  EXPECT_EQ(c.read_service["spec"]["ports"][0]["port"], 6379);
  EXPECT_EQ(c.read_service["metadata"]["ownerReferences"][0]["uid"], "uid-1");
  EXPECT_TRUE(c.config_map.is_null());
  EXPECT_EQ(ClientHost(RedisOwner()), "redis-sessions.senren.svc.cluster.local");
  EXPECT_EQ(ReadHost(RedisOwner()), "redis-sessions-read.senren.svc.cluster.local");
}

TEST(RenderDisruptionBudgetTest, OnePodAtATimeOverTheStatefulSetsPods) {
  RedisSpec redis;
  redis.memory_mb = 64;
  redis.replicas = 3;
  AerospikeSpec aerospike;
  aerospike.size = 3;
  aerospike.namespaces = {{"users", 2, 64, "memory"}};
  for (const Children& c :
       {RenderRedis(RedisOwner(), redis), RenderAerospike(AerospikeOwner(), aerospike)}) {
    const Json& pdb = c.disruption_budget;
    const Json& sts = c.statefulset;
    EXPECT_EQ(pdb["apiVersion"], "policy/v1");
    EXPECT_EQ(pdb["kind"], "PodDisruptionBudget");
    EXPECT_EQ(pdb["metadata"]["name"], c.client_service["metadata"]["name"]);
    EXPECT_EQ(pdb["metadata"]["ownerReferences"], sts["metadata"]["ownerReferences"]);
    EXPECT_EQ(pdb["metadata"]["labels"], sts["metadata"]["labels"]);
    EXPECT_EQ(pdb["metadata"]["labels"]["app.kubernetes.io/managed-by"], "senren-controller");
    // An integer, as the apiserver returns it (an IntOrString), so a converged budget
    // compares equal and is never re-applied; not minAvailable, so one pod can be drained.
    EXPECT_EQ(pdb["spec"], (Json{{"maxUnavailable", 1}, {"selector", sts["spec"]["selector"]}}));
    EXPECT_TRUE(
        ContainsAll(Json{{"spec", {{"maxUnavailable", 1}, {"selector", sts["spec"]["selector"]}}},
                         {"status", {{"disruptionsAllowed", 1}}}},
                    Json{{"spec", pdb["spec"]}}));
  }
  EXPECT_EQ(RenderRedis(RedisOwner(), redis).disruption_budget["metadata"]["name"],
            "redis-sessions");
  EXPECT_EQ(NamesFor(Kind::kAerospikeCluster, "profiles").disruption_budget, "aerospike-profiles");
}

// A rolling update replaces the highest ordinal first, one pod at a time, waiting for each
// to be ready; the primary is pod 0, so it rolls last. (The order itself is the StatefulSet
// controller's: tests/kube/controller_test.cc watches it on the lab.)
TEST(RenderRedisTest, PrimaryIsPodZeroAndTheUpdateIsOneByOne) {
  RedisSpec spec;
  spec.memory_mb = 64;
  spec.replicas = 3;
  const Json sts = RenderRedis(RedisOwner(), spec).statefulset;
  EXPECT_EQ(sts["spec"]["updateStrategy"], (Json{{"type", "RollingUpdate"}}))
      << "no partition, no maxUnavailable: the defaults, 0 and 1";
  const std::string script = sts["spec"]["template"]["spec"]["containers"][0]["command"][2];
  EXPECT_THAT(script, HasSubstr("if [ \"$ordinal\" = 0 ]; then exec redis-server --port 6379"));
  EXPECT_THAT(script, HasSubstr("else exec redis-server"));
  EXPECT_THAT(script, HasSubstr("--replicaof redis-sessions-0."));
}

TEST(RenderAerospikeTest, ReadyOnlyWhenMigrationsAreDone) {
  AerospikeSpec spec;
  spec.size = 3;
  spec.namespaces = {{"users", 2, 64, "memory"}};
  Children c = RenderAerospike(AerospikeOwner(), spec);
  const Json& probe = c.statefulset["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
  EXPECT_EQ(probe["exec"]["command"], Json::array({"sh", "-c", kAerospikeReadinessCommand}));
  EXPECT_EQ(probe["timeoutSeconds"], 5);
  EXPECT_EQ(std::string(kAerospikeReadinessCommand),
            "s=$(asinfo -h 127.0.0.1 -p 3000 -v statistics | tr ';' '\\n') && "
            "echo \"$s\" | grep -qx migrate_allowed=true && "
            "echo \"$s\" | grep -qx migrate_partitions_remaining=0");
  // Clients still find a cluster whose pods are all migrating.
  EXPECT_EQ(c.client_service["spec"]["publishNotReadyAddresses"], true);
  RedisSpec redis;
  redis.memory_mb = 64;
  EXPECT_FALSE(
      RenderRedis(RedisOwner(), redis).client_service["spec"].contains("publishNotReadyAddresses"))
      << "a Redis client Service sends writes to a ready primary only";
}

// The probe's command run by a real sh against a stand-in asinfo that prints what a node
// answers to `asinfo -v statistics` (the lab's kwok runs no container process).
TEST(RenderAerospikeTest, ReadinessCommandOnANodeThatMigratesThenSettles) {
  const std::string dir = ::testing::TempDir() + "/asinfo-" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  auto probe = [&](const std::string& answer, int exit_code) {
    FILE* f = std::fopen((dir + "/asinfo").c_str(), "w");
    EXPECT_NE(f, nullptr);
    std::fprintf(f, "#!/bin/sh\n[ \"$*\" = '-h 127.0.0.1 -p 3000 -v statistics' ] || exit 9\n");
    std::fprintf(f, "printf '%%s\\n' '%s'\nexit %d\n", answer.c_str(), exit_code);
    std::fclose(f);
    EXPECT_EQ(std::system(("chmod +x " + dir + "/asinfo").c_str()), 0);
    const std::string cmd = "PATH=" + dir + ":$PATH sh -c '" +
                            absl::StrReplaceAll(kAerospikeReadinessCommand, {{"'", "'\\''"}}) + "'";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
  };
  const std::string before = "cluster_size=3;cluster_key=A1B2;migrate_allowed=true;";
  EXPECT_FALSE(probe(before + "migrate_partitions_remaining=1289;uptime=40", 0));
  EXPECT_FALSE(probe("cluster_size=1;migrate_allowed=false;migrate_partitions_remaining=0", 0))
      << "a node still joining may not migrate yet";
  EXPECT_FALSE(probe("", 1)) << "asinfo cannot reach the node";
  EXPECT_FALSE(probe(before + "migrate_partitions_remaining=10;uptime=40", 0))
      << "a prefix of 0 is not 0";
  EXPECT_TRUE(probe(before + "migrate_partitions_remaining=0;uptime=90", 0));
  EXPECT_TRUE(probe("migrate_partitions_remaining=0;migrate_allowed=true", 0))
      << "the last field too";
}

TEST(RenderRedisTest, ClusterDomainReachesEveryInClusterName) {
  Owner owner = RedisOwner();
  owner.cluster_domain = "corp.example";
  RedisSpec spec;
  spec.memory_mb = 64;
  spec.replicas = 2;
  const std::string script =
      RenderRedis(owner, spec)
          .statefulset["spec"]["template"]["spec"]["containers"][0]["command"][2];
  EXPECT_THAT(
      script,
      HasSubstr(
          "--replicaof redis-sessions-0.redis-sessions-headless.senren.svc.corp.example 6379"));
  EXPECT_THAT(script, ::testing::Not(HasSubstr("cluster.local")));
  EXPECT_EQ(ClientHost(owner), "redis-sessions.senren.svc.corp.example");
  Observation o;
  EXPECT_EQ(ComputeStatus(owner, o, Json::object(), "t")["readHost"],
            "redis-sessions-read.senren.svc.corp.example");
  Owner aero = AerospikeOwner();
  aero.cluster_domain = "corp.example";
  AerospikeSpec as;
  as.size = 2;
  as.namespaces = {{"users", 1, 64, "memory"}};
  const std::string conf = AerospikeConf(aero, as);
  EXPECT_THAT(
      conf,
      HasSubstr("aerospike-profiles-1.aerospike-profiles-headless.senren.svc.corp.example 3002"));
  EXPECT_THAT(conf, ::testing::Not(HasSubstr("cluster.local")));
  EXPECT_TRUE(RenderAerospike(aero, as).read_service.is_null());
  EXPECT_FALSE(ComputeStatus(aero, o, Json::object(), "t").contains("readHost"));
}

TEST(RenderStorageTest, ClaimsOnlyWhereDataMustSurviveARestart) {
  RedisSpec redis;
  redis.memory_mb = 3000;
  EXPECT_FALSE(
      RenderRedis(RedisOwner(), redis).statefulset["spec"].contains("volumeClaimTemplates"));
  EXPECT_EQ(RenderRedis(RedisOwner(), redis)
                .statefulset["spec"]["template"]["spec"]["volumes"][0]["emptyDir"],
            Json::object());
  redis.persistence = "rdb";
  EXPECT_EQ(RedisStorageGb(redis), 6);  // ceil(6000 / 1024)
  Json sts = RenderRedis(RedisOwner(), redis).statefulset;
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "6Gi");
  redis.storage_gb = 1024;
  redis.storage_class = "fast-ssd";
  sts = RenderRedis(RedisOwner(), redis).statefulset;
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "1Ti");
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"], "fast-ssd");
  redis.memory_mb = 16;
  redis.storage_gb = 0;
  EXPECT_EQ(RedisStorageGb(redis), 1);

  AerospikeSpec as;
  as.size = 2;
  as.namespaces = {{"users", 1, 1024, "memory"}};
  Children c = RenderAerospike(AerospikeOwner(), as);
  EXPECT_FALSE(c.statefulset["spec"].contains("volumeClaimTemplates"));
  as.namespaces = {
      {"users", 1, 1024, "memory"}, {"events", 1, 768, "device"}, {"logs", 1, 256, "device"}};
  // Files of 4 × (768 + 256) MiB = 4 GiB in 90% of the volume: 5 GiB.
  EXPECT_EQ(AerospikeStorageGb(as), 5);
  EXPECT_EQ(AerospikeFileSizeMb(as, as.namespaces[1]), 5 * 1024 * 9 / 10 * 768 / 1024);
  EXPECT_LE(AerospikeFileSizeMb(as, as.namespaces[1]) + AerospikeFileSizeMb(as, as.namespaces[2]),
            5 * 1024);
  c = RenderAerospike(AerospikeOwner(), as);
  EXPECT_EQ(
      c.statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
      "5Gi");
  const Json& pod = c.statefulset["spec"]["template"]["spec"];
  ASSERT_EQ(pod["volumes"].size(), 1u) << "the claim replaces the emptyDir";
  EXPECT_EQ(pod["containers"][0]["volumeMounts"][1],
            (Json{{"name", "data"}, {"mountPath", "/opt/aerospike/data"}}));
  EXPECT_THAT(c.config_map["data"]["aerospike.conf"].get<std::string>(),
              HasSubstr(absl::StrCat("file /opt/aerospike/data/events.dat\n        filesize ",
                                     AerospikeFileSizeMb(as, as.namespaces[1]), "M")));
  as.storage_gb = 100;
  EXPECT_EQ(AerospikeFileSizeMb(as, as.namespaces[2]), 100 * 1024 * 9 / 10 / 4);
}

TEST(ParseSpecTest, StorageFieldsFollowTheRules) {
  auto ok =
      ParseRedisSpec({{"memoryMb", 64}, {"storageGb", 10}, {"storageClass", "ebs.csi.aws.com"}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->storage_gb, 10);
  EXPECT_EQ(ok->storage_class, "ebs.csi.aws.com");
  EXPECT_EQ(ParseRedisSpec({{"memoryMb", 64}})->storage_gb, 0);
  EXPECT_THAT(ParseRedisSpec({{"memoryMb", 64}, {"storageGb", 0}}).status().message(),
              HasSubstr("spec.storageGb"));
  EXPECT_THAT(ParseRedisSpec({{"memoryMb", 64}, {"storageClass", "Fast"}}).status().message(),
              HasSubstr("spec.storageClass"));
  EXPECT_THAT(ParseAerospikeSpec({{"size", 1},
                                  {"storageGb", 65537},
                                  {"namespaces", Json::array({{{"name", "a"}, {"memoryMb", 64}}})}})
                  .status()
                  .message(),
              HasSubstr("spec.storageGb"));
}

TEST(QuantityTest, RendersTheApiserversCanonicalForm) {
  EXPECT_EQ(MebibyteQuantity(512), "512Mi");
  EXPECT_EQ(MebibyteQuantity(1536), "1536Mi");
  EXPECT_EQ(MebibyteQuantity(2048), "2Gi");
  EXPECT_EQ(MebibyteQuantity(1048576), "1Ti");
  EXPECT_EQ(MebibyteQuantity(1024 * 1024 + 1024), "1025Gi");
  RedisSpec spec;
  spec.memory_mb = 2048;
  const Json c =
      RenderRedis(RedisOwner(), spec).statefulset["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["resources"]["requests"]["memory"], "2Gi");
  EXPECT_EQ(c["resources"]["limits"]["memory"], "2560Mi");
}

TEST(QuantityTest, ParsesEveryForm) {
  EXPECT_EQ(ParseQuantity("2Gi"), 2147483648.0L);
  EXPECT_EQ(ParseQuantity("2048Mi"), 2147483648.0L);
  EXPECT_EQ(ParseQuantity("1536Mi"), 1536.0L * 1048576);
  EXPECT_EQ(ParseQuantity("1"), 1.0L);
  EXPECT_EQ(ParseQuantity("1k"), 1000.0L);
  EXPECT_EQ(ParseQuantity("1e3"), 1000.0L);
  EXPECT_EQ(ParseQuantity("-2"), -2.0L);
  EXPECT_NEAR(static_cast<double>(*ParseQuantity("100m")), 0.1, 1e-15);
  EXPECT_NEAR(static_cast<double>(*ParseQuantity("1.5Gi")), 1610612736.0, 1e-3);
  for (const char* bad : {"", "Gi", "2GiB", "2 Gi", "1.2.3", "abc", "1e", "--1"}) {
    EXPECT_FALSE(ParseQuantity(bad).has_value()) << bad;
  }
}

TEST(ContainsAllTest, ResourcesCompareAsQuantitiesOtherStringsVerbatim) {
  // What the apiserver returns for what the controller renders or a person writes.
  const Json desired = {{"spec",
                         {{"resources",
                           {{"requests", {{"memory", "2048Mi"}, {"cpu", "1000m"}}},
                            {"limits", {{"memory", "1536Mi"}, {"cpu", "0.1"}}}}}}}};
  Json live = {{"spec",
                {{"resources",
                  {{"requests", {{"memory", "2Gi"}, {"cpu", "1"}}},
                   {"limits", {{"memory", "1536Mi"}, {"cpu", "100m"}}}}}}}};
  EXPECT_TRUE(ContainsAll(live, desired));
  live["spec"]["resources"]["requests"]["memory"] = "2047Mi";
  EXPECT_FALSE(ContainsAll(live, desired));
  live["spec"]["resources"]["requests"]["memory"] = "2Gi";
  live["spec"]["resources"]["limits"]["cpu"] = "101m";
  EXPECT_FALSE(ContainsAll(live, desired));
  live["spec"]["resources"]["limits"]["cpu"] = "not-a-quantity";
  EXPECT_FALSE(ContainsAll(live, desired));
  // Outside `resources` a string is a string: "1" is not "1000m".
  EXPECT_FALSE(ContainsAll(Json{{"a", "1"}}, Json{{"a", "1000m"}}));
  EXPECT_FALSE(
      ContainsAll(Json{{"annotations", {{"v", "2Gi"}}}}, Json{{"annotations", {{"v", "2048Mi"}}}}));
}

TEST(RenderAerospikeTest, ConfigMapWithGeneratedConfRollsPodsOnChange) {
  AerospikeSpec spec;
  spec.size = 3;
  spec.namespaces = {{"users", 2, 1024, "memory"}, {"events", 1, 256, "device"}};
  Children c = RenderAerospike(AerospikeOwner(), spec);
  const std::string conf = c.config_map["data"]["aerospike.conf"];
  EXPECT_THAT(conf, HasSubstr("namespace users {\n    replication-factor 2\n"));
  EXPECT_THAT(conf, HasSubstr("storage-engine memory {\n        data-size 1024M"));
  EXPECT_THAT(conf, HasSubstr("storage-engine device {"));
  EXPECT_THAT(
      conf,
      HasSubstr("mesh-seed-address-port "
                "aerospike-profiles-2.aerospike-profiles-headless.senren.svc.cluster.local 3002"));
  EXPECT_EQ(c.config_map["metadata"]["name"], "aerospike-profiles-conf");
  EXPECT_EQ(c.statefulset["spec"]["replicas"], 3);
  EXPECT_EQ(c.client_service["spec"]["ports"][0]["port"], 3000);
  const Json& pod = c.statefulset["spec"]["template"];
  EXPECT_EQ(pod["spec"]["volumes"][0]["configMap"]["name"], "aerospike-profiles-conf");
  const std::string hash = pod["metadata"]["annotations"]["senren.io/config-hash"];
  spec.namespaces[0].replication_factor = 3;
  Children changed = RenderAerospike(AerospikeOwner(), spec);
  EXPECT_NE(
      changed.statefulset["spec"]["template"]["metadata"]["annotations"]["senren.io/config-hash"],
      hash);
  spec.version = "6.4";
  EXPECT_THAT(AerospikeConf(AerospikeOwner(), spec), HasSubstr("memory-size 1024M"));
}

TEST(ContainsAllTest, ServerDefaultsDoNotMatterHandEditsDo) {
  Json desired = {{"spec", {{"replicas", 3}, {"ports", Json::array({{{"port", 1}}})}}}};
  Json live = {
      {"spec", {{"replicas", 3}, {"ports", Json::array({{{"port", 1}, {"protocol", "TCP"}}})}}},
      {"status", {{"readyReplicas", 3}}}};
  EXPECT_TRUE(ContainsAll(live, desired));
  live["spec"]["replicas"] = 5;
  EXPECT_FALSE(ContainsAll(live, desired));
  live["spec"]["replicas"] = 3;
  live["spec"]["ports"].push_back({{"port", 2}});
  EXPECT_FALSE(ContainsAll(live, desired));
}

Json Sts(int generation, int observed, int replicas, int ready, int updated,
         const std::string& cur = "r1", const std::string& upd = "r1") {
  return {{"metadata", {{"generation", generation}}},
          {"spec", {{"replicas", replicas}}},
          {"status",
           {{"observedGeneration", observed},
            {"replicas", replicas},
            {"readyReplicas", ready},
            {"updatedReplicas", updated},
            {"currentRevision", cur},
            {"updateRevision", upd}}}};
}

TEST(StatusTest, ReadyOnlyWhenAllReplicasReadyAtCurrentGeneration) {
  EXPECT_TRUE(StatefulSetReady(Sts(2, 2, 3, 3, 3), 3));
  EXPECT_FALSE(StatefulSetReady(Sts(2, 1, 3, 3, 3), 3)) << "old generation";
  EXPECT_FALSE(StatefulSetReady(Sts(2, 2, 3, 2, 3), 3));
  EXPECT_FALSE(StatefulSetReady(Sts(2, 2, 3, 3, 3, "r1", "r2"), 3)) << "rolling";
  EXPECT_FALSE(StatefulSetReady(Sts(2, 2, 3, 3, 3), 4)) << "spec not yet scaled";
  EXPECT_FALSE(StatefulSetReady(nullptr, 1));
}

Json AerospikePod(int ordinal, bool ready, bool terminating = false) {
  Json pod = {
      {"metadata", {{"name", absl::StrCat("aerospike-big-", ordinal)}}},
      {"status",
       {{"phase", "Running"},
        {"conditions", Json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}}}};
  if (terminating) pod["metadata"]["deletionTimestamp"] = "2026-12-02T07:00:00Z";
  return pod;
}

TEST(ScaleDownTest, PodOrdinalOnlyForTheStatefulSetsOwnPods) {
  EXPECT_EQ(PodOrdinal("aerospike-big-4", "aerospike-big"), 4);
  EXPECT_EQ(PodOrdinal("aerospike-big-12", "aerospike-big"), 12);
  EXPECT_EQ(PodOrdinal("aerospike-big-x-0", "aerospike-big"), std::nullopt);
  EXPECT_EQ(PodOrdinal("aerospike-big-", "aerospike-big"), std::nullopt);
  EXPECT_EQ(PodOrdinal("aerospike-bigger-0", "aerospike-big"), std::nullopt);
  EXPECT_EQ(PodOrdinal("aerospike-big-1a", "aerospike-big"), std::nullopt);
}

// The next node may go only when the last removal is over and every remaining node is
// ready (migrations done).
TEST(ScaleDownTest, NextPodGoesOnlyWhenTheRestAreReadyAndTheLastOneIsGone) {
  Json sts = Sts(3, 3, 4, 4, 4);
  sts["metadata"]["name"] = "aerospike-big";
  std::vector<Json> pods;
  for (int i = 0; i < 4; ++i) pods.push_back(AerospikePod(i, true));
  EXPECT_TRUE(ReadyToRemoveNextPod(sts, pods));

  std::vector<Json> migrating = pods;
  migrating[1] = AerospikePod(1, false);
  EXPECT_FALSE(ReadyToRemoveNextPod(sts, migrating)) << "a node still migrates";
  std::vector<Json> leaving = pods;
  leaving.push_back(AerospikePod(4, true, true));
  EXPECT_FALSE(ReadyToRemoveNextPod(sts, leaving)) << "the removed pod is still terminating";
  std::vector<Json> restarting = pods;
  restarting[3] = AerospikePod(3, true, true);
  EXPECT_FALSE(ReadyToRemoveNextPod(sts, restarting));
  std::vector<Json> missing(pods.begin(), pods.end() - 1);
  EXPECT_FALSE(ReadyToRemoveNextPod(sts, missing)) << "pod 3 not in the cache yet";
  std::vector<Json> pending = pods;
  pending[0]["status"]["phase"] = "Pending";
  EXPECT_FALSE(ReadyToRemoveNextPod(sts, pending));
  std::vector<Json> others = pods;
  others.push_back({{"metadata", {{"name", "aerospike-big-x-9"}}}});  // not one of its pods
  EXPECT_TRUE(ReadyToRemoveNextPod(sts, others));

  EXPECT_FALSE(ReadyToRemoveNextPod(Sts(4, 3, 4, 4, 4), pods)) << "new replicas not yet seen";
  Json stale = Sts(3, 3, 4, 3, 4);
  stale["metadata"]["name"] = "aerospike-big";
  EXPECT_FALSE(ReadyToRemoveNextPod(stale, pods)) << "the StatefulSet counts a pod not ready";
  Json rolling = Sts(3, 3, 4, 4, 4, "r1", "r2");
  rolling["metadata"]["name"] = "aerospike-big";
  EXPECT_FALSE(ReadyToRemoveNextPod(rolling, pods)) << "a roll is not finished";
}

TEST(StatusTest, ScalingDownIsProvisioning) {
  Observation o;
  o.generation = 2;
  o.desired_replicas = 2;
  o.statefulset = Sts(3, 3, 4, 4, 4);
  Json st = ComputeStatus(AerospikeOwner(), o, Json::object(), "T1");
  EXPECT_EQ(st["phase"], "Provisioning");
  EXPECT_EQ(st["ready"], false);
  EXPECT_EQ(st["conditions"][1]["reason"], "ScalingDown");
  EXPECT_EQ(st["message"], "4/4 replicas ready, removing one at a time down to 2");
}

TEST(StatusTest, PhasesConditionsAndStableTransitionTimes) {
  Observation o;
  o.generation = 4;
  o.desired_replicas = 3;
  Json pending = ComputeStatus(RedisOwner(), o, Json::object(), "T1");
  EXPECT_EQ(pending["phase"], "Pending");
  EXPECT_EQ(pending["ready"], false);
  EXPECT_EQ(pending["host"], "redis-sessions.senren.svc.cluster.local");
  EXPECT_EQ(pending["port"], 6379);
  EXPECT_EQ(pending["observedGeneration"], 4);

  o.statefulset = Sts(1, 1, 3, 1, 3);
  Json prov = ComputeStatus(RedisOwner(), o, pending, "T2");
  EXPECT_EQ(prov["phase"], "Provisioning");
  EXPECT_EQ(prov["readyReplicas"], 1);
  EXPECT_EQ(prov["message"], "1/3 replicas ready");
  EXPECT_EQ(prov["conditions"][0]["lastTransitionTime"], "T1") << "Ready stayed False";

  o.statefulset = Sts(1, 1, 3, 3, 3);
  Json ready = ComputeStatus(RedisOwner(), o, prov, "T3");
  EXPECT_EQ(ready["phase"], "Ready");
  EXPECT_EQ(ready["ready"], true);
  EXPECT_EQ(ready["conditions"][0]["type"], "Ready");
  EXPECT_EQ(ready["conditions"][0]["status"], "True");
  EXPECT_EQ(ready["conditions"][0]["lastTransitionTime"], "T3");
  EXPECT_EQ(ready["conditions"][2]["type"], "Degraded");
  EXPECT_EQ(ready["conditions"][2]["status"], "False");
  EXPECT_EQ(ComputeStatus(RedisOwner(), o, ready, "T4"), ready)
      << "nothing changed: identical status, so no write";

  o.child_error = "statefulsets \"sessions\" is forbidden: exceeded quota";
  Json failed = ComputeStatus(RedisOwner(), o, ready, "T5");
  EXPECT_EQ(failed["phase"], "Failed");
  EXPECT_EQ(failed["ready"], false);
  EXPECT_EQ(failed["conditions"][2]["status"], "True");
  EXPECT_EQ(failed["conditions"][2]["reason"], "ChildApplyFailed");
  EXPECT_THAT(failed["message"].get<std::string>(), HasSubstr("exceeded quota"));

  Observation bad;
  bad.invalid_spec = "spec.namespaces[0].replicationFactor: 3 exceeds size 2";
  Json invalid = ComputeStatus(AerospikeOwner(), bad, Json::object(), "T6");
  EXPECT_EQ(invalid["phase"], "Failed");
  EXPECT_EQ(invalid["conditions"][2]["reason"], "InvalidSpec");
  EXPECT_EQ(invalid["port"], 3000);
}

TEST(StatusTest, StuckPodIsFailedWithItsReasonUntilReady) {
  Json pod = {{"metadata", {{"name", "redis-sessions-0"}}},
              {"status",
               {{"containerStatuses",
                 Json::array({{{"name", "redis"},
                               {"state",
                                {{"waiting",
                                  {{"reason", "ImagePullBackOff"},
                                   {"message", "Back-off pulling image \"redis:9.9\""}}}}}}})}}}};
  std::string reason;
  std::string problem = PodProblem(pod, &reason);
  EXPECT_EQ(reason, "ImagePullBackOff");
  EXPECT_EQ(problem,
            "pod redis-sessions-0: ImagePullBackOff: Back-off pulling image \"redis:9.9\"");
  pod["status"]["containerStatuses"][0]["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
  EXPECT_EQ(PodProblem(pod, &reason), "") << "a normal wait is no problem";

  Observation o;
  o.generation = 1;
  o.desired_replicas = 1;
  o.statefulset = Sts(1, 1, 1, 0, 1);
  o.pod_problem = problem;
  o.pod_problem_reason = "ImagePullBackOff";
  Json stuck = ComputeStatus(RedisOwner(), o, Json::object(), "T1");
  EXPECT_EQ(stuck["phase"], "Failed");
  EXPECT_EQ(stuck["conditions"][2]["reason"], "ImagePullBackOff");
  EXPECT_THAT(stuck["message"].get<std::string>(), HasSubstr("redis:9.9"));
  o.statefulset = Sts(1, 1, 1, 1, 1);
  EXPECT_EQ(ComputeStatus(RedisOwner(), o, stuck, "T2")["phase"], "Ready")
      << "ready replicas win over a stale pod report";
}

}  // namespace
}  // namespace senren::regional::controller
