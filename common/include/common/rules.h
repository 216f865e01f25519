#pragma once

// The one table of what a valid resource is: sdk-proto/senren/v1/rules.json, compiled in.
// The ledger's validation reads its bounds, patterns and choices from here; the SDK ships
// the same file and the CRD schemas are checked against it (crd_manifest_test), so the
// three cannot drift apart (tests/rules runs one set of edge cases through all three).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace senren::common {

struct IntRule {
  int64_t minimum = 0;
  int64_t maximum = 0;
  bool Contains(int64_t v) const { return v >= minimum && v <= maximum; }
};

struct StringRule {
  std::string pattern;  // anchored with ^...$ in the table
  size_t max_length = 0;
  std::shared_ptr<const re2::RE2> re;  // RE2: linear time, ~10x faster than std::regex
  bool Matches(std::string_view s) const;
};

struct ChoiceRule {
  std::vector<std::string> values;
  bool Contains(std::string_view v) const;
  std::string Joined() const;  // "none, rdb, aof"
};

struct Rules {
  StringRule name;
  StringRule region;
  size_t max_resources_per_region = 0;
  struct {
    IntRule memory_mb, replicas, storage_gb;
    StringRule version, storage_class;
    ChoiceRule persistence, eviction_policy;
    uint32_t default_replicas = 0;
    std::string default_version, default_persistence;
  } redis;
  struct {
    IntRule size, namespaces, storage_gb;
    StringRule version, storage_class;
    std::string default_version;
  } aerospike;
  struct {
    StringRule name;
    IntRule replication_factor, memory_mb;
    uint32_t default_replication_factor = 0;
    ChoiceRule storage;
    std::string default_storage;
  } aerospike_namespace;
};

// Parsed once, on first use. The table is compiled in, so a malformed table is a build
// defect: it aborts at first use with the parse error (common_test parses it).
const Rules& GetRules();

// The table's text, as compiled in (for tests that compare it with other copies).
std::string_view RulesJson();

}  // namespace senren::common
