#!/bin/sh
# check-deps.sh: every library the default build links (the pkg-config
# modules of CMakeLists.txt's DEPS) comes from a Debian package that
# scripts/install-deps.sh installs by default, so that `make run` on a fresh
# machine installs everything the build needs. CI runs on a machine where
# everything is installed already and would not notice a missing one.
# Prints each library whose package is not in the list; exits 1 if any.
set -u
cd "$(dirname "$0")/.."
mods=$(sed -n '/pkg_check_modules(DEPS/,/)/p' CMakeLists.txt | tr -d '()' |
    sed 's/pkg_check_modules//; s/DEPS//; s/REQUIRED//; s/IMPORTED_TARGET//')
pkgs=$(sed -n '/^build_pkgs="/,/"$/p' scripts/install-deps.sh | tr -d '"\\' | sed 's/build_pkgs=//')
status=0
for m in $mods; do
    pc="$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)/$m.pc"
    owner=$(dpkg-query -S "$pc" 2>/dev/null | head -n 1 | cut -d: -f1)
    if [ -z "$owner" ]; then
        echo "check-deps: $m: no Debian package provides $pc"
        status=1
    elif ! echo " $pkgs " | tr '\n' ' ' | grep -q " $owner "; then
        echo "check-deps: $m comes from $owner, which scripts/install-deps.sh does not install"
        status=1
    fi
done
[ $status -eq 0 ] && echo "check-deps: OK ($(echo $mods | wc -w) libraries)"
exit $status
