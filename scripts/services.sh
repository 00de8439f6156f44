#!/usr/bin/env bash
# Installs and starts what the test suite needs beyond Python packages; stops it again.
#
#   scripts/services.sh [start] [--ledger FILE]  install + start (idempotent); the names of the
#                                                services this call had to start go to FILE
#   scripts/services.sh stop [--ledger FILE]     stop the services named in FILE (all without)
#
# `make test` starts with a ledger and stops exactly what it started, even when tests fail;
# `make services` / `make services-stop` manage them by hand. ODIBI_SERVICES="azurite" (a
# space-separated subset of "kafka azurite") limits which ones.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

cmd="start"
ledger=""
while [ $# -gt 0 ]; do
  case "$1" in
    start|stop) cmd="$1" ;;
    --ledger) ledger="$2"; shift ;;
    *) echo "usage: $0 [start|stop] [--ledger FILE]" >&2; exit 2 ;;
  esac
  shift
done

# Long-running services: name -> control script (start/stop/status).
read -r -a services <<< "${ODIBI_SERVICES:-kafka azurite}"
control() { echo "$here/$1-local.sh"; }

start() {
  if [ -x "$here/install-chromium.sh" ]; then bash "$here/install-chromium.sh"; fi
  if [ -x "$here/fetch-spark-jars.sh" ]; then bash "$here/fetch-spark-jars.sh"; fi
  local name
  for name in "${services[@]}"; do
    # A shared instance already running belongs to whoever started it: leave it off the ledger.
    if ! bash "$(control "$name")" status >/dev/null 2>&1; then
      bash "$(control "$name")" start >/dev/null
      if [ -n "$ledger" ]; then echo "$name" >> "$ledger"; fi
    fi
    echo "services: $name $(bash "$(control "$name")" status)" >&2
  done
}

stop() {
  local name
  if [ -n "$ledger" ]; then
    [ -f "$ledger" ] || return 0
    while read -r name; do
      [ -n "$name" ] && bash "$(control "$name")" stop || true
    done < "$ledger"
  else
    for name in "${services[@]}"; do bash "$(control "$name")" stop || true; done
  fi
}

"$cmd"
