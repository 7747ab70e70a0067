#!/bin/bash
# Quick start, command 1 (README): on a fresh Debian 12 machine, as root,
# install what vigil needs, build it, fetch the test kernel (a Debian kernel
# with ip_vs, booted in QEMU: the host kernel may have none) and run the
# two-director LVS-DR failover demo in it, narrated step by step
# (tests/kernel/lvs_dr_demo_guest.sh). Exits 0 when every step of the demo
# did what it says, non-zero with the failed step named.
#
#   tests/demo.sh [BUILD_DIR]        (default: build/ in the source tree)
set -uo pipefail

srcdir="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$srcdir/build}"
start=$(date +%s)

fail() { echo "tests/demo.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs Debian packages, and the demo uses network namespaces)"

echo "== 1/3: install the Debian packages vigil needs and build it"
"$srcdir/tests/setup.sh" "$build" || fail "tests/setup.sh failed (see above)"
build="$(cd "$build" && pwd)"

cache="${VIGIL_VM_CACHE:-$build/tests/kernel/cache}"
echo "== 2/3: the test kernel (a Debian kernel with ip_vs, downloaded once into $cache)"
release="$("$srcdir/tests/kernel/fetch-kernel.sh" "$cache")" || fail "cannot fetch the Debian kernel (see above)"
echo "   kernel $release"

echo "== 3/3: boot it in QEMU and run the demo inside (about 10 s to boot)"
export top_srcdir="$srcdir" top_builddir="$build" VIGIL_VM_CACHE="$cache"
"$srcdir/tests/kernel/vm-run.sh" tests/kernel/lvs_dr_demo_guest.sh
rc=$?
echo
if [ "$rc" = 0 ]; then
    echo "Demo finished in $(( $(date +%s) - start )) s. Next: tests/run-suite.sh runs the whole test suite."
else
    echo "tests/demo.sh: the demo failed (exit $rc): see the step named above." >&2
    [ "$rc" = 77 ] && rc=1   # a skip (no QEMU) is a failure here: setup.sh installs it
fi
exit "$rc"
