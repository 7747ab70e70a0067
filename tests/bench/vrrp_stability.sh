#!/bin/bash
# Benchmark (not a test): stability of a VRRPv3 pair at advert_int 0.01
# (Master_Down_Interval 36.1 ms for the priority-100 backup), vigil next to
# keepalived in the same run. The pairs run at the same time, each on its
# own bridge and VRID, so all see the same machine load.
#
# Counted over the window, per pair:
#   - spurious takeovers: the backup's transitions to MASTER (its log);
#   - the master's advert send intervals, from a capture on the pair's
#     bridge (kernel timestamps, not the capturing process's): mean, p50,
#     p99, p99.9, max, and how many exceeded the backup's
#     Master_Down_Interval (each such gap is a takeover unless the backup
#     was late too);
#   - adverts sent by the backup (it only sends while it thinks it is MASTER);
#   - CPU % of each VRRP process (master/backup), from the scheduler's
#     on-CPU time.
# Machine load is recorded alongside: 1-minute load average sampled every
# 10 s, whole-machine CPU busy % from /proc/stat, QEMU processes running.
#
# Usage (root, from the build dir):
#   top_builddir=$PWD top_srcdir=/path/to/src bash tests/bench/vrrp_stability.sh
# Environment:
#   DURATION=S   window in seconds (default 600, the real run; e.g. 60 to try it)
#   BENCH_RT=0|1|both (default both)
#       1: both daemons (every process of each) under SCHED_FIFO 10 via chrt,
#       the same treatment for both. keepalived's own vrrp_rt_priority would
#       apply to its VRRP child only, and vigil has no such keyword, so chrt is
#       what both can get. 0: ordinary scheduling, as both ship.
#       both: four pairs at once (vigil and keepalived, each with and without
#       realtime), each on its own bridge, so one window gives both answers.
#   BENCH_KEEP=DIR  copy the raw figures (summary, advert times, load) there.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd tcpdump setsid keepalived chrt
DURATION="${DURATION:-600}"
BENCH_RT="${BENCH_RT:-both}"
ADV=0.01
PY=/usr/bin/python3
case "$BENCH_RT" in
    0) PAIRS=(vigil:0 keepalived:0) ;;
    1) PAIRS=(vigil:1 keepalived:1) ;;
    both) PAIRS=(vigil:0 keepalived:0 vigil:1 keepalived:1) ;;
    *) echo "BENCH_RT must be 0, 1 or both" >&2; exit 99 ;;
esac

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

