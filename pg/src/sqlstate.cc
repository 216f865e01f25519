#include "pg/sqlstate.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace senren::pg {

absl::StatusCode CodeForSqlState(std::string_view s) {
  if (s.substr(0, 2) == "08" || s == "57P01" || s == "57P02" || s == "57P03" || s == "53300") {
    return absl::StatusCode::kUnavailable;
  }
  if (s == "40001" || s == "40P01") return absl::StatusCode::kAborted;
  if (s == "57014") return absl::StatusCode::kDeadlineExceeded;
  if (s == "23505") return absl::StatusCode::kAlreadyExists;
  if (s.substr(0, 2) == "22") return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kInternal;
}

absl::Status SqlError(std::string_view op, std::string_view region, std::string_view sqlstate,
                      std::string_view message) {
  std::string what = absl::StrCat("PostgreSQL failed to ", std::string(op));
  if (!region.empty()) absl::StrAppend(&what, " of region ", std::string(region));
  absl::StrAppend(&what, " (SQLSTATE ", std::string(sqlstate), "): ", OneLine(message));
  const absl::StatusCode code = CodeForSqlState(sqlstate);
  if (code == absl::StatusCode::kAborted) absl::StrAppend(&what, "; retry");
  return absl::Status(code, what);
}

std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace senren::pg
