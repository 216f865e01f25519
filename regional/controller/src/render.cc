#include "regional/controller/render.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/rules.h"

namespace senren::regional::controller {
namespace {

constexpr char kApiVersion[] = "senren.io/v1alpha1";

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Hex8(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return std::string(buf, 8);
}

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", why));
}

absl::StatusOr<int64_t> IntField(const Json& spec, const std::string& field,
                                 const common::IntRule& rule, std::optional<int64_t> dflt,
                                 const std::string& path) {
  const int64_t lo = rule.minimum, hi = rule.maximum;
  if (!spec.contains(field) || spec[field].is_null()) {
    if (dflt) return *dflt;
    return Invalid(path, "required");
  }
  if (!spec[field].is_number_integer()) return Invalid(path, "must be an integer");
  const int64_t v = spec[field].get<int64_t>();
  if (v < lo || v > hi) return Invalid(path, absl::StrCat(v, " is not in ", lo, "..", hi));
  return v;
}

std::string StrField(const Json& spec, const std::string& field, const std::string& dflt) {
  if (!spec.contains(field) || !spec[field].is_string()) return dflt;
  return spec[field].get<std::string>();
}

// storageGb (absent: 0, derived) and storageClass (absent: the cluster's default).
absl::Status ParseStorage(const Json& spec, const common::IntRule& gb_rule,
                          const common::StringRule& class_rule, int64_t* gb, std::string* cls) {
  auto size = IntField(spec, "storageGb", gb_rule, int64_t{0}, "storageGb");
  if (!size.ok()) return size.status();
  *gb = *size;
  *cls = StrField(spec, "storageClass", "");
  if (!cls->empty() && !class_rule.Matches(*cls)) {
    return Invalid("storageClass", absl::StrCat("\"", *cls, "\" is not a StorageClass name (",
                                                class_rule.pattern, ")"));
  }
  return absl::OkStatus();
}

// One ReadWriteOnce claim "data" per pod, of `gb` GiB.
Json DataClaimTemplate(const Owner& owner, int64_t gb, const std::string& storage_class) {
  Json spec = {{"accessModes", Json::array({"ReadWriteOnce"})},
               {"resources", {{"requests", {{"storage", MebibyteQuantity(gb * 1024)}}}}}};
  if (!storage_class.empty()) spec["storageClassName"] = storage_class;
  return {{"metadata", {{"name", "data"}, {"labels", ChildLabels(owner)}}}, {"spec", spec}};
}

// The StatefulSet keeps its claims on scale-down and deletion: deleting a resource from
// the state never deletes its data (docs/design.md §6).
void AddClaim(Json* statefulset, Json claim) {
  (*statefulset)["spec"]["volumeClaimTemplates"] = Json::array({std::move(claim)});
  (*statefulset)["spec"]["persistentVolumeClaimRetentionPolicy"] = {{"whenDeleted", "Retain"},
                                                                    {"whenScaled", "Retain"}};
}

Json OwnerReference(const Owner& owner) {
  return {{"apiVersion", kApiVersion}, {"kind", KindName(owner.kind)},
          {"name", owner.name},        {"uid", owner.uid},
          {"controller", true},        {"blockOwnerDeletion", true}};
}

Json Metadata(const Owner& owner, const std::string& name) {
  return {{"name", name},
          {"namespace", owner.ns},
          {"labels", ChildLabels(owner)},
          {"ownerReferences", Json::array({OwnerReference(owner)})}};
}

std::string Quantity(int64_t mib) { return MebibyteQuantity(mib); }

bool ContainsAllIn(const Json& live, const Json& desired, bool quantities) {
  if (desired.is_object()) {
    if (!live.is_object()) return false;
    for (auto it = desired.begin(); it != desired.end(); ++it) {
      if (!live.contains(it.key()) ||
          !ContainsAllIn(live[it.key()], it.value(), quantities || it.key() == "resources")) {
        return false;
      }
    }
    return true;
  }
  if (desired.is_array()) {
    if (!live.is_array() || live.size() != desired.size()) return false;
    for (size_t i = 0; i < desired.size(); ++i) {
      if (!ContainsAllIn(live[i], desired[i], quantities)) return false;
    }
    return true;
  }
  if (desired.is_number() && live.is_number()) {
    return desired.get<double>() == live.get<double>();
  }
  if (quantities && desired.is_string() && live.is_string() && desired != live) {
    const auto want = ParseQuantity(desired.get<std::string>());
    const auto have = ParseQuantity(live.get<std::string>());
    if (!want || !have) return false;
    // Exact for whole bytes and millicores; the tolerance only absorbs decimal fractions
    // ("0.1" vs "100m") that long double cannot hold exactly.
    const long double scale = std::max<long double>(1, std::fabs(*want));
    return std::fabs(*want - *have) <= scale * 1e-12L;
  }
  return live == desired;
}

Json AntiAffinity(const Owner& owner) {
  // Preferred, never required: a cluster with fewer nodes than replicas still schedules.
  return {{"podAntiAffinity",
           {{"preferredDuringSchedulingIgnoredDuringExecution",
             Json::array({{{"weight", 100},
                           {"podAffinityTerm",
                            {{"topologyKey", "kubernetes.io/hostname"},
                             {"labelSelector", {{"matchLabels", SelectorLabels(owner)}}}}}}})}}}};
}

Json Service(const Owner& owner, const std::string& name, Json selector, const Json& port) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", Metadata(owner, name)},
      {"spec", {{"type", "ClusterIP"}, {"selector", selector}, {"ports", Json::array({port})}}}};
}

