#include "common/state_file.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/resources.h"
#include "common/rules.h"
#include "common/validation.h"

namespace senren::common {
namespace {

// Collects the location prefix of every error: "file:line: resource X: field F: ...".
class Parser {
 public:
  explicit Parser(std::string_view filename) : filename_(filename) {}

  absl::Status Error(const YAML::Node& at, const std::string& resource, const std::string& field,
                     const std::string& problem) const {
    std::string where(filename_);
    if (at.IsDefined() && at.Mark().line >= 0) absl::StrAppend(&where, ":", at.Mark().line + 1);
    std::string msg = absl::StrCat(where, ": ");
    if (!resource.empty()) absl::StrAppend(&msg, "resource ", resource, ": ");
    if (!field.empty()) absl::StrAppend(&msg, "field ", field, ": ");
    absl::StrAppend(&msg, problem);
    return absl::InvalidArgumentError(msg);
  }

  absl::Status CheckKeys(const YAML::Node& map, const std::string& resource,
                         const std::string& prefix, const std::set<std::string>& allowed) const {
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) {
        return Error(kv.first, resource, prefix, "a key must be a name, not a mapping or a list");
      }
      const std::string key = kv.first.as<std::string>();
      if (!allowed.contains(key)) {
        return Error(kv.first, resource, absl::StrCat(prefix, key),
                     absl::StrCat("unknown field; known fields: ", absl::StrJoin(allowed, ", ")));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const YAML::Node& node, const std::string& resource,
                                     const std::string& field) const {
    if (!node.IsScalar()) return Error(node, resource, field, "expected a string");
    return node.Scalar();
  }

