#!/bin/bash
# Benchmark (not a test): stability of a VRRPv3 pair at advert_int 0.01
# (Master_Down_Interval 36.1 ms for the priority-100 backup), vigil next to
# keepalived in the same run. The two pairs run at the same time, each on
# its own bridge (vigil on br0, VRID 91; keepalived on br1, VRID 92), so
# both see the same machine load.
#
# Counted over the window, per pair:
#   - spurious takeovers: the backup's transitions to MASTER (its log);
#   - the master's advert send intervals, from a capture on the pair's
#     bridge (kernel timestamps, not the capturing process's): p50, p99,
#     p99.9, max, and how many exceeded the backup's Master_Down_Interval
#     (each such gap is a takeover unless the backup was late too);
#   - adverts sent by the backup (it only sends while it thinks it is MASTER);
#   - CPU % of each VRRP process (master/backup) over the window.
# Machine load is recorded alongside: 1-minute load average sampled every
# 10 s, whole-machine CPU busy % from /proc/stat, QEMU processes running.
#
# Usage (root, from the build dir):
#   top_builddir=$PWD top_srcdir=/path/to/src bash tests/bench/vrrp_stability.sh
# Environment:
#   DURATION=S   window in seconds (default 600, the real run; e.g. 60 to try it)
#   BENCH_RT=1   run both daemons (every process of each) under SCHED_FIFO 10
#                via chrt, the same treatment for both. keepalived's own
#                vrrp_rt_priority would apply to its VRRP child only, and
#                vigil has no such keyword, so chrt is what both can get.
#                Default 0: ordinary scheduling, as both ship.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd tcpdump setsid keepalived chrt
DURATION="${DURATION:-600}"
BENCH_RT="${BENCH_RT:-0}"
ADV=0.01
PY=/usr/bin/python3
PRIO=()
[ "$BENCH_RT" = 1 ] && PRIO=(chrt -f 10)

conf() {  # conf FILE VRID PRIORITY VIP
    cat >"$1" <<EOF
global_defs {
    vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id $2
    priority $3
    version 3
    advert_int $ADV
    virtual_ipaddress {
        $4/24
    }
}
EOF
}

# move_to_bridge NODE BRIDGE: NODE's switch port onto BRIDGE (lab_host uses br0).
move_to_bridge() { ip -n "$(ns sw)" link set "p${T_ID#v}${1:0:6}" master "$2"; }

start_pair_node() {  # start_pair_node IMPL NODE CONF: prints the PID (= PGID)
    local impl="$1" node="$2" conf="$3"
    mkdir -p "$T_DIR/run-$node"
    rm -f "$T_DIR/$node.pid" "$T_DIR/$node.vrrp.pid" "$T_DIR/$node.check.pid"
    if [ "$impl" = vigil ]; then
        start_bg "$node" "$T_DIR/$node.log" "${PRIO[@]}" setsid "$VIGILD" -n -l -D -f "$conf" \
            --runtime-dir "$T_DIR/run-$node"
    else
        start_bg "$node" "$T_DIR/$node.log" "${PRIO[@]}" setsid keepalived -n -l -D -G -P -f "$conf" \
            -p "$T_DIR/$node.pid" -r "$T_DIR/$node.vrrp.pid" -c "$T_DIR/$node.check.pid"
    fi
}
vrrp_pid() {  # vrrp_pid IMPL NODE PID
    if [ "$1" = vigil ]; then ps -o pid=,args= --ppid "$3" | awk '/vrrp/ {print $1}'
    else cat "$T_DIR/$2.vrrp.pid" 2>/dev/null; fi
}
to_master_count() {  # to_master_count IMPL NODE: transitions to MASTER in NODE's log
    if [ "$1" = vigil ]; then grep -c -- "-> Master" "$T_DIR/$2.log"
    else grep -c "Entering MASTER STATE" "$T_DIR/$2.log"; fi
}
# On-CPU time in ns, all threads (the scheduler's exact figure, not ticks).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
machine_ticks() { awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6}' /proc/stat; }

