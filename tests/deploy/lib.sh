# shellcheck shell=bash
# Shared by the tests of deploy/helm against the lab: the lab's environment, helm and
# kubectl from the lab's cache, a namespace of the test's own on the lab's first cluster
# (deleted on exit), and a failure that says what was expected.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
eval "$("$root/tools/lab" env)"
"$root/tools/lab.d/build-helm" >&2  # a no-op once helm is in the cache
helm=$("$root/tools/lab.d/build-helm" --print-bin)
admin_kc=${SENREN_KUBECONFIGS%% *}
kubectl() { "$SENREN_KUBE_BIN/kubectl" --kubeconfig "$admin_kc" --request-timeout=30s "$@"; }

failures=0
# fail MESSAGE: records a failed check; the test exits 1 at the end.
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
finish() {
  if ((failures)); then echo "$failures check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
}

work=$(mktemp -d)
ns=""
# Names of functions run on exit, before the test's namespace goes (a test adds its own:
# processes to stop, more namespaces).
on_exit=()
cleanup() {
  local rc=$? f
  for f in "${on_exit[@]}"; do "$f" || true; done
  if [[ -n $ns ]]; then kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# new_namespace PREFIX [LABEL=VALUE...]: a namespace of this test's own, in $ns.
new_namespace() {
  local prefix=$1; shift
  ns="$prefix-$(date +%s)-$RANDOM"
  kubectl create namespace "$ns" >/dev/null
  (($#)) && kubectl label namespace "$ns" "$@" >/dev/null
  return 0
}
