#!/bin/bash
# canto.sh CONFIG PREFIX FIRST COUNT PASSWORD [ROSTER_K]
#
# Provisions Canto benchmark accounts PREFIX<FIRST>..PREFIX<FIRST+COUNT-1>
# with `cantoctl --config CONFIG adduser-bulk PREFIX FIRST COUNT` (password on
# standard input; one key derivation for the whole batch, one transaction).
# If this cantoctl has no adduser-bulk yet, it falls back to one
# `cantoctl adduser` per account, which is slow (a derivation each) and so
# refused above 500 accounts. cantoctl cannot write rosters yet: a ROSTER_K
# above 0 fails, so that nothing pretends to have provisioned them.
# cantoctl is $CANTOCTL, or build/cantoctl of this checkout.
set -euo pipefail
if [ $# -lt 5 ]; then
    echo "usage: canto.sh CONFIG PREFIX FIRST COUNT PASSWORD [ROSTER_K]" >&2
    exit 2
fi
config=$1; prefix=$2; first=$3; count=$4; password=$5; roster=${6:-0}
here=$(cd "$(dirname "$0")" && pwd)
cantoctl=${CANTOCTL:-$here/../../build/cantoctl}
[ -x "$cantoctl" ] || { echo "canto.sh: no cantoctl at $cantoctl (build it, or set CANTOCTL)" >&2; exit 1; }
if [ "$roster" != 0 ]; then
    echo "canto.sh: cantoctl cannot provision rosters yet (ROSTER_K $roster)" >&2
    exit 1
fi
start=$(date +%s.%N)
usage=$("$cantoctl" --help 2>&1 || true)
if [[ $usage == *adduser-bulk* ]]; then
    printf '%s\n' "$password" | "$cantoctl" --config "$config" adduser-bulk "$prefix" "$first" "$count"
else
    if [ "$count" -gt 500 ]; then
        echo "canto.sh: this cantoctl has no adduser-bulk, and $count accounts one by one would take too long" >&2
        exit 1
    fi
    echo "canto.sh: this cantoctl has no adduser-bulk; adding $count accounts one by one" >&2
    domain=$(sed -n 's/^hosts: \["\{0,1\}\([^]",]*\).*/\1/p' "$config")
    for ((i = first; i < first + count; i++)); do
        printf '%s\n' "$password" | "$cantoctl" --config "$config" adduser "$prefix$i@$domain" >/dev/null
    done
fi
echo "canto: $count accounts $prefix$first..$prefix$((first + count - 1)) in $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }")s"
