# Shared helpers of the local test services (sourced by kafka-local.sh and azurite-local.sh).
#
# The sourcing script sets `run` (its state folder), `pidfile` (under it) and defines `log`.
# A service keeps its port in "$run/port" so that a restart (an outage test) reuses the address.

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  # Let the kernel choose: bind port 0 and report what it picked.
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pid_alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

is_running() { pid_alive && [ -f "$run/port" ] && port_open "$(cat "$run/port")"; }

choose_port() {
  # $1 = state file, $2 = explicit port (may be empty). Reuse the last port so clients and
  # tests that stop/start the service reconnect to the same address.
  local file="$1" explicit="$2"
  if [ -n "$explicit" ]; then echo "$explicit"; return; fi
  if [ -f "$file" ] && ! port_open "$(cat "$file")"; then cat "$file"; return; fi
  free_port
}

stop_pid() {
  # SIGTERM (services flush their state on it), then SIGKILL after $1 seconds.
  local grace="$1" pid deadline
  if ! pid_alive; then
    rm -f "$pidfile"
    log "not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "did not stop within ${grace}s; killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  rm -f "$pidfile"
  log "stopped"
}
