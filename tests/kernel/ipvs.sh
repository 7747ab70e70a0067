#!/bin/bash
# IPVS reconciler against a real ip_vs kernel (issue 4): boots the test VM
# (vm-run.sh) and runs ipvs_guest.sh inside it. On the host, also checks that
# an unavailable IPVS is reported clearly instead of failing silently.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir

# Host: no ip_vs here (LAB.md), so ipvs_apply must say so and fail, not hang.
if ! grep -q '^ip_vs ' /proc/modules 2>/dev/null && [ "$(id -u)" = 0 ] &&
   ! modprobe -n ip_vs 2>/dev/null; then
    conf="$(mktemp)"
    trap 'rm -f "$conf"' EXIT
    printf 'virtual_server 192.0.2.1 80 {\n    lb_algo rr\n    protocol TCP\n}\n' >"$conf"
    out="$(timeout 20 "$top_builddir/tests/bench/ipvs_apply" apply "$conf" 2>&1)"; rc=$?
    if [ "$rc" = 1 ] && grep -q 'IPVS unavailable' <<<"$out"; then
        echo "ok - host without ip_vs: 'IPVS unavailable' reported, exit 1"
    else
        echo "not ok - host without ip_vs: exit $rc, output: $out"
        exit 1
    fi
fi

exec "$top_srcdir/tests/kernel/vm-run.sh" tests/kernel/ipvs_guest.sh
