#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft broker+controller) for tests and local use.
#
#   scripts/kafka-local.sh fetch    download the Kafka jars from Maven Central (idempotent)
#   scripts/kafka-local.sh start    start the broker (idempotent); LAST line = bootstrap address
#   scripts/kafka-local.sh stop     stop it (data is kept: a later start resumes on the same port)
#   scripts/kafka-local.sh status   "running <bootstrap>" (exit 0) or "stopped" (exit 1)
#   scripts/kafka-local.sh reset    stop and delete the broker's data
#   scripts/kafka-local.sh sasl-info  the SASL_SSL listener of a running broker started with
#                                   KAFKA_SASL_SSL=1: lines bootstrap=, ca=, username=,
#                                   password_file= (exit 1 when it has none)
#
# Environment:
#   ODIBI_CACHE      cache root (default: <repo>/.cache); jars go to $ODIBI_CACHE/kafka/libs
#   KAFKA_RUN_DIR    state folder of this broker instance (default: $ODIBI_CACHE/kafka/run);
#                    a different folder gives an independent second broker
#   KAFKA_PORT       broker port (default: the port used last time, else a free one)
#   KAFKA_HEAP       JVM heap (default: 512m)
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default: 90)
#   KAFKA_SASL_SSL   1 = also listen with SASL_SSL, the way Azure Event Hubs' Kafka endpoint
#                    does: a self-signed PEM certificate (CA in $KAFKA_RUN_DIR/sasl/ca.pem),
#                    mechanism PLAIN, user "$ConnectionString", password an Event Hubs-style
#                    connection string (in $KAFKA_RUN_DIR/sasl/connection_string). The PLAINTEXT
#                    listener stays as it is. Materials are made once per run folder (openssl).
#   KAFKA_NO_TRANSACTIONS  1 = no transaction coordinator (its state topic needs 3 replicas on
#                    this 1-broker cluster), like Event Hubs' Kafka endpoint on a Standard
#                    namespace: init_transactions never completes (for the Kafka sink's test).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${ODIBI_CACHE:-$repo/.cache}/kafka"
libs="$cache/libs"
run="${KAFKA_RUN_DIR:-$cache/run}"
pom="$here/kafka/pom.xml"
heap="${KAFKA_HEAP:-512m}"
timeout="${KAFKA_START_TIMEOUT:-90}"
sasl_enabled() { case "${KAFKA_SASL_SSL:-}" in 1|true|yes) return 0 ;; *) return 1 ;; esac; }

log() { echo "kafka-local: $*" >&2; }
pidfile="$run/kafka.pid"
# shellcheck source=local-service.sh
. "$here/local-service.sh"

fetch() {
  # The stamp holds the pom's checksum: editing the pom (a new Kafka version) re-fetches.
  local sum
  sum="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [ -f "$libs/.complete" ] && [ "$(cat "$libs/.complete")" = "$sum" ]; then
    return 0
  fi
  command -v mvn >/dev/null || { log "mvn not found (apt-get install maven)"; exit 2; }
  log "fetching Apache Kafka jars into $libs"
  rm -rf "$libs.tmp"
  mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$libs.tmp" >&2
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  echo "$sum" > "$libs/.complete"
}

write_config() {
  local port="$1" cport="$2" sport="${3:-}" txn_replicas=1
  case "${KAFKA_NO_TRANSACTIONS:-}" in 1|true|yes) txn_replicas=3 ;; esac
  local listeners="PLAINTEXT://127.0.0.1:$port" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "$sport" ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$sport"
    protocols="$protocols,SASL_SSL:SASL_SSL"
  fi
  cat > "$run/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$run/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$txn_replicas
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.check.interval.ms=5000
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
  if [ -n "$sport" ]; then
    # Event Hubs' Kafka endpoint: SASL PLAIN over TLS, user "$ConnectionString".
    cat >> "$run/server.properties" <<EOF
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_\$ConnectionString="$(cat "$run/sasl/connection_string")";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$run/sasl/server-keystore.pem
listener.name.sasl_ssl.ssl.key.password=$(cat "$run/sasl/key_password")
EOF
  fi
  cat > "$run/log4j2.properties" <<EOF
status=warn
appender.file.type=File
appender.file.name=file
appender.file.fileName=$run/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
EOF
}

