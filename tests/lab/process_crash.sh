#!/bin/bash
# Core process: SIGKILL of core takes the children down within 1 s; a child
# that keeps dying hits the crash-loop limit and is left down; a vrrp child
# that does so while MASTER makes core resign the instance (priority 0).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/process_lib.sh"
lab_init
lab_switch
lab_host d1 eth0 10.231.0.1/24
process_config "$T_DIR/vigil.conf"

# 1. SIGKILL core: children must notice (PDEATHSIG, channel EOF) and exit.
start_vigild d1 "$T_DIR/a.log" -n -l -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run-a"
CORE=$VIGILD_PID
check "core starts its children" wait_until 5 has_children "$CORE"
VRRP=$(child_pid "$CORE" vrrp)
CHECK=$(child_pid "$CORE" check)
t0=$(now_ms)
kill -KILL "$CORE"
wait_until 1 bash -c ". $top_srcdir/tests/lab/process_lib.sh; gone $VRRP && gone $CHECK"
t1=$(now_ms)
echo "# children gone $((t1 - t0)) ms after SIGKILL of core"
check "SIGKILL core: vrrp child gone within 1 s" gone "$VRRP"
check "SIGKILL core: check child gone within 1 s" gone "$CHECK"

# 2. Crash loop: the limit is 3 deaths in 30 s; a 4th start never happens.
start_vigild d1 "$T_DIR/b.log" -n -l -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run-b" \
    --crash-limit 3 --crash-window 30 --restart-delay 50 --restart-delay-max 200
CORE=$VIGILD_PID
check "core starts its children" wait_until 5 has_children "$CORE"
for i in 1 2 3; do
    CHECK=$(child_pid "$CORE" check) || { fail "no check child before death $i"; break; }
    kill -KILL "$CHECK"
    if [ "$i" -lt 3 ]; then
        check "check child restarted after death $i" \
            wait_until 3 bash -c "p=\$(. $top_srcdir/tests/lab/process_lib.sh; child_pid $CORE check) && [ \"\$p\" != $CHECK ]"
    fi
done
check "core logs the crash loop" wait_until 3 log_has "$T_DIR/b.log" "check child died 3 times within 30 s: crash loop, not restarting it"
check "backoff doubles between restarts" \
    bash -c "grep -q 'restarting check child in 50 ms' '$T_DIR/b.log' && grep -q 'restarting check child in 100 ms' '$T_DIR/b.log'"
sleep 0.5
check "the check child stays down" bash -c "! (. $top_srcdir/tests/lab/process_lib.sh; child_pid $CORE check)"
check "core and the vrrp child keep running" bash -c "kill -0 $CORE && . $top_srcdir/tests/lab/process_lib.sh && child_pid $CORE vrrp >/dev/null"
kill -TERM "$CORE"
for _ in $(seq 1 50); do dead "$CORE" && break; sleep 0.1; done
status=124
dead "$CORE" && { wait "$CORE"; status=$?; }
check "SIGTERM after a crash loop: exit 0" test "$status" = 0

# 3. The vrrp child crash-loops while MASTER: core itself removes the VIP and
# sends priority 0, so the BACKUP peer takes over after Skew_Time (~0.65 s)
# instead of Master_Down_Interval (3 x 1 s + skew).
lab_host d2 eth0 10.231.0.2/24
process_config "$T_DIR/d2.conf" 90
start_vigild d1 "$T_DIR/c.log" -n -l -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run-c" \
    --crash-limit 2 --crash-window 30 --restart-delay 50
CORE=$VIGILD_PID
start_vigild d2 "$T_DIR/d.log" -n -l -f "$T_DIR/d2.conf" --runtime-dir "$T_DIR/run-d"
PEER=$VIGILD_PID
check "d1 becomes MASTER and holds the VIP" wait_until 8 has_addr d1 eth0 10.231.0.100
check "d2 is BACKUP" wait_until 3 log_has "$T_DIR/d.log" "core: VI_1: INIT -> BACKUP"
VRRP=$(child_pid "$CORE" vrrp)
kill -KILL "$VRRP"
wait_until 3 bash -c "p=\$(. $top_srcdir/tests/lab/process_lib.sh; child_pid $CORE vrrp) && [ \"\$p\" != $VRRP ]"
wait_until 3 log_has "$T_DIR/c.log" "core: VI_1: .*-> MASTER"
VRRP=$(child_pid "$CORE" vrrp)
t0=$(now_ms)
kill -KILL "$VRRP"
check "crash loop of vrrp: the peer takes the VIP" wait_until 3 has_addr d2 eth0 10.231.0.100
t1=$(now_ms)
echo "# peer took over $((t1 - t0)) ms after the last vrrp crash"
check "crash loop of vrrp: core logs that it resigned VI_1" log_has "$T_DIR/c.log" "VI_1: vrrp child is down for good: sent priority 0"
check "crash loop of vrrp: core removed the VIP" bash -c "! (. $top_srcdir/tests/lib.sh; T_ID=$T_ID; has_addr d1 eth0 10.231.0.100)"
check "crash loop of vrrp: takeover faster than Master_Down_Interval" test $((t1 - t0)) -lt 2000
lab_done
