#!/bin/bash
# Core process: SIGKILL of core takes the children down within 1 s; a child
# that keeps dying hits the crash-loop limit and is left down.
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
lab_done
