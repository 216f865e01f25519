# shellcheck shell=bash
# Sourced by tools/lab.d/lab.sh (which defines the lab's ports, paths, log and die).
# Kafka: jars from Maven Central, one KRaft node with two client listeners:
#   PLAINTEXT 127.0.0.1:$KAFKA_PORT       tests and tools; its principal (User:ANONYMOUS)
#                                         is a super user, so ACLs do not apply to it
#   SASL_SSL  127.0.0.1:$KAFKA_SASL_PORT  Senren's daemons, each with its own SCRAM-SHA-512
#                                         principal, held to its ACLs (StandardAuthorizer);
#                                         the broker's certificate is signed by the lab CA
# The daemons' client properties (--kafka-config) are written to $LAB_DIR/kafka/clients/.

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
  tcp_open "$KAFKA_PORT" && tcp_open "$KAFKA_SASL_PORT" &&
    grep -q 'Kafka Server started' "$LAB_DIR/logs/kafka.log"
}

# The Kafka principals of Senren's daemons: the control plane (senren-ledger) and one per
# regional plane (senren-regional-<cluster slug>).
kafka_ledger_principal() { echo senren-ledger; }
kafka_plane_principal() { echo "senren-regional-$(cluster_slug "$1")"; }
kafka_principals() {
  local c
  kafka_ledger_principal
  for c in "${CLUSTERS[@]}"; do kafka_plane_principal "$c"; done
}

# The --kafka-config file of principal $1 (written by kafka_clients_up).
kafka_client_config() { echo "$LAB_DIR/kafka/clients/$1.properties"; }

# The password of principal $1, made once and kept with the broker's data (a purge
# forgets both together).
kafka_password() {
  local f="$LAB_DIR/kafka/sasl/$1.password"
  if [[ ! -s $f ]]; then
    mkdir -p "$(dirname "$f")"
    (umask 077; openssl rand -hex 24 >"$f")
  fi
  cat "$f"
}