void Services(const Owner& owner, const ChildNames& names, const Json& ports, Children* out) {
  out->headless_service = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", Metadata(owner, names.headless_service)},
      {"spec",
       {{"clusterIP", "None"},
        {"publishNotReadyAddresses", true},  // peers find each other before they are ready
        {"selector", SelectorLabels(owner)},
        {"ports", ports}}}};
  Json client_selector = SelectorLabels(owner);
  if (owner.kind == Kind::kRedisDatabase) {
    // Writes go to the primary only: pod 0, by the label the StatefulSet controller puts
    // on every pod. Reads may go to any pod through the read Service.
    client_selector[kPodNameLabel] = absl::StrCat(names.statefulset, "-0");
    out->read_service = Service(owner, names.read_service, SelectorLabels(owner), ports[0]);
  }
  out->client_service = Service(owner, names.client_service, client_selector, ports[0]);
  if (owner.kind == Kind::kAerospikeCluster) {
    // An Aerospike pod is ready only once its partitions stopped migrating
    // (kAerospikeReadinessCommand), and while they migrate every node counts some: without
    // this the client Service would have no endpoints for the whole migration and no new
    // client could find the cluster. Clients only bootstrap through it and then talk to
    // the nodes the cluster itself names.
    out->client_service["spec"]["publishNotReadyAddresses"] = true;
  }
}

// At most one pod of the database down at a time for voluntary disruptions (drains,
// evictions); see Children::disruption_budget.
Json DisruptionBudget(const Owner& owner, const ChildNames& names) {
  return {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", Metadata(owner, names.disruption_budget)},
      {"spec", {{"maxUnavailable", 1}, {"selector", {{"matchLabels", SelectorLabels(owner)}}}}}};
}

Json StatefulSet(const Owner& owner, const ChildNames& names, int replicas, Json pod_spec,
                 Json pod_annotations) {
  Json pod_labels = ChildLabels(owner);
  Json template_meta = {{"labels", pod_labels}};
  if (!pod_annotations.empty()) template_meta["annotations"] = pod_annotations;
  pod_spec["affinity"] = AntiAffinity(owner);
  pod_spec["terminationGracePeriodSeconds"] = 30;
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", Metadata(owner, names.statefulset)},
          {"spec",
           {{"replicas", replicas},
            {"serviceName", names.headless_service},
            // Parallel concerns scaling only (pods start and stop together). An update
            // still replaces one pod at a time, from the highest ordinal down, and goes on
            // only once the replaced pod is ready: Redis replicas roll before the primary
            // (pod 0); an Aerospike pod is ready only when migrations are done.
            {"podManagementPolicy", "Parallel"},
            {"updateStrategy", {{"type", "RollingUpdate"}}},
            {"selector", {{"matchLabels", SelectorLabels(owner)}}},
            {"template", {{"metadata", template_meta}, {"spec", pod_spec}}}}}};
}

int MajorVersion(const std::string& version) {
  int major = 0;
  std::vector<std::string> parts = absl::StrSplit(version, '.');
  if (parts.empty() || !absl::SimpleAtoi(parts[0], &major)) return 0;
  return major;
}

