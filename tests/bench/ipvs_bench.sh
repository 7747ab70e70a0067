#!/bin/bash
# IPVS programming benchmark (issue 4): runs ipvs_bench_guest.sh in the ip_vs
# test VM and prints its figures. Not part of `make check` (timings are not
# pass/fail); run by hand from the build directory:
#   top_builddir=$PWD top_srcdir=/path/to/src tests/bench/ipvs_bench.sh
# BENCH_SERVICES / BENCH_DESTS shrink the table (default 100 x 100);
# BENCH_ROUNDS sets the start-up rounds of writer and vigild (default 9).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir
VIGIL_VM_ENV="${VIGIL_VM_ENV:-} BENCH_SERVICES BENCH_DESTS BENCH_ROUNDS" \
    exec "$top_srcdir/tests/kernel/vm-run.sh" tests/bench/ipvs_bench_guest.sh