start_pair_node() {  # start_pair_node IMPL RT NODE CONF: prints the PID (= PGID)
    local impl="$1" rt="$2" node="$3" conf="$4"
    local prio=()
    [ "$rt" = 1 ] && prio=(chrt -f 10)
    mkdir -p "$T_DIR/run-$node"
    rm -f "$T_DIR/$node.pid" "$T_DIR/$node.vrrp.pid" "$T_DIR/$node.check.pid"
    if [ "$impl" = vigil ]; then
        start_bg "$node" "$T_DIR/$node.log" "${prio[@]}" setsid "$VIGILD" -n -l -D -f "$conf" \
            --runtime-dir "$T_DIR/run-$node"
    else
        start_bg "$node" "$T_DIR/$node.log" "${prio[@]}" setsid keepalived -n -l -D -G -P -f "$conf" \
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
# On-CPU time in ns, all threads (the scheduler's exact figure, not ticks);
# printf because mawk prints large numbers in exponent form.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
machine_ticks() { awk '/^cpu / {b = $2 + $3 + $4 + $7 + $8 + $9; printf "%.0f %.0f\n", b, b + $5 + $6}' /proc/stat; }

lab_switch
declare -A PGID VPID BASE CPU0 CPU1 CAP
for i in "${!PAIRS[@]}"; do
    IFS=: read -r impl rt <<<"${PAIRS[$i]}"
    [ "$i" -gt 0 ] && ip -n "$(ns sw)" link add "br$i" type bridge mcast_snooping 0 stp_state 0 forward_delay 0
    ip -n "$(ns sw)" link set "br$i" up
    vrrp_node "p${i}m" 1; vrrp_node "p${i}b" 2
    move_to_bridge "p${i}m" "br$i"; move_to_bridge "p${i}b" "br$i"
    conf "$T_DIR/p${i}m.conf" $((91 + i)) 150 "10.77.0.$((100 + i))"
    conf "$T_DIR/p${i}b.conf" $((91 + i)) 100 "10.77.0.$((100 + i))"
    PGID[p${i}b]=$(start_pair_node "$impl" "$rt" "p${i}b" "$T_DIR/p${i}b.conf")
    PGID[p${i}m]=$(start_pair_node "$impl" "$rt" "p${i}m" "$T_DIR/p${i}m.conf")
done
for i in "${!PAIRS[@]}"; do
    wait_until 15 only_holder "10.77.0.$((100 + i))" "p${i}m" "p${i}m" "p${i}b" ||
        { echo "pair $i (${PAIRS[$i]}): no master" >&2; exit 99; }
done
sleep 2  # past the start-up transitions

for i in "${!PAIRS[@]}"; do
    impl=${PAIRS[$i]%%:*}
    for n in "p${i}m" "p${i}b"; do
        VPID[$n]=$(vrrp_pid "$impl" "$n" "${PGID[$n]}")
        BASE[$n]=$(to_master_count "$impl" "$n")
        CPU0[$n]=$(cpu_ns "${VPID[$n]}")
    done
    CAP[$i]=$(start_bg sw "$T_DIR/p$i.tcpdump.log" tcpdump -i "br$i" --immediate-mode -U -n -w "$T_DIR/p$i.pcap" "ip proto 112")
done
for i in "${!PAIRS[@]}"; do wait_until 5 grep -q "listening on" "$T_DIR/p$i.tcpdump.log"; done

echo "window: ${DURATION}s, pairs (impl:realtime): ${PAIRS[*]}"
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
for n in "${!VPID[@]}"; do CPU1[$n]=$(cpu_ns "${VPID[$n]}"); done
for i in "${!PAIRS[@]}"; do stop_capture "${CAP[$i]}"; done

out="$T_DIR/summary.txt"
{
    for i in "${!PAIRS[@]}"; do
        IFS=: read -r impl rt <<<"${PAIRS[$i]}"
        m="p${i}m"; b="p${i}b"
        # alive: both nodes' VRRP processes still ran at the end.
        alive=1; kill -0 "${VPID[$m]}" 2>/dev/null || alive=0; kill -0 "${VPID[$b]}" 2>/dev/null || alive=0
        echo "pair $impl $rt p$i 10.77.0.1 10.77.0.2" \
             "$(( $(to_master_count "$impl" "$b") - BASE[$b] ))" \
             "$(( $(to_master_count "$impl" "$m") - BASE[$m] ))" \
             "${CPU0[$m]} ${CPU1[$m]} ${CPU0[$b]} ${CPU1[$b]} $alive"
        tcpdump -r "$T_DIR/p$i.pcap" -n -tt 2>/dev/null | awk '/VRRPv3, Advertisement/ {print $1, $3}' >"$T_DIR/p$i.adverts"
    done
    echo "machine $busy0 $total0 $busy1 $total1 $DURATION"
} >"$out"
# BENCH_KEEP=DIR: keep the raw figures (a 10-minute window is not cheap to redo).
[ -n "${BENCH_KEEP:-}" ] && mkdir -p "$BENCH_KEEP" && cp "$out" "$T_DIR"/p*.adverts "$T_DIR/load.txt" "$BENCH_KEEP/"

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
    _, impl, rt, p, msrc, bsrc, b_to_m, m_to_m, m0, m1, b0, b1, alive = f
    t_m, t_b = [], 0
    for l in open(f"{d}/{p}.adverts"):
        ts, src = l.split()
        if src == msrc: t_m.append(float(ts))
        elif src == bsrc: t_b += 1
    iv = [(b - a) * 1000 for a, b in zip(t_m, t_m[1:])]
    rows.append((impl + (" (rt)" if rt == "1" else ""), int(b_to_m), int(m_to_m), len(t_m), t_b, iv,
                 int(m1) - int(m0), int(b1) - int(b0), alive == "1"))
busy0, total0, busy1, total1, dur = machine
load = [l.split() for l in open(f"{d}/load.txt")]
la = [float(x[0]) for x in load]; qemu = [int(x[1]) for x in load]
print(f"VRRPv3 advert_int 0.01, {dur} s window; backup's Master_Down_Interval {mdi_ms:.1f} ms; (rt) = chrt -f 10")
print(f"machine: {(busy1 - busy0) * 100 / max(1, total1 - total0):.0f}% CPU busy (all cores), load average (1 min) "
      f"min {min(la):.2f} / mean {sum(la) / len(la):.2f} / max {max(la):.2f}, QEMU processes {min(qemu)}-{max(qemu)}")
print()
print(f"{'impl':<17}{'spurious':>9}{'adverts':>9}{'backup':>8}{'mean':>8}{'p50':>8}{'p99':>8}{'p99.9':>8}{'max':>8}{'gaps>MDI':>9}{'CPU% m/b':>13}")
print(f"{'':<17}{'takeovers':>9}{'(master)':>9}{'adverts':>8}{'(ms)':>8}{'(ms)':>8}{'(ms)':>8}{'(ms)':>8}{'(ms)':>8}{'':>9}{'':>13}")
for impl, b_to_m, m_to_m, n_m, n_b, iv, cpu_m, cpu_b, alive in rows:
    if not iv:
        print(f"{impl:<17} no adverts captured"); continue
    cpu = f"{cpu_m / 1e7 / dur:.2f}/{cpu_b / 1e7 / dur:.2f}"
    print(f"{impl:<17}{b_to_m:>9}{n_m:>9}{n_b:>8}{sum(iv) / len(iv):>8.2f}{pct(iv, 50):>8.2f}{pct(iv, 99):>8.2f}{pct(iv, 99.9):>8.2f}"
          f"{max(iv):>8.2f}{sum(1 for x in iv if x > mdi_ms):>9}{cpu:>13}" + ("" if alive else "  (a VRRP process died)"))
    if m_to_m: print(f"{'':<17}(the master also re-entered MASTER {m_to_m} time(s))")
EOF
lab_done
