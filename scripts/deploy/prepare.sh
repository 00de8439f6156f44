#!/usr/bin/env bash
# prepare.sh [--background | --reap] [STEP...] — everything tests/deploy needs, in order:
#   packages  Debian packages (install-packages.sh)
#   docker    the Docker engine (dockerd.sh start)
#   base      base images: debootstrapped Debian, Python, pause (base-images.sh)
#   images    odibi-stream, systemd test, Kafka and Azurite stand-ins (build-images.sh)
#   spark     the spark image (not in the default steps: it needs the project's venv with
#             pyspark and scripts/fetch-spark-jars.sh, which `make setup`/services provide)
#   helm      helm from the Go module proxy        } build-kube.sh (one Go build cache;
#   kube      Kubernetes binaries from k8s.io/...   } helm first: the offline checks need it)
# Each step runs under its own lock ($DEPLOY_STATE/<step>.lock) and is idempotent, so a
# foreground run (the test fixtures) simply waits for a background run holding a step and then
# finds it done. Default steps: all of them.
#
# --background: run `packages` now (apt must be done before anything else on the machine
#   uses apt), then two detached, nice'd chains — docker, base, images and helm, kube — and
#   return (logs: $DEPLOY_LOGS/prepare-*.log). `make test` does this first so the ~10-20 min
#   cold Kubernetes build overlaps the rest of the suite. --reap: stop a background run that
#   is still going (end of `make test`).
# A step's failure is recorded in $DEPLOY_STATE/<step>.failed (with the log's tail) and makes
# the steps after it fail fast.
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
ALL="packages docker base images helm kube"
bgpid=$DEPLOY_RUN/prepare-background.pid

run_step() {
  local step=$1 lock=$DEPLOY_STATE/$1.lock
  exec {fd}>"$lock"
  flock "$fd"
  rm -f "$DEPLOY_STATE/$step.failed"
  local rc=0
  case $step in
    packages) timed step-packages bash "$here/install-packages.sh" || rc=$? ;;
    docker) timed step-docker bash "$here/dockerd.sh" start || rc=$? ;;
    base) timed step-base bash "$here/base-images.sh" || rc=$? ;;
    images) timed step-images bash "$here/build-images.sh" || rc=$? ;;
    spark) timed step-spark bash "$here/build-images.sh" spark || rc=$? ;;
    helm) timed step-helm env KUBE_CMDS= bash "$here/build-kube.sh" || rc=$? ;;
    kube) timed step-kube bash "$here/build-kube.sh" || rc=$? ;;
    *) say "unknown step $step"; rc=2 ;;
  esac
  if [ $rc = 0 ]; then touch "$DEPLOY_STATE/$step.done"; else
    echo "step $step failed (rc=$rc)" >"$DEPLOY_STATE/$step.failed"
  fi
  flock -u "$fd"
  exec {fd}>&-
  return $rc
}

case "${1:-}" in
--background)
  if [ -f "$bgpid" ] && xargs -r kill -0 <"$bgpid" 2>/dev/null; then say "already running in the background"; exit 0; fi
  run_step packages || exit 1
  : >"$bgpid"
  # nice: the test suite running meanwhile keeps the CPU it asks for. Own sessions: --reap
  # signals each chain's whole process group.
  for chain in "docker base images" "helm kube"; do
    log="$DEPLOY_LOGS/prepare-${chain%% *}.log"
    setsid nohup nice -n 10 bash "$0" $chain >"$log" 2>&1 &
    echo $! >>"$bgpid"
    say "preparing '$chain' in the background (pid $!, log $log)"
  done
  exit 0
  ;;
--reap)
  if [ -f "$bgpid" ]; then
    while read -r pid; do
      kill -0 "$pid" 2>/dev/null || continue
      say "stopping background preparation $pid"
      kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    done <"$bgpid"
    rm -f "$bgpid"
  fi
  exit 0
  ;;
esac
steps=${*:-$ALL}
for step in $steps; do
  run_step "$step" || { say "step $step failed; see $DEPLOY_LOGS"; exit 1; }
done
