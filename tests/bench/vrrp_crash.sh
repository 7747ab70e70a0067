#!/bin/bash
# Benchmark (not a test), vigil next to keepalived in the same run:
#  1. vrrp child crash: SIGKILL of the master's VRRP process only (core /
#     keepalived parent alive). Counted: the backup's transitions to MASTER
#     and whether the master kept the VIP. Goal: zero transitions on the wire.
#  2. shutdown: SIGTERM of the master -> process exited and VIP gone (ms).
# VRRPv2, advert_int 1 (Master_Down_Interval 3.61 s for the backup).
# Usage (root, from the build dir):
#   top_builddir=$PWD top_srcdir=/path/to/src bash tests/bench/vrrp_crash.sh
# Environment: RUNS=N (default 5).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid keepalived
RUNS="${RUNS:-5}"
VIP=10.77.0.100
PY=/usr/bin/python3

conf() {  # conf FILE PRIORITY
    cat >"$1" <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 82
    priority $2
    advert_int 1
    virtual_ipaddress {
        $VIP/24
    }
}
EOF
}
start_impl() { if [ "$1" = vigil ]; then start_vigil "$2" "$3"; else start_keepalived "$2" "$3"; fi; }
vrrp_child_of() {  # vrrp_child_of IMPL PID
    if [ "$1" = vigil ]; then ps -o pid=,args= --ppid "$2" | awk '/vrrp/ {print $1}'
    else cat "$T_DIR/m.vrrp.pid"; fi
}
master_count() {  # master_count IMPL NODE: transitions to MASTER in NODE's log
    if [ "$1" = vigil ]; then grep -c "Backup -> Master" "$T_DIR/$2.log"
    else grep -c "Entering MASTER STATE" "$T_DIR/$2.log"; fi
}

lab_switch
vrrp_node m 1
vrrp_node b 2
conf "$T_DIR/m.conf" 150
conf "$T_DIR/b.conf" 100
out="$T_DIR/out.txt"
: >"$out"
for impl in vigil keepalived; do
    for run in $(seq 1 "$RUNS"); do
        pb=$(start_impl $impl b "$T_DIR/b.conf")
        pm=$(start_impl $impl m "$T_DIR/m.conf")
        wait_until 10 only_holder $VIP m m b || { echo "$impl run $run: no master" >&2; }
        sleep 1.3
        before=$(master_count $impl b)
        child=$(vrrp_child_of $impl "$pm")
        kill -KILL "$child" 2>/dev/null
        # Long enough for the backup's Master_Down_Interval and a respawn.
        lost=0
        for _ in $(seq 1 60); do has_addr m eth0 $VIP || lost=1; sleep 0.1; done
        after=$(master_count $impl b)
        echo "crash $impl $((after - before)) $lost" >>"$out"
        # Graceful stop of the (restarted) master: time to exit with the VIP gone.
        wait_until 5 only_holder $VIP m m b
        t0=$(date +%s%N)
        kill -TERM "$pm"
        # Exited = gone or a zombie (the lab's reaper may collect it late).
        wait_until 5 bash -c "! grep -qv ') Z ' /proc/$pm/stat 2>/dev/null && ! ip -n $(ns m) -o addr show dev eth0 | grep -q ' $VIP/'"
        t1=$(date +%s%N)
        echo "stop $impl $(( (t1 - t0) / 1000000 ))" >>"$out"
        crash "$pm"; crash "$pb"
        wait_until 3 bash -c "! kill -0 $pm 2>/dev/null && ! kill -0 $pb 2>/dev/null"
        clear_vips m $VIP/24; clear_vips b $VIP/24
        sleep 0.3
    done
done
$PY - "$out" <<'EOF'
import sys, statistics
crash, stop = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "crash": crash.setdefault(f[1], []).append((int(f[2]), int(f[3])))
    else: stop.setdefault(f[1], []).append(int(f[2]))
print(f"{'impl':<12}{'runs':>5}  backup->MASTER transitions per crash   runs where master lost the VIP")
for impl, v in crash.items():
    print(f"{impl:<12}{len(v):>5}  {[t for t, _ in v]!s:<38}{sum(l for _, l in v)}")
print(f"{'impl':<12}{'runs':>5}  SIGTERM -> exited + VIP gone (ms): min / median / max")
for impl, v in stop.items():
    print(f"{impl:<12}{len(v):>5}  {min(v)} / {statistics.median(v):.0f} / {max(v)}")
EOF
lab_done
