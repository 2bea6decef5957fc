#!/bin/sh
# install.sh: install the peers the benchmark compares Canto with (Prosody and
# ejabberd from Debian's packages), only those missing, plus the tools the
# scripts here use (taskset, openssl, and slixmpp for bench/provision/verify.py).
# Does nothing, and needs no network, when all are present.
#
# The packages' own services are never started: while installing, a private
# policy-rc.d refuses every service start unless the machine has one already,
# so nothing listens on the system ports 5222/5269 and /etc configs stay unused.
#   bench/peers/install.sh [prosody] [ejabberd]     (default: both)
#   bench/peers/install.sh none                      only the tools
set -eu

want=${*:-"prosody ejabberd"}
pkgs="openssl util-linux procps python3 python3-slixmpp"
for w in $want; do
    case $w in
    prosody) pkgs="$pkgs prosody lua-event" ;;
    ejabberd) pkgs="$pkgs ejabberd erlang-base" ;;
    none) ;;
    *) echo "install.sh: unknown peer '$w' (prosody, ejabberd or none)" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, from canto bench/peers/install.sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT INT TERM

# shellcheck disable=SC2086
"$here/../../scripts/install-deps.sh" --packages $pkgs