Json Condition(const std::string& type, bool status, const std::string& reason,
               const std::string& message, int64_t generation, const Json& previous,
               const std::string& now) {
  const std::string s = status ? "True" : "False";
  std::string since = now;
  if (previous.is_object() && previous.contains("conditions") &&
      previous["conditions"].is_array()) {
    for (const auto& c : previous["conditions"]) {
      if (c.value("type", "") == type && c.value("status", "") == s) {
        since = c.value("lastTransitionTime", now);
      }
    }
  }
  return {{"type", type},
          {"status", s},
          {"reason", reason},
          {"message", message},
          {"lastTransitionTime", since},
          {"observedGeneration", generation}};
}

}  // namespace

const char* KindName(Kind kind) {
  return kind == Kind::kRedisDatabase ? "RedisDatabase" : "AerospikeCluster";
}
const char* KindShortName(Kind kind) {
  return kind == Kind::kRedisDatabase ? "redis" : "aerospike";
}
int ClientPort(Kind kind) { return kind == Kind::kRedisDatabase ? 6379 : 3000; }

absl::StatusOr<RedisSpec> ParseRedisSpec(const Json& spec) {
  if (!spec.is_object()) return Invalid("", "spec must be an object");
  const auto& rules = common::GetRules().redis;
  RedisSpec out;
  auto memory = IntField(spec, "memoryMb", rules.memory_mb, std::nullopt, "memoryMb");
  if (!memory.ok()) return memory.status();
  out.memory_mb = *memory;
  auto replicas = IntField(spec, "replicas", rules.replicas, rules.default_replicas, "replicas");
  if (!replicas.ok()) return replicas.status();
  out.replicas = static_cast<int>(*replicas);
  out.version = StrField(spec, "version", rules.default_version);
  if (!rules.version.Matches(out.version)) {
    return Invalid("version", absl::StrCat("\"", out.version, "\" is not a version like 7.2 (",
                                           rules.version.pattern, ")"));
  }
  out.persistence = StrField(spec, "persistence", rules.default_persistence);
  if (!rules.persistence.Contains(out.persistence)) {
    return Invalid("persistence", absl::StrCat("\"", out.persistence, "\" is not one of ",
                                               rules.persistence.Joined()));
  }
  out.eviction_policy = StrField(spec, "evictionPolicy", "");
  if (absl::Status st = ParseStorage(spec, rules.storage_gb, rules.storage_class, &out.storage_gb,
                                     &out.storage_class);
      !st.ok()) {
    return st;
  }
  return out;
}

absl::StatusOr<AerospikeSpec> ParseAerospikeSpec(const Json& spec) {
  if (!spec.is_object()) return Invalid("", "spec must be an object");
  const auto& rules = common::GetRules().aerospike;
  const auto& ns_rules = common::GetRules().aerospike_namespace;
  AerospikeSpec out;
  auto size = IntField(spec, "size", rules.size, std::nullopt, "size");
  if (!size.ok()) return size.status();
  out.size = static_cast<int>(*size);
  out.version = StrField(spec, "version", rules.default_version);
  if (!rules.version.Matches(out.version)) {
    return Invalid("version", absl::StrCat("\"", out.version, "\" is not a version like 7.1 (",
                                           rules.version.pattern, ")"));
  }
  if (!spec.contains("namespaces") || !spec["namespaces"].is_array() ||
      spec["namespaces"].empty()) {
    return Invalid("namespaces", "at least one namespace is required");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < spec["namespaces"].size(); ++i) {
    const Json& n = spec["namespaces"][i];
    const std::string path = absl::StrCat("namespaces[", i, "]");
    AerospikeNamespaceSpec ns;
    ns.name = StrField(n, "name", "");
    if (ns.name.empty()) return Invalid(path + ".name", "required");
    if (!seen.insert(ns.name).second) {
      return Invalid(path + ".name", absl::StrCat("duplicate namespace \"", ns.name, "\""));
    }
    auto rf = IntField(n, "replicationFactor", ns_rules.replication_factor,
                       ns_rules.default_replication_factor, path + ".replicationFactor");
    if (!rf.ok()) return rf.status();
    if (*rf > out.size) {
      return Invalid(path + ".replicationFactor",
                     absl::StrCat(*rf, " exceeds size ", out.size,
                                  ": a cluster cannot keep more copies than it has nodes"));
    }
    ns.replication_factor = static_cast<int>(*rf);
    auto mem = IntField(n, "memoryMb", ns_rules.memory_mb, std::nullopt, path + ".memoryMb");
    if (!mem.ok()) return mem.status();
    ns.memory_mb = *mem;
    ns.storage = StrField(n, "storage", ns_rules.default_storage);
    if (!ns_rules.storage.Contains(ns.storage)) {
      return Invalid(path + ".storage", absl::StrCat("\"", ns.storage, "\" is not one of ",
                                                     ns_rules.storage.Joined()));
    }
    out.namespaces.push_back(ns);
  }
  if (absl::Status st = ParseStorage(spec, rules.storage_gb, rules.storage_class, &out.storage_gb,
                                     &out.storage_class);
      !st.ok()) {
    return st;
  }
  return out;
}

