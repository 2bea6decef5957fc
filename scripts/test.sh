#!/bin/sh
# test.sh: every test, as `make test` and CI run them (bounded: well under
# 30 minutes on 2 cores).
#   1. release build with -Werror: unit and integration tests;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build: the same tests;
#   3. clang libFuzzer build: each fuzzer for a bounded time.
# Set CANTO_TEST_QUICK=1 to run only step 1.
set -eu
cd "$(dirname "$0")/.."
jobs=2

run_suite() {
    dir=$1; shift
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    (cd "$dir" && ctest --output-on-failure -L 'unit|integration' -j"$jobs")
}

echo "== source rules"
scripts/check-source.sh

echo "== release build (-Werror): unit and integration tests"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCANTO_WERROR=ON

[ "${CANTO_TEST_QUICK:-0}" = "1" ] && exit 0

echo "== ASan + UBSan build: unit and integration tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCANTO_WERROR=ON -DCANTO_SANITIZE=ON

echo "== libFuzzer: bounded runs"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCANTO_FUZZ=ON -DCANTO_SANITIZE=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
(cd build-fuzz && ctest --output-on-failure -L fuzz)
echo "== all tests passed"
