#!/bin/bash
# The whole test suite, from a fresh Debian 12 machine (as root): installs what
# it needs, builds with warnings as errors, runs `make check` (unit tests,
# namespace scenarios, the ip_vs VM), then the unit tests again under
# ASan+UBSan. Prints one closing line "N passed, N failed[, N skipped]".
#
#   tests/run-suite.sh
set -uo pipefail

srcdir="$(cd "$(dirname "$0")/.." && pwd)"
build="$srcdir/build"
asan="$srcdir/build-asan"
start=$(date +%s)

"$srcdir/tests/setup.sh" "$build" --enable-werror || exit 1

status=0
echo "== make check"
make -C "$build" -j2 check || status=1

echo "== unit tests under ASan+UBSan"
"$srcdir/tests/setup.sh" "$asan" --enable-werror --enable-sanitizers || exit 1
unit_tests=$(make -s -C "$asan" print-unit-tests)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    make -C "$asan" -j2 check TESTS="$unit_tests" || status=1

# One summary over both runs, from automake's .trs files.
count() { cat "$build"/*.trs "$build"/tests/*/*.trs "$asan"/tests/unit/*.trs 2>/dev/null \
            | grep -c "^:test-result: $1" ; }
pass=$(( $(count PASS) + $(count XFAIL) ))
failed=$(( $(count FAIL) + $(count XPASS) + $(count ERROR) ))
skipped=$(count SKIP)
for f in $(grep -l -E "^:test-result: (FAIL|ERROR|XPASS)" "$build"/tests/*/*.trs "$asan"/tests/unit/*.trs 2>/dev/null); do
    echo "== failed: ${f%.trs} (log: ${f%.trs}.log); its last 60 lines:"
    tail -n 60 "${f%.trs}.log" | sed 's/^/  | /'
done
[ "$failed" -gt 0 ] && status=1
echo "== suite took $(( $(date +%s) - start )) s"
echo "$pass passed, $failed failed, $skipped skipped"
exit $status