std::string ChildName(const std::string& base, const std::string& suffix, size_t max_len) {
  std::string name = base + suffix;
  bool letter_first = !name.empty() && absl::ascii_islower(static_cast<unsigned char>(name[0]));
  if (letter_first && name.size() <= max_len) return name;
  std::string prefix = letter_first ? "" : "s";
  const std::string hash = "-" + Hex8(Fnv1a(base));
  size_t room = max_len - prefix.size() - suffix.size() - hash.size();
  std::string cut = base.substr(0, std::min(room, base.size()));
  while (!cut.empty() && cut.back() == '-') cut.pop_back();
  return prefix + cut + hash + suffix;
}

ChildNames NamesFor(Kind kind, const std::string& cr_name) {
  const std::string base = absl::StrCat(KindShortName(kind), "-", cr_name);
  ChildNames n;
  n.statefulset = ChildName(base, "", 52);
  n.client_service = ChildName(base, "", 63);
  n.headless_service = ChildName(base, "-headless", 63);
  n.read_service = ChildName(base, "-read", 63);
  n.config_map = ChildName(base, "-conf", 63);
  n.disruption_budget = n.client_service;
  return n;
}

std::string ClientHost(const Owner& owner) {
  return absl::StrCat(NamesFor(owner.kind, owner.name).client_service, ".", owner.ns, ".svc.",
                      owner.cluster_domain);
}

std::string ReadHost(const Owner& owner) {
  if (owner.kind != Kind::kRedisDatabase) return "";
  return absl::StrCat(NamesFor(owner.kind, owner.name).read_service, ".", owner.ns, ".svc.",
                      owner.cluster_domain);
}

std::string PodHost(const Owner& owner, int ordinal) {
  const ChildNames names = NamesFor(owner.kind, owner.name);
  return absl::StrCat(names.statefulset, "-", ordinal, ".", names.headless_service, ".", owner.ns,
                      ".svc.", owner.cluster_domain);
}

Json SelectorLabels(const Owner& owner) {
  return {{"app.kubernetes.io/name", KindShortName(owner.kind)}, {kInstanceLabel, owner.name}};
}

Json ChildLabels(const Owner& owner) {
  Json labels = SelectorLabels(owner);
  labels[kManagedByLabel] = kControllerName;
  labels["app.kubernetes.io/part-of"] = "senren";
  labels[kOwnerKindLabel] = KindName(owner.kind);
  if (!owner.region.empty()) labels["senren.io/region"] = owner.region;
  return labels;
}

