#!/usr/bin/env bash
# The local lab of docs/design.md §10: PostgreSQL, a KRaft Kafka broker, four Kubernetes clusters
# (etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok each) and
# Senren's own daemons, as plain processes on 127.0.0.1. Called through tools/lab.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_DIR=${SENREN_LAB_DIR:-$HOME/.senren/lab}
CACHE_DIR=${SENREN_CACHE_DIR:-$HOME/.cache/senren}
TOPIC_PREFIX=${SENREN_TOPIC_PREFIX:-senren}
BUILD_DIR=${SENREN_BUILD_DIR:-$root/build}

PG_PORT=55432
KAFKA_PORT=59092
KAFKA_CONTROLLER_PORT=59093
KAFKA_SASL_PORT=59094   # SASL_SSL listener of Senren's daemons (SCRAM principals held to ACLs)
LEDGER_PORT=57070
LEDGER_METRICS_PORT=57071
CONTROLLER_METRICS_BASE_PORT=57072  # /metrics, /healthz, /readyz of cluster i's controller: 57072+i
REGIONAL_METRICS_BASE_PORT=57076    # and of its senren-regional: 57076+i
KUBE_BASE_PORT=56443
ETCD_BASE_PORT=52379   # cluster i owns 52379+10i..52388+10i: etcd client, etcd peer, kwok
KWOK_BASE_PORT=52381
PG_USER=senren-lab     # initdb refuses root: PostgreSQL runs as this system user
PG_BIN=/usr/lib/postgresql/15/bin
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/tools/lab.d/kafka/pom.xml")
KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
NODES_PER_CLUSTER=3

# region:cluster of every lab cluster; the index is the port offset.
CLUSTERS=("aws:us-east-1:prod" "aws:us-east-1:shadow" "gcp:us-central1:prod" "gcp:europe-west1:prod")

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

