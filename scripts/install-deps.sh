#!/bin/sh
# install-deps.sh: install the Debian packages Canto builds and tests with,
# only those missing. `make run` and `make test` call it; on a machine that
# has everything it does nothing and needs no network.
#   scripts/install-deps.sh          build and run dependencies
#   scripts/install-deps.sh --test   also the test clients and fuzzing tools
#   scripts/install-deps.sh --packages P...   exactly these (bench/peers uses it)
set -eu

build_pkgs="gcc make cmake pkg-config openssl libuv1-dev libexpat1-dev libssl-dev \
libyaml-dev libsqlite3-dev libidn-dev libidn2-dev libsodium-dev"
test_pkgs="clang libclang-rt-14-dev python3 python3-slixmpp go-sendxmpp libstrophe-dev"

pkgs=$build_pkgs
case "${1:-}" in
--test) pkgs="$pkgs $test_pkgs" ;;
--packages) shift; pkgs="$*" ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages:$missing" >&2
    echo "install-deps: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
