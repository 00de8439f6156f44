# Shared settings of scripts/deploy/*.sh (sourced, not run).
#
# Everything lives under $DEPLOY_CACHE (default <repo>/.cache/deploy): the Docker engine's data
# root, Go module and build caches, built binaries, the single-node cluster's state, logs and
# step markers. Nothing outside it is written except the packages apt installs and the network
# links/iptables chains the cluster creates (cluster.sh down removes those).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY_CACHE=${DEPLOY_CACHE:-$REPO/.cache/deploy}
DEPLOY_BIN=$DEPLOY_CACHE/bin
DEPLOY_LOGS=$DEPLOY_CACHE/logs
DEPLOY_STATE=$DEPLOY_CACHE/state      # step markers: <step>.done / <step>.failed / <step>.running
DEPLOY_RUN=$DEPLOY_CACHE/run          # pid files and sockets of processes the scripts start
mkdir -p "$DEPLOY_BIN" "$DEPLOY_LOGS" "$DEPLOY_STATE" "$DEPLOY_RUN"
# Debian's 20.10 client: BuildKit is built in (the static /usr/local/bin client may want buildx).
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1 DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
# Image names and tags the tests and manifests use (a pinned tag: never pulled, see deploy/).
ODIBI_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)
ODIBI_IMAGE_TAG=${ODIBI_IMAGE_TAG:-$ODIBI_VERSION}
ODIBI_IMAGE=odibi-stream:$ODIBI_IMAGE_TAG
ODIBI_SPARK_IMAGE=odibi-stream:$ODIBI_IMAGE_TAG-spark
ODIBI_SYSTEMD_IMAGE=odibi-systemd-test:$ODIBI_IMAGE_TAG
LOCAL_DEBIAN=local/debian:bookworm
LOCAL_PYTHON=local/python:3.11-slim
LOCAL_PAUSE=local/pause:3.10
LOCAL_KAFKA=local/kafka:4.1.1
LOCAL_AZURITE=local/azurite:3.35.0

say() { echo "deploy: $*" >&2; }

# timed STEP CMD...: run CMD, append "STEP <seconds>s rc=<rc>" to $DEPLOY_LOGS/times.log.
timed() {
  local step=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  echo "$(date -u +%FT%TZ) $step $((SECONDS - start))s rc=$rc" >>"$DEPLOY_LOGS/times.log"
  say "$step: $((SECONDS - start))s rc=$rc"
  return $rc
}

docker_up() { $DOCKER info >/dev/null 2>&1; }

image_exists() { $DOCKER image inspect "$1" >/dev/null 2>&1; }

# need_disk WHAT GB: fail with a plain message unless GB gigabytes are free under $DEPLOY_CACHE
# (a build that runs out of disk half-way reports it as a hundred unrelated errors).
need_disk() {
  local what=$1 want=$2 free
  free=$(df -P -BG "$DEPLOY_CACHE" | awk 'NR == 2 { sub("G", "", $4); print $4 }')
  [ "$free" -ge "$want" ] && return 0
  say "$what needs about ${want} GB free under $DEPLOY_CACHE; only ${free} GB is."
  say "hint: free disk there, or point DEPLOY_CACHE at a bigger filesystem"
  return 1
}

# content_hash FILE...: a short hash of files' contents (build stamps).
content_hash() { cat "$@" | sha256sum | cut -c1-16; }
