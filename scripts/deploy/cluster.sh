#!/usr/bin/env bash
# cluster.sh up|down|status|env — a single-node Kubernetes for tests/deploy/test_kubernetes.py.
#
# Built from parts that need no registry and no privileged container: etcd, containerd (with
# CRI) and the CNI plugins from Debian (install-packages.sh); kube-apiserver, -controller-manager,
# -scheduler, kubelet and kubectl built from the k8s.io/kubernetes module (build-kube.sh); the
# pod sandbox image local/pause built by base-images.sh. No kube-proxy and no cluster DNS: the
# tests reach pods by their IP on the cni0 bridge.
#
# up:    fresh cluster state (etcd, kubelet) under $DEPLOY_CACHE/k8s/cluster; containerd's image
#        store persists ($DEPLOY_CACHE/k8s/containerd) and images are imported from the Docker
#        engine only when their id changed (IMAGES="a:tag b:tag"). Records iptables rules and
#        network namespaces first. Prints `export KUBECONFIG=...` last.
# down:  stops everything `up` started (by pid), unmounts, removes the cni0/k8snode0 links, the
#        pods' network namespaces and every iptables rule/chain that appeared since `up`.
# Ports: etcd 127.0.0.1:23790/23800, apiserver 127.0.0.1:16443, kubelet 10.199.0.1:10250.
source "$(dirname "$0")/lib.sh"
K=$DEPLOY_CACHE/k8s
C=$K/cluster              # per-run state
CTR=$K/containerd         # persistent image store
P=$K/pki
B=$DEPLOY_BIN
RUNDIR=$C/run
NODE_IP=10.199.0.1
KUBECONFIG_FILE=$K/admin.kubeconfig
ctr_() { ctr -a "$CTR/state/containerd.sock" -n k8s.io "$@"; }
kc() { "$B/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

start() { # start NAME CMD... (own session: `down` signals exactly these pids)
  local name=$1
  shift
  setsid nohup "$@" >"$C/logs/$name.log" 2>&1 &
  echo $! >"$RUNDIR/$name.pid"
}

wait_for() { # wait_for SECONDS WHAT CMD...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { say "timed out waiting for $what"; return 1; }
    sleep 0.5
  done
}

pki() {
  [ -f "$P/admin.crt" ] && openssl x509 -checkend 86400 -noout -in "$P/ca.crt" >/dev/null 2>&1 && return 0
  rm -rf "$P"
  mkdir -p "$P"
  (
    cd "$P"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.crt -subj "/CN=odibi-test-ca" 2>/dev/null
    sign() { # sign NAME SUBJECT EXT
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -out "$1.crt" -extfile "$1.ext" 2>/dev/null
    }
    sign apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,IP:$NODE_IP,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
    sign admin "/O=system:masters/CN=admin" "extendedKeyUsage=clientAuth"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

iptables_snapshot() { # the rules of every table, both families, one "-S" listing per table
  local ipt t
  for ipt in iptables ip6tables; do
    command -v $ipt >/dev/null || continue
    for t in filter nat mangle raw; do $ipt -t $t -S 2>/dev/null | sed "s/^/$ipt $t /"; done
  done
}

iptables_restore() { # remove rules and chains that are not in the snapshot $1
  local before=$1 now ipt t rest chain
  now=$(mktemp)
  iptables_snapshot >"$now"
  # rules first (in reverse: later rules may jump to chains deleted below), then chains
  { grep -vxF -f "$before" "$now" | grep ' -A ' || true; } | tac | while read -r ipt t rest; do
    eval "$ipt -t $t ${rest/#-A/-D}" 2>/dev/null || true
  done
  { grep -vxF -f "$before" "$now" | grep ' -N ' || true; } | while read -r ipt t rest; do
    chain=${rest#-N }
    $ipt -t "$t" -F "$chain" 2>/dev/null || true
  done
  { grep -vxF -f "$before" "$now" | grep ' -N ' || true; } | while read -r ipt t rest; do
    chain=${rest#-N }
    $ipt -t "$t" -X "$chain" 2>/dev/null || true
  done
  rm -f "$now"
}

import_images() {
  local img id stamp
  for img in $LOCAL_PAUSE ${IMAGES:-}; do
    id=$($DOCKER image inspect -f '{{.Id}}' "$img") || { say "image $img missing (build-images.sh)"; return 1; }
    stamp="$CTR/imported/$(echo "$img" | tr '/:' '__')"
    [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && continue
    $DOCKER save "$img" | ctr_ images import - >/dev/null
    mkdir -p "$CTR/imported"
    echo "$id" >"$stamp"
  done
}

# kubelet's tmpfs volumes, containerd's rootfs and sandbox mounts (deepest first); also the
# leftovers of a run that died before `down` (rm -rf of a mount point fails with EBUSY).
unmount_ours() {
  { grep -E " ($C|$CTR)(/| )" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

up() {
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    [ -x "$B/$b" ] || { say "$B/$b missing (build-kube.sh)"; return 1; }
  done
  for b in etcd containerd ctr iptables; do
    command -v $b >/dev/null || { say "$b missing (install-packages.sh)"; return 1; }
  done
  [ ! -f "$RUNDIR/apiserver.pid" ] || { say "a cluster is up (cluster.sh down first)"; return 1; }
  unmount_ours
  rm -rf "$C"
  mkdir -p "$C/logs" "$RUNDIR" "$C/etcd" "$C/kubelet" "$C/cni" "$C/cni-ipam" "$CTR/root" "$CTR/state"
  pki
  iptables_snapshot >"$C/iptables.before"
  ip netns list 2>/dev/null | awk '{print $1}' >"$C/netns.before"
  ip link show k8snode0 >/dev/null 2>&1 || {
    ip link add k8snode0 type bridge && ip addr add $NODE_IP/32 dev k8snode0 && ip link set k8snode0 up
  }
  cat >"$KUBECONFIG_FILE" <<KCFG
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:16443", certificate-authority: $P/ca.crt}}]
users: [{name: admin, user: {client-certificate: $P/admin.crt, client-key: $P/admin.key}}]
contexts: [{name: local, context: {cluster: local, user: admin, namespace: default}}]
current-context: local
KCFG
  start etcd etcd --name local --data-dir "$C/etcd" --listen-client-urls http://127.0.0.1:23790 \
    --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
    --initial-advertise-peer-urls http://127.0.0.1:23800 --initial-cluster local=http://127.0.0.1:23800
  start apiserver "$B/kube-apiserver" --etcd-servers=http://127.0.0.1:23790 --secure-port=16443 \
    --bind-address=127.0.0.1 --advertise-address=$NODE_IP \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$P/sa.pub" \
    --service-account-signing-key-file="$P/sa.key" --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=Node,RBAC --kubelet-client-certificate="$P/admin.crt" \
    --kubelet-client-key="$P/admin.key" --kubelet-preferred-address-types=InternalIP
  wait_for 120 "the apiserver" kc get --raw /readyz || return 1
  start controller-manager "$B/kube-controller-manager" --kubeconfig="$KUBECONFIG_FILE" --leader-elect=false \
    --bind-address=127.0.0.1 --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
    --use-service-account-credentials=false --controllers='*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle'
  start scheduler "$B/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" --leader-elect=false --bind-address=127.0.0.1
  # A containerd of our own with CRI (Docker's managed containerd has CRI disabled).
  cat >"$C/containerd.toml" <<TOML
version = 2
root = "$CTR/root"
state = "$CTR/state"
[grpc]
  address = "$CTR/state/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/$LOCAL_PAUSE"
  # no CAP_SYS_RESOURCE on this kind of VM: runc cannot lower oom_score_adj (pause wants -998)
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$C/cni"
TOML
  cat >"$C/cni/10-bridge.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "odibi-pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$C/cni-ipam",
            "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON
  start containerd containerd --config "$C/containerd.toml"
  wait_for 30 "containerd" test -S "$CTR/state/containerd.sock" || return 1
  wait_for 30 "containerd's API" ctr_ version || return 1
  # Containers of an earlier run that ended without `down` (the image store is kept).
  for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
  for c in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true
    ctr_ containers delete "$c" >/dev/null 2>&1 || true
  done
  import_images || return 1
  cat >"$C/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $P/ca.crt}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CTR/state/containerd.sock
failSwapOn: false
failCgroupV1: false
readOnlyPort: 0
port: 10250
address: $NODE_IP
healthzBindAddress: 127.0.0.1
healthzPort: 10248
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
YAML
  start kubelet "$B/kubelet" --config="$C/kubelet.yaml" --kubeconfig="$KUBECONFIG_FILE" \
    --root-dir="$C/kubelet" --node-ip=$NODE_IP --hostname-override=odibi-node
  wait_for 180 "node odibi-node Ready" sh -c \
    "'$B/kubectl' --kubeconfig '$KUBECONFIG_FILE' get node odibi-node -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True" \
    || return 1
  # Pods' ServiceAccount admission needs the namespace's default account.
  wait_for 60 "the default service account" kc get serviceaccount default || return 1
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
}

stop_pid() { # stop_pid NAME SECONDS: TERM, wait, KILL
  local f=$RUNDIR/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq $((2 * $2))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

down() {
  [ -d "$C" ] || { say "no cluster"; return 0; }
  stop_pid kubelet 20
  stop_pid scheduler 10
  stop_pid controller-manager 10
  # The pods' processes: containerd-shims outlive containerd, so kill the tasks through it.
  if [ -S "$CTR/state/containerd.sock" ] && [ -f "$RUNDIR/containerd.pid" ]; then
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    for _ in $(seq 20); do [ -z "$(ctr_ tasks ls -q 2>/dev/null | head -1)" ] && break; sleep 0.5; done
    for c in $(ctr_ containers ls -q 2>/dev/null); do
      ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true
      ctr_ containers delete "$c" >/dev/null 2>&1 || true
    done
  fi
  stop_pid containerd 10
  # shims of this containerd that are still around (matched by our socket path, killed by pid)
  for pid in $(pgrep -f "containerd-shim.*$CTR/state" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
  stop_pid apiserver 10
  stop_pid etcd 10
  unmount_ours
  if [ -f "$C/netns.before" ]; then
    { ip netns list 2>/dev/null | awk '{print $1}' | grep -vxF -f "$C/netns.before" || true; } | while read -r ns; do
      ip netns delete "$ns" 2>/dev/null || true
    done
  fi
  ip link del cni0 2>/dev/null || true
  ip link del k8snode0 2>/dev/null || true
  [ ! -f "$C/iptables.before" ] || iptables_restore "$C/iptables.before"
  # kubelet's cgroups (cgroup v1: one tree per controller; v2: one tree)
  find /sys/fs/cgroup -depth -type d -name 'kubepods*' -path '*kubepods*' -exec rmdir {} \; 2>/dev/null || true
  rm -rf "$RUNDIR"
  say "cluster down"
}

status() {
  [ -f "$RUNDIR/apiserver.pid" ] && kc get nodes -o wide && kc get pods -A -o wide
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$KUBECONFIG_FILE" ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
