# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# Process records, ports and waits: how the lab starts, finds, waits for and stops its parts.

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
  # The previous run's log is kept beside the new one: how a part stopped or died is
  # often the question. (A fresh log: health checks read it.)
  [[ -s $logf ]] && mv -f "$logf" "$logf.1"
  : >"$logf"
  if [[ -n $as ]]; then
    chown "$as" "$logf"
    setsid setpriv --reuid="$as" --regid="$as" --init-groups "$@" >>"$logf" 2>&1 </dev/null &
  else
    setsid "$@" >>"$logf" 2>&1 </dev/null &
  fi
  local pid=$! i
  echo "$pid $match" >"$(pid_file "$part")"
  # Until the child has exec'd the part, its command line is this script's, and live_pid
  # would take that moment for a death ("died on start" with an empty log): wait for the
  # exec, or for the child to end.
  [[ -n $match ]] || return 0
  for ((i = 0; i < 250; i++)); do
    [[ -d /proc/$pid ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$match" && return 0
    sleep 0.02
  done
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
# of them, then kills what is left. (down calls it once per layer, clients first.)
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
LAB_PORTS="$ETCD_BASE_PORT-$((ETCD_BASE_PORT + 10 * ${#CLUSTERS[@]} - 1)),$PG_PORT,$KUBE_BASE_PORT-$((KUBE_BASE_PORT + 3)),$LEDGER_PORT-$((REGIONAL_METRICS_BASE_PORT + ${#CLUSTERS[@]} - 1)),$KAFKA_PORT-$KAFKA_SASL_PORT"
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports have
  have=$(cat "$f" 2>/dev/null) || return 0
  if ! echo "${have:+$have,}$LAB_PORTS" >"$f" 2>/dev/null; then
    log "warning: cannot reserve the lab's ports in $f (not root?): a port may be taken by chance"
  fi
}
