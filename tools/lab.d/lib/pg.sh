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

pg_up() {
  [[ -n $(live_pid postgres) ]] && return 0
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
}
