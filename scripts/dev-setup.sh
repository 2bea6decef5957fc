#!/bin/sh
# dev-setup.sh: a ready-to-run development configuration for cantod.
#
# Usage: scripts/dev-setup.sh [DIR]      (DIR defaults to ./var)
#
# Creates, in DIR, whatever of these is missing, and leaves existing files
# alone (running it again changes nothing):
#   canto.yaml  host "localhost", data_dir DIR/data, c2s on 127.0.0.1:5222
#               (STARTTLS required) and 127.0.0.1:5223 (direct TLS), log info
#   cert.pem    a self-signed certificate for localhost and *.localhost,
#   key.pem     valid ten years, with its P-256 key (mode 0600)
# Then point cantod at DIR/canto.yaml, and create an account with
#   cantoctl --config DIR/canto.yaml adduser alice@localhost
set -eu

dir=${1:-./var}

if ! command -v openssl >/dev/null 2>&1; then
    echo "dev-setup.sh: openssl is needed to create the certificate (install it first)" >&2
    exit 1
fi

mkdir -p "$dir"

if [ ! -e "$dir/canto.yaml" ]; then
    cat >"$dir/canto.yaml" <<'EOF'
# Canto development configuration, written by scripts/dev-setup.sh.
# Reference: docs/configuration.md. Relative paths are relative to this file.
hosts: [localhost]
data_dir: data

tls:
  certificate: cert.pem
  key: key.pem

listen:
  - { service: c2s, address: 127.0.0.1, port: 5222, tls: required }
  - { service: c2s, address: 127.0.0.1, port: 5223, tls: direct }

log: { level: info }

# Let clients create accounts themselves (XEP-0077); off by default.
# allow_registration: true
# registration_throttle: { per_ip: 5, period: 3600 }
# The user directory (XEP-0055) runs on users.localhost; to turn it off:
# user_directory: false
EOF
    echo "created $dir/canto.yaml"
else
    echo "kept    $dir/canto.yaml (exists)"
fi

if [ ! -e "$dir/cert.pem" ] || [ ! -e "$dir/key.pem" ]; then
    if [ -e "$dir/cert.pem" ] || [ -e "$dir/key.pem" ]; then
        echo "dev-setup.sh: only one of $dir/cert.pem and $dir/key.pem exists" \
             "(remove it to have a new pair made)" >&2
        exit 1
    fi
    # The key is created under a umask that keeps it private from the start,
    # rather than chmod'ed after a window in which others could read it.
    (
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -days 3650 -subj /CN=localhost \
            -addext subjectAltName=DNS:localhost,DNS:*.localhost \
            -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>"$dir/.openssl.log"
    ) || {
        cat "$dir/.openssl.log" >&2
        rm -f "$dir/.openssl.log" "$dir/key.pem" "$dir/cert.pem"
        echo "dev-setup.sh: openssl could not create the certificate (see above)" >&2
        exit 1
    }
    rm -f "$dir/.openssl.log"
    chmod 600 "$dir/key.pem"
    chmod 644 "$dir/cert.pem"
    echo "created $dir/cert.pem and $dir/key.pem (self-signed for localhost, *.localhost)"
else
    echo "kept    $dir/cert.pem and $dir/key.pem (exist)"
fi
