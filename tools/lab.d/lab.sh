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
LEDGER_PORT=57070
LEDGER_METRICS_PORT=57071
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

# ---------------------------------------------------------------- process records

pid_file() { echo "$LAB_DIR/pids/$1.pid"; }

# Prints the recorded pid of a part if that process is still alive and is the one we
# started (its command line contains the expected program), else nothing.
live_pid() {
  local part=$1 f pid want
  f=$(pid_file "$part")
  [[ -f $f ]] || return 0
  read -r pid want <"$f" || true
  [[ -n ${pid:-} && -d /proc/$pid ]] || return 0
  if [[ -n ${want:-} ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want"; then
    return 0
  fi
  echo "$pid"
}

# Names who listens on a TCP port on this machine, or nothing when the port is free.
port_holder() {
  local port=$1
  ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\))).*/\1/p' | head -1
}

check_port_free() {
  local port=$1 part=$2 holder
  if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    holder=$(port_holder "$port")
    die "port $port for $part is already taken by ${holder:-another process}; stop it or run 'tools/lab down'"
  fi
}

# start_part NAME MATCH LOG [--as USER] -- COMMAND...
# Starts COMMAND detached, records its pid with MATCH (a string of its command line that
# identifies it later), and returns. Output goes to LOG.
start_part() {
  local part=$1 match=$2 logf=$3; shift 3
  local as=""
  if [[ $1 == --as ]]; then as=$2; shift 2; fi
  [[ $1 == -- ]] && shift
  mkdir -p "$LAB_DIR/pids" "$(dirname "$logf")"
  : >"$logf"
  if [[ -n $as ]]; then
    chown "$as" "$logf"
    setsid setpriv --reuid="$as" --regid="$as" --init-groups "$@" >>"$logf" 2>&1 </dev/null &
  else
    setsid "$@" >>"$logf" 2>&1 </dev/null &
  fi
  echo "$! $match" >"$(pid_file "$part")"
}

