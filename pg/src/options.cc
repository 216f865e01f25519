#include "pg/options.h"

#include "absl/strings/str_cat.h"

namespace senren::pg {
namespace {

// Adds key=value unless the string names `key` already (an explicit setting wins).
void AddParameter(std::string* conninfo, std::string_view key, int64_t value) {
  if (value <= 0 || conninfo->find(key) != std::string::npos) return;
  if (conninfo->find("://") != std::string::npos) {
    *conninfo += conninfo->find('?') == std::string::npos ? "?" : "&";
  } else if (!conninfo->empty()) {
    *conninfo += " ";
  }
  absl::StrAppend(conninfo, std::string(key), "=", value);
}

}  // namespace

std::string ConnectionString(const ConnectionOptions& options) {
  std::string out = options.uri;
  AddParameter(&out, "connect_timeout", options.connect_timeout.count());
  const bool keepalives = options.keepalives_idle.count() > 0 ||
                          options.keepalives_interval.count() > 0 || options.keepalives_count > 0;
  if (keepalives) {
    AddParameter(&out, "keepalives_idle", options.keepalives_idle.count());
    AddParameter(&out, "keepalives_interval", options.keepalives_interval.count());
    AddParameter(&out, "keepalives_count", options.keepalives_count);
  }
  AddParameter(&out, "tcp_user_timeout", options.tcp_user_timeout.count());
  return out;
}

std::string SessionSetup(const ConnectionOptions& options) {
  std::string out;
  if (!options.schema.empty())
    absl::StrAppend(&out, "SET search_path TO ", QuoteIdent(options.schema));
  if (options.statement_timeout.count() > 0) {
    absl::StrAppend(&out, out.empty() ? "" : "; ", "SET statement_timeout TO '",
                    options.statement_timeout.count(), "ms'");
  }
  return out;
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string RedactUri(std::string_view uri) {
  std::string_view out = uri;
  if (auto scheme = out.find("://"); scheme != std::string_view::npos) out = out.substr(scheme + 3);
  if (auto at = out.rfind('@'); at != std::string_view::npos) out = out.substr(at + 1);
  if (auto q = out.find('?'); q != std::string_view::npos) out = out.substr(0, q);
  return std::string(out);
}

}  // namespace senren::pg
