#!/bin/bash
# Core process: three processes by name, a killed child comes back (VRRP
# instance resumed as MASTER), SIGHUP with a broken config keeps everything
# running, SIGHUP with a good one reloads, SIGTERM stops in order and exits 0.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/process_lib.sh"
lab_init
lab_switch
lab_host d1 eth0 10.231.0.1/24

CONF="$T_DIR/vigil.conf"
LOG="$T_DIR/vigild.log"
RUN="$T_DIR/run"
process_config "$CONF" 100
start_vigild d1 "$LOG" -n -l -f "$CONF" --runtime-dir "$RUN"
CORE=$VIGILD_PID

check "core starts its vrrp and check children" wait_until 5 has_children "$CORE"
check "core's own command line is unchanged" grep -q "runtime-dir" "/proc/$CORE/cmdline"
check "pid file holds core's pid" test "$(cat "$RUN/vigild.pid" 2>/dev/null)" = "$CORE"
VRRP=$(child_pid "$CORE" vrrp)
CHECK=$(child_pid "$CORE" check)
check "ps shows 'vigild: vrrp' and 'vigild: check'" \
    bash -c "ps -o args= -p $VRRP | grep -qx 'vigild: vrrp *' && ps -o args= -p $CHECK | grep -qx 'vigild: check *'"
check "core reports running once both children are ready" wait_until 5 log_has "$LOG" "core: running"

# Let VI_1 (alone on the link) become MASTER, so the restart must resume it.
wait_until 6 log_has "$LOG" "core: VI_1: .*-> MASTER"
kill -KILL "$VRRP"
check "a SIGKILLed vrrp child is restarted with a new pid" \
    wait_until 3 bash -c "p=\$(. $top_srcdir/tests/lab/process_lib.sh; child_pid $CORE vrrp) && [ \"\$p\" != $VRRP ]"
check "core logs why the vrrp child died" log_has "$LOG" "vrrp child \(pid $VRRP\) died after [0-9]+ ms: killed by signal 9"
if log_has "$LOG" "core: VI_1: .*-> MASTER"; then
    check "the restarted vrrp child resumes VI_1 as MASTER" log_has "$LOG" "vrrp child resumes 1 instance\(s\) as MASTER"
else
    fail "VI_1 never became MASTER, resume not tested"
fi
kill -ABRT "$CHECK"
check "a crashed check child is restarted" \
    wait_until 3 bash -c "p=\$(. $top_srcdir/tests/lab/process_lib.sh; child_pid $CORE check) && [ \"\$p\" != $CHECK ]"
check "core logs the crash signal" log_has "$LOG" "check child \(pid $CHECK\) died after [0-9]+ ms: killed by signal 6"
VRRP=$(child_pid "$CORE" vrrp)
CHECK=$(child_pid "$CORE" check)

# Broken config: every error with file:line, old config and children kept.
cp "$CONF" "$T_DIR/good.conf"
bogus_line=$(( $(wc -l <"$CONF") + 3 ))
printf 'vrrp_instance VI_2 {\n    virtual_router_id 999\n    bogus_keyword 1\n}\n' >>"$CONF"
kill -HUP "$CORE"
check "a broken config is refused" wait_until 3 log_has "$LOG" "reload failed: [0-9]+ error"
check "the errors name file:line" log_has "$LOG" "error: $CONF:$bogus_line: .*bogus_keyword"
check "every error is reported" test "$(grep -c "error: $CONF:" "$LOG")" -ge 2
check "core still runs after a broken reload" alive "$CORE"
check "the same vrrp child still runs" test "$(child_pid "$CORE" vrrp)" = "$VRRP"
check "the same check child still runs" test "$(child_pid "$CORE" check)" = "$CHECK"

# Good config: handed to the running children, no restart.
process_config "$CONF" 110
kill -HUP "$CORE"
check "a good config is reloaded" wait_until 3 log_has "$LOG" "core: reload complete"
check "the vrrp child applied it" log_has "$LOG" "vrrp child applied the new config"
check "the check child, whose part (virtual servers) did not change, is left as it is" \
    log_has "$LOG" "virtual servers unchanged: check child left as it is"
check "reload does not restart the children" \
    test "$(child_pid "$CORE" vrrp) $(child_pid "$CORE" check)" = "$VRRP $CHECK"

# SIGTERM: vrrp first, then check, exit 0, nothing left behind.
kill -TERM "$CORE"
status=124
for _ in $(seq 1 100); do dead "$CORE" && break; sleep 0.1; done
dead "$CORE" && { wait "$CORE"; status=$?; }
check "SIGTERM: core exits with status 0" test "$status" = 0
check "SIGTERM: the vrrp child is gone" gone "$VRRP"
check "SIGTERM: the check child is gone" gone "$CHECK"
check "SIGTERM: vrrp is stopped before check" \
    bash -c "grep -n 'stopping vrrp child' '$LOG' | cut -d: -f1 > '$T_DIR/a'; grep -n 'stopping check child' '$LOG' | cut -d: -f1 > '$T_DIR/b'; [ \$(cat '$T_DIR/a') -lt \$(cat '$T_DIR/b') ]"
check "SIGTERM: the pid file is removed" test ! -e "$RUN/vigild.pid"
lab_done
