#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

// Pure logic of senren-controller: CR spec → desired children, children → CR status.
// No I/O; tested with plain values (render_test.cc).
namespace senren::regional::controller {

using Json = nlohmann::json;

enum class Kind { kRedisDatabase, kAerospikeCluster };

const char* KindName(Kind kind);  // "RedisDatabase"
// "redis" or "aerospike": the --kinds flag value and the app.kubernetes.io/name label.
const char* KindShortName(Kind kind);
int ClientPort(Kind kind);  // 6379 / 3000

struct RedisSpec {
  int64_t memory_mb = 0;
  int replicas = 1;
  std::string version = "7.2";
  std::string persistence = "none";  // none | rdb | aof
  std::string eviction_policy;       // empty: noeviction
};

struct AerospikeNamespaceSpec {
  std::string name;
  int replication_factor = 1;
  int64_t memory_mb = 0;
  std::string storage = "memory";  // memory | device
};

struct AerospikeSpec {
  int size = 1;
  std::string version = "7.1";
  std::vector<AerospikeNamespaceSpec> namespaces;
};

// The spec of a CR, checked against docs/design.md §7 (the CRD schema checks the same bounds; this
// catches CRs stored before a rule existed, e.g. replicationFactor > size after a
// scale-down). InvalidArgument names the field.
absl::StatusOr<RedisSpec> ParseRedisSpec(const Json& spec);
absl::StatusOr<AerospikeSpec> ParseAerospikeSpec(const Json& spec);

// Who owns the children: the CR's identity.
struct Owner {
  Kind kind = Kind::kRedisDatabase;
  std::string name;
  std::string ns;
  std::string uid;
  std::string region;  // the CR's senren.io/region label, copied to children; may be empty
};

// Names of the children of one CR: "<redis|aerospike>-<name>[-headless|-conf]". The kind
// prefix keeps a RedisDatabase and an AerospikeCluster of the same name apart (names are
// unique per kind only) and makes every name a DNS-1035 label (starts with a letter).
// StatefulSet names stay ≤ 52 characters (the pods' controller-revision-hash label adds
// 11), Service names ≤ 63; longer names are shortened with a hash suffix.
struct ChildNames {
  std::string statefulset;
  std::string headless_service;
  std::string client_service;
  std::string config_map;  // Aerospike only
};
ChildNames NamesFor(Kind kind, const std::string& cr_name);
// base + suffix, made a DNS-1035 label of at most max_len characters.
std::string ChildName(const std::string& base, const std::string& suffix, size_t max_len);

// The client Service's cluster DNS name, the CR's status.host.
std::string ClientHost(const Owner& owner);

// Labels every child carries; selector labels are the stable subset used by the
// StatefulSet selector and the Services.
Json ChildLabels(const Owner& owner);
Json SelectorLabels(const Owner& owner);
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kControllerName[] = "senren-controller";
inline constexpr char kInstanceLabel[] = "app.kubernetes.io/instance";
inline constexpr char kOwnerKindLabel[] = "senren.io/owner-kind";

// Desired children: apply-ready objects (apiVersion, kind, metadata with labels and a
// controller ownerReference, spec). The ConfigMap is null for Redis.
struct Children {
  Json statefulset;
  Json headless_service;
  Json client_service;
  Json config_map;  // null unless Aerospike
};
Children RenderRedis(const Owner& owner, const RedisSpec& spec);
Children RenderAerospike(const Owner& owner, const AerospikeSpec& spec);
// The aerospike.conf of a cluster (mesh heartbeat over the headless Service's pod names).
std::string AerospikeConf(const Owner& owner, const AerospikeSpec& spec);

// True when every field of `desired` has the same value in `live` (objects compared
// recursively, lists element by element with equal length). Fields the server adds
// (defaults, status, managedFields) do not matter; a hand edit of a field we set does.
bool ContainsAll(const Json& live, const Json& desired);

// What the reconciler learned, for ComputeStatus.
struct Observation {
  int64_t generation = 0;       // the CR's metadata.generation
  int desired_replicas = 0;     // replicas / size
  Json statefulset;             // null when it does not exist (yet)
  std::string invalid_spec;     // set: the spec is rejected (phase Failed)
  std::string child_error;      // set: a child could not be applied (Degraded)
  std::string child_error_reason = "ChildApplyFailed";
  // A pod stuck in a state that will not fix itself (bad image, crash loop), as found by
  // PodProblem; empty when none.
  std::string pod_problem;
  std::string pod_problem_reason;
};

// The first container of `pod` waiting for a reason that needs a person (ErrImagePull,
// ImagePullBackOff, InvalidImageName, CrashLoopBackOff, CreateContainerConfigError, ...):
// sets `reason` and returns a message "pod <name>: <reason>: <detail>"; empty if none.
std::string PodProblem(const Json& pod, std::string* reason);

// The CR's .status from an observation. `previous` is the current .status: conditions
// whose status did not change keep their lastTransitionTime, so an unchanged world gives
// an identical status and the controller writes nothing. `now` is an RFC 3339 time.
Json ComputeStatus(const Owner& owner, const Observation& observation, const Json& previous,
                   const std::string& now);

// True when a StatefulSet has all `replicas` ready at its current generation and revision.
bool StatefulSetReady(const Json& statefulset, int replicas);

}  // namespace senren::regional::controller