lab_switch
ip -n "$(ns sw)" link add br1 type bridge mcast_snooping 0 stp_state 0 forward_delay 0
ip -n "$(ns sw)" link set br1 up
vrrp_node vm 1; vrrp_node vb 2
vrrp_node km 1; vrrp_node kb 2
move_to_bridge km br1; move_to_bridge kb br1

conf "$T_DIR/vm.conf" 91 150 10.77.0.100
conf "$T_DIR/vb.conf" 91 100 10.77.0.100
conf "$T_DIR/km.conf" 92 150 10.77.0.101
conf "$T_DIR/kb.conf" 92 100 10.77.0.101
declare -A PGID
PGID[vb]=$(start_pair_node vigil vb "$T_DIR/vb.conf")
PGID[vm]=$(start_pair_node vigil vm "$T_DIR/vm.conf")
PGID[kb]=$(start_pair_node keepalived kb "$T_DIR/kb.conf")
PGID[km]=$(start_pair_node keepalived km "$T_DIR/km.conf")
wait_until 15 only_holder 10.77.0.100 vm vm vb || { echo "vigil pair: no master" >&2; exit 99; }
wait_until 15 only_holder 10.77.0.101 km km kb || { echo "keepalived pair: no master" >&2; exit 99; }
sleep 2  # past the start-up transitions

declare -A VPID BASE CPU0
for n in vm vb; do VPID[$n]=$(vrrp_pid vigil $n "${PGID[$n]}"); done
for n in km kb; do VPID[$n]=$(vrrp_pid keepalived $n "${PGID[$n]}"); done
for n in vm vb; do BASE[$n]=$(to_master_count vigil $n); done
for n in km kb; do BASE[$n]=$(to_master_count keepalived $n); done
for n in vm vb km kb; do CPU0[$n]=$(cpu_ns "${VPID[$n]}"); done

cap_v=$(start_bg sw "$T_DIR/v.tcpdump.log" tcpdump -i br0 --immediate-mode -U -n -w "$T_DIR/v.pcap" "ip proto 112")
cap_k=$(start_bg sw "$T_DIR/k.tcpdump.log" tcpdump -i br1 --immediate-mode -U -n -w "$T_DIR/k.pcap" "ip proto 112")
wait_until 5 grep -q "listening on" "$T_DIR/v.tcpdump.log"
wait_until 5 grep -q "listening on" "$T_DIR/k.tcpdump.log"

echo "window: ${DURATION}s, BENCH_RT=$BENCH_RT ($( [ "$BENCH_RT" = 1 ] && echo "both under chrt -f 10" || echo "ordinary scheduling"))"
read -r busy0 total0 < <(machine_ticks)
: >"$T_DIR/load.txt"
t_end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$t_end" ]; do
    # 1-min load average, QEMU processes on the machine (other work sharing it).
    echo "$(cut -d' ' -f1 /proc/loadavg) $(ps -eo comm= | grep -c qemu)" >>"$T_DIR/load.txt"
    left=$(( t_end - $(date +%s) ))
    sleep $(( left < 10 ? (left > 0 ? left : 0) : 10 ))
done
read -r busy1 total1 < <(machine_ticks)
declare -A CPU1
for n in vm vb km kb; do CPU1[$n]=$(cpu_ns "${VPID[$n]}"); done
stop_capture "$cap_v"; stop_capture "$cap_k"

