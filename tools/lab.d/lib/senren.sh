# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# Senren's own daemons: build, start, restart when rebuilt.

SENREN_DAEMONS=(senren-ledger senren-controller senren-regional)
senren_bin() { echo "$BUILD_DIR/bin/$1"; }

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

# True when a daemon runs and its binary is not newer than the process: a daemon whose
# binary was rebuilt since it started is stopped, so `up` starts the new one.
daemon_current() {
  local part=$1 bin=$2 pid
  pid=$(live_pid "$part")
  [[ -n $pid ]] || return 1
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
  local args=(serve --listen "127.0.0.1:$LEDGER_PORT" --metrics-listen "127.0.0.1:$LEDGER_METRICS_PORT"
    --postgres "postgresql://senren:senren@127.0.0.1:$PG_PORT/senren" --tokens "$LAB_DIR/senren-tokens.yaml"
    --kafka-brokers "127.0.0.1:$KAFKA_PORT" --topic-prefix "$TOPIC_PREFIX")
  start_part senren-ledger "$bin" "$LAB_DIR/logs/senren-ledger.log" -- "$bin" "${args[@]}"
  wait_for senren-ledger "$LAB_DIR/logs/senren-ledger.log" 60 grpc_port_open
}

controller_up() {
  local c=$1 bin slug kc
  bin=$(senren_bin senren-controller); slug=$(cluster_slug "$c"); kc="$(kube_dir "$c")/kubeconfig"
  [[ -x $bin ]] || return 0
  daemon_current "senren-controller-$slug" "$bin" && return 0
  start_part "senren-controller-$slug" "$kc" "$LAB_DIR/logs/$slug/senren-controller.log" -- \
    "$bin" --kinds redis,aerospike --kubeconfig "$kc" --namespace senren
}

regional_up() {
  local c=$1 bin slug kc
  bin=$(senren_bin senren-regional); slug=$(cluster_slug "$c"); kc="$(kube_dir "$c")/kubeconfig"
  [[ -x $bin ]] || return 0
  daemon_current "senren-regional-$slug" "$bin" && return 0
  start_part "senren-regional-$slug" "$kc" "$LAB_DIR/logs/$slug/senren-regional.log" -- \
    "$bin" --region "$(cluster_region "$c")" --cluster "$(cluster_name "$c")" --kubeconfig "$kc" \
    --brokers "127.0.0.1:$KAFKA_PORT" --topic-prefix "$TOPIC_PREFIX" --namespace senren \
    --data-dir "$LAB_DIR/regional/$slug"
}
