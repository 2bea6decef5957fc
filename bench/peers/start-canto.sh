#!/bin/bash
# start-canto.sh DIR DOMAIN STARTTLS_PORT DIRECT_TLS_PORT PLAIN_PORT CPU
#
# Runs cantod in the foreground, pinned to CPU, with a private canto.yaml,
# data directory and certificate under DIR, on 127.0.0.1 only:
# STARTTLS_PORT requires STARTTLS (tls: required), DIRECT_TLS_PORT is direct
# TLS, and PLAIN_PORT is tls: optional, where SCRAM may be used without TLS
# (for the no-TLS runs; Canto never allows PLAIN without TLS). A port of 0
# leaves that listener out. Limits that would throttle a benchmark client
# (c2s_rate, send_queue) are raised; log level warn.
# cantod is $CANTOD, or build/cantod of this checkout.
#
# Writes DIR/canto.yaml at once, so that bench/provision/canto.sh can run
# before or after the server starts. The script writes its PID to
# DIR/server.pid and then execs cantod, so that PID is cantod's; stop it with
# bench/peers/stop.sh DIR.
set -euo pipefail
if [ $# -lt 6 ]; then
    echo "usage: start-canto.sh DIR DOMAIN STARTTLS_PORT DIRECT_TLS_PORT PLAIN_PORT CPU" >&2
    exit 2
fi
dir=$1; domain=$2; starttls=$3; direct=$4; plain=$5; cpu=$6
here=$(cd "$(dirname "$0")" && pwd)
cantod=${CANTOD:-$here/../../build/cantod}
[ -x "$cantod" ] || { echo "start-canto.sh: no cantod at $cantod (build it, or set CANTOD)" >&2; exit 1; }
"$here/write-canto-config.sh" "$dir" "$domain" "$starttls" "$direct" "$plain"
dir=$(cd "$dir" && pwd)
ulimit -n "$(ulimit -Hn)"
echo $$ > "$dir/server.pid"
exec taskset -c "$cpu" "$cantod" --config "$dir/canto.yaml"
