#pragma once

// Where a Kafka client connects and as whom: the librdkafka properties every client of a
// process shares (bootstrap.servers, security.protocol, sasl.*, ssl.*), read once from
// the daemon's flags (--kafka-config FILE, --brokers) and handed to every producer,
// consumer and admin call of kafka.h.

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace senren::kafka {

// librdkafka properties, name -> value.
using Config = std::map<std::string, std::string>;

// One Kafka cluster and the identity to reach it with. Copyable value; the properties may
// hold secrets (sasl.password), so it is never logged whole: log brokers only.
struct Connection {
  // bootstrap.servers, "host:port,...". Required by every client.
  std::string brokers;
  // Every other property (security, SASL, TLS, client tuning). They override Senren's
  // defaults for a client; what a caller sets for one client (Producer::Create's `extra`)
  // overrides them in turn. Default: none (PLAINTEXT, no authentication).
  Config properties = {};
};

// Parses librdkafka properties in the format of kcat's -F and Kafka's client.properties:
// one `name=value` a line, split at the first '=', blanks around name and value ignored;
// blank lines and lines whose first non-blank character is '#' are skipped; a later line
// wins over an earlier one. `source` names the text in errors (a file's path).
// Each property is checked with librdkafka itself, so a misspelt name or a value it
// refuses fails here, at start, not at the first connection.
// INVALID_ARGUMENT "SOURCE:LINE: ..." on a line without '=' or with an empty name, or a
// property librdkafka rejects (with librdkafka's reason, which quotes a refused value only
// for properties of a fixed set of values; secrets such as sasl.password take any value).
absl::StatusOr<Config> ParseProperties(const std::string& text, const std::string& source);

// The connection of a daemon's flags: the properties of `config_file` ("" = none), with
// bootstrap.servers taken from `brokers` when it is not empty (the flag wins over the
// file), else from the file, else `default_brokers`.
// NOT_FOUND when the file cannot be read; INVALID_ARGUMENT as ParseProperties, or when no
// broker is named anywhere.
absl::StatusOr<Connection> LoadConnection(const std::string& config_file,
                                          const std::string& brokers,
                                          const std::string& default_brokers = "");

}  // namespace senren::kafka
