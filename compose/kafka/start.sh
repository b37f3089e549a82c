#!/bin/sh
# Starts one node of the compose cluster (the Kafka services' entrypoint; POSIX sh).
#
# Writes /tmp/server.properties from the environment, then formats the storage once and
# runs the broker. Nothing here depends on the image's own start scripts: only on
# /opt/kafka/bin, and on the certificates make-certs.sh put in $CERTS_DIR.
#
# * Every KAFKA_<NAME> variable becomes the property <name>, lower-cased, '_' -> '.'
#   (KAFKA_MIN_INSYNC_REPLICAS=2 -> min.insync.replicas=2), but for the *_OPTS and other
#   variables Kafka's own scripts read (KAFKA_HEAP_OPTS...).
# * Every SCRAM_PASSWORD_<USER> variable adds the SCRAM user <user> (lower-cased) with
#   that password when the storage is formatted, under the mechanism of
#   KAFKA_SASL_ENABLED_MECHANISMS. Users are added only then: to change a password or add
#   a user later, see docs/compose-security.md.
# * SCRAM_PASSWORD_ADMIN is also the brokers' own login on the inter-broker listener.
# * The secrets (passwords, the keystore's password) are written here, never logged.
#
# Also writes /tmp/client.properties (the admin's client settings) for healthcheck.sh.
# BIN_DIR and CONFIG_DIR (default /opt/kafka/bin and /tmp) are for tests/unit/test_compose.py,
# which runs this script with stand-in Kafka tools.
set -eu

BIN_DIR="${BIN_DIR:-/opt/kafka/bin}"
CONFIG_DIR="${CONFIG_DIR:-/tmp}"
CONFIG="$CONFIG_DIR/server.properties"
CLIENT="$CONFIG_DIR/client.properties"
: "${CERTS_DIR:?set CERTS_DIR to the folder make-certs.sh wrote}"
: "${CLUSTER_ID:?set CLUSTER_ID (22 characters: base64 of 16 bytes)}"
: "${KAFKA_LOG_DIRS:?set KAFKA_LOG_DIRS}"
: "${KAFKA_INTER_BROKER_LISTENER_NAME:?set KAFKA_INTER_BROKER_LISTENER_NAME}"
: "${KAFKA_SASL_ENABLED_MECHANISMS:?set KAFKA_SASL_ENABLED_MECHANISMS (one mechanism)}"
: "${KAFKA_SSL_TRUSTSTORE_TYPE:?set KAFKA_SSL_TRUSTSTORE_TYPE}"
: "${KAFKA_SSL_TRUSTSTORE_LOCATION:?set KAFKA_SSL_TRUSTSTORE_LOCATION}"
: "${SCRAM_PASSWORD_ADMIN:?set SCRAM_PASSWORD_ADMIN: the brokers log in to each other as admin}"

fail() {
    echo "start.sh: $*" >&2
    exit 1
}

lower() {
    printf '%s' "$1" | tr 'A-Z' 'a-z'
}

MECHANISM="$KAFKA_SASL_ENABLED_MECHANISMS"
case "$MECHANISM" in
    SCRAM-SHA-256|SCRAM-SHA-512) ;;
    *) fail "KAFKA_SASL_ENABLED_MECHANISMS: one of SCRAM-SHA-256, SCRAM-SHA-512" ;;
esac
[ -r "$CERTS_DIR/broker.password" ] || fail "no $CERTS_DIR/broker.password: run make-certs.sh"
keystore_password=$(cat "$CERTS_DIR/broker.password")

# A password goes into JAAS configuration and --add-scram arguments unquoted: letters,
# digits, '.', '_' and '-' only (e.g. `openssl rand -hex 24`), 16 or more.
check_password() {
    case "$2" in
        *[!A-Za-z0-9._-]*) fail "$1: use letters, digits, '.', '_' and '-' only" ;;
    esac
    [ "${#2}" -ge 16 ] || fail "$1: use 16 characters or more"
}
PASSWORDS=$(env | sed -n 's/^\(SCRAM_PASSWORD_[A-Z0-9_]*\)=.*/\1/p' | sort)
for variable in $PASSWORDS; do
    check_password "$variable" "$(printenv "$variable")"
done

umask 077

# The broker's properties: the environment's, then the secrets.
{
    echo "# Written by start.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ) from the environment."
    for name in $(env | sed -n 's/^\(KAFKA_[A-Z0-9_]*\)=.*/\1/p' | sort); do
        case "$name" in
            KAFKA_OPTS|KAFKA_*_OPTS|KAFKA_DEBUG|KAFKA_JMX_PORT|KAFKA_JMX_HOSTNAME) continue ;;
        esac
        key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z_' 'a-z.')
        printf '%s=%s\n' "$key" "$(printenv "$name")"
    done
    listener=$(lower "$KAFKA_INTER_BROKER_LISTENER_NAME")
    printf 'listener.name.%s.%s.sasl.jaas.config=%s required username="admin" password="%s";\n' \
        "$listener" "$(lower "$MECHANISM")" \
        org.apache.kafka.common.security.scram.ScramLoginModule "$SCRAM_PASSWORD_ADMIN"
    printf 'ssl.keystore.password=%s\nssl.key.password=%s\n' \
        "$keystore_password" "$keystore_password"
} > "$CONFIG"

# The admin's client settings, for the healthcheck (and an operator's kafka-*.sh tools).
{
    echo "security.protocol=SASL_SSL"
    echo "sasl.mechanism=$MECHANISM"
    printf 'sasl.jaas.config=%s required username="admin" password="%s";\n' \
        org.apache.kafka.common.security.scram.ScramLoginModule "$SCRAM_PASSWORD_ADMIN"
    echo "ssl.truststore.type=$KAFKA_SSL_TRUSTSTORE_TYPE"
    echo "ssl.truststore.location=$KAFKA_SSL_TRUSTSTORE_LOCATION"
} > "$CLIENT"

# Format once: the SCRAM users are part of the cluster's first metadata.
if [ -f "$KAFKA_LOG_DIRS/meta.properties" ]; then
    echo "start.sh: $KAFKA_LOG_DIRS is formatted; the SCRAM_PASSWORD_* users are not re-read"
else
    set --
    users=""
    for variable in $PASSWORDS; do
        user=$(lower "${variable#SCRAM_PASSWORD_}")
        set -- "$@" --add-scram "$MECHANISM=[name=$user,password=$(printenv "$variable")]"
        users="$users $user"
    done
    echo "start.sh: formatting $KAFKA_LOG_DIRS for cluster $CLUSTER_ID with the" \
         "$MECHANISM users:$users"
    "$BIN_DIR/kafka-storage.sh" format --ignore-formatted -t "$CLUSTER_ID" -c "$CONFIG" "$@"
fi
exec "$BIN_DIR/kafka-server-start.sh" "$CONFIG"
