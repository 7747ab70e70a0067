#!/bin/bash
# Guest side of check_cpu.sh (issue 5 benchmark): 100 virtual servers x 100
# real servers with TCP_CHECK and delay_loop 10 (10,000 checkers, about 1,000
# checks/s) against real listeners, with real IPVS, run by
#   (a) vigild (its check child), then
#   (b) keepalived -C (its checker child),
#   (c) tcp_connect_floor: the same connect + RST close at the same rate, with
#       nothing else (no loop, no timers): the kernel's own cost of the checks,
# one after the other in the same guest, each in a fresh network namespace.
# For each: after a warm-up (from a complete IPVS table), CPU% of
# the check process over a fixed window from /proc/PID/stat (utime + stime;
# user part in brackets), its RSS (anonymous + file-backed) at the end of the
# window, and the checks/s the listener accepted in the window (the same work
# for both). Prints figures; not a pass/fail test (exit 0 unless something
# could not run at all).
# Addresses: 10.100.0.x (VIPs), 10.200.x.y (real servers, local inside each
# namespace, so every check reaches a listener there); nothing leaves the
# namespaces.
set -u
. "$top_srcdir/tests/lib.sh"
T_NAME=check_cpu_guest
lab_init
require_cmd keepalived python3
[ -x "$VIGILD" ] || { echo "SKIP: $VIGILD not built"; exit 77; }
S="${BENCH_VS:-100}"
R="${BENCH_RS:-100}"
DELAY="${BENCH_DELAY:-10}"
WARMUP="${BENCH_WARMUP:-30}"
WINDOW="${BENCH_WINDOW:-60}"
HZ=$(getconf CLK_TCK)
RULES=$((S * R + S))

conf="$T_DIR/bench.conf"
{
    for s in $(seq 0 $((S - 1))); do
        printf 'virtual_server 10.100.0.%d 80 {\n    delay_loop %s\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n' "$s" "$DELAY"
        for r in $(seq 0 $((R - 1))); do
            printf '    real_server 10.200.%d.%d 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n' "$s" "$r"
        done
        printf '}\n'
    done
} >"$conf"
echo "config: $S x $R TCP_CHECK, delay_loop $DELAY s (target $((S * R / DELAY)) checks/s); warm-up $WARMUP s, window $WINDOW s"
echo "guest: $(nproc) CPUs, kernel $(uname -r), $(keepalived -v 2>&1 | head -1)"

# The listener counts accepted connections and writes the count to a file
# on SIGUSR1, so the checks each daemon made in the window are measured at
# the receiving end, the same way for both.
cat >"$T_DIR/listener.py" <<'PY'
import signal, socket, sys
count = 0
def dump(*_):
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % count)
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
signal.signal(signal.SIGUSR1, dump)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(4096)
while True:
    try:
        c, _ = s.accept()
    except InterruptedError:
        continue
    count += 1
    c.close()
PY

modprobe -a ip_vs ip_vs_wrr || echo "modprobe ip_vs ip_vs_wrr failed"
# Warm the 9p page cache for both binaries.
"$VIGILD" --version >/dev/null 2>&1; keepalived -v >/dev/null 2>&1

# fresh NAME: a namespace with lo up and the real servers' addresses local.
fresh() {
    ns_add "$1"
    ip -n "$(ns "$1")" route add local 10.200.0.0/16 dev lo
    in_ns "$1" sysctl -qw net.core.somaxconn=4096
}
# listener NAME: a listener on port 80 in NAME; prints its PID.
# Waits until it listens: SIGUSR1 before python has set its handler kills it.
listener() {
    local pid
    pid=$(start_bg "$1" "$T_DIR/$1.listener.log" python3 "$T_DIR/listener.py" "$T_DIR/$1.accepted")
    wait_until 30 tcp_listening "$1" 80
    echo "$pid"
}
accepted() {  # LISTENER_PID NAME: connections accepted so far
    rm -f "$T_DIR/$2.accepted"
    kill -USR1 "$1"
    wait_until 5 test -s "$T_DIR/$2.accepted"
    cat "$T_DIR/$2.accepted"
}
# Fields after "(comm)", which may contain spaces: 14 utime, 15 stime.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
utime_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 }'; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
rules() { in_ns "$1" ipvsadm -Sn 2>/dev/null | wc -l; }

# Rules in a namespace's table: /proc/net/ip_vs has 3 header lines, then one
# line per service and per destination (cheaper to poll than ipvsadm).
count_rules() { echo $(( $(in_ns "$1" cat /proc/net/ip_vs | wc -l) - 3 )); }

