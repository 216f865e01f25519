# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# Argo CD as a peer of Senren in the lab (`tools/lab up --with argocd`, docs/lab.md): opt-in,
# for `tools/bench peers`. Plain processes on 127.0.0.1 like the rest of the lab:
#   argocd-redis               Debian's redis-server, Argo CD's cache
#   argocd-git                 git daemon serving $LAB_DIR/argocd/git/peer.git (read-only)
#   argocd-repo-server         renders the repository's manifests
#   argocd-application-controller  compares and syncs the Applications
# The hub (where Argo CD keeps its Applications, settings and cluster Secrets) is the
# namespace `argocd` of cluster 0's apiserver: a fifth apiserver and etcd would cost the
# 2-core lab machine more than the peer itself. Clusters 0 and 1 (aws:us-east-1 prod and
# shadow) are registered as Argo CD clusters; one Application per cluster syncs the
# repository's directory crs/ into the namespace argocd-peer (Senren's planes and
# controllers watch only the namespace senren, so neither side touches the other's CRs).

ARGOCD_REDIS_PORT=58100
ARGOCD_REPO_PORT=58101
ARGOCD_REPO_METRICS_PORT=58102
ARGOCD_CONTROLLER_METRICS_PORT=58103
ARGOCD_GIT_PORT=58104
ARGOCD_NAMESPACE=argocd       # on cluster 0: Argo CD's own objects
ARGOCD_PEER_NAMESPACE=argocd-peer  # on clusters 0 and 1: the CRs Argo CD syncs
ARGOCD_CLUSTERS=(0 1)         # indexes into CLUSTERS
# Argo CD's default polling period (argocd-cm timeout.reconciliation) and its jitter;
# the repo server caches resolved revisions for as long (as its manifests set it up).
ARGOCD_RECONCILIATION_TIMEOUT=${ARGOCD_RECONCILIATION_TIMEOUT:-120s}
ARGOCD_RECONCILIATION_JITTER=${ARGOCD_RECONCILIATION_JITTER:-60s}

argocd_dir() { echo "$LAB_DIR/argocd"; }
argocd_bin() { "$root/tools/lab.d/build-argocd" --print-bin; }
argocd_repo_url() { echo "git://127.0.0.1:$ARGOCD_GIT_PORT/peer.git"; }
argocd_kubectl() { "$(kube_bin)/kubectl" --kubeconfig "$(kube_dir "${CLUSTERS[0]}")/kubeconfig" "$@"; }

# Keeps the kernel from handing Argo CD's ports out as ephemeral ports (see reserve_ports).
argocd_reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports have
  have=$(cat "$f" 2>/dev/null) || return 0
  echo "${have:+$have,}$ARGOCD_REDIS_PORT-$ARGOCD_GIT_PORT" >"$f" 2>/dev/null || true
}

argocd_redis_up() {
  local d; d="$(argocd_dir)/redis"
  mkdir -p "$d"
  [[ -n $(live_pid argocd-redis) ]] && return 0
  check_port_free "$ARGOCD_REDIS_PORT" argocd-redis
  # A cache only, as Argo CD's own manifests run it: no persistence.
  # (redis-server rewrites its command line to "redis-server ADDRESS:PORT": match the port.)
  start_part argocd-redis "$ARGOCD_REDIS_PORT" "$LAB_DIR/logs/argocd/redis.log" -- \
    redis-server --bind 127.0.0.1 --port "$ARGOCD_REDIS_PORT" --dir "$d" --save "" \
    --appendonly no --protected-mode yes
  wait_for argocd-redis "$LAB_DIR/logs/argocd/redis.log" 30 tcp_open "$ARGOCD_REDIS_PORT"
}

# The repository Argo CD follows: a bare repository served by git daemon, and a work tree
# beside it that `tools/bench peers` commits to (pushing by path, not through the daemon).
argocd_git_up() {
  local d; d=$(argocd_dir)
  if [[ ! -f $d/git/peer.git/HEAD ]]; then
    mkdir -p "$d/git"
    git init -q --bare -b main "$d/git/peer.git"
    rm -rf "$d/work"
    git init -q -b main "$d/work"
    mkdir -p "$d/work/crs"
    printf '# The CRs Argo CD syncs into the namespace %s (written by tools/bench peers).\n' \
      "$ARGOCD_PEER_NAMESPACE" >"$d/work/crs/README.md"
    git -C "$d/work" add -A
    git -C "$d/work" -c user.name=senren-lab -c user.email=lab@senren.invalid commit -q -m "empty"
    git -C "$d/work" remote add origin "$d/git/peer.git"
    git -C "$d/work" push -q origin main
  fi
  [[ -n $(live_pid argocd-git) ]] && return 0
  check_port_free "$ARGOCD_GIT_PORT" argocd-git
  start_part argocd-git "--port=$ARGOCD_GIT_PORT" "$LAB_DIR/logs/argocd/git-daemon.log" -- \
    "$(git --exec-path)/git-daemon" --reuseaddr --listen=127.0.0.1 --port="$ARGOCD_GIT_PORT" --export-all \
    --base-path="$d/git" --informative-errors "$d/git"
  wait_for argocd-git "$LAB_DIR/logs/argocd/git-daemon.log" 30 tcp_open "$ARGOCD_GIT_PORT"
}