cluster_region() { local c=$1; echo "${c%:*}"; }
cluster_name() { local c=$1; echo "${c##*:}"; }
cluster_slug() { local c=$1; echo "${c//:/-}"; }
kube_dir() { echo "$LAB_DIR/kube/$(cluster_slug "$1")"; }
kube_bin() { "$root/tools/lab.d/build-k8s" --print-bin-dir; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for lib in proc pg kafka kube identity senren argocd; do
  # shellcheck source=/dev/null
  source "$here/lib/$lib.sh"
done

# ---------------------------------------------------------------- commands

write_env() {
  # shellcheck disable=SC1091
  source "$LAB_DIR/pki/tokens.env"
  local kcs=() etcds=() controllers=() regionals=() i
  for i in "${!CLUSTERS[@]}"; do
    kcs+=("$(kube_dir "${CLUSTERS[$i]}")/kubeconfig")
    etcds+=("http://127.0.0.1:$((ETCD_BASE_PORT + 10 * i))")
    controllers+=("127.0.0.1:$((CONTROLLER_METRICS_BASE_PORT + i))")
    regionals+=("127.0.0.1:$((REGIONAL_METRICS_BASE_PORT + i))")
  done
  cat >"$LAB_DIR/env" <<EOF
export SENREN_LAB_DIR='$LAB_DIR'
export SENREN_ADDR='127.0.0.1:$LEDGER_PORT'
export SENREN_METRICS_ADDR='127.0.0.1:$LEDGER_METRICS_PORT'
export SENREN_POSTGRES_URI='postgresql://senren_service:senren@127.0.0.1:$PG_PORT/senren'
export SENREN_POSTGRES_OWNER_URI='postgresql://senren_owner:senren@127.0.0.1:$PG_PORT/senren'
export SENREN_POSTGRES_TLS_URI='postgresql://senren_service:senren@127.0.0.1:$PG_PORT/senren?sslmode=verify-full&sslrootcert=$LAB_DIR/pki/ca.crt'
export SENREN_KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'
export SENREN_KAFKA_SASL_BROKERS='127.0.0.1:$KAFKA_SASL_PORT'
export SENREN_KAFKA_LEDGER_CONFIG='$(kafka_client_config "$(kafka_ledger_principal)")'
export SENREN_KAFKA_PLANE_CONFIGS='$(for c in "${CLUSTERS[@]}"; do kafka_client_config "$(kafka_plane_principal "$c")"; done | paste -sd ' ')'
export SENREN_TOPIC_PREFIX='$TOPIC_PREFIX'
export SENREN_SNAPSHOT_VERIFY_KEY='$SNAPSHOT_VERIFY_KEY'
export SENREN_TOKEN='$SENREN_WRITER_TOKEN'
export SENREN_ADMIN_TOKEN='$SENREN_ADMIN_TOKEN'
export SENREN_READER_TOKEN='$SENREN_READER_TOKEN'
export SENREN_KUBECONFIGS='${kcs[*]}'
export SENREN_CONTROLLER_METRICS_ADDRS='${controllers[*]}'
export SENREN_REGIONAL_METRICS_ADDRS='${regionals[*]}'
export SENREN_ETCD_ENDPOINTS='${etcds[*]}'
export SENREN_KUBE_BIN='$(kube_bin)'
EOF
}

# "12 s" or "9 min 31 s" since SECONDS was $1.
elapsed() {
  local d=$((SECONDS - $1))
  if ((d >= 60)); then echo "$((d / 60)) min $((d % 60)) s"; else echo "$d s"; fi
}

# phase LABEL FN ARGS...: one line on the terminal, "lab: LABEL … 12 s", while FN's own
# output goes to $LAB_DIR/logs/up.log. When FN fails: what it wrote, and the log's path.
phase() {
  local label=$1; shift
  local t=$SECONDS logf="$LAB_DIR/logs/up.log" mark rc
  printf 'lab: %s … ' "$label" >&2
  mark=$(wc -l <"$logf" 2>/dev/null || echo 0)
  set +e
  (set -e; "$@") >>"$logf" 2>&1
  rc=$?
  set -e
  if ((rc)); then
    printf 'failed after %s\n' "$(elapsed "$t")" >&2
    tail -n +"$((mark + 1))" "$logf" | tail -n 40 >&2
    log "the whole log: $logf"
    exit 1
  fi
  printf '%s\n' "$(elapsed "$t")" >&2
}

# What each cluster says about the lab's workloads: schedulable nodes, Pending pods and
# the scheduler's reason. Printed when the quickstart does not finish.
clusters_report() {
  local c kc
  for c in "${CLUSTERS[@]}"; do
    kc="$(kube_dir "$c")/kubeconfig"
    echo "$(cluster_slug "$c") ($c):"
    nodes_report "$kc" 2>&1 || echo "  the apiserver does not answer"
    pending_report "$kc" 2>/dev/null || true
  done
}

daemons_up() {
  local i
  ledger_up
  for i in "${!CLUSTERS[@]}"; do
    controller_up "${CLUSTERS[$i]}"
    regional_up "${CLUSTERS[$i]}"
  done
}

cmd_up() {
  local quickstart=1 build=1 argocd=0 i
  while (($#)); do
    case $1 in
      --no-quickstart) quickstart=0 ;;
      --no-build) build=0 ;;
      --with) [[ ${2:-} == argocd ]] || die "up --with takes: argocd"; argocd=1; shift ;;
      --with=argocd) argocd=1 ;;
      *) die "unknown option to up: $1" ;;
    esac
    shift
  done
  local start=$SECONDS
  mkdir -p "$LAB_DIR/logs" "$LAB_DIR/pids"
  : >"$LAB_DIR/logs/up.log"
  "$root/tools/install-deps"
  command -v ss >/dev/null || die "ss (iproute2) is missing; run tools/install-deps"
  reserve_ports
  if ! "$root/tools/lab.d/build-k8s" --cached; then
    phase "building $("$root/tools/lab.d/build-k8s" --print-versions) (cached in $CACHE_DIR after this run)" \
      "$root/tools/lab.d/build-k8s"
  fi
  if ! "$root/tools/lab.d/build-helm" --cached; then
    phase "building $("$root/tools/lab.d/build-helm" --print-version) (cached in $CACHE_DIR after this run)" \
      "$root/tools/lab.d/build-helm"
  fi
  if ! kafka_fetched; then
    phase "fetching Kafka $KAFKA_VERSION's jars from Maven Central (cached after this run)" kafka_fetch
  fi
  pki_up
  phase "PostgreSQL 15 on 127.0.0.1:$PG_PORT" pg_up
  phase "Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (SASL_SSL: $KAFKA_SASL_PORT)" kafka_up
  for i in "${!CLUSTERS[@]}"; do
    phase "cluster $(cluster_slug "${CLUSTERS[$i]}") on 127.0.0.1:$((KUBE_BASE_PORT + i)), $NODES_PER_CLUSTER schedulable nodes" \
      cluster_up "${CLUSTERS[$i]}" "$i"
  done
  phase "the daemons' ServiceAccounts, Roles and tokens in each cluster (deploy/helm/senren-regional)" \
    all_identities_up
  write_env
  ((build)) && phase "building Senren's daemons (log: $LAB_DIR/logs/build.log)" senren_build
  phase "Senren's daemons" daemons_up
  if ((argocd)); then
    "$root/tools/lab.d/build-argocd" --cached ||
      phase "building $("$root/tools/lab.d/build-argocd" --print-version) (cached in $CACHE_DIR after this run)" \
        "$root/tools/lab.d/build-argocd"
    phase "Argo CD (peer; hub: namespace $ARGOCD_NAMESPACE of cluster 0)" argocd_up
  fi
  log "every part is up ($(elapsed "$start")); 'tools/lab status' shows them, 'eval \"\$(tools/lab env)\"' sets the environment"
  if ((quickstart)); then
    log "running examples/quickstart.py"
    local py; py=$("$root/tools/python-env" 2>>"$LAB_DIR/logs/up.log") ||
      { tail -20 "$LAB_DIR/logs/up.log" >&2; die "setting up the Python environment failed (log: $LAB_DIR/logs/up.log)"; }
    # shellcheck disable=SC1091
    if ! (source "$LAB_DIR/env" && "$py" "$root/examples/quickstart.py"); then
      log "the quickstart did not finish; what the clusters say:"
      clusters_report >&2
      log "logs of every lab process: $LAB_DIR/logs/"
      exit 1
    fi
  fi
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

