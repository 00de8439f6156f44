#!/usr/bin/env bash
# Azurite (the Azure Storage emulator, Blob service) for tests and local use.
#
#   scripts/azurite-local.sh install  install Azurite from npm into the cache (idempotent)
#   scripts/azurite-local.sh start    start the blob service (idempotent); LAST line = blob endpoint
#   scripts/azurite-local.sh stop     stop it (data is kept: a later start resumes on the same port)
#   scripts/azurite-local.sh status   "running <endpoint>" (exit 0) or "stopped" (exit 1)
#   scripts/azurite-local.sh reset    stop and delete the instance's data (and certificate)
#
# The endpoint is path-style, account included: http://127.0.0.1:PORT/devstoreaccount1 (the
# well-known development account and key are Azurite's public defaults).
#
# Environment:
#   ODIBI_CACHE        cache root (default: <repo>/.cache); Azurite goes to $ODIBI_CACHE/azurite/pkg
#   AZURITE_VERSION    npm version to install (default below)
#   AZURITE_RUN_DIR    state folder of this instance (default: $ODIBI_CACHE/azurite/run, or
#                      .../run-tls with AZURITE_TLS=1); another folder = an independent instance
#   AZURITE_PORT       blob port (default: the port used last time, else a free one)
#   AZURITE_TLS        1 = serve HTTPS with a self-signed certificate made by this script
#                      (<run dir>/cert.pem, for 127.0.0.1/localhost) and accept bearer tokens
#                      (--oauth basic); Azure SDKs send OAuth tokens over HTTPS only
#   AZURITE_START_TIMEOUT  seconds to wait for the port to answer (default: 60)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${ODIBI_CACHE:-$repo/.cache}/azurite"
version="${AZURITE_VERSION:-3.37.0}"
pkg="$cache/pkg"
tls="${AZURITE_TLS:-0}"
if [ "$tls" = "1" ]; then default_run="$cache/run-tls"; else default_run="$cache/run"; fi
run="${AZURITE_RUN_DIR:-$default_run}"
timeout="${AZURITE_START_TIMEOUT:-60}"
account="devstoreaccount1"

log() { echo "azurite-local: $*" >&2; }
pidfile="$run/azurite.pid"
# shellcheck source=local-service.sh
. "$here/local-service.sh"

install() {
  # The stamp holds the version: changing AZURITE_VERSION reinstalls.
  if [ -f "$pkg/.complete" ] && [ "$(cat "$pkg/.complete")" = "$version" ] \
    && [ -x "$pkg/node_modules/.bin/azurite-blob" ]; then
    return 0
  fi
  command -v npm >/dev/null || { log "npm not found (install Node.js 20+ with npm)"; exit 2; }
  log "installing azurite@$version from npm into $pkg"
  rm -rf "$pkg.tmp"
  mkdir -p "$pkg.tmp"
  # --ignore-scripts: Azurite needs no install scripts; --no-fund/--no-audit: no extra requests.
  npm install --prefix "$pkg.tmp" --no-audit --no-fund --ignore-scripts --loglevel=error \
    --no-save "azurite@$version" >&2
  rm -rf "$pkg"
  mv "$pkg.tmp" "$pkg"
  echo "$version" > "$pkg/.complete"
}

scheme() { if [ -f "$run/tls" ]; then echo https; else echo http; fi; }

endpoint() { echo "$(scheme)://127.0.0.1:$(cat "$run/port")/$account"; }

make_cert() {
  [ -f "$run/cert.pem" ] && [ -f "$run/key.pem" ] && return 0
  command -v openssl >/dev/null || { log "openssl not found (apt-get install openssl)"; exit 2; }
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:TRUE" \
    -keyout "$run/key.pem" -out "$run/cert.pem" >/dev/null 2>&1 \
    || { log "openssl could not create a self-signed certificate"; exit 1; }
}

start() {
  if is_running; then
    endpoint
    return 0
  fi
  if pid_alive; then
    stop  # a process from an earlier start that never answered: replace it
  fi
  install
  command -v node >/dev/null || { log "node not found (install Node.js 20+)"; exit 2; }
  mkdir -p "$run/data"
  local port
  port="$(choose_port "$run/port" "${AZURITE_PORT:-}")"
  echo "$port" > "$run/port"
  local args=(--blobHost 127.0.0.1 --blobPort "$port" --location "$run/data"
    --skipApiVersionCheck --disableTelemetry --silent)
  rm -f "$run/tls"
  if [ "$tls" = "1" ]; then
    make_cert
    args+=(--cert "$run/cert.pem" --key "$run/key.pem" --oauth basic)
    touch "$run/tls"
  fi
  # setsid: the service outlives this script and the terminal/pytest that started it.
  setsid "$pkg/node_modules/.bin/azurite-blob" "${args[@]}" >"$run/stdout.log" 2>&1 < /dev/null &
  echo $! > "$run/azurite.pid"
  local deadline=$((SECONDS + timeout))
  until port_open "$port"; do
    if ! pid_alive; then
      log "azurite exited during start; last log lines:"
      tail -30 "$run/stdout.log" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "azurite did not answer within ${timeout}s (see $run/stdout.log)"
      exit 1
    fi
    sleep 0.1
  done
  log "started (pid $(cat "$run/azurite.pid"), data in $run/data)"
  endpoint
}

stop() { stop_pid 20; }

status() {
  if is_running; then
    echo "running $(endpoint)"
  else
    echo "stopped"
    return 1
  fi
}

reset() {
  stop
  rm -rf "$run"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) reset ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
