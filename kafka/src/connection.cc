#include "kafka/connection.h"

#include <librdkafka/rdkafka.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace senren::kafka {

absl::StatusOr<Config> ParseProperties(const std::string& text, const std::string& source) {
  // A scratch conf: librdkafka checks each name and value against its own table (and the
  // features this build has, e.g. SASL mechanisms), as it would when a client is made.
  std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)> scratch(rd_kafka_conf_new(),
                                                                       rd_kafka_conf_destroy);
  Config out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_no, ": expected name=value, got a line without '='"));
    }
    const std::string name(absl::StripAsciiWhitespace(line.substr(0, eq)));
    const std::string value(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_no, ": expected name=value, got an empty name"));
    }
    char err[512];
    if (rd_kafka_conf_set(scratch.get(), name.c_str(), value.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_no, ": librdkafka rejects property ", name, ": ", err));
    }
    out[name] = value;
  }
  return out;
}

absl::StatusOr<Connection> LoadConnection(const std::string& config_file,
                                          const std::string& brokers,
                                          const std::string& default_brokers) {
  Connection c;
  if (!config_file.empty()) {
    std::ifstream in(config_file, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("reading the Kafka client properties ", config_file, ": cannot open it"));
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = ParseProperties(text.str(), config_file);
    if (!parsed.ok()) return parsed.status();
    c.properties = std::move(*parsed);
  }
  auto it = c.properties.find("bootstrap.servers");
  if (!brokers.empty()) {
    c.brokers = brokers;
  } else if (it != c.properties.end()) {
    c.brokers = it->second;
  } else {
    c.brokers = default_brokers;
  }
  if (it != c.properties.end()) c.properties.erase(it);
  if (c.brokers.empty()) {
    return absl::InvalidArgumentError(
        config_file.empty()
            ? std::string("no Kafka brokers: name them with the brokers flag or with "
                          "bootstrap.servers in a --kafka-config file")
            : absl::StrCat("no Kafka brokers: ", config_file,
                           " has no bootstrap.servers and the brokers flag is not given"));
  }
  return c;
}

}  // namespace senren::kafka
