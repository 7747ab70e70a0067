#!/bin/bash
# Check-process CPU and memory benchmark (issue 5): runs check_cpu_guest.sh in
# the ip_vs test VM and prints vigil's and keepalived's figures side by side.
# Not part of `make check` (timings are not pass/fail); run by hand from the
# build directory:
#   top_builddir=$PWD top_srcdir=/path/to/src tests/bench/check_cpu.sh
# Environment: BENCH_VS / BENCH_RS (default 100 x 100), BENCH_DELAY (delay_loop
# in seconds, default 10), BENCH_WARMUP / BENCH_WINDOW (seconds, default 30 / 60).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir
VIGIL_VM_ENV="${VIGIL_VM_ENV:-} BENCH_VS BENCH_RS BENCH_DELAY BENCH_WARMUP BENCH_WINDOW" \
    exec "$top_srcdir/tests/kernel/vm-run.sh" tests/bench/check_cpu_guest.sh
