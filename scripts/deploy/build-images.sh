#!/usr/bin/env bash
# Builds the images the deployment tests run (BuildKit layer cache in the engine's data root:
# an unchanged tree rebuilds nothing, a code change rebuilds one small layer):
#   odibi-stream:<version>          deploy/Dockerfile (runtime target), on local/python:3.11-slim
#   odibi-stream:<version>-spark    deploy/Dockerfile --target spark (needs fetch-spark-jars.sh)
#   odibi-systemd-test:<version>    tests/deploy/systemd.Dockerfile (systemd + install-systemd.sh)
#   local/kafka:4.1.1, local/azurite:3.35.0   compose stand-ins (deploy/compose/*)
# usage: build-images.sh [runtime|spark|systemd|kafka|azurite]...   (default: all but spark)
source "$(dirname "$0")/lib.sh"
docker_up || { say "docker engine not running (dockerd.sh start)"; exit 1; }
build() { # build TAG DOCKERFILE CONTEXT [ARGS...]
  local tag=$1 file=$2 ctx=$3
  shift 3
  $DOCKER build -q --network host -f "$file" -t "$tag" "$@" "$ctx" >"$DEPLOY_LOGS/build-$(echo "$tag" | tr '/:' '__').log" 2>&1 \
    || { tail -30 "$DEPLOY_LOGS/build-$(echo "$tag" | tr '/:' '__').log" >&2; return 1; }
}
labels=(--build-arg "VERSION=$ODIBI_VERSION"
        --build-arg "REVISION=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
        --build-arg "CREATED=$(git -C "$REPO" log -1 --format=%cI 2>/dev/null || echo unknown)")
base=(--build-arg "BASE_IMAGE=$LOCAL_PYTHON")

runtime() { build "$ODIBI_IMAGE" "$REPO/deploy/Dockerfile" "$REPO" "${base[@]}" "${labels[@]}" --target runtime; }
spark() {
  PYTHON=${PYTHON:-$REPO/.venv/bin/python} bash "$REPO/scripts/fetch-spark-jars.sh" >"$DEPLOY_LOGS/spark-jars.log" 2>&1 \
    || { tail -20 "$DEPLOY_LOGS/spark-jars.log" >&2; return 1; }
  build "$ODIBI_SPARK_IMAGE" "$REPO/deploy/Dockerfile" "$REPO" "${base[@]}" "${labels[@]}" --target spark
}
systemd() { build "$ODIBI_SYSTEMD_IMAGE" "$REPO/tests/deploy/systemd.Dockerfile" "$REPO" "${base[@]}"; }
kafka() {
  # Apache Kafka's jars from Maven Central (scripts/kafka/pom.xml, the broker the tests use),
  # fetched into our own folder: kafka-local.sh may be fetching into its own at the same time.
  local libs=$DEPLOY_CACHE/kafka-libs pom=$REPO/scripts/kafka/pom.xml ctx sum
  sum=$(content_hash "$pom")
  if [ "$(cat "$libs/.complete" 2>/dev/null)" != "$sum" ]; then
    command -v mvn >/dev/null || { say "mvn missing (Maven builds the Kafka stand-in)"; return 1; }
    rm -rf "$libs" "$libs.tmp"
    mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs.tmp" \
      >"$DEPLOY_LOGS/kafka-fetch.log" 2>&1 || { tail -20 "$DEPLOY_LOGS/kafka-fetch.log" >&2; return 1; }
    mv "$libs.tmp" "$libs"
    echo "$sum" >"$libs/.complete"
  fi
  ctx=$(mktemp -d)
  cp -r "$REPO/deploy/compose/kafka/." "$ctx/"
  mkdir "$ctx/libs"
  cp "$libs"/*.jar "$ctx/libs/"
  build "$LOCAL_KAFKA" "$ctx/Dockerfile" "$ctx" --build-arg "DEBIAN_IMAGE=$LOCAL_DEBIAN"
  rm -rf "$ctx"
}
azurite() {
  local ctx
  ctx=$(mktemp -d)
  cp -r "$REPO/deploy/compose/azurite/." "$ctx/"
  mkdir -p "$ctx/ca"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  build "$LOCAL_AZURITE" "$ctx/Dockerfile" "$ctx" --build-arg "DEBIAN_IMAGE=$LOCAL_DEBIAN"
  rm -rf "$ctx"
}
targets=${*:-runtime systemd kafka azurite}
tag_of() {
  case $1 in
    runtime) echo "$ODIBI_IMAGE" ;; spark) echo "$ODIBI_SPARK_IMAGE" ;; systemd) echo "$ODIBI_SYSTEMD_IMAGE" ;;
    kafka) echo "$LOCAL_KAFKA" ;; azurite) echo "$LOCAL_AZURITE" ;; *) echo "?" ;;
  esac
}
# A first build of the images and their stages takes ~3 GB, the spark image ~3 GB more; once
# they exist, a code change rebuilds one small layer.
for t in $targets; do
  image_exists "$(tag_of "$t")" && continue
  need_disk "building images ($targets)" $([[ " $targets " == *" spark "* ]] && echo 4 || echo 3)
  break
done
for t in $targets; do
  case $t in
    runtime|spark|systemd|kafka|azurite) timed "image-$t" "$t" ;;
    *) say "unknown image $t"; exit 2 ;;
  esac
done
# Every code change leaves the previous image dangling; BuildKit's cache (pip's, with the
# PySpark wheel built from its sdist, included) is capped at 3 GB so the data root stays small.
$DOCKER image prune -f >/dev/null 2>&1 || true
$DOCKER builder prune -f --keep-storage 3GB >/dev/null 2>&1 || true