# measure NAME CHECK_PID LISTENER_PID START_NS: sets FIG_<NAME>_* after the
# window. The warm-up counts from a complete IPVS table (in a TCG guest,
# parsing and programming 10,000 rules takes a while, differently for each).
measure() {
    local name="$1" pid="$2" lsn="$3" start="$4" a1 a2 t1 t2 u1 u2 s1 s2 ms
    local deadline=$(( $(date +%s) + 600 ))
    while [ "$(count_rules "$name")" -lt "$RULES" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
    printf -v "FIG_${name}_table" '%s' "$(( ($(date +%s%N) - start) / 1000000 ))"
    sleep "$WARMUP"
    a1=$(accepted "$lsn" "$name"); t1=$(cpu_ticks "$pid"); u1=$(utime_ticks "$pid"); s1=$(now_ms)
    sleep "$WINDOW"
    a2=$(accepted "$lsn" "$name"); t2=$(cpu_ticks "$pid"); u2=$(utime_ticks "$pid"); s2=$(now_ms)
    ms=$((s2 - s1))
    printf -v "FIG_${name}_cpu" '%s' "$(awk -v t="$((t2 - t1))" -v hz="$HZ" -v ms="$ms" 'BEGIN { printf "%.1f", t * 100 * 1000 / hz / ms }')"
    printf -v "FIG_${name}_ucpu" '%s' "$(awk -v t="$((u2 - u1))" -v hz="$HZ" -v ms="$ms" 'BEGIN { printf "%.1f", t * 100 * 1000 / hz / ms }')"
    printf -v "FIG_${name}_rate" '%s' "$(( (a2 - a1) * 1000 / ms ))"
    printf -v "FIG_${name}_rss" '%s' "$(status_kb "$pid" VmRSS)"
    printf -v "FIG_${name}_anon" '%s' "$(status_kb "$pid" RssAnon)"
    printf -v "FIG_${name}_file" '%s' "$(status_kb "$pid" RssFile)"
    printf -v "FIG_${name}_hwm" '%s' "$(status_kb "$pid" VmHWM)"
    printf -v "FIG_${name}_rules" '%s' "$(rules "$name")"
}

# (a) vigil
fresh vigil
lv=$(listener vigil)
mkdir -p "$T_DIR/run"
t0=$(date +%s%N)
vpid=$(start_bg vigil "$T_DIR/vigild.log" "$VIGILD" -n -l -f "$conf" --runtime-dir "$T_DIR/run")
wait_until 300 test -s "$T_DIR/run/check.state" || { echo "vigild did not start"; cat "$T_DIR/vigild.log"; exit 1; }
cpid=""
for c in $(ps -o pid= --ppid "$vpid"); do
    grep -q check "/proc/$c/cmdline" 2>/dev/null && cpid=$c
done
[ -n "$cpid" ] || { echo "no vigil check child"; exit 1; }
measure vigil "$cpid" "$lv" "$t0"
# vigil's own counters (SIGUSR1 writes check.stats): did it keep up?
rm -f "$T_DIR/run/check.stats"; kill -USR1 "$cpid"
wait_until 10 test -s "$T_DIR/run/check.stats"
vstat() { awk -v k="$1" '$1 == k { print $2 }' "$T_DIR/run/check.stats"; }
kill -TERM "$vpid"; wait_until 30 bash -c "! kill -0 $vpid 2>/dev/null"

# (b) keepalived, checker process only
fresh kad
lk=$(listener kad)
t0=$(date +%s%N)
kpid=$(start_bg kad "$T_DIR/keepalived.log" keepalived -n -l -D -G -C -f "$conf" \
    -p "$T_DIR/k.pid" -c "$T_DIR/kc.pid" -r "$T_DIR/kv.pid")
wait_until 300 test -s "$T_DIR/kc.pid" || { echo "keepalived did not start"; cat "$T_DIR/keepalived.log"; exit 1; }
kcpid=$(cat "$T_DIR/kc.pid")
measure kad "$kcpid" "$lk" "$t0"
kill -TERM "$kpid"; wait_until 30 bash -c "! kill -0 $kpid 2>/dev/null"

# (c) the floor, at the target rate, for the same window.
fresh floor
lf=$(listener floor)
a1=$(accepted "$lf" floor)
floor_out=$(in_ns floor "$top_builddir/tests/bench/tcp_connect_floor" "$((S * R / DELAY))" "$WINDOW" "$S" "$R" 2>&1)
a2=$(accepted "$lf" floor)

row() { printf '%-34s %18s %18s\n' "$1" "$2" "$3"; }
echo
row "check process" "vigil" "keepalived"
row "start -> full IPVS table, ms" "$FIG_vigil_table" "$FIG_kad_table"
row "CPU % of one CPU (user)" "$FIG_vigil_cpu ($FIG_vigil_ucpu)" "$FIG_kad_cpu ($FIG_kad_ucpu)"
row "RSS kB" "$FIG_vigil_rss" "$FIG_kad_rss"
row "  anonymous / file-backed kB" "$FIG_vigil_anon / $FIG_vigil_file" "$FIG_kad_anon / $FIG_kad_file"
row "  peak RSS (VmHWM) kB" "$FIG_vigil_hwm" "$FIG_kad_hwm"
row "checks/s accepted by the listener" "$FIG_vigil_rate" "$FIG_kad_rate"
row "IPVS rules (ipvsadm -Sn lines)" "$FIG_vigil_rules" "$FIG_kad_rules"
echo "(c) minimal prober, same listener set-up: $floor_out, accepted $(( (a2 - a1) / WINDOW ))/s"
echo "vigil since start: $(vstat check_probes_started) probes, $(vstat check_probes_failed) failed," \
    "$(vstat check_probes_late) started more than 10 ms late, $(vstat ipvs_reconciles) reconciles"
exit 0
