#!/bin/bash
# Benchmark (not a test): idle cost of many instances, vigil next to
# keepalived in the same run. Each implementation runs a pair (master
# priority 150, backup 100) with INSTANCES VRRPv2 instances at advert_int 1
# on one interface (VRIDs 1..INSTANCES, one VIP each). The two pairs run at
# the same time on separate bridges (vigil on br0, keepalived on br1).
#
# Measured once every instance has settled, over WINDOW seconds:
#   CPU % of the VRRP process (utime+stime from /proc/PID/stat, and the
#   scheduler's exact on-CPU time from /proc/PID/task/*/schedstat);
#   RSS and PSS of the VRRP process, and of all the daemon's processes
#   (vigil: core + vrrp + check child; keepalived -P: parent + VRRP child).
#
# Usage (root, from the build dir):
#   top_builddir=$PWD top_srcdir=/path/to/src bash tests/bench/vrrp_idle.sh
# Environment: INSTANCES=N (default 200, at most 255), WINDOW=S (default 60).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid keepalived
INSTANCES="${INSTANCES:-200}"
WINDOW="${WINDOW:-60}"
PY=/usr/bin/python3

conf() {  # conf FILE PRIORITY: INSTANCES instances, VRID i with VIP 10.79.0.i
    {
        echo "global_defs {"
        echo "    vrrp_garp_master_delay 0"
        echo "}"
        for i in $(seq 1 "$INSTANCES"); do
            cat <<EOF
vrrp_instance VI_$i {
    state BACKUP
    interface eth0
    virtual_router_id $i
    priority $2
    advert_int 1
    virtual_ipaddress {
        10.79.$((i / 250)).$((i % 250 + 1))/32
    }
}
EOF
        done
    } >"$1"
}

move_to_bridge() { ip -n "$(ns sw)" link set "p${T_ID#v}${1:0:6}" master "$2"; }
vip_count() { ip -n "$(ns "$1")" -o -4 addr show dev eth0 | grep -c " 10\.79\."; }
all_vips() { [ "$(vip_count "$1")" = "$INSTANCES" ]; }
vrrp_pid() {  # vrrp_pid IMPL NODE PID
    if [ "$1" = vigil ]; then ps -o pid=,args= --ppid "$3" | awk '/vrrp/ {print $1}'
    else cat "$T_DIR/$2.vrrp.pid" 2>/dev/null; fi
}
tree_pids() { echo "$1"; ps -o pid= --ppid "$1"; }  # the daemon and its children
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# printf: mawk prints large numbers in exponent form.
run_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%.0f\n", s}'; }
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/$3"; }  # kb PID FIELD FILE

lab_switch
ip -n "$(ns sw)" link add br1 type bridge mcast_snooping 0 stp_state 0 forward_delay 0
ip -n "$(ns sw)" link set br1 up
vrrp_node vm 1; vrrp_node vb 2
vrrp_node km 1; vrrp_node kb 2
move_to_bridge km br1; move_to_bridge kb br1
conf "$T_DIR/m.conf" 150
conf "$T_DIR/b.conf" 100

declare -A PGID VPID T0 S0 T1 S1
PGID[vb]=$(start_vigil vb "$T_DIR/b.conf")
PGID[vm]=$(start_vigil vm "$T_DIR/m.conf")
PGID[kb]=$(start_keepalived kb "$T_DIR/b.conf")
PGID[km]=$(start_keepalived km "$T_DIR/m.conf")
for m in vm km; do
    wait_until 30 all_vips $m || { echo "$m holds $(vip_count $m) of $INSTANCES VIPs" >&2; exit 99; }
done
sleep 5  # past the start-up work (GARPs, notifications)
for n in vm vb; do VPID[$n]=$(vrrp_pid vigil $n "${PGID[$n]}"); done
for n in km kb; do VPID[$n]=$(vrrp_pid keepalived $n "${PGID[$n]}"); done
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for n in vm vb km kb; do T0[$n]=$(ticks "${VPID[$n]}"); S0[$n]=$(run_ns "${VPID[$n]}"); done
sleep "$WINDOW"
for n in vm vb km kb; do T1[$n]=$(ticks "${VPID[$n]}"); S1[$n]=$(run_ns "${VPID[$n]}"); done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

out="$T_DIR/out.txt"
: >"$out"
for n in vm vb km kb; do
    impl=vigil; [ "${n:0:1}" = k ] && impl=keepalived
    role=master; [ "${n:1:1}" = b ] && role=backup
    rss_tree=0; pss_tree=0
    for p in $(tree_pids "${PGID[$n]}"); do
        rss_tree=$(( rss_tree + $(kb "$p" VmRSS status) ))
        pss_tree=$(( pss_tree + $(kb "$p" Pss smaps_rollup) ))
    done
    echo "$impl $role $((T1[$n] - T0[$n])) $((S1[$n] - S0[$n])) $(kb "${VPID[$n]}" VmRSS status)" \
         "$(kb "${VPID[$n]}" Pss smaps_rollup) $rss_tree $pss_tree $(vip_count "$n")" >>"$out"
done

$PY - "$out" "$(getconf CLK_TCK)" "$WINDOW" "$INSTANCES" "$load0" "$load1" <<'EOF'
import sys
out, hz, window, n, load0, load1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
print(f"{n} VRRPv2 instances at advert_int 1 on one interface, {window} s window; "
      f"load average at start {load0}, at end {load1}")
print(f"{'impl':<12}{'node':<8}{'VIPs':>5}{'CPU% (ticks)':>14}{'CPU% (exact)':>14}{'RSS KiB':>9}{'PSS KiB':>9}"
      f"{'all procs RSS':>15}{'PSS':>8}")
for line in open(out):
    impl, role, ticks, ns, rss, pss, rss_t, pss_t, vips = line.split()
    print(f"{impl:<12}{role:<8}{vips:>5}{int(ticks) * 100 / hz / window:>14.2f}{int(ns) / 1e7 / window:>14.3f}"
          f"{rss:>9}{pss:>9}{rss_t:>15}{pss_t:>8}")
EOF
lab_done
