#!/bin/sh
# stop.sh DIR [TIMEOUT]: stop the server started by one of the start-*.sh
# scripts with state directory DIR: SIGTERM to the PID in DIR/server.pid,
# then SIGKILL if it is still there after TIMEOUT seconds (default 20).
# Only that PID is signalled: no process is looked up by name. The start
# scripts exec the server itself (no wrapper process, no epmd: ejabberd
# uses a fixed distribution port), so that PID is the whole server.
# Exits 0 when nothing is left running (also when nothing was).
set -u
[ $# -ge 1 ] || { echo "usage: stop.sh DIR [TIMEOUT]" >&2; exit 2; }
dir=$1; timeout=${2:-20}
pidfile=$dir/server.pid
[ -s "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
case $pid in ''|*[!0-9]*) echo "stop.sh: bad PID in $pidfile" >&2; exit 1 ;; esac
alive() { kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; }
if alive; then
    kill -TERM "$pid" 2>/dev/null
    i=0
    while alive && [ "$i" -lt $((timeout * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    if alive; then
        echo "stop.sh: PID $pid ignored SIGTERM for ${timeout}s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null
        sleep 0.5
    fi
fi
rm -f "$pidfile"
exit 0
