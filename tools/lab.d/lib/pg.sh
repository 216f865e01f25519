# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# PostgreSQL 15, run by the system user senren-lab.

pg_healthy() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

# Lets the PostgreSQL user reach the lab dir (traverse only) through a home that is 0700.
grant_traverse() {
  local d=$1
  while [[ $d != / ]]; do
    if [[ $(stat -c %a "$d") != *[1357] ]]; then chmod o+x "$d"; fi
    d=$(dirname "$d")
  done
}

# The lab's roles (docs/design.md, ledger): senren (the bootstrap superuser, for
# administration only), senren_owner (owns the database and the schemas: migrations)
# and senren_service (what senren-ledger serves as: the grants migrations give it).
# Idempotent; a schema made before the roles existed passes to senren_owner.
pg_roles() {
  PGPASSWORD=senren "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U senren -d senren >/dev/null <<'SQL'
DO $$
DECLARE
  r record;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'senren_owner') THEN
    CREATE ROLE senren_owner LOGIN PASSWORD 'senren';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'senren_service') THEN
    CREATE ROLE senren_service LOGIN PASSWORD 'senren';
  END IF;
  ALTER DATABASE senren OWNER TO senren_owner;
  REVOKE CREATE ON SCHEMA public FROM PUBLIC;
  FOR r IN SELECT nspname FROM pg_namespace n JOIN pg_roles o ON o.oid = n.nspowner
           WHERE o.rolname = 'senren' AND n.nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
             AND nspname <> 'public' LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO senren_owner', r.nspname);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_roles o ON o.oid = c.relowner
           WHERE o.rolname = 'senren' AND c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\_%'
             AND n.nspname <> 'information_schema' LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO senren_owner', r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           JOIN pg_roles o ON o.oid = p.proowner
           WHERE o.rolname = 'senren' AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema' LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO senren_owner', r.name);
  END LOOP;
END
$$;
SQL
}

pg_up() {
  if [[ -n $(live_pid postgres) ]]; then pg_roles; pg_tls; return 0; fi
  [[ -x $PG_BIN/postgres ]] || die "PostgreSQL 15 is not installed ($PG_BIN); run tools/install-deps"
  check_port_free "$PG_PORT" postgres
  local dir="$LAB_DIR/postgres"
  if ! id "$PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  fi
  mkdir -p "$dir"
  chown "$PG_USER" "$dir"
  grant_traverse "$dir"
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    log "initializing PostgreSQL in $dir/data"
    rm -rf "$dir/data"
    echo senren >"$dir/pwfile"; chown "$PG_USER" "$dir/pwfile"; chmod 600 "$dir/pwfile"
    setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups \
      "$PG_BIN/initdb" -D "$dir/data" -U senren --pwfile="$dir/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$LAB_DIR/logs/postgres-init.log" 2>&1 ||
      { tail -20 "$LAB_DIR/logs/postgres-init.log" >&2; die "initdb failed"; }
    rm -f "$dir/pwfile"
    mkdir -p "$dir/run"; chown "$PG_USER" "$dir/run"
  fi
  start_part postgres "$dir/data" "$LAB_DIR/logs/postgres.log" --as "$PG_USER" -- \
    "$PG_BIN/postgres" -D "$dir/data" -c listen_addresses=127.0.0.1 -p "$PG_PORT" \
    -c unix_socket_directories="$dir/run" -c max_connections=400 -c shared_buffers=256MB \
    -c fsync=on -c synchronous_commit=on -c log_min_messages=warning
  wait_for postgres "$LAB_DIR/logs/postgres.log" 60 pg_healthy
  if ! PGPASSWORD=senren "$PG_BIN/psql" -qtA -h 127.0.0.1 -p "$PG_PORT" -U senren -d postgres \
       -c "select 1 from pg_database where datname='senren'" | grep -q 1; then
    PGPASSWORD=senren "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U senren -d postgres \
      -c "create database senren" >/dev/null
  fi
  pg_roles
  pg_tls
}

# TLS (docs/deploy.md): a server certificate signed by the lab CA ($LAB_DIR/pki/ca.crt)
# for 127.0.0.1 and localhost, and ssl=on. Plain connections stay allowed (pg_hba's "host"
# lines match both), so nothing else in the lab changes; a client asks for TLS with
# "?sslmode=verify-full&sslrootcert=$LAB_DIR/pki/ca.crt". ssl and its files are reloadable
# settings, so this is ALTER SYSTEM + pg_reload_conf() on a running server, no restart;
# ALTER SYSTEM keeps them across restarts. Idempotent; dies unless a verify-full session
# is encrypted afterwards.
pg_tls() {
  local pki="$LAB_DIR/pki" dir="$LAB_DIR/postgres/tls" i ssl=""
  [[ -f $pki/ca.crt && -f $pki/ca.key ]] || die "the lab CA ($pki/ca.crt) is missing"
  mkdir -p "$dir"
  if [[ ! -f $dir/server.key ]] || ! openssl verify -CAfile "$pki/ca.crt" "$dir/server.crt" >/dev/null 2>&1; then
    log "PostgreSQL: a server certificate signed by the lab CA in $dir"
    printf '%s\n' "[ext]" "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$dir/san.cnf"
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=senren-lab-postgres" \
      -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
    # A random serial rather than -CAcreateserial: ca.srl is shared with the other lab certificates.
    openssl x509 -req -in "$dir/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$dir/san.cnf" -extensions ext \
      -out "$dir/server.crt" >/dev/null 2>&1 || die "signing PostgreSQL's certificate failed"
    rm -f "$dir/server.csr"
  fi
  # PostgreSQL refuses a key that others can read; the files belong to the server's user.
  chown -R "$PG_USER" "$dir"
  chmod 700 "$dir"
  chmod 600 "$dir/server.key"
  # One statement at a time from stdin: ALTER SYSTEM cannot run in psql -c's implicit transaction.
  PGPASSWORD=senren "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U senren -d postgres >/dev/null <<SQL
ALTER SYSTEM SET ssl_cert_file = '$dir/server.crt';
ALTER SYSTEM SET ssl_key_file = '$dir/server.key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
  # The reload is a signal: new sessions see it once the postmaster has read the files.
  for i in $(seq 1 50); do
    ssl=$(PGPASSWORD=senren "$PG_BIN/psql" -qtA \
      "host=127.0.0.1 port=$PG_PORT user=senren dbname=postgres sslmode=verify-full sslrootcert=$pki/ca.crt" \
      -c "select ssl from pg_stat_ssl where pid = pg_backend_pid()" 2>/dev/null || true)
    [[ $ssl == t ]] && return 0
    sleep 0.1
  done
  die "PostgreSQL does not accept verify-full TLS sessions after ssl=on (see $LAB_DIR/logs/postgres.log)"
}
