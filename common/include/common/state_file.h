#pragma once

// State files (docs/design.md §12): YAML or JSON with `region`, optional `message` and
// `resources: [{kind, name, spec}]`, specs in snake_case with enum values in lower case
// (`persistence: rdb`, `storage: memory`). Parsing is strict: an unknown kind or field, a
// value of the wrong type or out of bounds, or a duplicate name is INVALID_ARGUMENT naming
// the file, the resource and the field.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "senren/v1/resources.pb.h"

namespace senren::common {

struct StateFile {
  std::string region;
  std::string message;
  std::vector<v1::Resource> resources;  // canonicalized, sorted, validated
};

// Parses `content`; `filename` is only used in error messages.
absl::StatusOr<StateFile> ParseStateFile(std::string_view content, std::string_view filename);

// Reads and parses a file; NOT_FOUND when it cannot be read.
absl::StatusOr<StateFile> ReadStateFile(const std::string& path);

// One resource in state-file form: {"kind": ..., "name": ..., "spec": {...}}.
nlohmann::json ResourceToJson(const v1::Resource& resource);

// The spec of a resource as state-file paths ("memory_mb", "namespaces[0].memory_mb")
// and their values, in the state files' vocabulary (enums as "rdb", numbers as numbers):
// what audit answers, diffs and blame name fields by.
std::map<std::string, nlohmann::json> SpecFields(const v1::Resource& resource);

// A JSON value as YAML text (block style), for `--output yaml`.
std::string JsonToYaml(const nlohmann::json& value);

}  // namespace senren::common
