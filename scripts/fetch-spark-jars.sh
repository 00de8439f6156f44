#!/usr/bin/env bash
# Fetches the jars the Spark engine needs beyond pyspark's own (Delta Lake, Spark's Kafka
# source and their dependencies) from Maven Central into .cache/spark-jars (or
# $ODIBI_SPARK_JARS). Idempotent: a complete folder is left as is. Prints the folder.
#
# Versions live in scripts/spark/pom.xml and must match the Python packages
# (pyspark 4.2.0 + delta-spark 4.4.0). No Ivy / spark.jars.packages at runtime.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dest="${ODIBI_SPARK_JARS:-$repo/.cache/spark-jars}"
pom="$here/spark/pom.xml"
stamp="$dest/.complete"
python="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"

# The pom's checksum in the stamp: editing versions re-fetches.
want="$(sha256sum "$pom" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$dest"
  exit 0
fi

command -v mvn >/dev/null || { echo "mvn not found: apt-get install maven" >&2; exit 1; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/odibi-spark-jars.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -f "$pom" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$tmp" >&2

# Belt and braces: drop any jar whose artifact pyspark already bundles (any version), so the
# classpath never holds two copies of a library.
bundled="$("$python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"
artifact() { basename "$1" .jar | sed -E 's/-[0-9][0-9A-Za-z.+_-]*$//'; }
declare -A have=()
for jar in "$bundled"/*.jar; do have["$(artifact "$jar")"]=1; done
for jar in "$tmp"/*.jar; do
  if [ -n "${have[$(artifact "$jar")]:-}" ]; then
    echo "skipping $(basename "$jar"): pyspark bundles it" >&2
    rm -f "$jar"
  fi
done

mkdir -p "$dest"
rm -f "$dest"/*.jar "$stamp"
cp "$tmp"/*.jar "$dest"/
echo "$want" > "$stamp"
echo "$dest"