  absl::StatusOr<uint32_t> Uint(const YAML::Node& node, const std::string& resource,
                                const std::string& field) const {
    if (!node.IsScalar()) return Error(node, resource, field, "expected a whole number");
    const std::string& text = node.Scalar();
    if (text.empty() || text.size() > 19) {
      return Error(node, resource, field,
                   absl::StrCat("\"", text, "\" is not a whole number in range"));
    }
    uint64_t value = 0;
    for (char c : text) {
      if (c < '0' || c > '9') {
        return Error(node, resource, field, absl::StrCat("\"", text, "\" is not a whole number"));
      }
      value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    if (value > std::numeric_limits<uint32_t>::max()) {
      return Error(node, resource, field, absl::StrCat(value, " is out of bounds"));
    }
    return static_cast<uint32_t>(value);
  }

  absl::Status Redis(const YAML::Node& spec, const std::string& id,
                     v1::RedisDatabaseSpec* out) const {
    if (absl::Status s = CheckKeys(spec, id, "spec.",
                                   {"memory_mb", "replicas", "version", "persistence",
                                    "eviction_policy", "storage_gb", "storage_class"});
        !s.ok()) {
      return s;
    }
    if (spec["memory_mb"]) {
      auto v = Uint(spec["memory_mb"], id, "spec.memory_mb");
      if (!v.ok()) return v.status();
      out->set_memory_mb(*v);
    } else {
      return Error(spec, id, "spec.memory_mb", "required (16..1048576)");
    }
    if (spec["replicas"]) {
      auto v = Uint(spec["replicas"], id, "spec.replicas");
      if (!v.ok()) return v.status();
      out->set_replicas(*v);
    }
    if (spec["version"]) {
      auto v = String(spec["version"], id, "spec.version");
      if (!v.ok()) return v.status();
      out->set_version(*v);
    }
    if (spec["persistence"]) {
      auto v = String(spec["persistence"], id, "spec.persistence");
      if (!v.ok()) return v.status();
      if (*v == "none") {
        out->set_persistence(v1::REDIS_PERSISTENCE_NONE);
      } else if (*v == "rdb") {
        out->set_persistence(v1::REDIS_PERSISTENCE_RDB);
      } else if (*v == "aof") {
        out->set_persistence(v1::REDIS_PERSISTENCE_AOF);
      } else {
        return Error(spec["persistence"], id, "spec.persistence",
                     absl::StrCat("\"", *v, "\" is not one of none, rdb, aof"));
      }
    }
    if (spec["eviction_policy"]) {
      auto v = String(spec["eviction_policy"], id, "spec.eviction_policy");
      if (!v.ok()) return v.status();
      out->set_eviction_policy(*v);
    }
    return Storage(spec, id, out);
  }

  // storage_gb and storage_class, the same on both kinds.
  template <typename Spec>
  absl::Status Storage(const YAML::Node& spec, const std::string& id, Spec* out) const {
    if (spec["storage_gb"]) {
      auto v = Uint(spec["storage_gb"], id, "spec.storage_gb");
      if (!v.ok()) return v.status();
      out->set_storage_gb(*v);
    }
    if (spec["storage_class"]) {
      auto v = String(spec["storage_class"], id, "spec.storage_class");
      if (!v.ok()) return v.status();
      out->set_storage_class(*v);
    }
    return absl::OkStatus();
  }

  absl::Status Aerospike(const YAML::Node& spec, const std::string& id,
                         v1::AerospikeClusterSpec* out) const {
    if (absl::Status s = CheckKeys(
            spec, id, "spec.", {"size", "version", "namespaces", "storage_gb", "storage_class"});
        !s.ok()) {
      return s;
    }
    if (!spec["size"]) return Error(spec, id, "spec.size", "required (1..32)");
    auto size = Uint(spec["size"], id, "spec.size");
    if (!size.ok()) return size.status();
    out->set_size(*size);
    if (spec["version"]) {
      auto v = String(spec["version"], id, "spec.version");
      if (!v.ok()) return v.status();
      out->set_version(*v);
    }
    const YAML::Node nss = spec["namespaces"];
    if (!nss) return Error(spec, id, "spec.namespaces", "required: at least one namespace");
    if (!nss.IsSequence()) return Error(nss, id, "spec.namespaces", "expected a list");
    for (size_t i = 0; i < nss.size(); ++i) {
      const YAML::Node ns = nss[i];
      const std::string prefix = absl::StrCat("spec.namespaces[", i, "]");
      if (!ns.IsMap()) return Error(ns, id, prefix, "expected a mapping");
      if (absl::Status s = CheckKeys(ns, id, prefix + ".",
                                     {"name", "replication_factor", "memory_mb", "storage"});
          !s.ok()) {
        return s;
      }
      auto* out_ns = out->add_namespaces();
      if (!ns["name"]) return Error(ns, id, prefix + ".name", "required");
      auto name = String(ns["name"], id, prefix + ".name");
      if (!name.ok()) return name.status();
      out_ns->set_name(*name);
      if (ns["replication_factor"]) {
        auto v = Uint(ns["replication_factor"], id, prefix + ".replication_factor");
        if (!v.ok()) return v.status();
        out_ns->set_replication_factor(*v);
      }
      if (!ns["memory_mb"]) return Error(ns, id, prefix + ".memory_mb", "required (16..1048576)");
      auto mem = Uint(ns["memory_mb"], id, prefix + ".memory_mb");
      if (!mem.ok()) return mem.status();
      out_ns->set_memory_mb(*mem);
      if (ns["storage"]) {
        auto v = String(ns["storage"], id, prefix + ".storage");
        if (!v.ok()) return v.status();
        if (*v == "memory") {
          out_ns->set_storage(v1::AEROSPIKE_STORAGE_MEMORY);
        } else if (*v == "device") {
          out_ns->set_storage(v1::AEROSPIKE_STORAGE_DEVICE);
        } else {
          return Error(ns["storage"], id, prefix + ".storage",
                       absl::StrCat("\"", *v, "\" is not one of memory, device"));
        }
      }
    }
    return Storage(spec, id, out);
  }

  absl::StatusOr<StateFile> Parse(std::string_view content) const {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(content));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(filename_, ":", e.mark.line + 1, ": not valid YAML or JSON: ", e.msg));
    }
    if (!root.IsMap()) {
      return Error(root, "", "", "expected a mapping with region, message and resources");
    }
    // `version` is what `senren-ledger show -o yaml` prints; informational, ignored.
    if (absl::Status s = CheckKeys(root, "", "", {"region", "message", "resources", "version"});
        !s.ok()) {
      return s;
    }
    StateFile out;
    if (!root["region"]) return Error(root, "", "region", "required, e.g. aws:us-east-1");
    auto region = String(root["region"], "", "region");
    if (!region.ok()) return region.status();
    out.region = *region;
    if (absl::Status s = ValidateRegionKey(out.region); !s.ok()) {
      return Error(root["region"], "", "", std::string(s.message()));
    }
    if (root["message"]) {
      auto message = String(root["message"], "", "message");
      if (!message.ok()) return message.status();
      out.message = *message;
    }
    const YAML::Node resources = root["resources"];
    if (!resources) return Error(root, "", "resources", "required (use [] for an empty region)");
    if (!resources.IsSequence()) return Error(resources, "", "resources", "expected a list");
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < resources.size(); ++i) {
      const YAML::Node node = resources[i];
      std::string id = absl::StrCat("resources[", i, "]");
      if (!node.IsMap()) return Error(node, id, "", "expected a mapping with kind, name and spec");
      if (absl::Status s = CheckKeys(node, id, "", {"kind", "name", "spec"}); !s.ok()) return s;
      if (!node["kind"])
        return Error(node, id, "kind", "required: RedisDatabase or AerospikeCluster");
      auto kind = String(node["kind"], id, "kind");
      if (!kind.ok()) return kind.status();
      if (!node["name"]) return Error(node, id, "name", "required");
      auto name = String(node["name"], id, "name");
      if (!name.ok()) return name.status();
      id = absl::StrCat(*kind, "/", *name);
      const v1::ResourceKind k = KindFromName(*kind);
      if (k == v1::RESOURCE_KIND_UNSPECIFIED) {
        return Error(node["kind"], id, "kind",
                     absl::StrCat("unknown kind \"", *kind,
                                  "\"; known kinds: RedisDatabase, AerospikeCluster"));
      }
      const YAML::Node spec = node["spec"];
      if (!spec) return Error(node, id, "spec", "required");
      if (!spec.IsMap()) return Error(spec, id, "spec", "expected a mapping");
      v1::Resource resource;
      resource.set_name(*name);
      absl::Status s = k == v1::RESOURCE_KIND_REDIS_DATABASE
                           ? Redis(spec, id, resource.mutable_redis_database())
                           : Aerospike(spec, id, resource.mutable_aerospike_cluster());
      if (!s.ok()) return s;
      Canonicalize(&resource);
      if (absl::Status v = ValidateResource(resource); !v.ok()) {
        // ValidateResource already says "resource X: field F: ..."; add the place.
        return Error(node, "", "", std::string(v.message()));
      }
      if (auto [it, inserted] = seen.emplace(id, i); !inserted) {
        return Error(
            node, id, "name",
            absl::StrCat("duplicate: resources[", it->second, "] has the same kind and name"));
      }
      out.resources.push_back(std::move(resource));
    }
    if (out.resources.size() > GetRules().max_resources_per_region) {
      return Error(resources, "", "resources",
                   absl::StrCat(out.resources.size(), " resources; a region holds at most ",
                                GetRules().max_resources_per_region));
    }
    SortResources(&out.resources);
    return out;
  }

 private:
  std::string filename_;
};

