#!/bin/bash
# A child with nothing configured is not started (keepalived does the same):
# a config without vrrp_instance runs no vrrp child, one without
# virtual_server no check child, one with neither no child at all, and each
# says so in the log and in --status. A reload that gives a child something
# starts it with the new config (the reload completes once it is ready): the
# VIP comes up. A child that loses its part at a reload keeps running, idle.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/process_lib.sh"
lab_init
lab_switch
lab_host d1 eth0 10.231.0.1/24

CONF="$T_DIR/vigil.conf"
LOG="$T_DIR/vigild.log"
RUN="$T_DIR/run"
# The virtual server of process_config, without the VRRP instance.
vs_only() {
    process_config "$1"
    sed -i '/^vrrp_instance/,/^}/d' "$1"
}
ctl() { "$VIGILD" --runtime-dir "$RUN" "$@"; }
runs() { child_pid "$@" >/dev/null; }  # runs CORE ROLE
no_child() { ! runs "$@"; }           # no_child CORE ROLE
no_vip() { ! has_addr d1 eth0 10.231.0.100; }
status_has() { ctl --status | grep -Eq "$1"; }

# start_one WHAT LOG RUNNING MISSING WHY: vigild started with $CONF runs
# the RUNNING child and not the MISSING one, and its log says WHY; the core
# pid is left in $CORE.
start_one() {
    local what="$1" logf="$2" running="$3" missing="$4" why="$5"
    start_vigild d1 "$logf" -n -l -f "$CONF" --runtime-dir "$RUN"
    CORE=$VIGILD_PID
    check "$what: core runs once the $running child is ready" wait_until 5 log_has "$logf" "core: running"
    check "$what: the $running child runs" runs "$CORE" "$running"
    check "$what: no $missing child" no_child "$CORE" "$missing"
    check "$what: the log says why" log_has "$logf" "$missing child not started: $why in the config"
    check "$what: status shows the $missing child as not started" \
        status_has "^child $missing pid=-1 state=not-started restarts=0$"
}

# 1. Virtual servers only: the check child, no vrrp child.
vs_only "$CONF"
check "the config has a virtual server and no VRRP instance" \
    bash -c "grep -q '^virtual_server' '$CONF' && ! grep -q vrrp_instance '$CONF'"
start_one "virtual servers only" "$LOG" check vrrp "no vrrp_instance"

# 2. A reload that adds a VRRP instance starts the vrrp child with it.
lines=$(( $(wc -l <"$LOG") + 1 ))
process_config "$CONF"
ctl --ctl reload >"$T_DIR/reload.out" 2>&1; rc=$?
check "the reload answers OK" test "$rc" = 0
check "the vrrp child is started by the reload" runs "$CORE" vrrp
check "the reload completes after the new child is ready" \
    bash -c "tail -n +$lines '$LOG' | grep -n -e 'vrrp child ready' -e 'core: reload complete' | head -2 | tr '\n' ' ' | grep -q 'vrrp child ready.*reload complete'"
check "VI_1 (alone on the link) becomes MASTER" wait_until 8 status_has "^instance VI_1 state=MASTER "
check "the VIP is up" wait_until 3 has_addr d1 eth0 10.231.0.100
VRRP=$(child_pid "$CORE" vrrp)
CHECK=$(child_pid "$CORE" check)

# 3. A reload that removes it again: the child stays, and gives the VIP up.
vs_only "$CONF"
ctl --ctl reload >/dev/null 2>&1
check "the vrrp child keeps running after its part is gone" test "$(child_pid "$CORE" vrrp)" = "$VRRP"
check "the VIP is removed" wait_until 3 no_vip
check "the check child is the same" test "$(child_pid "$CORE" check)" = "$CHECK"
kill -TERM "$CORE"
check "vigild stops" wait_until 10 gone "$CORE"
wait "$CORE"; rc=$?
check "and exits 0" test "$rc" = 0

# 4. A VRRP instance only: no check child.
process_vrrp_config "$CONF"
start_one "vrrp only" "$T_DIR/vigild2.log" vrrp check "no virtual_server .*"
kill -TERM "$CORE"
check "vrrp only: vigild stops" wait_until 10 gone "$CORE"
wait "$CORE"

# 5. Neither: core alone, ready at once, stops cleanly.
printf 'global_defs {\n    router_id EMPTY\n}\n' >"$CONF"
LOG3="$T_DIR/vigild3.log"
start_vigild d1 "$LOG3" -n -l -f "$CONF" --runtime-dir "$RUN"
CORE=$VIGILD_PID
check "empty: core runs" wait_until 5 log_has "$LOG3" "core: running"
check "empty: no child at all" bash -c "sleep 0.3; [ -z \"\$(pgrep -P $CORE)\" ]"
check "empty: status answers" status_has "^child check pid=-1 state=not-started restarts=0$"
kill -TERM "$CORE"
check "empty: vigild stops" wait_until 10 gone "$CORE"
wait "$CORE"; rc=$?
check "empty: exits 0" test "$rc" = 0

lab_done