# Argo CD's CRDs (from the module's manifests/crds), its settings, the default AppProject
# (which argocd-server would create; the lab runs no server), the clusters and the
# Applications, on the hub; the peer namespace on the clusters.
argocd_objects_up() {
  local src crd i c slug token ca secretkey manifest=""
  src=$(dirname "$(dirname "$(argocd_bin)")")/src
  [[ -d $src/manifests/crds ]] || die "Argo CD's source tree is missing ($src): run tools/lab.d/build-argocd"
  for crd in application-crd.yaml appproject-crd.yaml; do
    argocd_kubectl apply --server-side --force-conflicts --field-manager=senren-lab \
      -f "$src/manifests/crds/$crd" >/dev/null
  done
  argocd_kubectl wait --for=condition=Established --timeout=60s \
    crd/applications.argoproj.io crd/appprojects.argoproj.io >/dev/null
  # shellcheck disable=SC1091
  source "$LAB_DIR/pki/tokens.env"
  token=$KUBE_ADMIN_TOKEN
  ca=$(base64 -w0 <"$LAB_DIR/pki/ca.crt")
  secretkey=$(cat "$(argocd_dir)/server.secretkey" 2>/dev/null || true)
  if [[ -z $secretkey ]]; then
    secretkey=$(openssl rand -base64 32)
    echo "$secretkey" >"$(argocd_dir)/server.secretkey"
  fi
  manifest="apiVersion: v1
kind: Namespace
metadata: {name: $ARGOCD_NAMESPACE}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: $ARGOCD_NAMESPACE
  labels: {app.kubernetes.io/name: argocd-cm, app.kubernetes.io/part-of: argocd}
data:
  timeout.reconciliation: $ARGOCD_RECONCILIATION_TIMEOUT
  timeout.reconciliation.jitter: $ARGOCD_RECONCILIATION_JITTER
  application.instanceLabelKey: argocd.argoproj.io/instance
---
apiVersion: v1
kind: Secret
metadata:
  name: argocd-secret
  namespace: $ARGOCD_NAMESPACE
  labels: {app.kubernetes.io/name: argocd-secret, app.kubernetes.io/part-of: argocd}
stringData:
  server.secretkey: \"$secretkey\"
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: default, namespace: $ARGOCD_NAMESPACE}
spec:
  sourceRepos: ['*']
  destinations: [{server: '*', namespace: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
"
  for i in "${ARGOCD_CLUSTERS[@]}"; do
    c=${CLUSTERS[$i]}; slug=$(cluster_slug "$c")
    manifest+="---
apiVersion: v1
kind: Secret
metadata:
  name: cluster-$slug
  namespace: $ARGOCD_NAMESPACE
  labels: {argocd.argoproj.io/secret-type: cluster}
stringData:
  name: $slug
  server: https://127.0.0.1:$((KUBE_BASE_PORT + i))
  config: '{\"bearerToken\": \"$token\", \"tlsClientConfig\": {\"caData\": \"$ca\"}}'
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: peer-$slug
  namespace: $ARGOCD_NAMESPACE
spec:
  project: default
  source: {repoURL: \"$(argocd_repo_url)\", targetRevision: main, path: crs}
  destination: {server: \"https://127.0.0.1:$((KUBE_BASE_PORT + i))\", namespace: $ARGOCD_PEER_NAMESPACE}
  syncPolicy:
    automated: {prune: true, selfHeal: true, allowEmpty: true}
    syncOptions: [CreateNamespace=true]
"
    "$(kube_bin)/kubectl" --kubeconfig "$(kube_dir "$c")/kubeconfig" create namespace \
      "$ARGOCD_PEER_NAMESPACE" --dry-run=client -o yaml |
      "$(kube_bin)/kubectl" --kubeconfig "$(kube_dir "$c")/kubeconfig" apply -f - >/dev/null
  done
  printf '%s\n' "$manifest" | argocd_kubectl apply --server-side --force-conflicts \
    --field-manager=senren-lab -f - >/dev/null
}

argocd_env() {
  # The settings Argo CD's manifests pass from argocd-cm and argocd-cmd-params-cm.
  echo "ARGOCD_RECONCILIATION_TIMEOUT=$ARGOCD_RECONCILIATION_TIMEOUT"
  echo "ARGOCD_RECONCILIATION_JITTER=$ARGOCD_RECONCILIATION_JITTER"
  echo "ARGOCD_GPG_ENABLED=false"
  echo "TMPDIR=$(argocd_dir)/tmp"
  echo "HOME=$(argocd_dir)/home"
}

argocd_metrics_ok() { curl -sf "http://127.0.0.1:$1/metrics" >/dev/null; }

argocd_processes_up() {
  local bin d kc env=()
  bin=$(argocd_bin); d=$(argocd_dir)
  kc="$(kube_dir "${CLUSTERS[0]}")/kubeconfig"
  mkdir -p "$d/tmp" "$d/home" "$d/bin"
  # One binary; it acts as the program it is called by.
  ln -sf "$bin" "$d/bin/argocd-repo-server"
  ln -sf "$bin" "$d/bin/argocd-application-controller"
  mapfile -t env < <(argocd_env)
  if [[ -z $(live_pid argocd-repo-server) ]]; then
    check_port_free "$ARGOCD_REPO_PORT" argocd-repo-server
    check_port_free "$ARGOCD_REPO_METRICS_PORT" "argocd-repo-server metrics"
    start_part argocd-repo-server "--port $ARGOCD_REPO_PORT" "$LAB_DIR/logs/argocd/repo-server.log" -- \
      env "${env[@]}" "$d/bin/argocd-repo-server" --address 127.0.0.1 --port "$ARGOCD_REPO_PORT" \
      --metrics-address 127.0.0.1 --metrics-port "$ARGOCD_REPO_METRICS_PORT" --disable-tls \
      --redis "127.0.0.1:$ARGOCD_REDIS_PORT" --logformat text
  fi
  wait_for argocd-repo-server "$LAB_DIR/logs/argocd/repo-server.log" 60 argocd_metrics_ok "$ARGOCD_REPO_METRICS_PORT"
  if [[ -z $(live_pid argocd-application-controller) ]]; then
    check_port_free "$ARGOCD_CONTROLLER_METRICS_PORT" "argocd-application-controller metrics"
    start_part argocd-application-controller "--metrics-port $ARGOCD_CONTROLLER_METRICS_PORT" \
      "$LAB_DIR/logs/argocd/application-controller.log" -- \
      env "${env[@]}" "$d/bin/argocd-application-controller" --kubeconfig "$kc" \
      --namespace "$ARGOCD_NAMESPACE" --repo-server "127.0.0.1:$ARGOCD_REPO_PORT" \
      --repo-server-plaintext --redis "127.0.0.1:$ARGOCD_REDIS_PORT" \
      --metrics-port "$ARGOCD_CONTROLLER_METRICS_PORT" --logformat text
  fi
  wait_for argocd-application-controller "$LAB_DIR/logs/argocd/application-controller.log" 60 \
    argocd_metrics_ok "$ARGOCD_CONTROLLER_METRICS_PORT"
}

# Both Applications have compared the repository (sync status known), whatever it holds.
argocd_apps_compared() {
  local out
  out=$(argocd_kubectl -n "$ARGOCD_NAMESPACE" get applications.argoproj.io \
    -o jsonpath='{range .items[*]}{.status.sync.status}{"\n"}{end}' 2>/dev/null) || return 1
  [[ $(grep -cE '^(Synced|OutOfSync)$' <<<"$out") -ge ${#ARGOCD_CLUSTERS[@]} ]]
}

# Brings Argo CD up against the running lab (tools/lab up --with argocd, or alone:
# tools/lab argocd-up). Builds it first when it is not cached.
argocd_up() {
  [[ -f $LAB_DIR/pki/tokens.env ]] || die "the lab is not up ($LAB_DIR/pki/tokens.env is missing)"
  # Debian's redis-server and git (only Argo CD needs them, so install-deps does not).
  local pkg missing=()
  for pkg in redis-server git; do command -v "$pkg" >/dev/null || missing+=("$pkg"); done
  if ((${#missing[@]})); then
    ((EUID == 0)) || die "${missing[*]} missing: apt-get install ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
      die "apt-get install ${missing[*]} failed"
  fi
  mkdir -p "$LAB_DIR/logs/argocd" "$LAB_DIR/pids" "$(argocd_dir)"
  argocd_reserve_ports
  "$root/tools/lab.d/build-argocd"
  argocd_redis_up
  argocd_git_up
  argocd_objects_up
  argocd_processes_up
  wait_for --explain argocd_apps_report "" argocd-application-controller \
    "$LAB_DIR/logs/argocd/application-controller.log" 120 argocd_apps_compared
}

argocd_apps_report() {
  argocd_kubectl -n "$ARGOCD_NAMESPACE" get applications.argoproj.io \
    -o jsonpath='{range .items[*]}{.metadata.name}{"  sync: "}{.status.sync.status}{" at "}{.status.sync.revision}{"  health: "}{.status.health.status}{"  "}{.status.conditions[*].message}{"\n"}{end}'
}

argocd_down() {
  stop_parts argocd-application-controller argocd-repo-server
  stop_parts argocd-git argocd-redis
}

argocd_status() {
  local part pid rss
  for part in argocd-redis argocd-git argocd-repo-server argocd-application-controller; do
    pid=$(live_pid "$part"); rss=0
    [[ -n $pid ]] && rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    printf '%-46s %-8s %-10s %s\n' "$part" "${pid:--}" "$([[ -n $pid ]] && echo up || echo down)" "$((rss / 1024)) MiB"
  done
  argocd_apps_report 2>/dev/null || true
}