Children RenderRedis(const Owner& owner, const RedisSpec& spec) {
  const ChildNames names = NamesFor(owner.kind, owner.name);
  Children out;
  Services(
      owner, names,
      Json::array({{{"name", "redis"}, {"port", 6379}, {"targetPort", 6379}, {"protocol", "TCP"}}}),
      &out);
  // protected-mode no: without a password a stock redis-server answers loopback clients
  // only, and replicas and clients come from other pods (the Docker library image patches
  // this default; the flag keeps any image correct).
  std::string flags = absl::StrCat("--port 6379 --dir /data --protected-mode no --maxmemory ",
                                   spec.memory_mb, "mb");
  absl::StrAppend(&flags, " --maxmemory-policy ",
                  spec.eviction_policy.empty() ? "noeviction" : spec.eviction_policy);
  absl::StrAppend(&flags, " --appendonly ", spec.persistence == "aof" ? "yes" : "no");
  if (spec.persistence != "rdb") absl::StrAppend(&flags, " --save ''");
  // Pod 0 is the primary; the others replicate from it by its stable DNS name.
  const std::string primary = PodHost(owner, 0);
  const std::string script = absl::StrCat(
      "ordinal=${HOSTNAME##*-}; if [ \"$ordinal\" = 0 ]; then exec redis-server ", flags,
      "; else exec redis-server ", flags, " --replicaof ", primary, " 6379; fi");
  const int64_t limit = spec.memory_mb + std::max<int64_t>(64, spec.memory_mb / 4);
  Json container = {
      {"name", "redis"},
      {"image", absl::StrCat("redis:", spec.version)},
      {"command", Json::array({"sh", "-c", script})},
      {"ports", Json::array({{{"name", "redis"}, {"containerPort", 6379}, {"protocol", "TCP"}}})},
      {"resources",
       {{"requests", {{"cpu", "100m"}, {"memory", Quantity(spec.memory_mb)}}},
        {"limits", {{"memory", Quantity(limit)}}}}},
      {"readinessProbe",
       {{"exec", {{"command", Json::array({"redis-cli", "ping"})}}},
        {"periodSeconds", 5},
        {"timeoutSeconds", 2}}},
      {"livenessProbe",
       {{"tcpSocket", {{"port", 6379}}}, {"initialDelaySeconds", 15}, {"periodSeconds", 10}}},
      {"volumeMounts", Json::array({{{"name", "data"}, {"mountPath", "/data"}}})}};
  Json pod_spec = {{"containers", Json::array({container})}};
  // Without persistence the data dir holds nothing worth keeping: an emptyDir.
  if (!RedisNeedsStorage(spec)) {
    pod_spec["volumes"] = Json::array({{{"name", "data"}, {"emptyDir", Json::object()}}});
  }
  out.statefulset = StatefulSet(owner, names, spec.replicas, pod_spec, Json::object());
  out.disruption_budget = DisruptionBudget(owner, names);
  if (RedisNeedsStorage(spec)) {
    AddClaim(&out.statefulset, DataClaimTemplate(owner, RedisStorageGb(spec), spec.storage_class));
  }
  return out;
}

bool RedisNeedsStorage(const RedisSpec& spec) { return spec.persistence != "none"; }

bool AerospikeNeedsStorage(const AerospikeSpec& spec) {
  for (const auto& ns : spec.namespaces) {
    if (ns.storage == "device") return true;
  }
  return false;
}

int64_t RedisStorageGb(const RedisSpec& spec) {
  if (spec.storage_gb > 0) return spec.storage_gb;
  return std::max<int64_t>(1, (2 * spec.memory_mb + 1023) / 1024);
}

namespace {
int64_t DeviceMemoryMb(const AerospikeSpec& spec) {
  int64_t total = 0;
  for (const auto& ns : spec.namespaces) {
    if (ns.storage == "device") total += ns.memory_mb;
  }
  return total;
}
}  // namespace

int64_t AerospikeStorageGb(const AerospikeSpec& spec) {
  if (spec.storage_gb > 0) return spec.storage_gb;
  // Files of 4 × memory in 90% of the volume.
  const int64_t files_mb = 4 * DeviceMemoryMb(spec);
  return std::max<int64_t>(1, (files_mb * 10 + 9 * 1024 - 1) / (9 * 1024));
}

int64_t AerospikeFileSizeMb(const AerospikeSpec& spec, const AerospikeNamespaceSpec& ns) {
  const int64_t total = DeviceMemoryMb(spec);
  if (total == 0) return 0;
  const int64_t usable_mb = AerospikeStorageGb(spec) * 1024 * 9 / 10;
  return usable_mb * ns.memory_mb / total;
}

std::string AerospikeConf(const Owner& owner, const AerospikeSpec& spec) {
  const bool v7 = MajorVersion(spec.version) >= 7;
  std::string conf = absl::StrCat("# Generated by senren-controller for AerospikeCluster ",
                                  owner.ns, "/", owner.name, "; edits are overwritten.\n");
  absl::StrAppend(&conf, "service {\n    proto-fd-max 15000\n    cluster-name ", owner.name,
                  "\n}\n\nlogging {\n    console {\n        context any info\n    }\n}\n\n");
  absl::StrAppend(&conf,
                  "network {\n    service {\n        address any\n        port 3000\n    }\n",
                  "    heartbeat {\n        mode mesh\n        address any\n        port 3002\n");
  for (int i = 0; i < spec.size; ++i) {
    absl::StrAppend(&conf, "        mesh-seed-address-port ", PodHost(owner, i), " 3002\n");
  }
  absl::StrAppend(&conf, "        interval 150\n        timeout 10\n    }\n",
                  "    fabric {\n        address any\n        port 3001\n    }\n",
                  "    info {\n        address any\n        port 3003\n    }\n}\n");
  for (const auto& ns : spec.namespaces) {
    absl::StrAppend(&conf, "\nnamespace ", ns.name, " {\n    replication-factor ",
                    ns.replication_factor, "\n");
    if (ns.storage == "device") {
      if (!v7) absl::StrAppend(&conf, "    memory-size ", ns.memory_mb, "M\n");
      absl::StrAppend(&conf, "    storage-engine device {\n        file /opt/aerospike/data/",
                      ns.name, ".dat\n        filesize ", AerospikeFileSizeMb(spec, ns),
                      "M\n    }\n}\n");
    } else if (v7) {
      absl::StrAppend(&conf, "    storage-engine memory {\n        data-size ", ns.memory_mb,
                      "M\n    }\n}\n");
    } else {
      absl::StrAppend(&conf, "    memory-size ", ns.memory_mb, "M\n    storage-engine memory\n}\n");
    }
  }
  return conf;
}

