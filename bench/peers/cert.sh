#!/bin/sh
# cert.sh DIR DOMAIN: a self-signed ECDSA P-256 certificate for DOMAIN in DIR
# (cert.pem, key.pem, and combined.pem = both, the form ejabberd wants), made
# once and kept. ECDSA P-256 because every server and client here supports it
# and its handshake is far cheaper than RSA's, so the login figures measure
# the servers rather than RSA signatures.
set -eu
[ $# -eq 2 ] || { echo "usage: cert.sh DIR DOMAIN" >&2; exit 2; }
dir=$1; domain=$2
mkdir -p "$dir"
if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=$domain" -addext "subjectAltName=DNS:$domain" \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    chmod 600 "$dir/key.pem"
fi
cat "$dir/cert.pem" "$dir/key.pem" > "$dir/combined.pem"
chmod 600 "$dir/combined.pem"
