#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v3, first: the offline chart checks need only helm) and
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl from the
# k8s.io/kubernetes Go module (scripts/deploy/kube/go.mod pins v1.34.4 and maps the staging
# modules) into $DEPLOY_CACHE/bin. KUBE_CMDS= (empty) builds helm only.
#
# Cold: ~10-20 min on 2 cores (prepare.sh runs it in the background early). Unchanged stamps
# skip it all; with ODIBI_KEEP_GO_CACHE=1 the Go build cache under $DEPLOY_CACHE/go also turns a
# rebuild into a relink (by default it is removed after a build: 4.5 GB).
# Runs under `nice -n 19` so a test suite running meanwhile keeps the CPU it asks for.
source "$(dirname "$0")/lib.sh"
HELM_VERSION=${HELM_VERSION:-v3.19.5}
KUBE_CMDS=${KUBE_CMDS-kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl}
export GOMODCACHE=$DEPLOY_CACHE/go/mod GOCACHE=$DEPLOY_CACHE/go/cache GOPATH=$DEPLOY_CACHE/go/path
# The compiler's scratch space too, so need_disk measures the one filesystem the build fills.
export GOTMPDIR=$DEPLOY_CACHE/go/tmp
mkdir -p "$GOTMPDIR"
# An older local Go fetches the toolchain go.mod asks for from the module proxy (GOTOOLCHAIN=auto).
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
command -v go >/dev/null || { say "go is not installed (Go >= 1.21; it fetches 1.24+ itself)"; exit 1; }
mod=$REPO/scripts/deploy/kube
gover=$(go env GOVERSION)

# stamp_ok NAME WANT BIN...: the binaries exist and were built from exactly WANT
stamp_ok() {
  local name=$1 want=$2
  shift 2
  for b in "$@"; do [ -x "$DEPLOY_BIN/$b" ] || return 1; done
  [ "$(cat "$DEPLOY_BIN/.$name-stamp" 2>/dev/null)" = "$want" ]
}

# helm, with the ldflags helm's Makefile sets: without them it assumes Kubernetes 1.20 for
# `helm template`/`lint` (Capabilities.KubeVersion) and reports no version.
want_helm="helm=$HELM_VERSION $gover $(content_hash "$0")"
if ! stamp_ok helm "$want_helm" helm; then
  pkg=helm.sh/helm/v3
  flags="-s -w -X $pkg/internal/version.version=$HELM_VERSION -X $pkg/internal/version.gitTreeState=clean"
  for v in pkg/lint/rules pkg/chartutil; do flags+=" -X $pkg/$v.k8sVersionMajor=1 -X $pkg/$v.k8sVersionMinor=34"; done
  timed go-install-helm nice -n 19 env GOBIN="$DEPLOY_BIN" GOFLAGS= go install -trimpath -ldflags="$flags" "$pkg/cmd/helm@$HELM_VERSION"
  echo "$want_helm" >"$DEPLOY_BIN/.helm-stamp"
fi
[ -n "$KUBE_CMDS" ] || exit 0

want_kube="$(content_hash "$mod/go.mod" "$mod/go.sum" "$0") $gover $KUBE_CMDS"
# shellcheck disable=SC2086
if stamp_ok kube "$want_kube" $KUBE_CMDS; then say "kube binaries up to date in $DEPLOY_BIN"; exit 0; fi
# A cold build peaks at ~5 GB (modules 0.9, build cache 3.6, scratch); see the end for after.
need_disk "building Kubernetes" 6
cd "$mod"
# The version stamps hack/lib/version.sh sets (else v0.0.0-master, which fails charts' kubeVersion).
kube_version=$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' go.mod)
minor=$(echo "$kube_version" | cut -d. -f2)
flags="-s -w"
for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  flags+=" -X $v.gitVersion=$kube_version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
done
for c in $KUBE_CMDS; do
  timed "go-build-$c" nice -n 19 go build -trimpath -ldflags="$flags" -o "$DEPLOY_BIN/$c" "k8s.io/kubernetes/cmd/$c"
done
echo "$want_kube" >"$DEPLOY_BIN/.kube-stamp"
# The stamp now spares every later run the build, so the 4.5 GB of Go caches would only be
# disk; ODIBI_KEEP_GO_CACHE=1 keeps them (editing go.mod then relinks in ~30 s, not ~20 min).
if [ "${ODIBI_KEEP_GO_CACHE:-}" != 1 ]; then
  go clean -cache -modcache
  say "Go build and module caches removed (ODIBI_KEEP_GO_CACHE=1 keeps them)"
fi