out="$T_DIR/summary.txt"
{
    for pair in v:vigil:vm:vb:10.77.0.1:10.77.0.2 k:keepalived:km:kb:10.77.0.1:10.77.0.2; do
        IFS=: read -r p impl m b msrc bsrc <<<"$pair"
        # alive: both nodes' VRRP processes still ran at the end.
        alive=1; kill -0 "${VPID[$m]}" 2>/dev/null || alive=0; kill -0 "${VPID[$b]}" 2>/dev/null || alive=0
        echo "pair $impl $p $msrc $bsrc" \
             "$(( $(to_master_count "$impl" "$b") - BASE[$b] ))" \
             "$(( $(to_master_count "$impl" "$m") - BASE[$m] ))" \
             "$(( CPU1[$m] - CPU0[$m] ))" "$(( CPU1[$b] - CPU0[$b] ))" "$alive"
        tcpdump -r "$T_DIR/$p.pcap" -n -tt 2>/dev/null | awk '/VRRPv3, Advertisement/ {print $1, $3}' >"$T_DIR/$p.adverts"
    done
    echo "machine $busy0 $total0 $busy1 $total1 $DURATION"
} >"$out"

$PY - "$T_DIR" "$out" <<'EOF'
import sys
d, summary = sys.argv[1], sys.argv[2]
adv_ms = 10.0
mdi_ms = 3 * adv_ms + (256 - 100) * adv_ms / 256   # the backup's Master_Down_Interval
def pct(v, p):
    v = sorted(v); k = (len(v) - 1) * p / 100
    lo = int(k); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)
rows, machine = [], None
for line in open(summary):
    f = line.split()
    if f[0] == "machine": machine = [int(x) for x in f[1:6]]; continue
    _, impl, p, msrc, bsrc, b_to_m, m_to_m, cpu_m, cpu_b, alive = f
    t_m, t_b = [], 0
    for l in open(f"{d}/{p}.adverts"):
        ts, src = l.split()
        if src == msrc: t_m.append(float(ts))
        elif src == bsrc: t_b += 1
    iv = [(b - a) * 1000 for a, b in zip(t_m, t_m[1:])]
    rows.append((impl, int(b_to_m), int(m_to_m), len(t_m), t_b, iv, int(cpu_m), int(cpu_b), alive == "1"))
busy0, total0, busy1, total1, dur = machine
load = [l.split() for l in open(f"{d}/load.txt")]
la = [float(x[0]) for x in load]; qemu = [int(x[1]) for x in load]
print(f"VRRPv3 advert_int 0.01, {dur} s window; backup's Master_Down_Interval {mdi_ms:.1f} ms")
print(f"machine: {(busy1 - busy0) * 100 / max(1, total1 - total0):.0f}% CPU busy (all cores), load average (1 min) "
      f"min {min(la):.2f} / mean {sum(la) / len(la):.2f} / max {max(la):.2f}, QEMU processes {min(qemu)}-{max(qemu)}")
print()
print(f"{'impl':<12}{'spurious':>9}{'adverts':>9}{'backup':>8}{'mean':>8}{'p50':>8}{'p99':>8}{'p99.9':>8}{'max':>8}{'gaps>MDI':>9}{'CPU% m/b':>13}")
print(f"{'':<12}{'takeovers':>9}{'(master)':>9}{'adverts':>8}{'(ms)':>8}{'(ms)':>8}{'(ms)':>8}{'(ms)':>8}{'(ms)':>8}{'':>9}{'':>13}")
for impl, b_to_m, m_to_m, n_m, n_b, iv, cpu_m, cpu_b, alive in rows:
    if not iv:
        print(f"{impl:<12} no adverts captured"); continue
    cpu = f"{cpu_m / 1e7 / dur:.2f}/{cpu_b / 1e7 / dur:.2f}"
    print(f"{impl:<12}{b_to_m:>9}{n_m:>9}{n_b:>8}{sum(iv) / len(iv):>8.2f}{pct(iv, 50):>8.2f}{pct(iv, 99):>8.2f}{pct(iv, 99.9):>8.2f}"
          f"{max(iv):>8.2f}{sum(1 for x in iv if x > mdi_ms):>9}{cpu:>13}" + ("" if alive else "  (a VRRP process died)"))
    if m_to_m: print(f"{'':<12}(the master also re-entered MASTER {m_to_m} time(s))")
EOF
lab_done