sasl_materials() {
  # A CA and a server certificate for 127.0.0.1/localhost (PEM), the server key encrypted
  # (PKCS#8, PBE-SHA1-3DES: Java 17 has no PBES2 key factory) for Kafka's PEM keystore, and
  # the connection string clients use as password.
  local dir="$run/sasl"
  [ -f "$dir/server-keystore.pem" ] && [ -f "$dir/connection_string" ] && return 0
  command -v openssl >/dev/null || { log "openssl not found (apt-get install openssl)"; exit 2; }
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  # Chained with &&: errexit does not apply inside a subshell whose status is tested.
  if ! (
    cd "$dir.tmp" && umask 077 &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=odibi-stream test CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > server.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
      -days 3650 -extfile server.ext &&
    openssl rand -hex 16 > key_password &&
    openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in server.key -passout "file:key_password" -out server-key.pem &&
    cat server-key.pem server.pem ca.pem > server-keystore.pem &&
    printf 'Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=%s' \
      "$(openssl rand -base64 32)" > connection_string &&
    rm -f ca.key server.key server.csr server.ext ca.srl
  ) >"$run/sasl-openssl.log" 2>&1; then
    log "making the SASL_SSL certificate failed:"
    cat "$run/sasl-openssl.log" >&2
    exit 1
  fi
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

sasl_info() {
  if ! is_running || [ ! -f "$run/sasl_port" ] || ! grep -q "^listeners=.*SASL_SSL" "$run/server.properties" 2>/dev/null; then
    log "no running broker with a SASL_SSL listener in $run (start it with KAFKA_SASL_SSL=1)"
    exit 1
  fi
  echo "bootstrap=127.0.0.1:$(cat "$run/sasl_port")"
  echo "ca=$run/sasl/ca.pem"
  echo "username=\$ConnectionString"
  echo "password_file=$run/sasl/connection_string"
}

java_cmd() {
  java "-Xmx$heap" "-Xms128m" -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$run/log4j2.properties" -cp "$libs/*" "$@"
}

format_storage() {
  [ -f "$run/data/meta.properties" ] && return 0
  local uuid
  uuid="$(java_cmd kafka.tools.StorageTool random-uuid | tail -1)"
  java_cmd kafka.tools.StorageTool format -t "$uuid" -c "$run/server.properties" >"$run/format.log" 2>&1 \
    || { log "storage format failed:"; cat "$run/format.log" >&2; exit 1; }
}

start() {
  if is_running; then
    if sasl_enabled && ! grep -q "^listeners=.*SASL_SSL" "$run/server.properties"; then
      log "the broker in $run runs without SASL_SSL; stop it, then start with KAFKA_SASL_SSL=1"
      exit 1
    fi
    echo "127.0.0.1:$(cat "$run/port")"
    return 0
  fi
  if pid_alive; then
    # A process from an earlier start that never answered: replace it.
    stop
  fi
  fetch
  command -v java >/dev/null || { log "java not found (apt-get install default-jre-headless)"; exit 2; }
  mkdir -p "$run/data"
  local port cport
  port="$(choose_port "$run/port" "${KAFKA_PORT:-}")"
  cport="$(choose_port "$run/controller_port" "")"
  echo "$port" > "$run/port"
  echo "$cport" > "$run/controller_port"
  local sport=""
  if sasl_enabled; then
    sasl_materials
    sport="$(choose_port "$run/sasl_port" "")"
    echo "$sport" > "$run/sasl_port"
  else
    rm -f "$run/sasl_port"
  fi
  write_config "$port" "$cport" "$sport"
  format_storage
  : > "$run/server.log"
  # setsid: the broker outlives this script and the terminal/pytest that started it.
  setsid bash -c 'exec "$@"' _ java "-Xmx$heap" "-Xms128m" -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$run/log4j2.properties" -cp "$libs/*" kafka.Kafka "$run/server.properties" \
    >"$run/stdout.log" 2>&1 < /dev/null &
  echo $! > "$run/kafka.pid"
  local deadline=$((SECONDS + timeout))
  until port_open "$port" && grep -q "Kafka Server started" "$run/server.log" 2>/dev/null; do
    if ! pid_alive; then
      log "broker exited during start; last log lines:"
      tail -n 30 "$run/server.log" "$run/stdout.log" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "broker did not answer within ${timeout}s (see $run/server.log)"
      exit 1
    fi
    sleep 0.2
  done
  log "started (pid $(cat "$run/kafka.pid"), data in $run/data)"
  echo "127.0.0.1:$port"
}

stop() { stop_pid 30; }

status() {
  if is_running; then
    echo "running 127.0.0.1:$(cat "$run/port")"
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
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) reset ;;
  sasl-info) sasl_info ;;
  *) echo "usage: $0 fetch|start|stop|status|reset|sasl-info" >&2; exit 2 ;;
esac
