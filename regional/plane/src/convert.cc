#include "regional/plane/convert.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/resources.h"

namespace senren::regional::plane {
namespace {

const char* PersistenceName(v1::RedisPersistence p) {
  switch (p) {
    case v1::REDIS_PERSISTENCE_NONE:
      return "none";
    case v1::REDIS_PERSISTENCE_RDB:
      return "rdb";
    case v1::REDIS_PERSISTENCE_AOF:
      return "aof";
    default:
      return nullptr;
  }
}

const char* StorageName(v1::AerospikeStorage s) {
  switch (s) {
    case v1::AEROSPIKE_STORAGE_MEMORY:
      return "memory";
    case v1::AEROSPIKE_STORAGE_DEVICE:
      return "device";
    default:
      return nullptr;
  }
}

// Reads spec fields with the types the CRD schema promises; the first bad field wins.
class FieldReader {
 public:
  explicit FieldReader(std::string what) : what_(std::move(what)) {}

  uint32_t Uint(const Json& obj, const char* field, const std::string& path) {
    if (!obj.contains(field) || obj[field].is_null()) return 0;
    const Json& v = obj[field];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > UINT32_MAX) {
      Fail(path + field, "a non-negative integer");
      return 0;
    }
    return static_cast<uint32_t>(v.get<int64_t>());
  }
  std::string String(const Json& obj, const char* field, const std::string& path) {
    if (!obj.contains(field) || obj[field].is_null()) return "";
    const Json& v = obj[field];
    if (!v.is_string()) {
      Fail(path + field, "a string");
      return "";
    }
    return v.get<std::string>();
  }
  void Fail(const std::string& field, const std::string& want) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat(what_, ": ", field, " must be ", want));
    }
  }
  const absl::Status& status() const { return status_; }

 private:
  std::string what_;
  absl::Status status_;
};

}  // namespace

std::string RegionLabelValue(std::string_view region) {
  std::string out(region);
  for (char& c : out) {
    if (c == ':') c = '.';
  }
  return out;
}

std::string ManagedSelector(std::string_view region) {
  return absl::StrCat(kManagedByLabel, "=", kManagedByValue, ",", kRegionLabel, "=",
                      RegionLabelValue(region));
}

const std::vector<v1::ResourceKind>& ManagedKinds() {
  static const std::vector<v1::ResourceKind> kKinds = {v1::RESOURCE_KIND_REDIS_DATABASE,
                                                       v1::RESOURCE_KIND_AEROSPIKE_CLUSTER};
  return kKinds;
}

kube::Resource KubeResourceOf(v1::ResourceKind kind) {
  switch (kind) {
    case v1::RESOURCE_KIND_REDIS_DATABASE:
      return kube::resources::RedisDatabases();
    case v1::RESOURCE_KIND_AEROSPIKE_CLUSTER:
      return kube::resources::AerospikeClusters();
    default:
      break;
  }
  std::abort();  // broken invariant: callers pass only ManagedKinds()
}

Json ResourceToCr(const v1::Resource& resource, const CrContext& context) {
  const v1::ResourceKind kind = common::KindOf(resource);
  Json cr = {{"apiVersion", "senren.io/v1alpha1"}, {"kind", std::string(common::KindName(kind))}};
  Json& meta = cr["metadata"];
  meta["name"] = resource.name();
  meta["namespace"] = context.ns;
  meta["labels"] = {{kManagedByLabel, kManagedByValue},
                    {kRegionLabel, RegionLabelValue(context.region)}};
  meta["annotations"] = {{kStateVersionAnnotation, std::to_string(context.version)},
                         {kRegionAnnotation, context.region}};
  if (!context.traceparent.empty()) {
    meta["annotations"][kTraceparentAnnotation] = context.traceparent;
  }
  Json spec = Json::object();
  if (resource.has_redis_database()) {
    const auto& s = resource.redis_database();
    if (s.memory_mb() != 0) spec["memoryMb"] = s.memory_mb();
    if (s.replicas() != 0) spec["replicas"] = s.replicas();
    if (!s.version().empty()) spec["version"] = s.version();
    if (const char* p = PersistenceName(s.persistence())) spec["persistence"] = p;
    if (!s.eviction_policy().empty()) spec["evictionPolicy"] = s.eviction_policy();
    if (s.storage_gb() != 0) spec["storageGb"] = s.storage_gb();
    if (!s.storage_class().empty()) spec["storageClass"] = s.storage_class();
  } else if (resource.has_aerospike_cluster()) {
    const auto& s = resource.aerospike_cluster();
    if (s.size() != 0) spec["size"] = s.size();
    if (!s.version().empty()) spec["version"] = s.version();
    Json namespaces = Json::array();
    for (const auto& ns : s.namespaces()) {
      Json n = {{"name", ns.name()}};
      if (ns.replication_factor() != 0) n["replicationFactor"] = ns.replication_factor();
      if (ns.memory_mb() != 0) n["memoryMb"] = ns.memory_mb();
      if (const char* st = StorageName(ns.storage())) n["storage"] = st;
      namespaces.push_back(std::move(n));
    }
    spec["namespaces"] = std::move(namespaces);
    if (s.storage_gb() != 0) spec["storageGb"] = s.storage_gb();
    if (!s.storage_class().empty()) spec["storageClass"] = s.storage_class();
  }
  cr["spec"] = std::move(spec);
  return cr;
}

