#pragma once

// The client commands of senren-ledger (apply, plan, history, blame, show, diff, rollback,
// regions, status): each talks to the ControlPlane API and prints a table, JSON or YAML
// (history and blame also CSV, for export). They return the process exit code: 0 done,
// 1 the server refused (its message on stderr), 2 bad local input (file, flags, a token
// that would go in plain text to a remote address).
//
// JSON and YAML are a stable output for scripts (docs/ledger.md "Output for scripts"), in
// the state files' vocabulary and with the Python SDK's field names: kinds as
// "RedisDatabase", resources as "Kind/name" or {kind, name, spec}, numbers (versions
// included) as numbers, phases as "Ready", results, origins and changes as lower-case
// words ("applied", "rollback", "updated"), times as RFC 3339 in UTC, an unset time as null.
// `show` prints a state file (plus its `version`), so `show -o yaml` is input to `apply`.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace senren::ledger::cli {

enum class Output { kTable, kJson, kYaml, kCsv };

struct ClientOptions {
  std::string addr = "127.0.0.1:57070";  // Default: $SENREN_ADDR or 127.0.0.1:57070
  std::string token;                     // Default: $SENREN_TOKEN
  std::string tls_ca;                    // PEM; set = TLS. Default: $SENREN_TLS_CA
  std::string tls_cert;                  // client certificate for mutual TLS
  std::string tls_key;
  // Send the token in plain text to a non-loopback address (no TLS flag). Default: false:
  // such a command exits 2 saying how to pass a CA (--tls-ca).
  bool insecure = false;
  double timeout_seconds = 30;  // Default: 30
  Output output = Output::kTable;
};

struct ApplyFlags {
  std::string file;
  std::optional<uint64_t> expected_version;
  std::string idempotency_key;
  std::string message;  // overrides the file's message
  std::string author;
  bool allow_empty = false;
  bool allow_mass_delete = false;
  bool dry_run = false;
};

// True when every host of the gRPC target (host:port, [v6]:port, dns:///host:port,
// ipv4:a:p,b:q, unix:path) is this machine: "localhost", 127.0.0.0/8, ::1 or a Unix
// socket. Names are not resolved: any other name is remote, whatever it resolves to today.
bool IsLoopbackTarget(std::string_view target);

int Apply(const ClientOptions& client, const ApplyFlags& flags);
int Plan(const ClientOptions& client, const ApplyFlags& flags);
// `history`: versions newest first, filtered (docs/ledger.md "Audit"). Times are
// RFC 3339 (2026-11-26T18:00:00Z).
struct HistoryFlags {
  std::string region;        // ignored with all_regions
  bool all_regions = false;  // every region, merged newest first by time
  std::string resource;      // "Kind/name": only the versions that changed it, with the change
  std::string author;
  std::string since;
  std::string until;
  std::string origin;   // "", "apply" or "rollback"
  uint32_t limit = 20;  // at most this many versions (per command, not per region)
  bool all = false;     // no limit
};
int History(const ClientOptions& client, const HistoryFlags& flags);

// `blame`: each spec field of a resource with the version, author and time that last set
// it. version 0 = current.
int Blame(const ClientOptions& client, const std::string& region, const std::string& resource,
          uint64_t version);

// `show`: the state at `version` (0 = current) or, with `at` (RFC 3339), the version
// current at that time.
int Show(const ClientOptions& client, const std::string& region, uint64_t version,
         const std::string& at = "");
int Diff(const ClientOptions& client, const std::string& region, uint64_t from, uint64_t to);

struct RollbackFlags {
  std::string region;
  uint64_t to_version = 0;
  std::string message;
  std::string author;
  std::optional<uint64_t> expected_version;
  bool allow_empty = false;
  bool allow_mass_delete = false;
};
int Rollback(const ClientOptions& client, const RollbackFlags& flags);
int Regions(const ClientOptions& client);

// What each cluster of a region reports (GetStatus): now, or with `at` (RFC 3339, e.g.
// 2026-11-26T18:00:00Z) what was desired and reported then. resource: "Kind/name",
// "name" or "" for all.
int Status(const ClientOptions& client, const std::string& region, const std::string& resource,
           const std::string& at);

}  // namespace senren::ledger::cli
