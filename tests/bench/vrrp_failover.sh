#!/bin/bash
# Benchmark (not a test): VRRP failover time, vigil next to keepalived in the
# same run, on a two-node namespace lab.
#
#   kill: SIGKILL of the master's whole process group -> the backup's first
#         gratuitous ARP for the VIP (protocol limit: Master_Down_Interval,
#         less however much of the current advert interval had passed);
#   term: SIGTERM of the master (priority 0 advert) -> the backup's first
#         gratuitous ARP (protocol limit: Skew_Time).
# Timestamps: the kill/term instant from the host clock, the GARP from
# tcpdump on the lab bridge (same clock). RUNS runs per cell (default 20).
#
# Usage (as root, from the build dir):
#   top_builddir=$PWD top_srcdir=/path/to/src bash tests/bench/vrrp_failover.sh
# Environment: RUNS=N, MODES="kill term", IMPLS="vigil keepalived",
#              CELLS="2:1 3:0.05" (version:advert_int).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd tcpdump setsid keepalived
RUNS="${RUNS:-20}"
MODES="${MODES:-kill term}"
IMPLS="${IMPLS:-vigil keepalived}"
CELLS="${CELLS:-2:1 3:0.05}"
VIP=10.77.0.100
PY=/usr/bin/python3

conf() {  # conf FILE PRIORITY VERSION ADVERT_INT STATE
    # garp_master_delay 0: no second GARP set 5 s later, which could be
    # mistaken for the takeover's first GARP in the next run.
    cat >"$1" <<EOF
global_defs {
    vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
    state $5
    interface eth0
    virtual_router_id 81
    priority $2
    version $3
    advert_int $4
    virtual_ipaddress {
        $VIP/24
    }
}
EOF
}

start_impl() {  # start_impl IMPL NODE CONF
    if [ "$1" = vigil ]; then start_vigil "$2" "$3"; else start_keepalived "$2" "$3"; fi
}

lab_switch
vrrp_node m 1
vrrp_node b 2

results="$T_DIR/results.txt"
: >"$results"
for cell in $CELLS; do
    ver=${cell%%:*}; adv=${cell##*:}
    for impl in $IMPLS; do
        conf "$T_DIR/m.conf" 150 "$ver" "$adv" MASTER
        conf "$T_DIR/b.conf" 100 "$ver" "$adv" BACKUP
        for mode in $MODES; do
            tag="$impl-v$ver-$adv-$mode"
            cap=$(capture "$tag" "arp")
            : >"$T_DIR/$tag.events"
            for run in $(seq 1 "$RUNS"); do
                pb=$(start_impl "$impl" b "$T_DIR/b.conf")
                pm=$(start_impl "$impl" m "$T_DIR/m.conf")
                if ! wait_until 10 only_holder $VIP m m b; then
                    echo "$tag run $run: master never settled" >&2
                    crash "$pm"; crash "$pb"; clear_vips m $VIP/24; clear_vips b $VIP/24
                    continue
                fi
                # Let the backup hear a few adverts, and desynchronise the kill
                # from the advert timer.
                sleep "$($PY -c "import random; print(round($adv * (3 + random.random()), 3))")"
                t=$(date +%s.%N)
                if [ "$mode" = kill ]; then crash "$pm"; else kill -TERM "$pm"; fi
                if wait_until 10 has_addr b eth0 $VIP; then
                    echo "$t" >>"$T_DIR/$tag.events"
                else
                    echo "$tag run $run: backup never took over" >&2
                fi
                sleep 0.1
                crash "$pm"; crash "$pb"
                wait_until 3 bash -c "! kill -0 $pm 2>/dev/null && ! kill -0 $pb 2>/dev/null"
                clear_vips m $VIP/24; clear_vips b $VIP/24
                sleep 0.2
            done
            stop_capture "$cap"
            # Only the backup's GARPs count (by source MAC).
            bmac=$(ip -n "$(ns b)" link show eth0 | awk '/link\/ether/ {print $2}')
            tcpdump -r "$T_DIR/$tag.pcap" -e -n -tt 2>/dev/null | grep -E "who-has $VIP .*tell $VIP" |
                awk -v mac="$bmac" '$2 == mac {print $1}' >"$T_DIR/$tag.garps"
            echo "$tag $ver $adv $mode $impl" >>"$results"
        done
    done
done

$PY - "$T_DIR" "$results" <<'EOF'
import sys, statistics
d, results = sys.argv[1], sys.argv[2]
def limits(ver, adv, prio=100):
    adv = float(adv)
    skew = (256 - prio) / 256 if ver == 2 else (256 - prio) * adv / 256
    return 3 * adv + skew, skew
rows = {}
for line in open(results):
    tag, ver, adv, mode, impl = line.split()
    events = [float(x) for x in open(f"{d}/{tag}.events")]
    garps = sorted(float(x) for x in open(f"{d}/{tag}.garps"))
    lat = []
    for t in events:
        nxt = [g for g in garps if g > t]
        if nxt: lat.append((nxt[0] - t) * 1000)
    rows[(int(ver), adv, mode, impl)] = lat
def pct(v, p):
    v = sorted(v); k = (len(v) - 1) * p / 100
    lo = int(k); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)
print(f"{'cell':<22}{'impl':<12}{'runs':>5}{'min':>9}{'median':>9}{'p99':>9}{'max':>9}   protocol limit (ms)")
for (ver, adv, mode, impl), lat in sorted(rows.items()):
    mdi, skew = limits(ver, adv)
    lim = f"Master_Down_Interval {mdi*1000:.1f}" if mode == "kill" else f"Skew_Time {skew*1000:.1f}"
    if not lat:
        print(f"v{ver} advert_int {adv} {mode:<5} {impl:<12} no data"); continue
    print(f"{'v%d adv %s %s' % (ver, adv, mode):<22}{impl:<12}{len(lat):>5}{min(lat):>9.1f}{statistics.median(lat):>9.1f}{pct(lat, 99):>9.1f}{max(lat):>9.1f}   {lim}")
EOF
lab_done