absl::StatusOr<v1::Resource> CrToResource(const Json& cr) {
  if (!cr.is_object()) return absl::InvalidArgumentError("custom resource is not an object");
  const std::string kind = cr.value("kind", "");
  std::string name;
  if (cr.contains("metadata") && cr["metadata"].is_object()) {
    name = cr["metadata"].value("name", "");
  }
  FieldReader r(absl::StrCat(kind.empty() ? "?" : kind, "/", name));
  v1::Resource out;
  out.set_name(name);
  static const Json kEmpty = Json::object();
  const Json& spec = cr.contains("spec") && cr["spec"].is_object() ? cr["spec"] : kEmpty;
  switch (common::KindFromName(kind)) {
    case v1::RESOURCE_KIND_REDIS_DATABASE: {
      auto* s = out.mutable_redis_database();
      s->set_memory_mb(r.Uint(spec, "memoryMb", "spec."));
      s->set_replicas(r.Uint(spec, "replicas", "spec."));
      s->set_version(r.String(spec, "version", "spec."));
      const std::string p = r.String(spec, "persistence", "spec.");
      if (p == "none") {
        s->set_persistence(v1::REDIS_PERSISTENCE_NONE);
      } else if (p == "rdb") {
        s->set_persistence(v1::REDIS_PERSISTENCE_RDB);
      } else if (p == "aof") {
        s->set_persistence(v1::REDIS_PERSISTENCE_AOF);
      } else if (!p.empty()) {
        r.Fail("spec.persistence", "one of none, rdb, aof");
      }
      s->set_eviction_policy(r.String(spec, "evictionPolicy", "spec."));
      s->set_storage_gb(r.Uint(spec, "storageGb", "spec."));
      s->set_storage_class(r.String(spec, "storageClass", "spec."));
      break;
    }
    case v1::RESOURCE_KIND_AEROSPIKE_CLUSTER: {
      auto* s = out.mutable_aerospike_cluster();
      s->set_size(r.Uint(spec, "size", "spec."));
      s->set_version(r.String(spec, "version", "spec."));
      s->set_storage_gb(r.Uint(spec, "storageGb", "spec."));
      s->set_storage_class(r.String(spec, "storageClass", "spec."));
      if (spec.contains("namespaces") && !spec["namespaces"].is_null()) {
        if (!spec["namespaces"].is_array()) {
          r.Fail("spec.namespaces", "a list");
        } else {
          int i = 0;
          for (const Json& n : spec["namespaces"]) {
            const std::string path = absl::StrCat("spec.namespaces[", i++, "].");
            if (!n.is_object()) {
              r.Fail(path, "an object");
              continue;
            }
            auto* ns = s->add_namespaces();
            ns->set_name(r.String(n, "name", path));
            ns->set_replication_factor(r.Uint(n, "replicationFactor", path));
            ns->set_memory_mb(r.Uint(n, "memoryMb", path));
            const std::string st = r.String(n, "storage", path);
            if (st == "memory") {
              ns->set_storage(v1::AEROSPIKE_STORAGE_MEMORY);
            } else if (st == "device") {
              ns->set_storage(v1::AEROSPIKE_STORAGE_DEVICE);
            } else if (!st.empty()) {
              r.Fail(path + "storage", "one of memory, device");
            }
          }
        }
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("custom resource ", name, ": unknown kind \"", kind, "\""));
  }
  if (!r.status().ok()) return r.status();
  return out;
}

std::string MetadataValue(const Json& cr, const char* field, const char* key) {
  if (!cr.is_object()) return "";
  auto meta = cr.find("metadata");
  if (meta == cr.end() || !meta->is_object()) return "";
  auto f = meta->find(field);
  if (f == meta->end() || !f->is_object()) return "";
  auto v = f->find(key);
  if (v == f->end() || !v->is_string()) return "";
  return v->get<std::string>();
}

bool IsManagedBy(const Json& cr, std::string_view region) {
  // The managed-by label is the only mark of ownership: removing it is how a person takes a
  // CR out of Senren's hands, so nothing else (an annotation left behind) may bring it back.
  if (MetadataValue(cr, "labels", kManagedByLabel) != kManagedByValue) return false;
  // Which region: the label, or the annotation when a hand edit removed only the label. A
  // region label naming another region wins over the annotation, so two planes never both
  // claim one CR.
  const std::string label = MetadataValue(cr, "labels", kRegionLabel);
  if (!label.empty()) return label == RegionLabelValue(region);
  return MetadataValue(cr, "annotations", kRegionAnnotation) == region;
}

bool HasManagedMetadata(const Json& cr, std::string_view region) {
  return MetadataValue(cr, "labels", kManagedByLabel) == kManagedByValue &&
         MetadataValue(cr, "labels", kRegionLabel) == RegionLabelValue(region) &&
         MetadataValue(cr, "annotations", kRegionAnnotation) == region;
}

uint64_t StateVersionOf(const Json& cr) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(MetadataValue(cr, "annotations", kStateVersionAnnotation), &v)) return 0;
  return v;
}

}  // namespace senren::regional::plane