void Emit(YAML::Emitter& out, const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object:
      if (value.empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& [k, v] : value.items()) {
        out << YAML::Key << k << YAML::Value;
        Emit(out, v);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      if (value.empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& v : value) Emit(out, v);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      // Quote strings YAML would read back as another type ("7.2", "true", "").
      bool quote = s.empty();
      try {
        YAML::Node probe = YAML::Load(s);
        quote = quote || !probe.IsScalar() || probe.Tag() != "?" ||
                s.find_first_not_of("0123456789.-+eE") == std::string::npos || s == "true" ||
                s == "false" || s == "null" || s == "~";
      } catch (const YAML::Exception&) {
        quote = true;
      }
      if (quote) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case nlohmann::json::value_t::boolean:
      out << value.get<bool>();
      break;
    case nlohmann::json::value_t::number_integer:
      out << value.get<int64_t>();
      break;
    case nlohmann::json::value_t::number_unsigned:
      out << value.get<uint64_t>();
      break;
    case nlohmann::json::value_t::number_float:
      out << value.get<double>();
      break;
    default:
      out << YAML::Null;
      break;
  }
}

const char* PersistenceName(v1::RedisPersistence p) {
  switch (p) {
    case v1::REDIS_PERSISTENCE_RDB:
      return "rdb";
    case v1::REDIS_PERSISTENCE_AOF:
      return "aof";
    default:
      return "none";
  }
}

}  // namespace

