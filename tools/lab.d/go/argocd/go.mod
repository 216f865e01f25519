// Pins the Argo CD release the lab runs as a peer (`tools/lab up --with argocd`).
// Argo CD's own go.mod has replace directives, which a wrapper module does not inherit, so
// tools/lab.d/build-argocd downloads this module and builds ./cmd inside its own tree.
// v3.2 is the newest line whose module builds from the proxy alone: from v3.3 on, the
// gitops-engine it needs lives in a nested module that the proxy does not serve.
module senren.io/lab/argocd

go 1.25.5

require github.com/argoproj/argo-cd/v3 v3.2.12
