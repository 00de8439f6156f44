#!/usr/bin/env bash
# Installs odibi-stream as a systemd service (run as root; idempotent):
#   - a system user and group `odibi-stream` (no login, no home of its own)
#   - a venv at /opt/odibi-stream with odibi-stream installed from --source
#   - the project copied to /etc/odibi-stream/project (root-owned: read-only to the service)
#   - /etc/odibi-stream/env for secrets (created once, mode 0640, group odibi-stream)
#   - deploy/systemd/odibi-stream.service in /etc/systemd/system, enabled (and started with --start)
# State (checkpoints + local data) goes to /var/lib/odibi-stream, which systemd creates
# (StateDirectory=) owned by the service user.
#
# usage: scripts/install-systemd.sh --project DIR [--source PIP_SPEC] [--start]
#   --source  what pip installs (default: this checkout with the kafka and azure extras)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
source_spec="$repo[kafka,azure]"
project="" start=""
while [ $# -gt 0 ]; do
  case "$1" in
    --project) project=$2; shift 2 ;;
    --source) source_spec=$2; shift 2 ;;
    --start) start=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "install-systemd: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { echo "install-systemd: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "run as root"; exit 1; }
[ -n "$project" ] && [ -f "$project/odibi.yaml" ] || { say "--project DIR must hold an odibi.yaml"; exit 2; }
python=${PYTHON:-python3}
"$python" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' \
  || { say "needs Python >= 3.10 with the venv module (Debian: apt-get install python3-venv)"; exit 1; }

user=odibi-stream prefix=/opt/odibi-stream etc=/etc/odibi-stream
getent group "$user" >/dev/null || groupadd --system "$user"
getent passwd "$user" >/dev/null || useradd --system --gid "$user" --home-dir /var/lib/odibi-stream \
  --no-create-home --shell /usr/sbin/nologin "$user"

[ -x "$prefix/bin/python" ] || "$python" -m venv "$prefix"
"$prefix/bin/pip" install -q --disable-pip-version-check "$source_spec"
"$prefix/bin/odibi-stream" --version >/dev/null

install -d -m 0755 "$etc"
rm -rf "$etc/project.new"
cp -r "$project" "$etc/project.new"
# A copy the service cannot write: state never lands in the project folder.
chown -R root:root "$etc/project.new"
chmod -R u=rwX,go=rX "$etc/project.new"
rm -rf "$etc/project.old"
[ ! -e "$etc/project" ] || mv "$etc/project" "$etc/project.old"
mv "$etc/project.new" "$etc/project"
rm -rf "$etc/project.old"
if [ ! -e "$etc/env" ]; then
  install -m 0640 -g "$user" /dev/null "$etc/env"
  echo "# ODIBI_API_TOKEN=...  (required to bind a non-loopback address)" >"$etc/env"
fi

install -m 0644 "$repo/deploy/systemd/odibi-stream.service" /etc/systemd/system/odibi-stream.service
"$prefix/bin/odibi-stream" validate "$etc/project" --env container >/dev/null
systemctl enable odibi-stream.service
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  [ -z "$start" ] || systemctl restart odibi-stream.service
fi
say "installed; start with: systemctl start odibi-stream (logs: journalctl -u odibi-stream)"
