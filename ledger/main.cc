// senren-ledger: the control plane server (serve), its schema tool (migrate) and the
// admin/audit client (apply, plan, history, blame, show, diff, rollback, regions). Wiring
// only.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/cli.h"
#include "common/snapshot_signature.h"
#include "daemon/daemon.h"
#include "kafka/connection.h"
#include "ledger/auth.h"
#include "ledger/chain.h"
#include "ledger/pg_ledger_store.h"
#include "ledger/server.h"
#include "pg/migrate.h"
#include "projections/snapshot_projector.h"
#include "projections/status_projector.h"
#include "projections/status_read_model.h"
#include "spdlog/spdlog.h"

namespace {

using senren::ledger::cli::Output;

struct ServeFlags {
  std::string postgres;
  // The schema owner's URI, for migrations; "" = migrate with `postgres`.
  std::string owner_postgres;
  std::string schema = "senren";
  std::string tokens;
  senren::daemon::DaemonFlags daemon;  // --log-level, --metrics-listen
  int pool_size = 16;
  uint64_t checkpoint_interval = 64;
  int max_write_transactions = 4;
  // Kafka for the projectors: --kafka-brokers, --kafka-config, and the brokers of
  // SENREN_KAFKA_BROKERS when neither names any; all "" = serve the API only (no
  // snapshots, no status). `kafka` is what they make, loaded once (LoadKafka).
  std::string kafka_brokers;
  std::string kafka_config;
  std::string kafka_brokers_env;
  senren::kafka::Connection kafka;
  std::string topic_prefix = "senren";
  // Partitions of {prefix}-state: created with them, grown to them (docs/design.md §4).
  int state_partitions = 12;
  // PEM Ed25519 private key the snapshot projector signs every state with; "" = unsigned.
  // `signer` is what it makes, loaded once (LoadSigner).
  std::string snapshot_signing_key;
  std::shared_ptr<const senren::common::SnapshotSigner> signer;
  senren::ledger::ServerOptions server;
};

// The projectors of this process (docs/design.md §2: API + projectors in one process by default).
// Kafka may be down when serve starts: the API serves at once, and a background thread
// starts each projector as soon as its topic can be created.
class Projections {
 public:
  Projections(const ServeFlags& flags, senren::ledger::LedgerStore* store) {
    namespace proj = senren::projections;
    proj::SnapshotProjectorOptions so;
    so.postgres_uri = flags.postgres;
    so.schema = flags.schema;
    so.kafka = flags.kafka;
    so.topic_prefix = flags.topic_prefix;
    so.partitions = flags.state_partitions;
    so.signer = flags.signer;
    proj::StatusProjectorOptions to;
    to.postgres_uri = flags.postgres;
    to.schema = flags.schema;
    to.kafka = flags.kafka;
    to.topic_prefix = flags.topic_prefix;
    snapshot_ = std::move(proj::SnapshotProjector::Create(so, store).value());
    status_ = std::move(proj::StatusProjector::Create(to, &hub_).value());
    read_model_ =
        std::move(proj::NewPgStatusReadModel({flags.postgres, flags.schema, 4}, &hub_).value());
    starter_ = std::thread([this] { StartAll(); });
  }
  ~Projections() {
    stop_ = true;
    starter_.join();
    snapshot_->Stop();
    status_->Stop();
  }
  senren::projections::StatusReadModel* read_model() { return read_model_.get(); }
  // The projectors' counters, copied into the registry at each scrape.
  void Export(senren::daemon::Metrics& m) const {
    const auto s = snapshot_->Stats();
    const auto t = status_->Stats();
    m.Describe("senren_snapshot_published_total", "counter", "Snapshots published to Kafka.");
    m.Describe("senren_snapshot_publish_errors_total", "counter",
               "Snapshot publishes that failed.");
    m.Describe("senren_snapshot_too_large_total", "counter",
               "Snapshots over Kafka's message limit.");
    m.Describe("senren_snapshot_leader", "gauge",
               "1 while this process's snapshot projector leads.");
    m.Describe("senren_status_consumed_total", "counter", "Status records consumed.");
    m.Describe("senren_status_bad_messages_total", "counter", "Status records that did not parse.");
    m.Describe("senren_status_unknown_region_total", "counter",
               "Status records of unknown regions.");
    m.Set("senren_snapshot_published_total", "", static_cast<double>(s.published));
    m.Set("senren_snapshot_publish_errors_total", "", static_cast<double>(s.publish_errors));
    m.Set("senren_snapshot_too_large_total", "", static_cast<double>(s.too_large));
    m.Set("senren_snapshot_leader", "", s.leader ? 1 : 0);
    m.Set("senren_status_consumed_total", "", static_cast<double>(t.consumed));
    m.Set("senren_status_bad_messages_total", "", static_cast<double>(t.bad_messages));
    m.Set("senren_status_unknown_region_total", "", static_cast<double>(t.unknown_region));
  }