absl::StatusOr<StateFile> ParseStateFile(std::string_view content, std::string_view filename) {
  // The parser checks each node's type before converting it; a conversion yaml-cpp still
  // refuses is a bad file, never a crash of the CLI.
  try {
    return Parser(filename).Parse(content);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(filename), ":", e.mark.line + 1,
                                                   ": not a valid state file: ", e.msg));
  }
}

absl::StatusOr<StateFile> ReadStateFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the state file"));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseStateFile(text.str(), path);
}

namespace {

void FlattenSpec(const std::string& prefix, const nlohmann::json& v,
                 std::map<std::string, nlohmann::json>* out) {
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) FlattenSpec(prefix.empty() ? k : prefix + "." + k, x, out);
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) FlattenSpec(absl::StrCat(prefix, "[", i, "]"), v[i], out);
  } else {
    (*out)[prefix] = v;
  }
}

}  // namespace

std::map<std::string, nlohmann::json> SpecFields(const v1::Resource& resource) {
  std::map<std::string, nlohmann::json> out;
  FlattenSpec("", ResourceToJson(resource)["spec"], &out);
  return out;
}

nlohmann::json ResourceToJson(const v1::Resource& resource) {
  nlohmann::json out = nlohmann::json::object();
  out["kind"] = std::string(KindName(KindOf(resource)));
  out["name"] = resource.name();
  nlohmann::json spec = nlohmann::json::object();
  if (resource.has_redis_database()) {
    const auto& s = resource.redis_database();
    spec["memory_mb"] = s.memory_mb();
    spec["replicas"] = s.replicas();
    spec["version"] = s.version();
    spec["persistence"] = PersistenceName(s.persistence());
    if (!s.eviction_policy().empty()) spec["eviction_policy"] = s.eviction_policy();
    if (s.storage_gb() != 0) spec["storage_gb"] = s.storage_gb();
    if (!s.storage_class().empty()) spec["storage_class"] = s.storage_class();
  } else if (resource.has_aerospike_cluster()) {
    const auto& s = resource.aerospike_cluster();
    spec["size"] = s.size();
    spec["version"] = s.version();
    nlohmann::json nss = nlohmann::json::array();
    for (const auto& ns : s.namespaces()) {
      nss.push_back(
          {{"name", ns.name()},
           {"replication_factor", ns.replication_factor()},
           {"memory_mb", ns.memory_mb()},
           {"storage", ns.storage() == v1::AEROSPIKE_STORAGE_DEVICE ? "device" : "memory"}});
    }
    spec["namespaces"] = nss;
    if (s.storage_gb() != 0) spec["storage_gb"] = s.storage_gb();
    if (!s.storage_class().empty()) spec["storage_class"] = s.storage_class();
  }
  out["spec"] = spec;
  return out;
}

std::string JsonToYaml(const nlohmann::json& value) {
  YAML::Emitter out;
  Emit(out, value);
  std::string text = out.c_str();
  text += '\n';
  return text;
}

}  // namespace senren::common
