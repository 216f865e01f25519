#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

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
  int64_t storage_gb = 0;            // 0: derived (RedisStorageGb)
  std::string storage_class;         // empty: the cluster's default StorageClass
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
  int64_t storage_gb = 0;     // 0: derived (AerospikeStorageGb)
  std::string storage_class;  // empty: the cluster's default StorageClass
};

// Durable storage (docs/design.md §6). Data that must survive a restart lives on a
// PersistentVolumeClaim per pod ("data", from the StatefulSet's volumeClaimTemplates):
// Redis with persistence rdb or aof, Aerospike when a namespace has storage device.
// Claims are retained when the StatefulSet is scaled down or deleted.
bool RedisNeedsStorage(const RedisSpec& spec);
bool AerospikeNeedsStorage(const AerospikeSpec& spec);
// GiB of each claim: storage_gb, or for Redis ceil(2 × memory_mb / 1024) (room for the
// dump or AOF and its rewrite), for Aerospike room for a 4 × memory_mb file per device
// namespace within 90% of the volume; at least 1.
int64_t RedisStorageGb(const RedisSpec& spec);
int64_t AerospikeStorageGb(const AerospikeSpec& spec);
// MiB of a device namespace's data file: the namespace's share (by memory_mb) of 90% of
// the claim, so the files always fit with room for the filesystem.
int64_t AerospikeFileSizeMb(const AerospikeSpec& spec, const AerospikeNamespaceSpec& ns);

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
  // The cluster's DNS domain (--cluster-domain): the suffix of every in-cluster name the
  // children use (status.host, Redis replicas' primary, Aerospike mesh seeds).
  std::string cluster_domain = "cluster.local";
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
  std::string read_service;       // Redis only: "<...>-read"
  std::string config_map;         // Aerospike only
  std::string disruption_budget;  // the PodDisruptionBudget, named like the client Service
};
ChildNames NamesFor(Kind kind, const std::string& cr_name);
// base + suffix, made a DNS-1035 label of at most max_len characters.
std::string ChildName(const std::string& base, const std::string& suffix, size_t max_len);

// The client Service's cluster DNS name, the CR's status.host. For Redis it reaches the
// primary only (pod 0), so writes never land on a read-only replica.
std::string ClientHost(const Owner& owner);
// Redis: the read Service's cluster DNS name (status.readHost), every pod of the
// StatefulSet; empty for Aerospike, whose clients find the partition owners themselves.
std::string ReadHost(const Owner& owner);
// The stable DNS name of pod `ordinal` of the StatefulSet, through the headless Service.
std::string PodHost(const Owner& owner, int ordinal);
inline constexpr char kPodNameLabel[] = "statefulset.kubernetes.io/pod-name";

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
  Json read_service;  // null unless Redis
  Json config_map;    // null unless Aerospike
  // policy/v1 PodDisruptionBudget over the StatefulSet's pods, maxUnavailable 1: a node
  // drain (or any eviction) takes at most one pod of a database at a time, and none while
  // one is already down or not ready (for Aerospike: while partitions migrate, see
  // kAerospikeReadinessCommand). maxUnavailable rather than minAvailable so a database of
  // one pod can still be drained.
  Json disruption_budget;
};
Children RenderRedis(const Owner& owner, const RedisSpec& spec);
Children RenderAerospike(const Owner& owner, const AerospikeSpec& spec);
// What an Aerospike pod's readiness probe runs (`sh -c`): ready only when the node
// answers on its service port, migrations are allowed and none of its partitions remain
// to migrate, in or out. After a restart a node rejoins and partitions migrate to and
// from it; every node of the cluster counts remaining partitions until the cluster is
// balanced again, so the StatefulSet's rolling update (which waits for the restarted pod
// to be ready before the next) and the PodDisruptionBudget (which counts not-ready pods
// as disrupted) both wait for the migrations to finish before another node goes down.
inline constexpr char kAerospikeReadinessCommand[] =
    "s=$(asinfo -h 127.0.0.1 -p 3000 -v statistics | tr ';' '\\n') && "
    "echo \"$s\" | grep -qx migrate_allowed=true && "
    "echo \"$s\" | grep -qx migrate_partitions_remaining=0";

// The aerospike.conf of a cluster (mesh heartbeat over the headless Service's pod names).
std::string AerospikeConf(const Owner& owner, const AerospikeSpec& spec);

// True when every field of `desired` has the same value in `live` (objects compared
// recursively, lists element by element with equal length). Fields the server adds
// (defaults, status, managedFields) do not matter; a hand edit of a field we set does.
// Under a `resources` key (requests, limits, a claim's storage) strings are compared as
// Kubernetes quantities: the apiserver returns "2048Mi" as "2Gi" and "1000m" as "1".
bool ContainsAll(const Json& live, const Json& desired);

// The value of a Kubernetes quantity ("2Gi", "1536Mi", "100m", "1", "1e3", "0.5G"), in
// base units (bytes, cores); nullopt when `s` is not one.
std::optional<long double> ParseQuantity(const std::string& s);
// `mib` MiB in the canonical form the apiserver returns: the largest binary suffix with
// an integer mantissa ("2Gi" for 2048, "1536Mi" for 1536), so rendered objects read back
// byte-for-byte as written.
std::string MebibyteQuantity(int64_t mib);

// What the reconciler learned, for ComputeStatus.
struct Observation {
  int64_t generation = 0;    // the CR's metadata.generation
  int desired_replicas = 0;  // replicas / size
  Json statefulset;          // null when it does not exist (yet)
  std::string invalid_spec;  // set: the spec is rejected (phase Failed)
  std::string child_error;   // set: a child could not be applied (Degraded)
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

// The ordinal of pod `pod_name` of StatefulSet `statefulset` ("<statefulset>-<n>"), or
// nullopt when the name is not one of its pods'.
std::optional<int> PodOrdinal(const std::string& pod_name, const std::string& statefulset);

// Aerospike scale-down, one node at a time (docs/design.md §6). A StatefulSet scaled from
// 5 to 2 with podManagementPolicy Parallel deletes pods 4, 3 and 2 at once; with
// replication factor 2 every partition whose two copies were on two of them is lost. So
// senren-controller lowers `replicas` by one, and lowers it again only when this holds:
// the StatefulSet finished its last change (StatefulSetReady at its own replica count),
// the removed pod is gone from `pods` (every pod of the StatefulSet the cache holds) and
// each remaining pod is Running, Ready and not terminating, which for Aerospike means its
// migrations are done (kAerospikeReadinessCommand).
bool ReadyToRemoveNextPod(const Json& statefulset, const std::vector<Json>& pods);

}  // namespace senren::regional::controller