Children RenderAerospike(const Owner& owner, const AerospikeSpec& spec) {
  const ChildNames names = NamesFor(owner.kind, owner.name);
  Children out;
  Services(owner, names,
           Json::array(
               {{{"name", "service"}, {"port", 3000}, {"targetPort", 3000}, {"protocol", "TCP"}},
                {{"name", "fabric"}, {"port", 3001}, {"targetPort", 3001}, {"protocol", "TCP"}},
                {{"name", "heartbeat"}, {"port", 3002}, {"targetPort", 3002}, {"protocol", "TCP"}},
                {{"name", "info"}, {"port", 3003}, {"targetPort", 3003}, {"protocol", "TCP"}}}),
           &out);
  const std::string conf = AerospikeConf(owner, spec);
  out.config_map = {{"apiVersion", "v1"},
                    {"kind", "ConfigMap"},
                    {"metadata", Metadata(owner, names.config_map)},
                    {"data", {{"aerospike.conf", conf}}}};
  int64_t memory = 256;
  for (const auto& ns : spec.namespaces) memory += ns.memory_mb;
  Json ports = Json::array();
  for (auto [name, port] : std::vector<std::pair<const char*, int>>{
           {"service", 3000}, {"fabric", 3001}, {"heartbeat", 3002}, {"info", 3003}}) {
    ports.push_back({{"name", name}, {"containerPort", port}, {"protocol", "TCP"}});
  }
  Json container = {
      {"name", "aerospike"},
      {"image", absl::StrCat("aerospike/aerospike-server:", spec.version)},
      {"args", Json::array({"--config-file", "/etc/aerospike/aerospike.conf"})},
      {"ports", ports},
      {"resources",
       {{"requests", {{"cpu", "250m"}, {"memory", Quantity(memory)}}},
        {"limits", {{"memory", Quantity(memory + memory / 4)}}}}},
      {"readinessProbe",
       {{"exec", {{"command", Json::array({"sh", "-c", kAerospikeReadinessCommand})}}},
        {"periodSeconds", 5},
        {"timeoutSeconds", 5}}},
      {"livenessProbe",
       {{"tcpSocket", {{"port", 3000}}}, {"initialDelaySeconds", 30}, {"periodSeconds", 10}}},
      {"volumeMounts", Json::array({{{"name", "conf"}, {"mountPath", "/etc/aerospike"}},
                                    {{"name", "data"}, {"mountPath", "/opt/aerospike/data"}}})}};
  Json volumes = Json::array({{{"name", "conf"}, {"configMap", {{"name", names.config_map}}}}});
  // Device namespaces keep their files on the claim; memory-only ones keep nothing there.
  if (!AerospikeNeedsStorage(spec))
    volumes.push_back({{"name", "data"}, {"emptyDir", Json::object()}});
  Json pod_spec = {{"containers", Json::array({container})}, {"volumes", volumes}};
  // A changed aerospike.conf rolls the pods (Aerospike reads it only at start).
  Json annotations = {{"senren.io/config-hash", Hex8(Fnv1a(conf))}};
  out.statefulset = StatefulSet(owner, names, spec.size, pod_spec, annotations);
  out.disruption_budget = DisruptionBudget(owner, names);
  if (AerospikeNeedsStorage(spec)) {
    AddClaim(&out.statefulset,
             DataClaimTemplate(owner, AerospikeStorageGb(spec), spec.storage_class));
  }
  return out;
}

bool ContainsAll(const Json& live, const Json& desired) {
  return ContainsAllIn(live, desired, false);
}

