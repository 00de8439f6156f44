#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl from the
# k8s.io/kubernetes Go module (scripts/deploy/kube/go.mod pins v1.34.4 and maps the staging
# modules), and helm from helm.sh/helm/v3, into $DEPLOY_CACHE/bin.
#
# Cold: ~20+ min on 2 cores (run it early, in the background: prepare.sh does). Warm: the Go
# build cache under $DEPLOY_CACHE/go makes a rebuild a relink; an unchanged stamp skips it all.
# Runs under `nice -n 19` so a test suite running meanwhile keeps the CPU it asks for.
source "$(dirname "$0")/lib.sh"
HELM_VERSION=${HELM_VERSION:-v3.19.5}
KUBE_CMDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"
export GOMODCACHE=$DEPLOY_CACHE/go/mod GOCACHE=$DEPLOY_CACHE/go/cache GOPATH=$DEPLOY_CACHE/go/path
export CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
command -v go >/dev/null || { say "go is not installed (needs Go >= 1.24)"; exit 1; }
mod=$REPO/scripts/deploy/kube
stamp=$DEPLOY_BIN/.kube-stamp
want="$(content_hash "$mod/go.mod" "$mod/go.sum" "$0") helm=$HELM_VERSION $(go env GOVERSION)"
have_all() { for c in $KUBE_CMDS helm; do [ -x "$DEPLOY_BIN/$c" ] || return 1; done; }
if have_all && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "kube binaries up to date in $DEPLOY_BIN"; exit 0
fi
rm -f "$stamp"
# helm first: the offline chart checks need only helm, so they can run long before the rest.
# The ldflags helm's Makefile sets: without them helm assumes Kubernetes 1.20 for
# `helm template`/`lint` (Capabilities.KubeVersion) and reports no version.
helm_pkg=helm.sh/helm/v3
helm_ldflags="-s -w -X $helm_pkg/internal/version.version=$HELM_VERSION -X $helm_pkg/internal/version.gitTreeState=clean"
for v in pkg/lint/rules pkg/chartutil; do
  helm_ldflags+=" -X $helm_pkg/$v.k8sVersionMajor=1 -X $helm_pkg/$v.k8sVersionMinor=34"
done
timed "go-install-helm" nice -n 19 env GOBIN="$DEPLOY_BIN" GOFLAGS= \
  go install -trimpath -ldflags="$helm_ldflags" "$helm_pkg/cmd/helm@$HELM_VERSION"
cd "$mod"
# The version stamps hack/lib/version.sh sets (else v0.0.0-master, which fails charts' kubeVersion).
kube_version=$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' go.mod)
minor=$(echo "$kube_version" | cut -d. -f2)
kube_ldflags="-s -w"
for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $v.gitVersion=$kube_version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
done
for c in $KUBE_CMDS; do
  timed "go-build-$c" nice -n 19 go build -trimpath -ldflags="$kube_ldflags" -o "$DEPLOY_BIN/$c" "k8s.io/kubernetes/cmd/$c"
done
echo "$want" >"$stamp"
