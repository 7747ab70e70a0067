#!/bin/bash
# The ip_vs test VM harness checks itself (issue 4, "Test VM"): a guest
# boots, runs vm_smoke_guest.sh with real IPVS, and vm-run.sh reports its
# result faithfully in both directions: a passing guest script passes, a
# failing one fails with its own exit code and arguments intact, and a
# crashed guest kernel fails instead of passing or hanging.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir
run="$top_srcdir/tests/kernel/vm-run.sh"
guest="tests/kernel/vm_smoke_guest.sh"
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }

out="$(mktemp)"
trap 'rm -f "$out"' EXIT

"$run" "$guest" | tee "$out"
rc=${PIPESTATUS[0]}
[ "$rc" = 77 ] && exit 77   # QEMU not installed: vm-run.sh said SKIP
if [ "$rc" = 0 ] && grep -q '^ok - ipvsadm -ln lists 10.77.0.1:8013 with mh' "$out" &&
   ! grep -q '^not ok' "$out"; then
    ok "guest smoke script passes in the VM"
else
    bad "guest smoke script (vm-run.sh exit $rc)"
fi

VIGIL_VM_TIMEOUT=120 "$run" "$guest" exit 3 "two words" "it's \$HOME" | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" = 3 ]; then ok "failing guest script: exit 3 carried out"; else bad "failing guest script: vm-run.sh exit $rc, want 3"; fi
if grep -qxF 'arg: [two words]' "$out" && grep -qxF "arg: [it's \$HOME]" "$out"; then
    ok "arguments reach the guest intact"
else
    bad "arguments reach the guest intact"
fi

VIGIL_VM_TIMEOUT=120 "$run" "$guest" panic 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" != 0 ] && grep -q 'FAIL: the guest stopped before' "$out"; then
    ok "crashed guest kernel: vm-run.sh fails (exit $rc)"
else
    bad "crashed guest kernel: vm-run.sh exit $rc"
fi

[ "$fails" = 0 ] || exit 1
exit 0
