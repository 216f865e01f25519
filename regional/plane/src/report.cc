#include "regional/plane/report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/resources.h"
#include "google/protobuf/util/time_util.h"

namespace senren::regional::plane {
namespace {

const Json& StatusOf(const Json& cr) {
  static const Json kEmpty = Json::object();
  auto it = cr.find("status");
  return it != cr.end() && it->is_object() ? *it : kEmpty;
}

int64_t IntField(const Json& obj, const char* field) {
  auto it = obj.find(field);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string StringField(const Json& obj, const char* field) {
  auto it = obj.find(field);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

v1::Phase PhaseOf(const std::string& phase) {
  if (phase == "Pending") return v1::PHASE_PENDING;
  if (phase == "Provisioning") return v1::PHASE_PROVISIONING;
  if (phase == "Ready") return v1::PHASE_READY;
  if (phase == "Failed") return v1::PHASE_FAILED;
  return v1::PHASE_UNSPECIFIED;
}

}  // namespace

std::string ResourceStatusKey(std::string_view region, std::string_view cluster,
                              v1::ResourceKind kind, std::string_view name) {
  return absl::StrCat(std::string(region), "/", std::string(cluster), "/",
                      std::string(common::KindName(kind)), "/", std::string(name));
}

std::string ClusterReportKey(std::string_view region, std::string_view cluster) {
  return absl::StrCat(std::string(region), "/", std::string(cluster));
}

bool IsReady(const Json& cr) {
  const Json& status = StatusOf(cr);
  auto ready = status.find("ready");
  if (ready == status.end() || !ready->is_boolean() || !ready->get<bool>()) return false;
  const int64_t generation = cr.contains("metadata") ? IntField(cr["metadata"], "generation") : 0;
  if (generation > 0 && status.contains("observedGeneration")) {
    return IntField(status, "observedGeneration") >= generation;
  }
  return true;
}

v1::ResourceStatus BuildResourceStatus(const Json& cr, std::string_view region,
                                       std::string_view cluster, absl::Time now) {
  v1::ResourceStatus s;
  s.set_region(std::string(region));
  s.set_cluster(std::string(cluster));
  s.set_kind(common::KindFromName(cr.value("kind", "")));
  s.set_name(cr.contains("metadata") ? cr["metadata"].value("name", "") : "");
  const Json& status = StatusOf(cr);
  s.set_ready(IsReady(cr));
  s.set_host(StringField(status, "host"));
  s.set_read_host(StringField(status, "readHost"));
  s.set_port(static_cast<uint32_t>(IntField(status, "port")));
  s.set_phase(PhaseOf(StringField(status, "phase")));
  s.set_message(StringField(status, "message"));
  s.set_ready_replicas(static_cast<uint32_t>(IntField(status, "readyReplicas")));
  const Json& spec = cr.contains("spec") && cr["spec"].is_object() ? cr["spec"] : Json::object();
  int64_t replicas =
      IntField(spec, s.kind() == v1::RESOURCE_KIND_AEROSPIKE_CLUSTER ? "size" : "replicas");
  s.set_replicas(static_cast<uint32_t>(replicas));
  s.set_state_version(StateVersionOf(cr));
  s.set_traceparent(MetadataValue(cr, "annotations", kTraceparentAnnotation));
  *s.mutable_observed_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  return s;
}

bool SameStatus(const v1::ResourceStatus& a, const v1::ResourceStatus& b) {
  v1::ResourceStatus x = a;
  v1::ResourceStatus y = b;
  x.clear_observed_at();
  y.clear_observed_at();
  return x.SerializeAsString() == y.SerializeAsString();
}

ApplyOutcome SummarizeApply(const ReconcilePlan& plan, const std::vector<std::string>& failures) {
  ApplyOutcome out;
  out.failed = failures.size();
  std::vector<std::string> problems = plan.refused;
  problems.insert(problems.end(), failures.begin(), failures.end());
  if (problems.empty()) {
    out.result = v1::APPLY_RESULT_APPLIED;
    return out;
  }
  const size_t writes = plan.applies.size() + plan.deletes.size();
  const size_t in_place = plan.desired_total - plan.refused.size();
  // Nothing of the desired set could be put in place: every resource refused, or every
  // needed write failed while none was already in place.
  const bool nothing = (in_place == 0 && plan.desired_total > 0) ||
                       (writes > 0 && failures.size() >= writes && plan.unchanged == 0 &&
                        in_place <= failures.size());
  out.result = nothing ? v1::APPLY_RESULT_REJECTED : v1::APPLY_RESULT_PARTIAL;
  const size_t shown = std::min<size_t>(problems.size(), 5);
  out.reason = absl::StrJoin(problems.begin(), problems.begin() + static_cast<long>(shown), "; ");
  if (problems.size() > shown)
    absl::StrAppend(&out.reason, "; and ", problems.size() - shown, " more");
  return out;
}

}  // namespace senren::regional::plane