cmd_status() {
  local down=0 total=0 c i slug pid rss
  printf '%-46s %-8s %-22s %-10s %s\n' PART PID ADDRESS HEALTH RSS
  row() { # part address health-check...
    local part=$1 addr=$2; shift 2
    pid=$(live_pid "$part")
    local health
    if [[ -z $pid ]]; then health=down; down=1
    elif [[ $# -eq 0 ]] || "$@" >/dev/null 2>&1; then health=up
    else health=unhealthy; down=1
    fi
    rss=0; [[ -n $pid ]] && rss=$(rss_kb "$pid")
    total=$((total + rss))
    printf '%-46s %-8s %-22s %-10s %s\n' "$part" "${pid:--}" "$addr" "$health" "$((rss / 1024)) MiB"
  }
  row postgres "127.0.0.1:$PG_PORT" pg_healthy
  row kafka "127.0.0.1:$KAFKA_PORT" tcp_open "$KAFKA_PORT"
  local token=""
  [[ -f $LAB_DIR/pki/tokens.env ]] && token=$(sed -n 's/^KUBE_ADMIN_TOKEN=//p' "$LAB_DIR/pki/tokens.env")
  for i in "${!CLUSTERS[@]}"; do
    c=${CLUSTERS[$i]}; slug=$(cluster_slug "$c")
    row "$slug-etcd" "127.0.0.1:$((ETCD_BASE_PORT + 10 * i))" etcd_healthy $((ETCD_BASE_PORT + 10 * i))
    row "$slug-kube-apiserver" "127.0.0.1:$((KUBE_BASE_PORT + i))" apiserver_healthy $((KUBE_BASE_PORT + i)) "$token"
    row "$slug-kube-controller-manager" "-"
    row "$slug-kube-scheduler" "-"
    row "$slug-kwok" "127.0.0.1:$((KWOK_BASE_PORT + 10 * i))"
  done
  # Senren's daemons: health is what their /readyz says (ready, not ready and why, or down
  # when it does not answer), not whether the process exists.
  daemon_row() { # part metrics-port
    local part=$1 port=$2 readiness health note=""
    pid=$(live_pid "$part")
    readiness=$(daemon_readiness "$port")
    case $readiness in
      ready) health=ready ;;
      down) health=down; down=1; [[ -n $pid ]] && note="  (process runs; /readyz does not answer)" ;;
      *) health="not ready"; note="  ${readiness#not ready: }"; down=1 ;;
    esac
    rss=0; [[ -n $pid ]] && rss=$(rss_kb "$pid")
    total=$((total + rss))
    printf '%-46s %-8s %-22s %-10s %s%s\n' "$part" "${pid:--}" "127.0.0.1:$port" "$health" \
      "$((rss / 1024)) MiB" "$note"
  }
  if [[ -x $(senren_bin senren-ledger) ]]; then
    daemon_row senren-ledger "$LEDGER_METRICS_PORT"
  else
    printf '%-46s %-8s %-22s %-10s %s\n' senren-ledger - - "not built" -
  fi
  local d base
  for d in senren-controller senren-regional; do
    base=$CONTROLLER_METRICS_BASE_PORT; [[ $d == senren-regional ]] && base=$REGIONAL_METRICS_BASE_PORT
    if [[ -x $(senren_bin "$d") ]]; then
      for i in "${!CLUSTERS[@]}"; do daemon_row "$d-$(cluster_slug "${CLUSTERS[$i]}")" $((base + i)); done
    else
      printf '%-46s %-8s %-22s %-10s %s\n' "$d" - - "not built" -
    fi
  done
  printf '%-46s %-8s %-22s %-10s %s\n' total "" "" "" "$((total / 1024)) MiB"
  # Per cluster: can pods be placed, and are some waiting? (Only where the apiserver answers.)
  printf '\n%-24s %-18s %s\n' CLUSTER SCHEDULABLE-NODES PENDING-PODS
  local kc nodes pending report
  for c in "${CLUSTERS[@]}"; do
    slug=$(cluster_slug "$c"); kc="$(kube_dir "$c")/kubeconfig"
    if [[ ! -f $kc ]] || ! nodes=$(schedulable_nodes "$kc" 2>/dev/null); then
      printf '%-24s %-18s %s\n' "$slug" "?" "? (apiserver does not answer)"
      down=1; continue
    fi
    report=$(pending_report "$kc" 2>/dev/null) || true
    pending=$(awk '{n += $1} END {print n + 0}' <<<"$report")
    printf '%-24s %-18s %s\n' "$slug" "$nodes/$NODES_PER_CLUSTER" "$pending"
    if ((nodes < NODES_PER_CLUSTER)); then
      nodes_report "$kc" || true
      down=1
    fi
    ((pending == 0)) || echo "$report"
  done
  return $down
}