# wait_for [--explain FN ARG] PART LOG TIMEOUT CHECK...: polls CHECK until it succeeds;
# fails with the tail of LOG if the part dies, or if it is not healthy in TIMEOUT seconds
# (then, with --explain, also with what `FN ARG` says is not ready).
wait_for() {
  local explain=()
  if [[ $1 == --explain ]]; then explain=("$2" "$3"); shift 3; fi
  local part=$1 logf=$2 timeout=$3; shift 3
  local deadline=$((SECONDS + timeout))
  while ! "$@" >/dev/null 2>&1; do
    if [[ -z $(live_pid "$part") ]]; then
      log "$part died on start; last lines of $logf:"
      tail -n 30 "$logf" >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      if ((${#explain[@]})); then
        log "$part: not ready after ${timeout}s:"
        "${explain[@]}" >&2 || true
        log "its log: $logf"
      else
        log "$part did not become healthy in ${timeout}s; last lines of $logf:"
        tail -n 30 "$logf" >&2 || true
      fi
      exit 1
    fi
    sleep 0.2
  done
}

# stop_parts PART[:SIGNAL]...: signals every live part at once, waits up to 15 s for all
# of them, then kills what is left. Dependents go first in the list only for their logs'
# sake; the order does not matter for correctness.
stop_parts() {
  local spec part sig pid pids=() names=() i
  for spec in "$@"; do
    part=${spec%%:*}; sig=TERM
    [[ $spec == *:* ]] && sig=${spec#*:}
    pid=$(live_pid "$part")
    if [[ -n $pid ]]; then
      kill "-$sig" "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$part")
    fi
    rm -f "$(pid_file "$part")"
  done
  for _ in $(seq 1 150); do
    local alive=0
    for pid in "${pids[@]+"${pids[@]}"}"; do [[ -d /proc/$pid ]] && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if [[ -d /proc/${pids[$i]} ]]; then
      log "${names[$i]} (pid ${pids[$i]}) did not stop in 15 s; killing it"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
  done
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The lab's ports lie in Linux's ephemeral range (32768-60999): any outgoing connection of
# a lab process (apiserver to etcd, Kafka clients, ...) may be given one of them as its
# local port, and a part started later then fails to bind it. Reserving them keeps the
# kernel from handing them out; binding them explicitly still works. (The kernel merges
# the list, so writing it again changes nothing.)
LAB_PORTS="$ETCD_BASE_PORT-$((ETCD_BASE_PORT + 10 * ${#CLUSTERS[@]} - 1)),$PG_PORT,$KUBE_BASE_PORT-$((KUBE_BASE_PORT + 3)),$LEDGER_PORT-$LEDGER_METRICS_PORT,$KAFKA_PORT-$KAFKA_CONTROLLER_PORT"
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports have
  have=$(cat "$f" 2>/dev/null) || return 0
  if ! echo "${have:+$have,}$LAB_PORTS" >"$f" 2>/dev/null; then
    log "warning: cannot reserve the lab's ports in $f (not root?): a port may be taken by chance"
  fi
}

# ---------------------------------------------------------------- PostgreSQL

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

# ---------------------------------------------------------------- Kafka

kafka_fetched() { [[ -f $KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar ]]; }

kafka_fetch() {
  kafka_fetched && return 0
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  mkdir -p "$LAB_DIR/logs"
  rm -rf "$KAFKA_LIBS.tmp"
  mvn -q -B -f "$root/tools/lab.d/kafka/pom.xml" package -Dkafka.libs="$KAFKA_LIBS.tmp" \
    -Dproject.build.directory="$LAB_DIR/kafka-build" >"$LAB_DIR/logs/kafka-fetch.log" 2>&1 ||
    { tail -30 "$LAB_DIR/logs/kafka-fetch.log" >&2; die "fetching Kafka jars failed"; }
  rm -rf "$KAFKA_LIBS"; mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

kafka_healthy() {
  tcp_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$LAB_DIR/logs/kafka.log"
}

kafka_up() {
  [[ -n $(live_pid kafka) ]] && return 0
  kafka_fetch
  check_port_free "$KAFKA_PORT" kafka
  check_port_free "$KAFKA_CONTROLLER_PORT" "kafka controller"
  local dir="$LAB_DIR/kafka"
  mkdir -p "$dir"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=104857600
replica.fetch.max.bytes=104857600
socket.request.max.bytes=209715200
log.cleaner.min.compaction.lag.ms=0
EOF
  cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
EOF
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true "-Dlog4j.configuration=file:$dir/log4j.properties")
  if [[ ! -f $dir/data/meta.properties ]]; then
    log "formatting Kafka storage in $dir/data"
    local cid
    cid=$(java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format -t "$cid" \
      -c "$dir/server.properties" >"$LAB_DIR/logs/kafka-format.log" 2>&1 ||
      { tail -20 "$LAB_DIR/logs/kafka-format.log" >&2; die "formatting Kafka storage failed"; }
  fi
  start_part kafka "kafka.Kafka" "$LAB_DIR/logs/kafka.log" -- \
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
  wait_for kafka "$LAB_DIR/logs/kafka.log" 120 kafka_healthy
}

# ---------------------------------------------------------------- Kubernetes

pki_up() {
  local pki="$LAB_DIR/pki"
  mkdir -p "$pki"
  if [[ ! -f $pki/ca.crt ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=senren-lab-ca" \
      -keyout "$pki/ca.key" -out "$pki/ca.crt" >/dev/null 2>&1
  fi
  if [[ ! -f $pki/tokens.env ]]; then
    {
      echo "KUBE_ADMIN_TOKEN=$(openssl rand -hex 16)"
      echo "SENREN_ADMIN_TOKEN=$(openssl rand -hex 16)"
      echo "SENREN_WRITER_TOKEN=$(openssl rand -hex 16)"
      echo "SENREN_READER_TOKEN=$(openssl rand -hex 16)"
    } >"$pki/tokens.env"
    chmod 600 "$pki/tokens.env"
  fi
  # shellcheck disable=SC1091
  source "$pki/tokens.env"
  # Tokens of senren-ledger serve --tokens (docs/design.md §14).
  cat >"$LAB_DIR/senren-tokens.yaml" <<EOF
tokens:
  - {token: "$SENREN_ADMIN_TOKEN", subject: lab-admin, role: admin}
  - {token: "$SENREN_WRITER_TOKEN", subject: lab-writer, role: writer}
  - {token: "$SENREN_READER_TOKEN", subject: lab-reader, role: reader}
EOF
}

kube_certs() {
  local c=$1 dir pki="$LAB_DIR/pki"
  dir=$(kube_dir "$c")
  mkdir -p "$dir/pki"
  [[ -f $dir/pki/apiserver.crt ]] && return 0
  cat >"$dir/pki/san.cnf" <<EOF
[req]
distinguished_name=dn
[dn]
[ext]
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
EOF
  openssl req -new -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$dir/pki/apiserver.key" -out "$dir/pki/apiserver.csr" >/dev/null 2>&1
  openssl x509 -req -in "$dir/pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/pki/san.cnf" -extensions ext \
    -out "$dir/pki/apiserver.crt" >/dev/null 2>&1
  openssl genrsa -out "$dir/pki/sa.key" 2048 >/dev/null 2>&1
  openssl rsa -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" >/dev/null 2>&1
}

kube_config() {
  local c=$1 i=$2 dir
  dir=$(kube_dir "$c")
  # shellcheck disable=SC1091
  source "$LAB_DIR/pki/tokens.env"
  echo "$KUBE_ADMIN_TOKEN,admin,admin,system:masters" >"$dir/tokens.csv"
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $(cluster_slug "$c")
  cluster:
    server: https://127.0.0.1:$((KUBE_BASE_PORT + i))
    certificate-authority: $LAB_DIR/pki/ca.crt
users:
- name: admin
  user:
    token: $KUBE_ADMIN_TOKEN
contexts:
- name: $(cluster_slug "$c")
  context:
    cluster: $(cluster_slug "$c")
    user: admin
    namespace: senren
current-context: $(cluster_slug "$c")
EOF
}

etcd_healthy() { curl -sf "http://127.0.0.1:$1/health" | grep -q '"health":"true"'; }
apiserver_healthy() {
  curl -sf --cacert "$LAB_DIR/pki/ca.crt" -H "Authorization: Bearer $2" \
    "https://127.0.0.1:$1/readyz" | grep -q ok
}
# One line per lab node: NAME READY UNSCHEDULABLE TAINTS, where TAINTS lists the
# key:effect of every NoSchedule or NoExecute taint ("-" when none).
node_table() {
  local kc=$1
  "$(kube_bin)/kubectl" --kubeconfig "$kc" --request-timeout=10s get nodes -l senren.io/lab-node=true -o \
    jsonpath='{range .items[*]}{.metadata.name}{"|"}{.status.conditions[?(@.type=="Ready")].status}{"|"}{.spec.unschedulable}{"|"}{range .spec.taints[*]}{.key}:{.effect},{end}{"\n"}{end}' |
    awk -F'|' '{t = ""; n = split($4, a, ","); for (i = 1; i <= n; i++) if (a[i] ~ /:(NoSchedule|NoExecute)$/) t = t (t ? "," : "") a[i];
          print $1, ($2 == "" ? "Unknown" : $2), ($3 == "true" ? "true" : "false"), (t == "" ? "-" : t)}'
}

# Nodes a pod can land on: Ready, not cordoned, no NoSchedule/NoExecute taint.
schedulable_nodes() { node_table "$1" | awk '$2 == "True" && $3 == "false" && $4 == "-"' | wc -l; }

nodes_ready() { (($(schedulable_nodes "$1") >= NODES_PER_CLUSTER)); }

# Says why a cluster's nodes are not all schedulable, one node a line.
nodes_report() {
  echo "  $(schedulable_nodes "$1") of $NODES_PER_CLUSTER lab nodes schedulable"
  node_table "$1" | awk '{why = "";
    if ($2 != "True") why = why "Ready=" $2 "; ";
    if ($3 == "true") why = why "cordoned; ";
    if ($4 != "-") why = why "taint " $4 "; ";
    print "  node " $1 ": " (why == "" ? "schedulable" : substr(why, 1, length(why) - 2))}'
}

# "N pods Pending: <the scheduler's reason>" for a cluster, one line per distinct reason;
# nothing when no pod is Pending.
pending_report() {
  local kc=$1
  "$(kube_bin)/kubectl" --kubeconfig "$kc" --request-timeout=10s get pods -A --field-selector=status.phase=Pending -o \
    jsonpath='{range .items[*]}{.status.conditions[?(@.type=="PodScheduled")].message}{"\n"}{end}' |
    sed 's/^$/not scheduled yet/' | sort | uniq -c |
    awk '{n = $1; $1 = ""; sub(/^ /, ""); print "  " n " pods Pending: " $0}'
}

# Lab nodes are created with no taint (the apiserver runs without TaintNodesByCondition),
# but an etcd from an older lab may still hold Nodes carrying the not-ready taint that only
# the node-lifecycle controller would remove. The lab nodes are the lab's own: clear them.
clear_lab_taints() {
  local c=$1 kc=$2 tainted n
  tainted=$(node_table "$kc" | awk '$4 != "-" {print $1}')
  [[ -n $tainted ]] || return 0
  log "$(cluster_slug "$c"): removing NoSchedule/NoExecute taints from $(echo $tainted)"
  for n in $tainted; do
    "$(kube_bin)/kubectl" --kubeconfig "$kc" patch node "$n" --type=merge -p '{"spec":{"taints":null}}' >/dev/null
  done
}

cluster_up() {
  local c=$1 i=$2 slug dir bin kc etcd_port etcd_peer api_port kwok_port token
  slug=$(cluster_slug "$c"); dir=$(kube_dir "$c"); bin=$(kube_bin); kc="$dir/kubeconfig"
  etcd_port=$((ETCD_BASE_PORT + 10 * i)); etcd_peer=$((etcd_port + 1))
  api_port=$((KUBE_BASE_PORT + i)); kwok_port=$((KWOK_BASE_PORT + 10 * i))
  kube_certs "$c"
  kube_config "$c" "$i"
  # shellcheck disable=SC1091
  source "$LAB_DIR/pki/tokens.env"
  token=$KUBE_ADMIN_TOKEN
  local logs="$LAB_DIR/logs/$slug"
  mkdir -p "$logs"

  if [[ -z $(live_pid "$slug-etcd") ]]; then
    check_port_free "$etcd_port" "etcd of $slug"
    check_port_free "$etcd_peer" "etcd peer of $slug"
    start_part "$slug-etcd" "$dir/etcd" "$logs/etcd.log" -- \
      "$bin/etcd" --name "$slug" --data-dir "$dir/etcd" \
      --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
      --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
      --initial-cluster "$slug=http://127.0.0.1:$etcd_peer" --listen-metrics-urls "" \
      --quota-backend-bytes 2147483648 --log-level warn
  fi
  if [[ -z $(live_pid "$slug-kube-apiserver") ]]; then
    check_port_free "$api_port" "kube-apiserver of $slug"
    wait_for "$slug-etcd" "$logs/etcd.log" 60 etcd_healthy "$etcd_port"
    start_part "$slug-kube-apiserver" "--secure-port=$api_port" "$logs/kube-apiserver.log" -- \
      "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
      --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
      --tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
      --client-ca-file="$LAB_DIR/pki/ca.crt" \
      --service-cluster-ip-range=10.96.0.0/16 \
      --service-account-issuer=https://kubernetes.default.svc.cluster.local \
      --service-account-key-file="$dir/pki/sa.pub" --service-account-signing-key-file="$dir/pki/sa.key" \
      --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC --allow-privileged=true \
      --endpoint-reconciler-type=none --profiling=false --enable-priority-and-fairness=false \
      --disable-admission-plugins=TaintNodesByCondition \
      --cert-dir="$dir/pki/generated" --v=1
  fi
  wait_for "$slug-kube-apiserver" "$logs/kube-apiserver.log" 120 apiserver_healthy "$api_port" "$token"
  # No node-lifecycle controller: on a loaded machine kwok's node heartbeats come late,
  # the controller would mark the fake nodes NotReady and their pods Ready=False, and
  # kwok never sets those pods back. The lab has no real node failures to detect.
  if [[ -z $(live_pid "$slug-kube-controller-manager") ]]; then
    start_part "$slug-kube-controller-manager" "$kc" "$logs/kube-controller-manager.log" -- \
      "$bin/kube-controller-manager" --kubeconfig="$kc" --bind-address=127.0.0.1 --secure-port=0 \
      --leader-elect=false --controllers='*,-node-lifecycle-controller' --cluster-name="$slug" \
      --service-account-private-key-file="$dir/pki/sa.key" --root-ca-file="$LAB_DIR/pki/ca.crt" \
      --concurrent-statefulset-syncs=10 --kube-api-qps=200 --kube-api-burst=400 --v=1
  fi
  if [[ -z $(live_pid "$slug-kube-scheduler") ]]; then
    start_part "$slug-kube-scheduler" "$kc" "$logs/kube-scheduler.log" -- \
      "$bin/kube-scheduler" --kubeconfig="$kc" --bind-address=127.0.0.1 --secure-port=0 \
      --leader-elect=false --kube-api-qps=200 --kube-api-burst=400 --v=1
  fi
  if [[ -z $(live_pid "$slug-kwok") ]]; then
    check_port_free "$kwok_port" "kwok of $slug"
    start_part "$slug-kwok" "$kc" "$logs/kwok.log" -- \
      "$bin/kwok" --kubeconfig="$kc" --manage-all-nodes=false \
      --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
      --server-address="127.0.0.1:$kwok_port" --cidr=10.244.$((i)).0/24 --node-ip=10.240.0.$((i + 1))
  fi
  lab_nodes "$c" "$kc"
  clear_lab_taints "$c" "$kc"
  wait_for --explain nodes_report "$kc" "$slug-kwok" "$logs/kwok.log" 120 nodes_ready "$kc"
  replace_stuck_pods "$c" "$kc"
}

# Pods on the fake nodes that are Running but not Ready never recover by themselves
# (kwok sets a pod Ready once, when it starts it; a lab that ran the node-lifecycle
# controller may have marked them not ready). Deleting them lets their StatefulSets make
# new ones, which kwok starts Ready.
replace_stuck_pods() {
  local c=$1 kc=$2 stuck
  stuck=$("$(kube_bin)/kubectl" --kubeconfig "$kc" get pods -A -o \
    jsonpath='{range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{" "}{.status.phase}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    awk '$3 == "Running" && $4 == "False" {print $1 " " $2}')
  [[ -n $stuck ]] || return 0
  log "$(cluster_slug "$c"): replacing $(wc -l <<<"$stuck") Running pods that are not Ready"
  local ns names
  # One delete per namespace.
  while read -r ns names; do
    # shellcheck disable=SC2086
    "$(kube_bin)/kubectl" --kubeconfig "$kc" delete pod -n "$ns" $names --wait=false >/dev/null 2>&1 || true
  done < <(awk '{a[$1] = a[$1] " " $2} END {for (n in a) print n a[n]}' <<<"$stuck")
}

# The fake nodes kwok keeps Ready, and the namespace Senren uses.
lab_nodes() {
  local c=$1 kc=$2 n manifest=""
  for n in $(seq 0 $((NODES_PER_CLUSTER - 1))); do
    manifest+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/hostname: kwok-node-$n
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    type: kwok
    senren.io/lab-node: \"true\"
    topology.kubernetes.io/zone: zone-$n
status:
  allocatable: {cpu: \"64\", memory: 512Gi, pods: \"1000\"}
  capacity: {cpu: \"64\", memory: 512Gi, pods: \"1000\"}
  nodeInfo: {kubeletVersion: fake, kubeProxyVersion: fake, architecture: amd64, operatingSystem: linux}
"
  done
  manifest+="---
apiVersion: v1
kind: Namespace
metadata:
  name: senren
"
  local crd
  for crd in "$root"/regional/crds/*.yaml; do
    [[ -f $crd ]] && manifest+=$'\n'"$(cat "$crd")"
  done
  printf '%s\n' "$manifest" | "$(kube_bin)/kubectl" --kubeconfig "$kc" apply --server-side \
    --field-manager=senren-lab -f - >"$LAB_DIR/logs/$(cluster_slug "$c")/lab-objects.log" 2>&1 ||
    { tail -20 "$LAB_DIR/logs/$(cluster_slug "$c")/lab-objects.log" >&2; die "creating lab nodes in $(cluster_slug "$c") failed"; }
}

# ---------------------------------------------------------------- Senren daemons

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

# ---------------------------------------------------------------- commands

write_env() {
  # shellcheck disable=SC1091
  source "$LAB_DIR/pki/tokens.env"
  local kcs=() etcds=() i
  for i in "${!CLUSTERS[@]}"; do
    kcs+=("$(kube_dir "${CLUSTERS[$i]}")/kubeconfig")
    etcds+=("http://127.0.0.1:$((ETCD_BASE_PORT + 10 * i))")
  done
  cat >"$LAB_DIR/env" <<EOF
export SENREN_LAB_DIR='$LAB_DIR'
export SENREN_ADDR='127.0.0.1:$LEDGER_PORT'
export SENREN_METRICS_ADDR='127.0.0.1:$LEDGER_METRICS_PORT'
export SENREN_POSTGRES_URI='postgresql://senren:senren@127.0.0.1:$PG_PORT/senren'
export SENREN_KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'
export SENREN_TOPIC_PREFIX='$TOPIC_PREFIX'
export SENREN_TOKEN='$SENREN_WRITER_TOKEN'
export SENREN_ADMIN_TOKEN='$SENREN_ADMIN_TOKEN'
export SENREN_READER_TOKEN='$SENREN_READER_TOKEN'
export SENREN_KUBECONFIGS='${kcs[*]}'
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
  local quickstart=1 build=1 i
  for a in "$@"; do
    case $a in
      --no-quickstart) quickstart=0 ;;
      --no-build) build=0 ;;
      *) die "unknown option to up: $a" ;;
    esac
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
  if ! kafka_fetched; then
    phase "fetching Kafka $KAFKA_VERSION's jars from Maven Central (cached after this run)" kafka_fetch
  fi
  pki_up
  phase "PostgreSQL 15 on 127.0.0.1:$PG_PORT" pg_up
  phase "Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT" kafka_up
  for i in "${!CLUSTERS[@]}"; do
    phase "cluster $(cluster_slug "${CLUSTERS[$i]}") on 127.0.0.1:$((KUBE_BASE_PORT + i)), $NODES_PER_CLUSTER schedulable nodes" \
      cluster_up "${CLUSTERS[$i]}" "$i"
  done
  write_env
  ((build)) && phase "building Senren's daemons (log: $LAB_DIR/logs/build.log)" senren_build
  phase "Senren's daemons" daemons_up
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
  if [[ -x $(senren_bin senren-ledger) ]]; then
    row senren-ledger "127.0.0.1:$LEDGER_PORT" grpc_port_open
  else
    printf '%-46s %-8s %-22s %-10s %s\n' senren-ledger - - "not built" -
  fi
  local d
  for d in senren-controller senren-regional; do
    if [[ -x $(senren_bin "$d") ]]; then
      for c in "${CLUSTERS[@]}"; do row "$d-$(cluster_slug "$c")" -; done
    else
      printf '%-46s %-8s %-22s %-10s %s\n' "$d" - - "not built" -
    fi
  done
  printf '%-46s %-8s %-22s %-10s %s\n' total "" "" "" "$((total / 1024)) MiB"
  # Per cluster: can pods be placed, and are some waiting? (Only where the apiserver answers.)
  printf '\n%-24s %-18s %s\n' CLUSTER SCHEDULABLE-NODES PENDING-PODS
  local kc nodes pending
  for c in "${CLUSTERS[@]}"; do
    slug=$(cluster_slug "$c"); kc="$(kube_dir "$c")/kubeconfig"
    if [[ ! -f $kc ]] || ! nodes=$(schedulable_nodes "$kc" 2>/dev/null); then
      printf '%-24s %-18s %s\n' "$slug" "?" "? (apiserver does not answer)"
      down=1; continue
    fi
    pending=$(pending_report "$kc" 2>/dev/null | awk '{n += $1} END {print n + 0}')
    printf '%-24s %-18s %s\n' "$slug" "$nodes/$NODES_PER_CLUSTER" "$pending"
    if ((nodes < NODES_PER_CLUSTER)); then
      nodes_report "$kc" || true
      down=1
    fi
    ((pending == 0)) || pending_report "$kc" || true
  done
  return $down
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
    local parts=() f
    for f in "$LAB_DIR"/pids/*.pid; do
      [[ -e $f ]] || continue
      f=$(basename "$f" .pid)
      # PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for every client to leave).
      [[ $f == postgres ]] && f=postgres:INT
      parts+=("$f")
    done
    ((${#parts[@]})) && stop_parts "${parts[@]}"
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
usage: tools/lab up [--no-quickstart] [--no-build] | down [--purge] | status | env
  up      install what is missing, build Senren's daemons, start what is not running (and
          restart daemons whose binary was rebuilt), wait for health, run the quickstart
  down    stop every lab process this lab started (--purge also deletes $LAB_DIR)
  status  each part with pid, address, health and memory; exit code 1 if any is down
  env     shell export lines for the lab (eval "\$(tools/lab env)")
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
    *) usage ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
