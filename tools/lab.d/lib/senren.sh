# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# Senren's own daemons: build, start, restart when rebuilt.

SENREN_DAEMONS=(senren-ledger senren-controller senren-regional)
senren_bin() { echo "$BUILD_DIR/bin/$1"; }

# The snapshots' Ed25519 key pair (docs/deploy.md, "Signed snapshots"): senren-ledger signs
# every RegionalState with the private key, every plane verifies with the public one.
SNAPSHOT_SIGNING_KEY="$LAB_DIR/pki/snapshot-signing.key"
SNAPSHOT_VERIFY_KEY="$LAB_DIR/pki/snapshot-signing.pub"
snapshot_keys_up() {
  [[ -s $SNAPSHOT_SIGNING_KEY && -s $SNAPSHOT_VERIFY_KEY ]] && return 0
  mkdir -p "$(dirname "$SNAPSHOT_SIGNING_KEY")"
  (umask 077 && openssl genpkey -algorithm ed25519 -out "$SNAPSHOT_SIGNING_KEY")
  openssl pkey -in "$SNAPSHOT_SIGNING_KEY" -pubout -out "$SNAPSHOT_VERIFY_KEY"
}

# Builds those of Senren's daemons the source tree has (a daemon the tree does not have
# yet is shown by status as "not built").
senren_build() {
  local targets=() t
  export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
  cmake -S "$root" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$LAB_DIR/logs/cmake.log" 2>&1 ||
    { tail -30 "$LAB_DIR/logs/cmake.log" >&2; die "configuring the build failed"; }
  for t in "${SENREN_DAEMONS[@]}"; do
    ninja -C "$BUILD_DIR" -t targets all 2>/dev/null | grep -q "^$t:" && targets+=("$t")
  done
  ((${#targets[@]})) || return 0
  ninja -C "$BUILD_DIR" "${targets[@]}" >"$LAB_DIR/logs/build.log" 2>&1 ||
    { tail -40 "$LAB_DIR/logs/build.log" >&2; die "building ${targets[*]} failed"; }
}

grpc_port_open() { tcp_open "$LEDGER_PORT"; }

# The position of cluster $1 in CLUSTERS: the offset of its ports.
cluster_index() {
  local i
  for i in "${!CLUSTERS[@]}"; do [[ ${CLUSTERS[$i]} == "$1" ]] && { echo "$i"; return; }; done
  die "unknown cluster $1"
}

# What a daemon's /readyz on 127.0.0.1:$1 says: "ready", "not ready: <reason>", or
# "down" when it does not answer within a second.
daemon_readiness() {
  local out code body
  out=$(curl -s --max-time 1 -w '\n%{http_code}' "http://127.0.0.1:$1/readyz" 2>/dev/null) || { echo down; return; }
  code=${out##*$'\n'}; body=${out%$'\n'*}
  body=${body%%$'\n'*}
  case $code in
    200) echo ready ;;
    503) echo "not ready: $body" ;;
    *) echo down ;;
  esac
}

# daemon_current PART BIN [ARG]: true when a daemon runs and its binary is not newer than
# the process: a daemon whose binary was rebuilt since it started is stopped, so `up`
# starts the new one. So is one whose command line lacks ARG (when given): a kubeconfig of
# another identity (a lab started before identity.sh ran its daemons as the admin).
daemon_current() {
  local part=$1 bin=$2 want=${3:-} pid
  pid=$(live_pid "$part")
  [[ -n $pid ]] || return 1
  if [[ -n $want ]] && ! tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$want"; then
    log "$part: runs without $want; restarting it"
    stop_parts "$part"
    return 1
  fi
  local started
  started=$(date -d "$(ps -o lstart= -p "$pid")" +%s 2>/dev/null || echo 0)
  if (($(stat -c %Y "$bin") > started)); then
    log "$part: $bin was rebuilt; restarting it"
    stop_parts "$part"
    return 1
  fi
}

ledger_up() {
  local bin; bin=$(senren_bin senren-ledger)
  [[ -x $bin ]] || return 0
  daemon_current senren-ledger "$bin" && return 0
  check_port_free "$LEDGER_PORT" senren-ledger
  check_port_free "$LEDGER_METRICS_PORT" "senren-ledger metrics"
  # Serves as senren_service; migrates as senren_owner (pg.sh). A binary from before the
  # roles (no --owner-postgres) keeps serving as the bootstrap superuser.
  local pg="postgresql://senren:senren@127.0.0.1:$PG_PORT/senren" owner=()
  if "$bin" serve --help 2>/dev/null | grep -q -- --owner-postgres; then
    pg="postgresql://senren_service:senren@127.0.0.1:$PG_PORT/senren"
    owner=(--owner-postgres "postgresql://senren_owner:senren@127.0.0.1:$PG_PORT/senren")
  fi
  # Kafka as its own principal on the SASL_SSL listener (kafka.sh); a binary from before
  # --kafka-config uses the PLAINTEXT listener.
  local kafka=(--kafka-brokers "127.0.0.1:$KAFKA_PORT")
  if "$bin" serve --help 2>/dev/null | grep -q -- --kafka-config; then
    kafka=(--kafka-config "$(kafka_client_config "$(kafka_ledger_principal)")")
  fi
  local args=(serve --listen "127.0.0.1:$LEDGER_PORT" --metrics-listen "127.0.0.1:$LEDGER_METRICS_PORT"
    --postgres "$pg" "${owner[@]}" --tokens "$LAB_DIR/senren-tokens.yaml"
    "${kafka[@]}" --topic-prefix "$TOPIC_PREFIX")
  # A binary from before signed snapshots publishes them unsigned.
  if "$bin" serve --help 2>/dev/null | grep -q -- --snapshot-signing-key; then
    snapshot_keys_up
    args+=(--snapshot-signing-key "$SNAPSHOT_SIGNING_KEY")
  fi
  start_part senren-ledger "$bin" "$LAB_DIR/logs/senren-ledger.log" -- "$bin" "${args[@]}"
  wait_for senren-ledger "$LAB_DIR/logs/senren-ledger.log" 60 grpc_port_open
}

controller_up() {
  local c=$1 bin slug kc port
  # Under its ServiceAccount (identity.sh), not the cluster's admin token.
  bin=$(senren_bin senren-controller); slug=$(cluster_slug "$c"); kc=$(daemon_kubeconfig "$c" senren-controller)
  port=$((CONTROLLER_METRICS_BASE_PORT + $(cluster_index "$c")))
  [[ -x $bin ]] || return 0
  daemon_current "senren-controller-$slug" "$bin" "$kc" && return 0
  check_port_free "$port" "senren-controller-$slug metrics"
  start_part "senren-controller-$slug" "$kc" "$LAB_DIR/logs/$slug/senren-controller.log" -- \
    "$bin" --kinds redis,aerospike --kubeconfig "$kc" --namespace senren \
    --metrics-listen "127.0.0.1:$port"
}

regional_up() {
  local c=$1 bin slug kc port
  # Under its ServiceAccount (identity.sh), not the cluster's admin token.
  bin=$(senren_bin senren-regional); slug=$(cluster_slug "$c"); kc=$(daemon_kubeconfig "$c" senren-regional)
  port=$((REGIONAL_METRICS_BASE_PORT + $(cluster_index "$c")))
  [[ -x $bin ]] || return 0
  daemon_current "senren-regional-$slug" "$bin" "$kc" && return 0
  check_port_free "$port" "senren-regional-$slug metrics"
  # Applies only snapshots signed by the lab's key (a binary from before signed snapshots
  # takes no key and verifies nothing).
  local verify=()
  if "$bin" --help 2>/dev/null | grep -q -- --snapshot-verify-key; then
    snapshot_keys_up
    verify=(--snapshot-verify-key "$SNAPSHOT_VERIFY_KEY")
  fi
  # Kafka as the plane's own principal on the SASL_SSL listener (kafka.sh); a binary from
  # before --kafka-config uses the PLAINTEXT listener.
  local kafka=(--brokers "127.0.0.1:$KAFKA_PORT")
  if "$bin" --help 2>/dev/null | grep -q -- --kafka-config; then
    kafka=(--kafka-config "$(kafka_client_config "$(kafka_plane_principal "$c")")")
  fi
  start_part "senren-regional-$slug" "$kc" "$LAB_DIR/logs/$slug/senren-regional.log" -- \
    "$bin" --region "$(cluster_region "$c")" --cluster "$(cluster_name "$c")" --kubeconfig "$kc" \
    "${kafka[@]}" --topic-prefix "$TOPIC_PREFIX" --namespace senren \
    --data-dir "$LAB_DIR/regional/$slug" --metrics-listen "127.0.0.1:$port" "${verify[@]}"
}
