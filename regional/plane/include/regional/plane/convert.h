#pragma once

// senren.v1.Resource ⇄ senren.io custom resource (regional/crds/README.md gives the
// mapping), and the metadata that marks a CR as managed by one region's plane. Pure: no
// I/O, safe from any thread.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "regional/kube/kube_client.h"
#include "senren/v1/resources.pb.h"

namespace senren::regional::plane {

using Json = nlohmann::json;

inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "senren";
inline constexpr char kRegionLabel[] = "senren.io/region";
inline constexpr char kRegionAnnotation[] = "senren.io/region";
inline constexpr char kStateVersionAnnotation[] = "senren.io/state-version";
inline constexpr char kTraceparentAnnotation[] = "senren.io/traceparent";
// Field manager of every server-side apply of the plane.
inline constexpr char kFieldManager[] = "senren-regional";

// The region as a label value: a label cannot hold ':', so "aws:us-east-1" → "aws.us-east-1".
std::string RegionLabelValue(std::string_view region);

// "app.kubernetes.io/managed-by=senren,senren.io/region=aws.us-east-1".
std::string ManagedSelector(std::string_view region);

// The kinds the plane manages, in canonical order.
const std::vector<v1::ResourceKind>& ManagedKinds();

// The REST resource of a kind (RedisDatabase → senren.io/v1alpha1 redisdatabases).
// CHECKs that the kind is one of ManagedKinds().
kube::Resource KubeResourceOf(v1::ResourceKind kind);

// Where and at which version a CR is written.
struct CrContext {
  std::string region;       // "aws:us-east-1"
  std::string ns;           // namespace of the CRs
  uint64_t version = 0;     // annotation senren.io/state-version
  std::string traceparent;  // annotation senren.io/traceparent; omitted when empty
};

// The CR of `resource`: apiVersion, kind, metadata (name, namespace, the managed-by and
// region labels, the state-version / region / traceparent annotations) and spec, with
// proto fields at their zero value omitted so the CRD's defaults apply. This is the
// complete set of fields the plane owns in a server-side apply.
Json ResourceToCr(const v1::Resource& resource, const CrContext& context);

// The senren.v1.Resource a CR describes (kind from `kind`, name from metadata.name, spec
// from spec). INVALID_ARGUMENT naming the CR and field when the kind is unknown or a
// field has the wrong type or an unknown enum value. The result is not canonicalized.
absl::StatusOr<v1::Resource> CrToResource(const Json& cr);

// True when `cr` belongs to `region`'s plane: labelled managed-by=senren (without that
// label a CR is never ours, whatever else it carries) and with `region`'s region label, or,
// when the region label is missing, annotated with the region key.
bool IsManagedBy(const Json& cr, std::string_view region);

// True when every label and annotation ResourceToCr sets for `region` (except the
// state-version and traceparent) is present on `cr` with its value.
bool HasManagedMetadata(const Json& cr, std::string_view region);

// The senren.io/state-version annotation of `cr`, 0 when absent or not a number.
uint64_t StateVersionOf(const Json& cr);

// String value at cr.metadata.<field>.<key>, "" when absent.
std::string MetadataValue(const Json& cr, const char* field, const char* key);

}  // namespace senren::regional::plane
