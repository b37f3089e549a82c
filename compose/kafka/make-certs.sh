#!/bin/sh
# Makes, once, the TLS material of the compose cluster into $CERTS_DIR (the `kafka-certs`
# volume), with the JDK's keytool of the apache/kafka image:
#
#   ca.pem           the CA's certificate (PEM): what every client and broker trusts
#   broker.p12       the brokers' key and certificate (PKCS12), CN=broker, one SAN per name
#                    in $BROKER_DNS_NAMES; good for server and client authentication (the
#                    controllers ask for it: principal User:broker, a super user)
#   broker.pem       the brokers' certificate alone (PEM), to inspect
#   broker.password  broker.p12's password (random), read by start.sh
#   broker.names     the names the certificate was made for
#
# The CA's private key lives only while this script runs: to renew or to add a broker's
# name, remove the volume and start again (docs/compose-security.md).
set -eu

: "${CERTS_DIR:?set CERTS_DIR to the folder to write into}"
: "${BROKER_DNS_NAMES:?set BROKER_DNS_NAMES to the brokers host names, comma-separated}"
DAYS="${CERT_VALIDITY_DAYS:-1825}"
KEYTOOL="${JAVA_HOME:+$JAVA_HOME/bin/}keytool"

if [ -s "$CERTS_DIR/broker.p12" ] && [ -s "$CERTS_DIR/ca.pem" ]; then
    made_for=$(cat "$CERTS_DIR/broker.names" 2>/dev/null || true)
    if [ "$made_for" != "$BROKER_DNS_NAMES" ]; then
        echo "make-certs: the certificate in $CERTS_DIR names '$made_for', not" \
             "'$BROKER_DNS_NAMES': remove the volume to make new ones" >&2
        exit 1
    fi
    echo "make-certs: $CERTS_DIR already holds the certificates; nothing to do"
    exit 0
fi
if ! touch "$CERTS_DIR/.writable" 2>/dev/null; then
    echo "make-certs: cannot write to $CERTS_DIR (user $(id -u))" >&2
    exit 1
fi
rm -f "$CERTS_DIR/.writable"

san=""
for name in $(printf '%s' "$BROKER_DNS_NAMES" | tr ',' ' '); do
    san="${san:+$san,}dns:$name"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
ca_password=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
password=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# The CA: self-signed, may sign certificates and nothing else.
"$KEYTOOL" -genkeypair -noprompt -alias ca -keyalg RSA -keysize 3072 -validity "$DAYS" \
    -dname "CN=cxone-router compose CA" -ext bc:c=ca:true -ext ku:c=keyCertSign,cRLSign \
    -keystore "$work/ca.p12" -storetype PKCS12 -storepass "$ca_password"
"$KEYTOOL" -exportcert -rfc -alias ca -keystore "$work/ca.p12" -storepass "$ca_password" \
    -file "$work/ca.pem"

# The brokers' key, then its certificate signed by the CA. The subject is exactly CN=broker:
# ssl.principal.mapping.rules turns it into User:broker.
"$KEYTOOL" -genkeypair -noprompt -alias broker -keyalg RSA -keysize 2048 -validity "$DAYS" \
    -dname "CN=broker" -keystore "$work/broker.p12" -storetype PKCS12 -storepass "$password"
"$KEYTOOL" -certreq -alias broker -keystore "$work/broker.p12" -storepass "$password" \
    -file "$work/broker.csr"
"$KEYTOOL" -gencert -rfc -alias ca -keystore "$work/ca.p12" -storepass "$ca_password" \
    -validity "$DAYS" -infile "$work/broker.csr" -outfile "$work/broker.pem" \
    -ext "san=$san" -ext ku:c=digitalSignature,keyEncipherment \
    -ext eku=serverAuth,clientAuth
# The keystore holds the whole chain: the CA first (so the reply is trusted), then the reply.
"$KEYTOOL" -importcert -noprompt -alias ca -file "$work/ca.pem" \
    -keystore "$work/broker.p12" -storetype PKCS12 -storepass "$password"
"$KEYTOOL" -importcert -noprompt -alias broker -file "$work/broker.pem" \
    -keystore "$work/broker.p12" -storetype PKCS12 -storepass "$password"

# Secrets readable by this user only (the brokers run as the same user); the CA's
# certificate by everyone (the pipeline's services run as another user). broker.p12
# is written last: its presence means the set is whole.
printf '%s\n' "$password" > "$CERTS_DIR/broker.password"
printf '%s\n' "$BROKER_DNS_NAMES" > "$CERTS_DIR/broker.names"
cp "$work/ca.pem" "$CERTS_DIR/ca.pem"
cp "$work/broker.pem" "$CERTS_DIR/broker.pem"
chmod 644 "$CERTS_DIR/ca.pem" "$CERTS_DIR/broker.pem" "$CERTS_DIR/broker.names"
cp "$work/broker.p12" "$CERTS_DIR/broker.p12.tmp"
mv "$CERTS_DIR/broker.p12.tmp" "$CERTS_DIR/broker.p12"
echo "make-certs: made a CA and the brokers' certificate for $BROKER_DNS_NAMES in $CERTS_DIR"