std::optional<long double> ParseQuantity(const std::string& s) {
  // <sign><digits>[.<digits>]<suffix>, suffix one of the binary (Ki..Ei), decimal (n u m
  // "" k M G T P E) or exponent (e<int> / E<int>) forms of k8s.io/apimachinery's Quantity.
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  long double value = 0;
  int digits = 0;
  while (i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
    value = value * 10 + (s[i++] - '0');
    ++digits;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    long double scale = 0.1L;
    while (i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
      value += (s[i++] - '0') * scale;
      scale /= 10;
      ++digits;
    }
  }
  if (digits == 0) return std::nullopt;
  const std::string suffix = s.substr(i);
  static const std::vector<std::pair<std::string, long double>> kSuffixes = {
      {"", 1},
      {"n", 1e-9L},
      {"u", 1e-6L},
      {"m", 1e-3L},
      {"k", 1e3L},
      {"M", 1e6L},
      {"G", 1e9L},
      {"T", 1e12L},
      {"P", 1e15L},
      {"E", 1e18L},
      {"Ki", 1024.0L},
      {"Mi", 1048576.0L},
      {"Gi", 1073741824.0L},
      {"Ti", 1099511627776.0L},
      {"Pi", 1125899906842624.0L},
      {"Ei", 1152921504606846976.0L}};
  long double multiplier = 0;
  for (const auto& [name, factor] : kSuffixes) {
    if (suffix == name) multiplier = factor;
  }
  if (multiplier == 0) {
    int exponent = 0;
    if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E') ||
        !absl::SimpleAtoi(suffix.substr(1), &exponent) || exponent < -30 || exponent > 30) {
      return std::nullopt;
    }
    multiplier = std::pow(10.0L, exponent);
  }
  return (negative ? -value : value) * multiplier;
}

std::string MebibyteQuantity(int64_t mib) {
  static constexpr const char* kUnits[] = {"Mi", "Gi", "Ti", "Pi", "Ei"};
  size_t unit = 0;
  while (mib != 0 && mib % 1024 == 0 && unit + 1 < std::size(kUnits)) {
    mib /= 1024;
    ++unit;
  }
  return absl::StrCat(mib, kUnits[unit]);
}

std::string PodProblem(const Json& pod, std::string* reason) {
  static const std::set<std::string> kStuck = {
      "ErrImagePull",      "ImagePullBackOff",           "InvalidImageName",
      "CrashLoopBackOff",  "CreateContainerConfigError", "CreateContainerError",
      "RunContainerError", "ErrImageNeverPull"};
  if (!pod.is_object() || !pod.contains("status")) return "";
  for (const char* field : {"initContainerStatuses", "containerStatuses"}) {
    const Json statuses = pod["status"].value(field, Json::array());
    for (const auto& cs : statuses) {
      if (!cs.contains("state") || !cs["state"].contains("waiting")) continue;
      const Json& waiting = cs["state"]["waiting"];
      const std::string why = waiting.value("reason", "");
      if (!kStuck.contains(why)) continue;
      *reason = why;
      std::string message = absl::StrCat("pod ", pod["metadata"].value("name", ""), ": ", why);
      const std::string detail = waiting.value("message", "");
      if (!detail.empty()) absl::StrAppend(&message, ": ", detail.substr(0, 300));
      return message;
    }
  }
  return "";
}

bool StatefulSetReady(const Json& sts, int replicas) {
  if (!sts.is_object()) return false;
  const Json status = sts.contains("status") ? sts["status"] : Json::object();
  const int64_t generation = sts["metadata"].value("generation", int64_t{0});
  if (status.value("observedGeneration", int64_t{-1}) < generation) return false;
  if (sts["spec"].value("replicas", 1) != replicas) return false;
  const std::string update_rev = status.value("updateRevision", "");
  const std::string current_rev = status.value("currentRevision", "");
  return status.value("readyReplicas", 0) == replicas &&
         status.value("updatedReplicas", 0) == replicas &&
         status.value("replicas", 0) == replicas &&
         (update_rev.empty() || update_rev == current_rev);
}