 private:
  void StartAll() {
    bool snapshot_started = false;
    bool status_started = false;
    for (int attempt = 0; !stop_ && !(snapshot_started && status_started); ++attempt) {
      if (!snapshot_started) {
        absl::Status s = snapshot_->Start();
        snapshot_started = s.ok();
        if (!s.ok() && attempt % 15 == 0)
          spdlog::warn("snapshot projector waits for Kafka: {}", s.ToString());
      }
      if (!status_started) {
        absl::Status s = status_->Start();
        status_started = s.ok();
        if (!s.ok() && attempt % 15 == 0)
          spdlog::warn("status projector waits for Kafka: {}", s.ToString());
      }
      if (snapshot_started && status_started) {
        spdlog::info("projectors running: {} and {}", snapshot_->Topic(), status_->Topic());
        break;
      }
      for (int i = 0; i < 20 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  senren::projections::StatusHub hub_;
  std::unique_ptr<senren::projections::SnapshotProjector> snapshot_;
  std::unique_ptr<senren::projections::StatusProjector> status_;
  std::unique_ptr<senren::projections::StatusReadModel> read_model_;
  std::atomic<bool> stop_{false};
  std::thread starter_;
};

// Migrates as the owner (`uri`) and grants `service_role` the service's rights.
int Migrate(const std::string& uri, const std::string& schema, const std::string& service_role) {
  auto v = senren::pg::Migrate(uri, schema, service_role);
  if (!v.ok()) {
    std::cerr << "senren-ledger: " << v.status().message() << "\n";
    return 1;
  }
  std::cout << "schema " << schema << " is at migration " << *v << "\n";
  return 0;
}

// Serve and project migrate as the owner when given one, granting the role they serve as.
absl::StatusOr<int> MigrateForService(const ServeFlags& flags) {
  if (flags.owner_postgres.empty()) return senren::pg::Migrate(flags.postgres, flags.schema);
  const std::string service = senren::pg::UriUser(flags.postgres);
  return senren::pg::Migrate(flags.owner_postgres, flags.schema,
                             service == senren::pg::UriUser(flags.owner_postgres) ? "" : service);
}

// What serve and project start alike, in order: the daemon (first, before any thread
// starts: it blocks SIGINT/SIGTERM for every later thread) with a readiness check named
// `check` that fails with `starting` until `*ready`; the schema migrated, waiting for
// PostgreSQL while it is starting; and the store. Without a daemon or a store, `exit_code`
// is how the process ends (0: stopped while waiting for PostgreSQL).
struct Started {
  std::unique_ptr<senren::daemon::Daemon> daemon;
  std::unique_ptr<senren::ledger::PgLedgerStore> store;
  int exit_code = 0;
};

Started StartDaemonAndStore(const std::string& name, const ServeFlags& flags,
                            const std::string& check, const std::string& starting,
                            const std::atomic<bool>* ready,
                            senren::ledger::PgLedgerStoreOptions store_options) {
  Started out;
  auto created = senren::daemon::Daemon::Create(name, flags.daemon);
  if (!created.ok()) {
    std::cerr << "senren-ledger: " << created.status().message() << "\n";
    out.exit_code = 2;
    return out;
  }
  out.daemon = std::move(*created);
  out.daemon->health().AddReadinessCheck(
      check, [ready, starting] { return ready->load() ? std::string() : starting; });
  for (int attempt = 0;; ++attempt) {
    auto v = MigrateForService(flags);
    if (v.ok()) {
      spdlog::info("schema {} at migration {}", flags.schema, *v);
      break;
    }
    if (v.status().code() != absl::StatusCode::kUnavailable) {
      std::cerr << "senren-ledger: " << v.status().message() << "\n";
      out.exit_code = 1;
      return out;
    }
    if (attempt % 10 == 0)
      spdlog::warn("waiting for PostgreSQL: {}", std::string(v.status().message()));
    if (out.daemon->WaitForStopFor(absl::Seconds(1))) return out;
  }
  store_options.uri = flags.postgres;
  store_options.schema = flags.schema;
  auto store = senren::ledger::PgLedgerStore::Create(store_options);
  if (!store.ok()) {
    std::cerr << "senren-ledger: " << store.status().message() << "\n";
    out.exit_code = 2;
    return out;
  }
  out.store = std::move(*store);
  return out;
}

// Reads --kafka-config and --kafka-brokers into flags->kafka, for every Kafka client of the
// process. False (after saying why on stderr) when the file is unreadable or bad.
bool LoadKafka(ServeFlags* flags) {
  auto connection = senren::kafka::LoadConnection(flags->kafka_config, flags->kafka_brokers,
                                                  flags->kafka_brokers_env);
  if (!connection.ok()) {
    std::cerr << "senren-ledger: " << connection.status().message() << "\n";
    return false;
  }
  flags->kafka = std::move(*connection);
  return true;
}

// Reads --snapshot-signing-key into flags->signer. False (after saying why on stderr) when
// the file is unreadable or not an Ed25519 private key; without the flag, says that
// snapshots go out unsigned (planes that verify will refuse them).
bool LoadSigner(ServeFlags* flags) {
  if (flags->snapshot_signing_key.empty()) {
    spdlog::warn("no --snapshot-signing-key: snapshots are published unsigned; regional planes "
                 "given a --snapshot-verify-key refuse them");
    return true;
  }
  auto signer = senren::common::SnapshotSigner::FromPemFile(flags->snapshot_signing_key);
  if (!signer.ok()) {
    std::cerr << "senren-ledger: --snapshot-signing-key: " << signer.status().message() << "\n";
    return false;
  }
  spdlog::info("snapshots are signed with key {} ({})", (*signer)->key_id(),
               flags->snapshot_signing_key);
  flags->signer = *std::move(signer);
  return true;
}

int Serve(ServeFlags flags) {
  const bool with_kafka = !flags.kafka_brokers.empty() || !flags.kafka_config.empty() ||
                          !flags.kafka_brokers_env.empty();
  if (with_kafka && !LoadKafka(&flags)) return 2;
  if (with_kafka && !LoadSigner(&flags)) return 2;
  // Before the daemon: its HTTP threads read it until the daemon is gone.
  std::atomic<bool> serving{false};
  auto auth = senren::ledger::TokenAuthenticator::FromFile(flags.tokens);
  if (!auth.ok()) {
    std::cerr << "senren-ledger: " << auth.status().message() << "\n";
    return 2;
  }
  senren::ledger::PgLedgerStoreOptions store_options;
  store_options.pool_size = flags.pool_size;
  store_options.checkpoint_interval = flags.checkpoint_interval;
  store_options.max_write_transactions = flags.max_write_transactions;
  Started started =
      StartDaemonAndStore("senren-ledger", flags, "ledger", "starting: migrations, PostgreSQL",
                          &serving, store_options);
  if (started.store == nullptr) return started.exit_code;
  senren::daemon::Daemon& daemon = *started.daemon;
  senren::ledger::PgLedgerStore* raw_store = started.store.get();
  std::unique_ptr<Projections> projections;
  if (with_kafka) {
    projections = std::make_unique<Projections>(flags, raw_store);
    flags.server.status = projections->read_model();
  } else {
    spdlog::warn("no --kafka-brokers nor --kafka-config: serving the API without projectors (no "
                 "snapshots, no status)");
  }
  flags.server.metrics = &daemon.metrics();
  auto server = senren::ledger::LedgerServer::Start(
      flags.server, raw_store,
      std::shared_ptr<const senren::ledger::TokenAuthenticator>(std::move(*auth)));
  if (!server.ok()) {
    std::cerr << "senren-ledger: " << server.status().message() << "\n";
    return 1;
  }
  spdlog::info("senren-ledger serving senren.v1.ControlPlane on port {}", (*server)->port());
  Projections* raw_projections = projections.get();
  daemon.metrics().AddCollector([raw_store, raw_projections](senren::daemon::Metrics& m) {
    senren::ledger::ExportStoreStats(raw_store->Stats(), m);
    if (raw_projections != nullptr) raw_projections->Export(m);
  });
  serving.store(true);
  daemon.WaitForStop();
  // The store and the projectors go before the daemon's endpoint does.
  daemon.metrics().ClearCollectors();
  (*server)->Shutdown();
  projections.reset();
  return 0;
}

int Project(ServeFlags flags) {
  if (!LoadKafka(&flags)) return 2;
  if (!LoadSigner(&flags)) return 2;
  std::atomic<bool> running{false};  // before the daemon: its HTTP threads read it
  senren::ledger::PgLedgerStoreOptions store_options;
  store_options.pool_size = 2;
  Started started = StartDaemonAndStore("senren-ledger project", flags, "projectors", "starting",
                                        &running, store_options);
  if (started.store == nullptr) return started.exit_code;
  senren::daemon::Daemon& daemon = *started.daemon;
  auto projections = std::make_unique<Projections>(flags, started.store.get());
  Projections* raw_projections = projections.get();
  daemon.metrics().AddCollector(
      [raw_projections](senren::daemon::Metrics& m) { raw_projections->Export(m); });
  running.store(true);
  daemon.WaitForStop();
  daemon.metrics().ClearCollectors();
  projections.reset();
  return 0;
}

// `verify`: walks the hash chain; exit 1 naming the first version that does not match.
int Verify(const std::string& uri, const std::string& schema, const std::string& region) {
  auto report = senren::ledger::VerifyChain(uri, schema, region);
  if (!report.ok()) {
    std::cerr << "verify: " << report.status().message() << "\n";
    return report.status().code() == absl::StatusCode::kDataLoss ? 1 : 2;
  }
  std::cout << "verify: " << report->regions << " regions, " << report->versions
            << " versions, chain intact\n";
  return 0;
}

const char* Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"senren-ledger: the Senren control plane (serve, migrate) and its admin client"};
  app.require_subcommand(1);

  // Client options shared by the client commands.
  senren::ledger::cli::ClientOptions client;
  client.addr = Env("SENREN_ADDR", "127.0.0.1:57070");
  client.token = Env("SENREN_TOKEN", "");
  client.tls_ca = Env("SENREN_TLS_CA", "");
  std::string output = "table";
  auto add_client_flags = [&](CLI::App* sub) {
    sub->add_option("--addr", client.addr, "ControlPlane address (env SENREN_ADDR)");
    sub->add_option("--token", client.token, "bearer token (env SENREN_TOKEN)");
    sub->add_option("-o,--output", output, "table, json or yaml (history and blame: also csv)")
        ->check(CLI::IsMember({"table", "json", "yaml", "csv"}));
    // Any --tls-* flag means TLS; a file that cannot be read is an error, never plaintext.
    sub->add_option("--tls-ca", client.tls_ca,
                    "CA certificate (PEM) to verify the server (env SENREN_TLS_CA; default: "
                    "gRPC's roots); enables TLS");
    sub->add_option("--tls-cert", client.tls_cert,
                    "client certificate (PEM) for mutual TLS; needs --tls-key");
    sub->add_option("--tls-key", client.tls_key,
                    "client key (PEM) for mutual TLS; needs --tls-cert");
    sub->add_option("--timeout", client.timeout_seconds, "seconds per call (default 30)");
    sub->add_flag("--insecure", client.insecure,
                  "send the token in plain text to a non-loopback address (no TLS)");
  };

  ServeFlags serve;
  serve.postgres = Env("SENREN_POSTGRES_URI", "");
  auto* serve_cmd = app.add_subcommand("serve", "run the ControlPlane gRPC server");
  serve_cmd->add_option("--listen", serve.server.listen, "gRPC address (default 127.0.0.1:57070)");
  serve_cmd->add_option("--postgres", serve.postgres, "PostgreSQL URI (env SENREN_POSTGRES_URI)")
      ->required(serve.postgres.empty());
  serve.owner_postgres = Env("SENREN_POSTGRES_OWNER_URI", "");
  serve_cmd->add_option(
      "--owner-postgres", serve.owner_postgres,
      "the schema owner's PostgreSQL URI: migrate as it and grant the --postgres "
      "role its rights (env SENREN_POSTGRES_OWNER_URI; default: migrate as --postgres)");
  serve_cmd->add_option("--schema", serve.schema, "PostgreSQL schema (default senren)");
  serve_cmd->add_option("--tokens", serve.tokens, "tokens file: tokens: [{token, subject, role}]")
      ->required();
  serve_cmd->add_option("--max-request-bytes", serve.server.max_request_bytes,
                        "larger requests get RESOURCE_EXHAUSTED (default 64 MiB)");
  serve_cmd->add_option("--pool-size", serve.pool_size, "PostgreSQL connections (default 16)");
  serve_cmd->add_option("--max-write-transactions", serve.max_write_transactions,
                        "group commit: write transactions at once (default 4)");
  serve_cmd->add_option("--checkpoint-interval", serve.checkpoint_interval,
                        "a full checkpoint every N versions (default 64)");
  serve_cmd->add_option("--tls-cert", serve.server.tls_cert, "server certificate (PEM)");
  serve_cmd->add_option("--tls-key", serve.server.tls_key, "server key (PEM)");
  serve_cmd->add_option("--tls-client-ca", serve.server.tls_client_ca,
                        "require client certificates signed by this CA (PEM)");
  senren::daemon::AddDaemonFlags(*serve_cmd, serve.daemon);
  // The environment's brokers come last: below the file's bootstrap.servers too, so a
  // shell with `tools/lab env` (PLAINTEXT brokers) does not point a SASL_SSL
  // --kafka-config at the PLAINTEXT listener.
  serve.kafka_brokers_env = Env("SENREN_KAFKA_BROKERS", "");
  serve.topic_prefix = Env("SENREN_TOPIC_PREFIX", "senren");
  serve.kafka_config = Env("SENREN_KAFKA_CONFIG", "");
  serve_cmd->add_option("--kafka-brokers", serve.kafka_brokers,
                        "Kafka for the snapshot and status projectors; wins over bootstrap.servers "
                        "of --kafka-config, which wins over env SENREN_KAFKA_BROKERS (none of "
                        "them: API only)");
  serve_cmd->add_option("--kafka-config", serve.kafka_config,
                        "librdkafka properties, name=value a line (security.protocol, sasl.*, "
                        "ssl.*; like kcat -F): the control plane's Kafka identity (env "
                        "SENREN_KAFKA_CONFIG; default: none, PLAINTEXT)");
  serve_cmd->add_option(
      "--topic-prefix", serve.topic_prefix,
      "topics {prefix}-state and {prefix}-status (env SENREN_TOPIC_PREFIX, default senren)");
  serve_cmd
      ->add_option("--state-partitions", serve.state_partitions,
                   "partitions of {prefix}-state: created with them, an existing topic with "
                   "fewer is grown to them and every region republished into its new partition; "
                   "never shrunk. A regional plane reads its region's whole partition: size it "
                   "to at least regions / k for about k regions per partition (default 12)")
      ->check(CLI::Range(1, 1000000));
  serve.snapshot_signing_key = Env("SENREN_SNAPSHOT_SIGNING_KEY", "");
  serve_cmd->add_option("--snapshot-signing-key", serve.snapshot_signing_key,
                        "PEM Ed25519 private key the snapshot projector signs each state with "
                        "(openssl genpkey -algorithm ed25519; env SENREN_SNAPSHOT_SIGNING_KEY; "
                        "default: none, snapshots unsigned)");

  // Migrations run as the schema's owner; the service role (by default the user of
  // SENREN_POSTGRES_URI, when it is another) gets the service's grants.
  std::string migrate_uri = Env("SENREN_POSTGRES_OWNER_URI", Env("SENREN_POSTGRES_URI", ""));
  std::string migrate_schema = "senren";
  std::string service_role = senren::pg::UriUser(Env("SENREN_POSTGRES_URI", ""));
  auto* migrate_cmd =
      app.add_subcommand("migrate", "apply the PostgreSQL migrations (as the schema owner)");
  migrate_cmd
      ->add_option("--postgres", migrate_uri,
                   "the schema owner's PostgreSQL URI (env SENREN_POSTGRES_OWNER_URI, else "
                   "SENREN_POSTGRES_URI)")
      ->required(migrate_uri.empty());
  migrate_cmd->add_option("--schema", migrate_schema, "PostgreSQL schema (default senren)");
  migrate_cmd->add_option("--service-role", service_role,
                          "grant this role the service's rights (default: the user of "
                          "SENREN_POSTGRES_URI; \"\" = none)");

  std::string verify_uri = Env("SENREN_POSTGRES_URI", "");
  std::string verify_schema = "senren";
  std::string verify_region;
  auto* verify_cmd = app.add_subcommand(
      "verify",
      "check the ledger's hash chain in PostgreSQL; names the first version that does not match");
  verify_cmd->add_option("region", verify_region, "only this region (default: every region)");
  verify_cmd->add_option("--postgres", verify_uri, "PostgreSQL URI (env SENREN_POSTGRES_URI)")
      ->required(verify_uri.empty());
  verify_cmd->add_option("--schema", verify_schema, "PostgreSQL schema (default senren)");

  senren::ledger::cli::ApplyFlags apply;
  uint64_t expected = 0;
  auto add_apply_flags = [&](CLI::App* sub, bool writes) {
    sub->add_option("-f,--file", apply.file, "state file (YAML or JSON)")->required();
    sub->add_option("--expected-version", expected, "fail ABORTED unless this is current");
    sub->add_flag("--allow-empty", apply.allow_empty, "allow deleting every resource");
    sub->add_flag("--allow-mass-delete", apply.allow_mass_delete, "allow deleting over 50 %");
    if (writes) {
      sub->add_option("--idempotency-key", apply.idempotency_key, "a retry with it writes nothing");
      sub->add_option("-m,--message", apply.message,
                      "recorded with the version (overrides the file's)");
      sub->add_option("--author", apply.author, "recorded author (default: the token's subject)");
      sub->add_flag("--dry-run", apply.dry_run, "validate and diff, write nothing");
    }
    add_client_flags(sub);
  };
  auto* apply_cmd = app.add_subcommand("apply", "apply a state file as the region's new state");
  add_apply_flags(apply_cmd, true);
  auto* plan_cmd = app.add_subcommand("plan", "show what applying a state file would change");
  add_apply_flags(plan_cmd, false);

  std::string region;
  senren::ledger::cli::HistoryFlags history;
  auto* history_cmd = app.add_subcommand(
      "history", "versions of a region (or --all-regions), newest first, filtered");
  history_cmd->add_option("region", history.region, "region key, e.g. aws:us-east-1");
  history_cmd->add_flag("--all-regions", history.all_regions,
                        "every region, merged newest first (instead of REGION)");
  history_cmd->add_option("--resource", history.resource,
                          "only versions that changed this Kind/name, with the change");
  history_cmd->add_option("--author", history.author, "only versions by this author");
  history_cmd->add_option("--since", history.since, "only versions at or after this RFC 3339 time");
  history_cmd->add_option("--until", history.until, "only versions at or before this time");
  history_cmd->add_option("--origin", history.origin, "only apply or rollback versions")
      ->check(CLI::IsMember({"apply", "rollback"}));
  auto* limit_opt = history_cmd->add_option("-n,--limit", history.limit,
                                            "at most this many versions (default 20)");
  history_cmd->add_flag("--all", history.all, "every matching version")->excludes(limit_opt);
  add_client_flags(history_cmd);

  std::string blame_resource;
  uint64_t blame_version = 0;
  auto* blame_cmd = app.add_subcommand(
      "blame", "each spec field of a resource with the version, author and time that set it");
  blame_cmd->add_option("region", region, "region key")->required();
  blame_cmd->add_option("resource", blame_resource, "Kind/name, e.g. RedisDatabase/sessions")
      ->required();
  blame_cmd->add_option("--version", blame_version, "as of this version (default: current)");
  add_client_flags(blame_cmd);

  uint64_t version = 0;
  std::string show_at;
  auto* show_cmd = app.add_subcommand("show", "a region's state (current, --version or --at)");
  show_cmd->add_option("region", region, "region key")->required();
  auto* version_opt = show_cmd->add_option("--version", version, "version (default: current)");
  show_cmd->add_option("--at", show_at, "RFC 3339 time: the version current then")
      ->excludes(version_opt);
  add_client_flags(show_cmd);

  uint64_t from = 0;
  uint64_t to = 0;
  auto* diff_cmd = app.add_subcommand("diff", "per-resource changes between two versions");
  diff_cmd->add_option("region", region, "region key")->required();
  diff_cmd->add_option("from", from, "from version (0 = empty)")->required();
  diff_cmd->add_option("to", to, "to version")->required();
  add_client_flags(diff_cmd);

  senren::ledger::cli::RollbackFlags rollback;
  uint64_t rollback_expected = 0;
  auto* rollback_cmd = app.add_subcommand("rollback", "append a version equal to an earlier one");
  rollback_cmd->add_option("region", rollback.region, "region key")->required();
  rollback_cmd->add_option("--to", rollback.to_version, "the version to restore")->required();
  rollback_cmd->add_option("-m,--message", rollback.message, "recorded with the version");
  rollback_cmd->add_option("--author", rollback.author, "recorded author");
  rollback_cmd->add_option("--expected-version", rollback_expected, "fail ABORTED unless current");
  rollback_cmd->add_flag("--allow-empty", rollback.allow_empty, "allow an empty result");
  rollback_cmd->add_flag("--allow-mass-delete", rollback.allow_mass_delete,
                         "allow deleting over 50 %");
  add_client_flags(rollback_cmd);

  auto* regions_cmd = app.add_subcommand("regions", "every region with its current version");
  add_client_flags(regions_cmd);

  std::string status_resource;
  std::string status_at;
  auto* status_cmd =
      app.add_subcommand("status", "what each cluster of a region reports (now or --at a time)");
  status_cmd->add_option("region", region, "region key")->required();
  status_cmd->add_option("--resource", status_resource, "only this resource: Kind/name or name");
  status_cmd->add_option("--at", status_at, "RFC 3339 time: what was desired and reported then");
  add_client_flags(status_cmd);

  // `project`: the projectors alone, without the API (a second one waits as a standby).
  ServeFlags project = serve;
  auto* project_cmd =
      app.add_subcommand("project", "run the snapshot and status projectors without the API");
  project_cmd
      ->add_option("--postgres", project.postgres, "PostgreSQL URI (env SENREN_POSTGRES_URI)")
      ->required(project.postgres.empty());
  project_cmd->add_option(
      "--owner-postgres", project.owner_postgres,
      "the schema owner's PostgreSQL URI, for migrations (env SENREN_POSTGRES_OWNER_URI)");
  project_cmd->add_option("--schema", project.schema, "PostgreSQL schema (default senren)");
  project_cmd->add_option("--kafka-brokers", project.kafka_brokers,
                          "Kafka, as for serve (else bootstrap.servers of --kafka-config, else "
                          "env SENREN_KAFKA_BROKERS)");
  project_cmd->add_option("--kafka-config", project.kafka_config,
                          "librdkafka properties file (env SENREN_KAFKA_CONFIG), as for serve");
  project_cmd->add_option("--topic-prefix", project.topic_prefix,
                          "topic prefix (env SENREN_TOPIC_PREFIX)");
  project_cmd
      ->add_option("--state-partitions", project.state_partitions,
                   "partitions of {prefix}-state, as for serve (default 12)")
      ->check(CLI::Range(1, 1000000));
  project_cmd->add_option("--snapshot-signing-key", project.snapshot_signing_key,
                          "PEM Ed25519 private key to sign snapshots with (env "
                          "SENREN_SNAPSHOT_SIGNING_KEY), as for serve");
  senren::daemon::AddDaemonFlags(*project_cmd, project.daemon);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  client.output = output == "json"   ? Output::kJson
                  : output == "yaml" ? Output::kYaml
                  : output == "csv"  ? Output::kCsv
                                     : Output::kTable;
  namespace cli = senren::ledger::cli;
  if (serve_cmd->parsed()) return Serve(serve);
  if (verify_cmd->parsed()) return Verify(verify_uri, verify_schema, verify_region);
  if (migrate_cmd->parsed()) {
    return Migrate(migrate_uri, migrate_schema,
                   service_role == senren::pg::UriUser(migrate_uri) ? "" : service_role);
  }
  if (apply_cmd->parsed() || plan_cmd->parsed()) {
    CLI::App* sub = apply_cmd->parsed() ? apply_cmd : plan_cmd;
    if (sub->count("--expected-version") > 0) apply.expected_version = expected;
    return apply_cmd->parsed() ? cli::Apply(client, apply) : cli::Plan(client, apply);
  }
  if (output == "csv" && !history_cmd->parsed() && !blame_cmd->parsed()) {
    std::cerr << "senren-ledger: -o csv is for history and blame; use json or yaml\n";
    return 2;
  }
  if (history_cmd->parsed()) {
    if (history.region.empty() == !history.all_regions) {
      std::cerr << "senren-ledger history: give a REGION or --all-regions (one of them)\n";
      return 2;
    }
    return cli::History(client, history);
  }
  if (blame_cmd->parsed()) return cli::Blame(client, region, blame_resource, blame_version);
  if (show_cmd->parsed()) return cli::Show(client, region, version, show_at);
  if (diff_cmd->parsed()) return cli::Diff(client, region, from, to);
  if (rollback_cmd->parsed()) {
    if (rollback_cmd->count("--expected-version") > 0)
      rollback.expected_version = rollback_expected;
    return cli::Rollback(client, rollback);
  }
  if (regions_cmd->parsed()) return cli::Regions(client);
  if (status_cmd->parsed()) return cli::Status(client, region, status_resource, status_at);
  if (project_cmd->parsed()) return Project(project);
  return 2;
}