# in_layer PART PATTERN...: true when PART matches one of the glob patterns.
in_layer() {
  local part=$1 pat; shift
  for pat in "$@"; do
    # shellcheck disable=SC2053
    [[ $part == $pat ]] && return 0
  done
  return 1
}

cmd_down() {
  local purge=0 c i slug
  for a in "$@"; do
    case $a in
      --purge) purge=1 ;;
      *) die "unknown option to down: $a" ;;
    esac
  done
  if [[ -d $LAB_DIR/pids ]]; then
    # In layers, clients before their servers: a daemon stopping while its apiserver, etcd
    # or broker is already gone hangs in its last requests (releasing its Lease, flushing
    # its outbox) until it is killed. Each layer gets up to 15 s.
    local layer f parts pats
    for layer in 'senren-* argocd-*' '*-kube-controller-manager *-kube-scheduler *-kwok' \
                 '*-kube-apiserver kafka' '*-etcd postgres' '*'; do
      parts=()
      read -r -a pats <<<"$layer"  # split without expanding the globs
      for f in "$LAB_DIR"/pids/*.pid; do
        [[ -e $f ]] || continue
        f=$(basename "$f" .pid)
        in_layer "$f" "${pats[@]}" || continue
        # PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for every client to leave).
        [[ $f == postgres ]] && f=postgres:INT
        parts+=("$f")
      done
      ((${#parts[@]})) && stop_parts "${parts[@]}"
    done
  fi
  if ((purge)); then
    rm -rf "$LAB_DIR"
    log "stopped every lab process and deleted $LAB_DIR"
  else
    log "stopped every lab process"
  fi
}

cmd_env() {
  [[ -f $LAB_DIR/env ]] || die "the lab has not been brought up yet ($LAB_DIR/env is missing): run 'tools/lab up'"
  cat "$LAB_DIR/env"
}

usage() {
  cat >&2 <<EOF
usage: tools/lab up [--no-quickstart] [--no-build] [--with argocd] | down [--purge] | status | env
       tools/lab argocd-up | argocd-down | argocd-status
  up      install what is missing, build Senren's daemons, start what is not running (and
          restart daemons whose binary was rebuilt), wait for health, run the quickstart
  down    stop every lab process this lab started (--purge also deletes $LAB_DIR)
  status  each part with pid, address, health and memory (Senren's daemons: what their
          /readyz says); exit code 1 if any is down or not ready
  env     shell export lines for the lab (eval "\$(tools/lab env)")
  --with argocd, argocd-up   also Argo CD as a peer (docs/lab.md); argocd-up adds it to a
          running lab, argocd-down stops it alone
EOF
  exit 2
}

main() {
  local cmd=${1:-}; shift || true
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    argocd-up) argocd_up ;;
    argocd-down) argocd_down ;;
    argocd-status) argocd_status ;;
    *) usage ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
