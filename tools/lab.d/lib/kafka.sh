# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# Kafka: jars from Maven Central, one KRaft node.

kafka_fetched() { [[ -f $KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar ]]; }

kafka_fetch() {
  kafka_fetched && return 0
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  mkdir -p "$LAB_DIR/logs"
  rm -rf "$KAFKA_LIBS.tmp"
  mvn -q -B -f "$root/tools/lab.d/kafka/pom.xml" package -Dkafka.libs="$KAFKA_LIBS.tmp" \
    -Dproject.build.directory="$LAB_DIR/kafka-build" >"$LAB_DIR/logs/kafka-fetch.log" 2>&1 ||
    { tail -30 "$LAB_DIR/logs/kafka-fetch.log" >&2; die "fetching Kafka jars failed"; }
  rm -rf "$KAFKA_LIBS"; mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

kafka_healthy() {
  tcp_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$LAB_DIR/logs/kafka.log"
}

kafka_up() {
  [[ -n $(live_pid kafka) ]] && return 0
  kafka_fetch
  check_port_free "$KAFKA_PORT" kafka
  check_port_free "$KAFKA_CONTROLLER_PORT" "kafka controller"
  local dir="$LAB_DIR/kafka"
  mkdir -p "$dir"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=104857600
replica.fetch.max.bytes=104857600
socket.request.max.bytes=209715200
log.cleaner.min.compaction.lag.ms=0
EOF
  cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
EOF
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true "-Dlog4j.configuration=file:$dir/log4j.properties")
  if [[ ! -f $dir/data/meta.properties ]]; then
    log "formatting Kafka storage in $dir/data"
    local cid
    cid=$(java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format -t "$cid" \
      -c "$dir/server.properties" >"$LAB_DIR/logs/kafka-format.log" 2>&1 ||
      { tail -20 "$LAB_DIR/logs/kafka-format.log" >&2; die "formatting Kafka storage failed"; }
  fi
  start_part kafka "kafka.Kafka" "$LAB_DIR/logs/kafka.log" -- \
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
  wait_for kafka "$LAB_DIR/logs/kafka.log" 120 kafka_healthy
}
