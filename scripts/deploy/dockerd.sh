#!/usr/bin/env bash
# dockerd.sh start|stop|status — the Docker engine the deployment tests use.
#
# start: reuses a running engine; otherwise starts Debian's dockerd with its data root under
#   $DEPLOY_CACHE/docker (images survive between runs: warm runs rebuild nothing) and records
#   its pid, so `stop` ends only an engine this script started.
# --iptables=false: the engine adds no iptables rules (nothing to clean up afterwards); builds
#   reach the network with `--network host`, containers talk over their bridge or published
#   ports (docker-proxy), and nothing here needs NAT to the outside at run time.
source "$(dirname "$0")/lib.sh"
pidfile=$DEPLOY_RUN/dockerd.pid
case "${1:-}" in
start)
  if docker_up; then say "docker engine already running"; exit 0; fi
  command -v dockerd >/dev/null || { say "dockerd missing: run install-packages.sh"; exit 1; }
  mkdir -p "$DEPLOY_CACHE/docker"
  # dockerd creates the docker0 bridge and leaves it behind: remove it on stop if it is ours.
  ip link show docker0 >/dev/null 2>&1 || touch "$DEPLOY_RUN/docker0.ours"
  setsid nohup dockerd --data-root "$DEPLOY_CACHE/docker" --pidfile "$pidfile" \
    --iptables=false --ip-masq=false --log-level warn >"$DEPLOY_LOGS/dockerd.log" 2>&1 &
  for _ in $(seq 120); do docker_up && break; sleep 0.5; done
  docker_up || { tail -20 "$DEPLOY_LOGS/dockerd.log" >&2; exit 1; }
  say "docker engine up (data root $DEPLOY_CACHE/docker)"
  ;;
stop)
  [ -f "$pidfile" ] || { say "no dockerd started by us"; exit 0; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    # Containers the tests left (they should not) go first, so the engine stops promptly.
    ids=$($DOCKER ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || $DOCKER rm -f $ids >/dev/null 2>&1 || true
    kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
  if [ -f "$DEPLOY_RUN/docker0.ours" ]; then ip link del docker0 2>/dev/null || true; rm -f "$DEPLOY_RUN/docker0.ours"; fi
  say "docker engine stopped"
  ;;
status) docker_up && echo running || { echo stopped; exit 1; } ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
