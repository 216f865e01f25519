#pragma once

// What the plane reports on {prefix}-status (docs/design.md §4): ResourceStatus from a CR's
// .status, ClusterReport from an apply's outcome. Pure.

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "regional/plane/convert.h"
#include "regional/plane/reconcile_plan.h"
#include "senren/v1/status.pb.h"

namespace senren::regional::plane {

// Kafka keys: "{region}/{cluster}/{kind}/{name}" and "{region}/{cluster}".
std::string ResourceStatusKey(std::string_view region, std::string_view cluster,
                              v1::ResourceKind kind, std::string_view name);
std::string ClusterReportKey(std::string_view region, std::string_view cluster);

// True when the CR's status says ready for its current spec (status.ready and
// status.observedGeneration ≥ metadata.generation when both are given).
bool IsReady(const Json& cr);

// The ResourceStatus of a CR as the controller reported it in .status; state_version and
// traceparent from the CR's annotations. observed_at = now.
v1::ResourceStatus BuildResourceStatus(const Json& cr, std::string_view region,
                                       std::string_view cluster, absl::Time now);

// Equal apart from observed_at: whether a new status is worth sending.
bool SameStatus(const v1::ResourceStatus& a, const v1::ResourceStatus& b);

// Outcome of writing one plan.
struct ApplyOutcome {
  v1::ApplyResult result = v1::APPLY_RESULT_UNSPECIFIED;
  std::string reason;  // empty when APPLIED
  size_t failed = 0;   // writes the API refused or that failed
};

// APPLIED when every desired resource is in place; REJECTED when none of the writes the
// plan needed (or none of the desired resources, for a missing CRD) could be made; PARTIAL
// otherwise. `failures` are "Kind/name: error" of writes that failed. The reason lists up
// to 5 problems and the count of the rest.
ApplyOutcome SummarizeApply(const ReconcilePlan& plan, const std::vector<std::string>& failures);

}  // namespace senren::regional::plane
