#pragma once

// "memory_mb" -> "memoryMb": the CRDs' field names are senren.v1's in camelCase (the rules
// table and the edge cases of tests/rules use senren.v1's). Header-only, for tests.

#include <string>

namespace senren::common::testing {

inline std::string CamelCase(const std::string& snake) {
  std::string out;
  bool upper = false;
  for (char c : snake) {
    if (c == '_') {
      upper = true;
    } else {
      out += upper ? static_cast<char>(c - 'a' + 'A') : c;
      upper = false;
    }
  }
  return out;
}

}  // namespace senren::common::testing
