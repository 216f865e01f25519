#include "common/rules.h"

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "absl/strings/str_join.h"
#include "common/rules_json.h"
#include "re2/re2.h"

namespace senren::common {
namespace {

using nlohmann::json;

IntRule Int(const json& j) {
  return {j.at("minimum").get<int64_t>(), j.at("maximum").get<int64_t>()};
}

StringRule String(const json& j) {
  StringRule r;
  r.pattern = j.at("pattern").get<std::string>();
  r.max_length = j.at("max_length").get<size_t>();
  auto re = std::make_shared<const re2::RE2>(r.pattern);
  if (!re->ok()) throw std::invalid_argument("pattern " + r.pattern + ": " + re->error());
  r.re = std::move(re);
  return r;
}

ChoiceRule Choice(const json& j) { return {j.at("enum").get<std::vector<std::string>>()}; }

Rules Parse() {
  const json t = json::parse(internal::kRulesJson);
  Rules r;
  r.name = String(t.at("name"));
  r.region = String(t.at("region"));
  r.max_resources_per_region = t.at("resources_per_region").at("maximum").get<size_t>();
  const json& redis = t.at("RedisDatabase");
  r.redis.memory_mb = Int(redis.at("memory_mb"));
  r.redis.replicas = Int(redis.at("replicas"));
  r.redis.default_replicas = redis.at("replicas").at("default").get<uint32_t>();
  r.redis.version = String(redis.at("version"));
  r.redis.default_version = redis.at("version").at("default").get<std::string>();
  r.redis.persistence = Choice(redis.at("persistence"));
  r.redis.default_persistence = redis.at("persistence").at("default").get<std::string>();
  r.redis.eviction_policy = Choice(redis.at("eviction_policy"));
  r.redis.storage_gb = Int(redis.at("storage_gb"));
  r.redis.storage_class = String(redis.at("storage_class"));
  const json& as = t.at("AerospikeCluster");
  r.aerospike.size = Int(as.at("size"));
  r.aerospike.version = String(as.at("version"));
  r.aerospike.default_version = as.at("version").at("default").get<std::string>();
  r.aerospike.namespaces = {as.at("namespaces").at("min_items").get<int64_t>(),
                            as.at("namespaces").at("max_items").get<int64_t>()};
  r.aerospike.storage_gb = Int(as.at("storage_gb"));
  r.aerospike.storage_class = String(as.at("storage_class"));
  const json& ns = t.at("AerospikeNamespace");
  r.aerospike_namespace.name = String(ns.at("name"));
  r.aerospike_namespace.replication_factor = Int(ns.at("replication_factor"));
  r.aerospike_namespace.default_replication_factor =
      ns.at("replication_factor").at("default").get<uint32_t>();
  r.aerospike_namespace.memory_mb = Int(ns.at("memory_mb"));
  r.aerospike_namespace.storage = Choice(ns.at("storage"));
  r.aerospike_namespace.default_storage = ns.at("storage").at("default").get<std::string>();
  return r;
}

}  // namespace

bool StringRule::Matches(std::string_view s) const {
  return s.size() <= max_length && re2::RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
}

bool ChoiceRule::Contains(std::string_view v) const {
  for (const auto& x : values) {
    if (x == v) return true;
  }
  return false;
}

std::string ChoiceRule::Joined() const { return absl::StrJoin(values, ", "); }

const Rules& GetRules() {
  static const Rules* rules = [] {
    try {
      return new Rules(Parse());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "senren: the compiled-in rules table is malformed: %s\n", e.what());
      std::abort();
    }
  }();
  return *rules;
}

std::string_view RulesJson() { return internal::kRulesJson; }

}  // namespace senren::common