# The broker's TLS key and certificate chain for the SASL_SSL listener (a PEM keystore),
# signed by the lab CA (kube.sh's pki_up) for 127.0.0.1 and localhost.
kafka_tls_up() {
  local tls="$LAB_DIR/kafka/tls" pki="$LAB_DIR/pki"
  [[ -s $tls/broker.pem ]] && return 0
  mkdir -p "$tls"
  cat >"$tls/san.cnf" <<EOF
[ext]
subjectAltName = IP:127.0.0.1, DNS:localhost
extendedKeyUsage = serverAuth
EOF
  (umask 077; openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tls/broker.key") \
    >/dev/null 2>&1 || die "making the Kafka broker's key failed"
  openssl req -new -key "$tls/broker.key" -subj "/CN=senren-lab-kafka" -out "$tls/broker.csr" \
    >/dev/null 2>&1 || die "making the Kafka broker's certificate request failed"
  openssl x509 -req -in "$tls/broker.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 3650 -extfile "$tls/san.cnf" -extensions ext -out "$tls/broker.crt" \
    >/dev/null 2>&1 || die "signing the Kafka broker's certificate with the lab CA failed"
  (umask 077; cat "$tls/broker.key" "$tls/broker.crt" "$pki/ca.crt" >"$tls/broker.pem.tmp")
  mv -f "$tls/broker.pem.tmp" "$tls/broker.pem"
}

# Each daemon's client properties: the SASL_SSL listener, its principal, the lab CA.
kafka_clients_up() {
  local dir="$LAB_DIR/kafka/clients" p f
  mkdir -p "$dir"
  for p in $(kafka_principals); do
    f=$(kafka_client_config "$p")
    (umask 077; cat >"$f.tmp" <<EOF
# $p on the lab's Kafka (written by tools/lab): librdkafka properties for --kafka-config.
bootstrap.servers=127.0.0.1:$KAFKA_SASL_PORT
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$p
sasl.password=$(kafka_password "$p")
ssl.ca.location=$LAB_DIR/pki/ca.crt
EOF
    )
    mv -f "$f.tmp" "$f"
  done
}

kafka_java() { java -cp "$KAFKA_LIBS/*" -Xmx256m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
  "-Dlog4j.configuration=file:$LAB_DIR/kafka/log4j.properties" "$@"; }

# SCRAM credentials and ACLs, through the super user's PLAINTEXT listener (stored in the
# cluster's metadata log, so done once per data dir; recorded in security.done):
#   senren-ledger          {prefix}-state: Write, Describe, Create
#                          {prefix}-status: Read, Describe, Create
#   senren-regional-<c>    {prefix}-state: Read, Describe
#                          {prefix}-status: Write, Describe
#   every one              group senren-unused: Describe
# Senren's consumers are assigned their partitions and keep their offsets with their data:
# they join no group and commit nothing, but librdkafka still looks up the coordinator of
# their group.id (kafka.cc: senren-unused), which needs Describe on it (without it they
# consume all the same, warning at each lookup). Its producers are idempotent, not
# transactional (Write on a topic covers IdempotentWrite since Kafka 3.0): no TransactionalId
# or Cluster ACL is needed.
kafka_security_up() {
  local dir="$LAB_DIR/kafka" bs="127.0.0.1:$KAFKA_PORT" p
  local state="$TOPIC_PREFIX-state" status="$TOPIC_PREFIX-status" group=senren-unused
  local ledger planes=() all=() want
  ledger=$(kafka_ledger_principal)
  for p in $(kafka_principals); do
    all+=(--allow-principal "User:$p")
    [[ $p == "$ledger" ]] || planes+=(--allow-principal "User:$p")
  done
  want="$TOPIC_PREFIX $group $(kafka_principals | tr '\n' ' ')"
  [[ -f $dir/security.done && $(cat "$dir/security.done") == "$want" ]] && return 0
  log "Kafka: SCRAM credentials and ACLs of $(kafka_principals | wc -l) principals"
  for p in $(kafka_principals); do
    grep -qxF "$p" "$dir/sasl/users" 2>/dev/null && continue
    kafka_java kafka.admin.ConfigCommand --bootstrap-server "$bs" --alter --entity-type users \
      --entity-name "$p" --add-config "SCRAM-SHA-512=[password=$(kafka_password "$p")]" \
      >>"$LAB_DIR/logs/kafka-security.log" 2>&1 || die "adding Kafka user $p failed (log: $LAB_DIR/logs/kafka-security.log)"
    echo "$p" >>"$dir/sasl/users"
  done
  acl() {
    kafka_java kafka.admin.AclCommand --bootstrap-server "$bs" --add "$@" \
      >>"$LAB_DIR/logs/kafka-security.log" 2>&1 ||
      die "adding Kafka ACLs $* failed (log: $LAB_DIR/logs/kafka-security.log)"
  }
  acl --allow-principal "User:$ledger" --operation Write --operation Describe --operation Create --topic "$state"
  acl --allow-principal "User:$ledger" --operation Read --operation Describe --operation Create --topic "$status"
  acl "${planes[@]}" --operation Read --operation Describe --topic "$state"
  acl "${planes[@]}" --operation Write --operation Describe --topic "$status"
  acl "${all[@]}" --operation Describe --group "$group"
  echo "$want" >"$dir/security.done"
}

kafka_up() {
  if [[ -n $(live_pid kafka) ]]; then
    # A broker started before the SASL_SSL listener existed gets it by a restart.
    grep -q '^listeners=.*SASL_SSL' "$LAB_DIR/kafka/server.properties" 2>/dev/null && return 0
    log "kafka: restarting it with the SASL_SSL listener"
    stop_parts kafka
  fi
  kafka_fetch
  check_port_free "$KAFKA_PORT" kafka
  check_port_free "$KAFKA_CONTROLLER_PORT" "kafka controller"
  check_port_free "$KAFKA_SASL_PORT" "kafka SASL_SSL"
  local dir="$LAB_DIR/kafka"
  mkdir -p "$dir"
  kafka_tls_up
  kafka_clients_up
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/broker.pem
# ACLs (kafka_security_up) hold the SASL_SSL principals; the PLAINTEXT listeners'
# principal (User:ANONYMOUS: tests, tools, the controller, the broker itself) is a super user.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
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
    local cid p scram=()
    cid=$(java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    # The daemons' SCRAM credentials go into the first metadata (KIP-900), so they work
    # from the broker's first second; a data dir formatted before gets them from
    # kafka_security_up instead.
    for p in $(kafka_principals); do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$p,password=$(kafka_password "$p")]")
    done
    java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format -t "$cid" \
      -c "$dir/server.properties" "${scram[@]}" >"$LAB_DIR/logs/kafka-format.log" 2>&1 ||
      { tail -20 "$LAB_DIR/logs/kafka-format.log" >&2; die "formatting Kafka storage failed"; }
    kafka_principals >"$dir/sasl/users"
    rm -f "$dir/security.done"
  fi
  start_part kafka "kafka.Kafka" "$LAB_DIR/logs/kafka.log" -- \
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
  wait_for kafka "$LAB_DIR/logs/kafka.log" 120 kafka_healthy
  kafka_security_up
}
