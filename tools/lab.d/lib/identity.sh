# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# The Kubernetes identities of the lab's daemons: each cluster gets the ServiceAccounts and
# Roles of deploy/helm/senren-regional, rendered by helm template from the chart itself
# (one source of truth with a real deployment), and each senren-regional and
# senren-controller talks to its cluster with a token of its ServiceAccount instead of the
# lab's system:masters token. Tests that need an administrator keep the admin kubeconfig.

helm_bin() { "$root/tools/lab.d/build-helm" --print-bin; }

# The kubeconfig a daemon (senren-regional or senren-controller) of cluster $1 uses.
daemon_kubeconfig() { echo "$(kube_dir "$1")/$2.kubeconfig"; }

# How long a lab daemon's token stays valid. TokenRequest tokens are not bound to a pod
# here (the daemons are processes), and `up` issues new ones each time it runs.
LAB_TOKEN_DURATION=8760h

# identities_up CLUSTER: applies the chart's ServiceAccounts and RBAC to the cluster's
# senren namespace, then writes for each daemon a fresh token and a kubeconfig naming it
# (tokenFile: a token rewritten later is read again by the daemons' client).
identities_up() {
  local c=$1 i dir kc kubectl slug d tmp
  i=$(cluster_index "$c"); dir=$(kube_dir "$c"); kc="$dir/kubeconfig"; slug=$(cluster_slug "$c")
  kubectl="$(kube_bin)/kubectl"
  # (kafka.brokers and snapshotKeys are required by the Deployments, which are not rendered.)
  "$(helm_bin)" template senren "$root/deploy/helm/senren-regional" --namespace senren \
    --set-string region="$(cluster_region "$c")" --set-string cluster="$(cluster_name "$c")" \
    --set-string kafka.brokers="127.0.0.1:$KAFKA_PORT" --set-string snapshotKeys.secretName=lab \
    --show-only templates/serviceaccounts.yaml --show-only templates/rbac.yaml \
    >"$dir/senren-rbac.yaml" ||
    die "helm template of deploy/helm/senren-regional's RBAC for $slug failed"
  "$kubectl" --kubeconfig "$kc" apply --server-side --force-conflicts --field-manager=senren-lab \
    -f "$dir/senren-rbac.yaml" >"$LAB_DIR/logs/$slug/senren-rbac.log" 2>&1 ||
    { tail -20 "$LAB_DIR/logs/$slug/senren-rbac.log" >&2; die "applying the daemons' RBAC to $slug failed"; }
  for d in senren-regional senren-controller; do
    tmp="$dir/$d.token.tmp"
    (umask 077; "$kubectl" --kubeconfig "$kc" -n senren create token "$d" \
      --duration="$LAB_TOKEN_DURATION" >"$tmp") || die "a token for $d in $slug: TokenRequest failed"
    mv -f "$tmp" "$dir/$d.token"
    cat >"$(daemon_kubeconfig "$c" "$d").tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: $slug
  cluster:
    server: https://127.0.0.1:$((KUBE_BASE_PORT + i))
    certificate-authority: $LAB_DIR/pki/ca.crt
users:
- name: $d
  user:
    tokenFile: $dir/$d.token
contexts:
- name: $slug
  context:
    cluster: $slug
    user: $d
    namespace: senren
current-context: $slug
KC
    mv -f "$(daemon_kubeconfig "$c" "$d").tmp" "$(daemon_kubeconfig "$c" "$d")"
  done
}

all_identities_up() {
  local c
  for c in "${CLUSTERS[@]}"; do identities_up "$c"; done
}
