#!/usr/bin/env bash
# Installs the Debian packages the deployment tests run on (idempotent; ~1-2 min cold):
# the Docker engine 20.10 + compose v1, debootstrap (base images without a registry), and for
# the single-node Kubernetes: etcd, containerd (docker.io's dependency), CNI plugins, iptables.
source "$(dirname "$0")/lib.sh"
PKGS="docker.io docker-compose debootstrap etcd-server containerd containernetworking-plugins
iptables iproute2 openssl curl"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"; done)
[ -z "$missing" ] && { say "packages present"; exit 0; }
command -v apt-get >/dev/null || { say "no apt-get: install $missing by hand"; exit 1; }
say "installing: $(echo $missing)"
export DEBIAN_FRONTEND=noninteractive
# Docker's postinst tries to start the service: there is no init system to do it, and we start
# dockerd ourselves (dockerd.sh), so tell invoke-rc.d not to (policy-rc.d exit 101 = forbidden).
policy=/usr/sbin/policy-rc.d own_policy=""
if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy; chmod +x $policy; own_policy=1; fi
trap '[ -z "$own_policy" ] || rm -f $policy' EXIT
apt_opts=(-o DPkg::Lock::Timeout=600 -q)
apt-get "${apt_opts[@]}" update >"$DEPLOY_LOGS/apt-update.log" 2>&1 \
  || { say "apt-get update failed (see $DEPLOY_LOGS/apt-update.log)"; exit 1; }
# shellcheck disable=SC2086
apt-get "${apt_opts[@]}" install -y --no-install-recommends $missing >"$DEPLOY_LOGS/apt-install.log" 2>&1 \
  || { tail -20 "$DEPLOY_LOGS/apt-install.log" >&2; exit 1; }
