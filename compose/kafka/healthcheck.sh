#!/bin/sh
# The Kafka services' healthcheck: the node answers ApiVersions on its own advertised
# inter-broker (SASL_SSL) address, logged in as admin with the client settings start.sh
# wrote. The address is the name the certificate carries (localhost is not: TLS refuses it).
# BIN_DIR and CONFIG_DIR as in start.sh.
set -eu
BIN_DIR="${BIN_DIR:-/opt/kafka/bin}"
CONFIG_DIR="${CONFIG_DIR:-/tmp}"
address=$(printf '%s\n' "$KAFKA_ADVERTISED_LISTENERS" | tr ',' '\n' \
    | sed -n "s|^$KAFKA_INTER_BROKER_LISTENER_NAME://||p" | head -n 1)
[ -n "$address" ] || { echo "healthcheck: no $KAFKA_INTER_BROKER_LISTENER_NAME:// in KAFKA_ADVERTISED_LISTENERS" >&2; exit 1; }
exec "$BIN_DIR/kafka-broker-api-versions.sh" --bootstrap-server "$address" \
    --command-config "$CONFIG_DIR/client.properties" >/dev/null 2>&1
