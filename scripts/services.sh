#!/usr/bin/env bash
# Installs and starts what the test suite needs beyond Python packages. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -x "$here/install-chromium.sh" ]; then bash "$here/install-chromium.sh"; fi
# Kafka broker for tests/integration/kafka and the kafka examples (idempotent; the test fixture reuses it).
bash "$here/kafka-local.sh" start
if [ -x "$here/fetch-spark-jars.sh" ]; then bash "$here/fetch-spark-jars.sh"; fi