std::optional<int> PodOrdinal(const std::string& pod_name, const std::string& statefulset) {
  const std::string prefix = statefulset + "-";
  if (pod_name.size() <= prefix.size() || !absl::StartsWith(pod_name, prefix)) {
    return std::nullopt;
  }
  const std::string digits = pod_name.substr(prefix.size());
  int ordinal = 0;
  if (!std::all_of(digits.begin(), digits.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(digits, &ordinal)) {
    return std::nullopt;
  }
  return ordinal;
}

bool ReadyToRemoveNextPod(const Json& statefulset, const std::vector<Json>& pods) {
  if (!statefulset.is_object() || !statefulset.contains("spec")) return false;
  const int replicas = statefulset["spec"].value("replicas", 1);
  if (!StatefulSetReady(statefulset, replicas)) return false;
  const std::string name = statefulset["metadata"].value("name", "");
  std::set<int> ready;
  for (const Json& pod : pods) {
    const std::optional<int> ordinal = PodOrdinal(pod["metadata"].value("name", ""), name);
    if (!ordinal) continue;
    // The pod removed last (or any above the count) still terminating: its node may still
    // be handing over, or the cluster has not noticed it left.
    if (*ordinal >= replicas) return false;
    if (pod["metadata"].contains("deletionTimestamp")) return false;
    const Json status = pod.value("status", Json::object());
    bool pod_ready = false;
    for (const Json& c : status.value("conditions", Json::array())) {
      if (c.value("type", "") == "Ready") pod_ready = c.value("status", "") == "True";
    }
    if (status.value("phase", "") != "Running" || !pod_ready) return false;
    ready.insert(*ordinal);
  }
  return static_cast<int>(ready.size()) == replicas;
}

Json ComputeStatus(const Owner& owner, const Observation& o, const Json& previous,
                   const std::string& now) {
  const Json& sts = o.statefulset;
  const bool exists = sts.is_object();
  const Json sts_status = exists && sts.contains("status") && sts["status"].is_object()
                              ? sts["status"]
                              : Json::object();
  const int ready_replicas = sts_status.value("readyReplicas", 0);
  const bool ready =
      o.invalid_spec.empty() && o.child_error.empty() && StatefulSetReady(sts, o.desired_replicas);
  std::string phase;
  std::string message;
  std::string reason;
  if (!o.invalid_spec.empty()) {
    phase = "Failed";
    reason = "InvalidSpec";
    message = o.invalid_spec;
  } else if (!o.child_error.empty()) {
    phase = "Failed";
    reason = o.child_error_reason;
    message = o.child_error;
  } else if (!ready && !o.pod_problem.empty()) {
    phase = "Failed";
    reason = o.pod_problem_reason;
    message = o.pod_problem;
  } else if (!exists) {
    phase = "Pending";
    reason = "Creating";
    message = "creating the StatefulSet";
  } else if (ready) {
    phase = "Ready";
    reason = "AllReplicasReady";
    message = absl::StrCat(ready_replicas, "/", o.desired_replicas, " replicas ready");
  } else if (sts.contains("spec") && sts["spec"].value("replicas", 0) > o.desired_replicas) {
    // An Aerospike cluster losing nodes one at a time (ReadyToRemoveNextPod).
    phase = "Provisioning";
    reason = "ScalingDown";
    message = absl::StrCat(ready_replicas, "/", sts["spec"].value("replicas", 0),
                           " replicas ready, removing one at a time down to ", o.desired_replicas);
  } else {
    phase = "Provisioning";
    const int64_t gen = sts["metadata"].value("generation", int64_t{0});
    const int64_t seen = sts_status.value("observedGeneration", int64_t{0});
    reason = seen < gen || sts_status.value("updateRevision", "") !=
                               sts_status.value("currentRevision", "")
                 ? "RollingUpdate"
                 : "ReplicasNotReady";
    message = absl::StrCat(ready_replicas, "/", o.desired_replicas, " replicas ready");
  }
  const bool failed = phase == "Failed";
  Json status = {
      {"ready", ready},    {"host", ClientHost(owner)},       {"port", ClientPort(owner.kind)},
      {"phase", phase},    {"readyReplicas", ready_replicas}, {"observedGeneration", o.generation},
      {"message", message}};
  if (owner.kind == Kind::kRedisDatabase) status["readHost"] = ReadHost(owner);
  status["conditions"] =
      Json::array({Condition("Ready", ready, ready ? "AllReplicasReady" : reason, message,
                             o.generation, previous, now),
                   Condition("Progressing", !ready && !failed, ready || failed ? "Stable" : reason,
                             ready || failed ? "" : message, o.generation, previous, now),
                   Condition("Degraded", failed, failed ? reason : "AsExpected",
                             failed ? message : "", o.generation, previous, now)});
  return status;
}

}  // namespace senren::regional::controller
