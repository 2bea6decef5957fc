#!/bin/bash
# ejabberdctl.sh DIR COMMAND [ARGS]: run an ejabberdctl command against the
# private ejabberd started by start-ejabberd.sh with state directory DIR
# (for example: ejabberdctl.sh DIR import_piefxis /path/users.xml).
#
# It uses the private copy of ejabberdctl and the ejabberdctl.cfg that
# start-ejabberd.sh wrote into DIR: same node name, cookie and fixed
# distribution port, so no epmd is involved and /etc/ejabberd is never read.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: ejabberdctl.sh DIR COMMAND [ARGS]" >&2; exit 2; }
dir=$(cd "$1" && pwd); shift
[ -x "$dir/ejabberdctl" ] || { echo "ejabberdctl.sh: $dir was not set up by start-ejabberd.sh" >&2; exit 1; }
exec "$dir/ejabberdctl" --config-dir "$dir/conf" --ctl-config "$dir/conf/ejabberdctl.cfg" \
    --config "$dir/conf/ejabberd.yml" --spool "$dir/db" --logs "$dir/logs" "$@"
