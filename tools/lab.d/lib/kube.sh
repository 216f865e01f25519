# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# Kubernetes clusters: certificates, kubeconfigs, etcd, kube-apiserver, controller manager,
# scheduler, kwok, the lab's nodes; what a cluster says about its nodes and Pending pods.

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

# Counts the rows of node_table (on stdin) a pod can land on: Ready, not cordoned, no
# NoSchedule/NoExecute taint.
count_schedulable() { awk '$2 == "True" && $3 == "false" && $4 == "-" {n++} END {print n + 0}'; }
schedulable_nodes() { node_table "$1" | count_schedulable; }

nodes_ready() { (($(schedulable_nodes "$1") >= NODES_PER_CLUSTER)); }

# Says why a cluster's nodes are not all schedulable, one node a line.
nodes_report() {
  local table
  table=$(node_table "$1") || return 1
  echo "  $(count_schedulable <<<"$table") of $NODES_PER_CLUSTER lab nodes schedulable"
  awk 'NF {why = "";
    if ($2 != "True") why = why "Ready=" $2 "; ";
    if ($3 == "true") why = why "cordoned; ";
    if ($4 != "-") why = why "taint " $4 "; ";
    print "  node " $1 ": " (why == "" ? "schedulable" : substr(why, 1, length(why) - 2))}' <<<"$table"
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
  # The host-path provisioner gives the lab's default StorageClass (lab_nodes) dynamic
  # volumes: each claim gets a PersistentVolume (an empty directory under
  # /tmp/hostpath_pv on this machine, never written: kwok runs no container), deleted with
  # its claim, so claims bind like on a real cluster and the lab never runs out of volumes.
  if [[ -z $(live_pid "$slug-kube-controller-manager") ]]; then
    start_part "$slug-kube-controller-manager" "$kc" "$logs/kube-controller-manager.log" -- \
      "$bin/kube-controller-manager" --kubeconfig="$kc" --bind-address=127.0.0.1 --secure-port=0 \
      --leader-elect=false --controllers='*,-node-lifecycle-controller' --cluster-name="$slug" \
      --enable-hostpath-provisioner \
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
---
# The default StorageClass: senren-controller's data claims (Redis rdb/aof, Aerospike
# device namespaces) bind at once to a host-path volume (see the controller-manager above).
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: \"true\"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
"
  local crd
  for crd in "$root"/regional/crds/*.yaml; do
    [[ -f $crd ]] && manifest+=$'\n'"$(cat "$crd")"
  done
  printf '%s\n' "$manifest" | "$(kube_bin)/kubectl" --kubeconfig "$kc" apply --server-side \
    --field-manager=senren-lab -f - >"$LAB_DIR/logs/$(cluster_slug "$c")/lab-objects.log" 2>&1 ||
    { tail -20 "$LAB_DIR/logs/$(cluster_slug "$c")/lab-objects.log" >&2; die "creating lab nodes in $(cluster_slug "$c") failed"; }
}
