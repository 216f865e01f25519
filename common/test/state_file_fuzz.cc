// libFuzzer target over the state-file parser and its validation (ParseStateFile): any
// bytes as YAML or JSON. Crashes and sanitizer reports are findings, and so is a file that
// parses into something the validation refuses, or whose resources do not come back the
// same after being written out as a state file and parsed again. Run: tools/fuzz state.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/state_file.h"
#include "common/validation.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view content(reinterpret_cast<const char*>(data), size);
  auto parsed = senren::common::ParseStateFile(content, "fuzz.yaml");
  if (!parsed.ok()) return 0;
  if (!senren::common::ValidateRegionKey(parsed->region).ok()) std::abort();
  if (!senren::common::ValidateResourceSet(parsed->resources).ok()) std::abort();
  // Written out the way `senren-ledger show -o yaml` writes a state, it parses back the same.
  nlohmann::json file = {{"region", parsed->region}, {"resources", nlohmann::json::array()}};
  if (!parsed->message.empty()) file["message"] = parsed->message;
  for (const auto& r : parsed->resources) {
    file["resources"].push_back(senren::common::ResourceToJson(r));
  }
  auto again = senren::common::ParseStateFile(senren::common::JsonToYaml(file), "again.yaml");
  if (!again.ok() || again->region != parsed->region ||
      again->resources.size() != parsed->resources.size()) {
    std::abort();
  }
  for (size_t i = 0; i < parsed->resources.size(); ++i) {
    if (again->resources[i].SerializeAsString() != parsed->resources[i].SerializeAsString()) {
      std::abort();
    }
  }
  return 0;
}
