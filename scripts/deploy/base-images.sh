#!/usr/bin/env bash
# Builds the images every other image starts from, without a registry (idempotent):
#   local/debian:bookworm     debootstrap --variant=minbase, imported (~100 s cold)
#   local/python:3.11-slim    stand-in for the official python slim image (deploy/base/)
#   local/pause:3.10          the Kubernetes pod sandbox: a static Go binary on scratch
# This machine reaches HTTPS through a proxy with its own CA: the CA certificates found in
# /usr/local/share/ca-certificates are copied into the python base so pip/apt/npm work inside.
source "$(dirname "$0")/lib.sh"
docker_up || { say "docker engine not running (dockerd.sh start)"; exit 1; }
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# slim ROOTFS: what Debian's own slim images do — no docs, man pages, locales or apt caches, now
# or in any later apt-get install (dpkg path excludes, apt clean hook).
slim() {
  local r=$1
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
CFG
  find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/lintian/*
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* \
    "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/var/cache/debconf/*-old
}

debian() {
  image_exists "$LOCAL_DEBIAN" && return 0
  local rootfs=$DEPLOY_CACHE/rootfs
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$DEPLOY_LOGS/debootstrap.log" 2>&1 \
    || { tail -20 "$DEPLOY_LOGS/debootstrap.log" >&2; return 1; }
  slim "$rootfs"
  tar -C "$rootfs" -c . | $DOCKER import --change 'CMD ["/bin/bash"]' - "$LOCAL_DEBIAN" >/dev/null
  rm -rf "$rootfs"
}

python_base() {
  local ctx
  ctx=$(mktemp -d)
  mkdir "$ctx/ca"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  cp "$REPO/deploy/base/python.Dockerfile" "$ctx/Dockerfile"
  $DOCKER build -q --network host --build-arg DEBIAN_IMAGE="$LOCAL_DEBIAN" -t "$LOCAL_PYTHON" "$ctx" >/dev/null
  rm -rf "$ctx"
}

pause() {
  image_exists "$LOCAL_PAUSE" && return 0
  local ctx
  ctx=$(mktemp -d)
  (cd "$REPO/scripts/deploy/pause" && CGO_ENABLED=0 GOFLAGS= \
    GOCACHE=$DEPLOY_CACHE/go/cache go build -trimpath -ldflags="-s -w" -o "$ctx/pause" .)
  tar -C "$ctx" -c pause | $DOCKER import --change 'ENTRYPOINT ["/pause"]' - "$LOCAL_PAUSE" >/dev/null
  rm -rf "$ctx"
}

timed base-debian debian
timed base-python python_base
timed base-pause pause
