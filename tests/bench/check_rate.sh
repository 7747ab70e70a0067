#!/bin/bash
# Check-rate benchmark on the host, in namespaces (not a pass/fail test).
#
# 100 virtual servers x 100 real servers (TCP_CHECK, 10,000 checkers) against
# one accept-and-close listener on 100 backend addresses; delay_loop decides
# the check rate (10 s -> 1,000 checks/s ... 1 s -> 10,000 checks/s). For each
# rate, over a measured window: checks/s done, probes started later than 10 ms
# after their due time, the worst lateness in the window, CPU% (user part in
# brackets) and RSS of the check process.
# Then the time from one listener stopping to its removal from the desired
# state, against the bound the config implies (delay_loop + retry x
# delay_before_retry).
#
#   sudo top_builddir=BUILD top_srcdir=SRC tests/bench/check_rate.sh [DELAY_LOOP...]
# Environment: WINDOW (seconds measured, default 10), NVS / NRS (virtual /
# real servers, default 100 / 100), BENCH_NICE (e.g. -5: run vigild at that
# nice level) or BENCH_RT=1 (see below).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

lab_init
require_cmd python3 socat
[ -x "$VIGILD" ] || { echo "SKIP: $VIGILD not built"; exit 77; }
DELAYS=("$@")
[ ${#DELAYS[@]} -gt 0 ] || DELAYS=(10 5 2 1)
WINDOW=${WINDOW:-10}
NVS=${NVS:-100}
NRS=${NRS:-100}
# BENCH_RT=1: vigild and the backend acceptors under SCHED_FIFO 10, so that
# other load on a shared machine does not decide the lateness (they use a few
# percent of a CPU; the kernel's RT throttling still bounds them).
PRIO=""
[ -n "${BENCH_NICE:-}" ] && PRIO="nice -n $BENCH_NICE"
[ -n "${BENCH_RT:-}" ] && PRIO="chrt -f 10"

lab_switch
lab_host dir eth0 10.78.0.1/16
lab_host be eth0 10.78.1.1/16
lab_host be2 eth0 10.78.2.1/16
{
    for i in $(seq 2 "$NRS"); do echo "addr add 10.78.1.$i/16 dev eth0"; done
} | ip -n "$(ns be)" -batch -
in_ns be sysctl -qw net.core.somaxconn=4096

cat >"$T_DIR/acceptor.py" <<'PY'
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("0.0.0.0", 80))
s.listen(4096)
while True:
    c, _ = s.accept()
    c.close()
PY
# Two acceptors (SO_REUSEPORT) so the backend is not what limits the rate.
for _ in 1 2; do
    pid=$(start_bg be "$T_DIR/acceptor.log" $PRIO python3 "$T_DIR/acceptor.py")
    T_PIDS+=("$pid")
done

write_config() {  # delay_loop
    local d="$1" v r
    {
        for v in $(seq 1 "$NVS"); do
            echo "virtual_server 10.78.200.$v 80 {"
            echo "    delay_loop $d"
            echo "    lb_algo wrr"
            echo "    lb_kind DR"
            [ "$v" = 1 ] && echo "    real_server 10.78.2.1 80 { TCP_CHECK { connect_timeout 2
                retry 1
                delay_before_retry 1 } }"
            for r in $(seq 1 "$NRS"); do
                echo "    real_server 10.78.1.$r 80 { TCP_CHECK { connect_timeout 2
                retry 1
                delay_before_retry 1 } }"
            done
            echo "}"
        done
    } >"$T_DIR/vigil.conf"
}

# SIGUSR1 makes the check child write check.stats.
snapshot() {
    rm -f "$T_DIR/run/check.stats"
    kill -USR1 "$1"
    wait_until 5 test -s "$T_DIR/run/check.stats" && cp "$T_DIR/run/check.stats" "$2"
}
stat_of() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
# Fields after the "(comm)" one, which may contain spaces.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
utime_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 }'; }

printf '%-10s %10s %10s %8s %12s %12s %8s %s\n' delay_loop checks/s target late max_late_ms 'cpu%(user)' rss_kB removal_ms
for d in "${DELAYS[@]}"; do
    write_config "$d"
    rm -rf "$T_DIR/run"; mkdir -p "$T_DIR/run"
    lsn=$(start_bg be2 "$T_DIR/lsn.log" socat TCP-LISTEN:80,reuseaddr,fork SYSTEM:true); T_PIDS+=("$lsn")
    vpid=$(start_bg dir "$T_DIR/vigild-$d.log" $PRIO "$VIGILD" -n -l -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run")
    T_PIDS+=("$vpid")
    wait_until 20 test -s "$T_DIR/run/check.state" || { echo "vigild did not start"; cat "$T_DIR/vigild-$d.log"; exit 1; }
    cpid=""
    for c in $(ps -o pid= --ppid "$vpid"); do
        grep -q check "/proc/$c/cmdline" 2>/dev/null && cpid=$c
    done
    [ -n "$cpid" ] || { echo "no check child"; exit 1; }
    # Past the start-up jitter (up to one delay_loop) before measuring.
    sleep "$(echo "$d + 1" | bc)"
    snapshot "$cpid" "$T_DIR/s1"
    t1=$(cpu_ticks "$cpid"); u1=$(utime_ticks "$cpid"); s1=$(now_ms)
    sleep "$WINDOW"
    snapshot "$cpid" "$T_DIR/s2"
    t2=$(cpu_ticks "$cpid"); u2=$(utime_ticks "$cpid"); s2=$(now_ms)
    probes=$(( $(stat_of "$T_DIR/s2" check_probes_started) - $(stat_of "$T_DIR/s1" check_probes_started) ))
    late=$(( $(stat_of "$T_DIR/s2" check_probes_late) - $(stat_of "$T_DIR/s1" check_probes_late) ))
    maxlate=$(stat_of "$T_DIR/s2" check_max_lateness_ms)
    failed=$(( $(stat_of "$T_DIR/s2" check_probes_failed) - $(stat_of "$T_DIR/s1" check_probes_failed) ))
    ms=$(( s2 - s1 ))
    rate=$(( probes * 1000 / ms ))
    hz=$(getconf CLK_TCK)
    cpu=$(echo "scale=1; ($t2 - $t1) * 100 * 1000 / $hz / $ms" | bc)
    ucpu=$(echo "scale=1; ($u2 - $u1) * 100 * 1000 / $hz / $ms" | bc)
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$cpid/status")
    target=$(echo "$NVS * $NRS / $d" | bc)
    # Removal: stop the listener of 10.78.2.1; DOWN once the retry is spent.
    kill "$lsn"; k0=$(now_ms)
    wait_until $(( ${d%.*} + 10 )) bash -c "grep -q '^rs 10.78.200.1:80 10.78.2.1:80 DOWN' '$T_DIR/run/check.state'"
    removal=$(( $(now_ms) - k0 ))
    bound=$(echo "($d + 1) * 1000" | bc)
    printf '%-10s %10s %10s %8s %12s %12s %8s %s\n' "$d" "$rate" "$target" "$late" "$maxlate" "$cpu($ucpu)" "$rss" \
        "$removal (expected 1000..${bound%.*}; failed probes in window: $failed)"
    kill "$vpid"
    wait_until 5 bash -c "! kill -0 $vpid 2>/dev/null"
done
