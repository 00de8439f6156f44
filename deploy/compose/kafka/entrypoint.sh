#!/bin/sh
# Like apache/kafka's entrypoint: KAFKA_FOO_BAR=v becomes foo.bar=v (___ -> '-', __ -> '_',
# _ -> '.'); the storage is formatted once (KRaft), then the broker runs in the foreground.
set -eu
CONF=/opt/kafka/config/server.properties
: >"$CONF"
env | grep '^KAFKA_' | while IFS='=' read -r k v; do
  case "$k" in KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_OPTS) continue ;; esac
  p=$(echo "${k#KAFKA_}" | tr 'A-Z' 'a-z' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
  echo "$p=$v" >>"$CONF"
done
grep -q '^log\.dirs=' "$CONF" || echo "log.dirs=/var/lib/kafka/data" >>"$CONF"
LOGDIR=$(sed -n 's/^log\.dirs=//p' "$CONF")
CP='/opt/kafka/libs/*'
LOG="-Dlog4j2.configurationFile=/opt/kafka/log4j2.properties"
if [ ! -f "$LOGDIR/meta.properties" ]; then
  java $LOG -cp "$CP" kafka.tools.StorageTool format -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$CONF"
fi
# exec: the JVM is PID 1's only child of note and receives SIGTERM directly.
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} -XX:+UseG1GC -Djava.awt.headless=true $LOG \
  -cp "$CP" kafka.Kafka "$CONF"
