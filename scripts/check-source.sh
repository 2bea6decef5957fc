#!/bin/sh
# check-source.sh: the cheap static rules every change keeps (STYLE.md 6).
#  - no unsafe libc calls (strcpy, strcat, sprintf, vsprintf, gets, atoi);
#  - layers include downward only: util, xml, net and storage never include
#    core, xmpp or module headers; modules never include another directory's
#    private headers; nothing includes a *_internal.h from another directory.
# Prints each violation as FILE:LINE: rule, exits 1 if there is any.
set -u
cd "$(dirname "$0")/.."
status=0

banned=$(grep -nE '(^|[^_a-z])(strcpy|strcat|sprintf|vsprintf|gets|atoi)[[:space:]]*\(' \
    src/*/*.c src/*/*.h include/canto/*.h tests/unit/*.c fuzz/*.c bench/*.c 2>/dev/null)
if [ -n "$banned" ]; then
    echo "$banned" | sed 's/$/  <- banned call (use the bounded form)/'
    status=1
fi

# Headers that belong to the core and the stream layer.
upper='canto/(server|session|router|module|c2s|stanza)\.h|core/|xmpp/|modules/'
low=$(grep -nE "#include \"($upper)" src/util/*.c src/xml/*.c src/net/*.c src/storage/*.c \
    include/canto/common.h include/canto/buf.h include/canto/arena.h include/canto/log.h \
    include/canto/hashmap.h include/canto/jid.h include/canto/base64.h include/canto/xml.h \
    include/canto/net.h include/canto/storage.h include/canto/scram.h 2>/dev/null)
if [ -n "$low" ]; then
    echo "$low" | sed 's/$/  <- a lower layer includes a header from above it/'
    status=1
fi

for dir in src/*/; do
    d=$(basename "$dir")
    cross=$(grep -nE '#include "[a-z]+/[a-z_]+_internal\.h"' "$dir"*.c "$dir"*.h 2>/dev/null |
        grep -v "#include \"$d/")
    if [ -n "$cross" ]; then
        echo "$cross" | sed 's/$/  <- private header of another directory/'
        status=1
    fi
done
mods=$(grep -nE '#include "(core|xmpp|net|storage|xml|util)/' src/modules/*.c 2>/dev/null)
if [ -n "$mods" ]; then
    echo "$mods" | sed 's/$/  <- a module includes internals; use include\/canto/'
    status=1
fi
[ $status -eq 0 ] && echo "check-source: OK"
exit $status
