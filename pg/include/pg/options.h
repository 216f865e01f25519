#pragma once

// How Senren connects to PostgreSQL: one place for the connection string and the
// settings every session starts with, so the ledger store, the projectors, the read
// model, migrations and tests connect alike.

#include <chrono>
#include <string>
#include <string_view>

namespace senren::pg {

struct ConnectionOptions {
  // libpq URI (postgresql://user:secret@host:port/db?...) or key=value conninfo. Required.
  std::string uri;
  // PostgreSQL schema every session works in (search_path). Default: empty, the server's
  // search_path.
  std::string schema;
  // Added to the URI unless it names connect_timeout itself: without it libpq waits on an
  // unreachable host for as long as TCP does. 0: not added. Default: 5 s.
  std::chrono::seconds connect_timeout{5};
  // TCP keepalive probes (libpq keepalives_idle / _interval / _count), so a peer that
  // vanished without closing is noticed while we wait for an answer: with the defaults
  // after 10 s + 3 x 5 s of silence, not TCP's ~2 h. 0: not added, libpq's and the
  // kernel's defaults apply. Default: 10 s, 5 s, 3.
  std::chrono::seconds keepalives_idle{10};
  std::chrono::seconds keepalives_interval{5};
  int keepalives_count = 3;
  // libpq tcp_user_timeout: how long sent data may stay unacknowledged before the kernel
  // drops the connection, instead of retransmitting for ~15 min on a partition. 0: not
  // added. Default: 20 s.
  std::chrono::milliseconds tcp_user_timeout{20'000};
  // SET statement_timeout for every session: a hung statement must not hold a pooled
  // connection, and its caller, forever. 0: the server's setting. Default: 0.
  std::chrono::milliseconds statement_timeout{0};
};

// The libpq connection string of `options`: `uri` with connect_timeout, keepalives and
// tcp_user_timeout added as URI query parameters (URI form) or key=value pairs (conninfo form).
std::string ConnectionString(const ConnectionOptions& options);

// The statements a new session runs before use ("SET search_path TO ...; SET
// statement_timeout TO ..."), empty when there is nothing to set.
std::string SessionSetup(const ConnectionOptions& options);

// An SQL identifier in double quotes: QuoteIdent("my\"schema") == "\"my\"\"schema\"".
std::string QuoteIdent(std::string_view name);

// "postgresql://user:secret@host:port/db?x=y" -> "host:port/db": never log a password.
std::string RedactUri(std::string_view uri);

}  // namespace senren::pg
