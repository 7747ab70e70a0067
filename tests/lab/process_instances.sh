#!/bin/bash
# vigild -t / --dump-config exit codes; two instances with different runtime
# dirs run side by side; a second one on the same runtime dir is refused.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/process_lib.sh"
lab_init
lab_switch
lab_host d1 eth0 10.231.0.1/24
lab_host d2 eth0 10.231.0.2/24
process_config "$T_DIR/d1.conf" 100
process_config "$T_DIR/d2.conf" 90

out=$("$VIGILD" -t -f "$T_DIR/d1.conf" 2>&1); rc=$?
check "-t on a valid config exits 0" test "$rc" = 0
check "-t says configuration OK" grep -qx "configuration OK" <<<"$out"
printf 'global_defs {\n  router_id X\n  no_such_keyword 1\n}\nvrrp_instance V {\n  virtual_router_id 300\n}\n' >"$T_DIR/bad.conf"
out=$("$VIGILD" -t -f "$T_DIR/bad.conf" 2>&1); rc=$?
check "-t on a broken config exits 1" test "$rc" = 1
check "-t names file:line of the unknown keyword" grep -q "$T_DIR/bad.conf:3: .*no_such_keyword" <<<"$out"
check "-t reports every error, not only the first" grep -q "$T_DIR/bad.conf:[5-6]: " <<<"$out"
"$VIGILD" -t -f "$T_DIR/missing.conf" >/dev/null 2>&1; rc=$?
check "-t on a missing file exits 1" test "$rc" = 1
"$VIGILD" --dump-config -f "$T_DIR/d1.conf" >"$T_DIR/dump.conf" 2>/dev/null; rc=$?
check "--dump-config exits 0" test "$rc" = 0
check "--dump-config output is itself a valid config" bash -c "'$VIGILD' -t -f '$T_DIR/dump.conf' >/dev/null 2>&1"
"$VIGILD" --crash-limit zero -t -f "$T_DIR/d1.conf" >/dev/null 2>&1; rc=$?
check "a bad option value exits 2" test "$rc" = 2
"$VIGILD" -n -l -f "$T_DIR/bad.conf" --runtime-dir "$T_DIR/run-bad" >"$T_DIR/bad.log" 2>&1; rc=$?
check "starting with a broken config exits 1" test "$rc" = 1
check "... and says why, with file:line" log_has "$T_DIR/bad.log" "bad.conf:3: "

# Two directors, one per namespace, each with its own runtime dir.
start_vigild d1 "$T_DIR/a.log" -n -l -f "$T_DIR/d1.conf" --runtime-dir "$T_DIR/run-a"
A=$VIGILD_PID
start_vigild d2 "$T_DIR/b.log" -n -l -f "$T_DIR/d2.conf" --runtime-dir "$T_DIR/run-b"
B=$VIGILD_PID
check "instance A has its children" wait_until 5 has_children "$A"
check "instance B has its children" wait_until 5 has_children "$B"
check "each pid file holds its own core" \
    test "$(cat "$T_DIR/run-a/vigild.pid") $(cat "$T_DIR/run-b/vigild.pid")" = "$A $B"

# A third on A's runtime dir must refuse and leave A alone.
"$VIGILD" -n -l -f "$T_DIR/d1.conf" --runtime-dir "$T_DIR/run-a" >"$T_DIR/c.log" 2>&1 &
C=$!
T_PIDS+=("$C")
wait_until 3 dead "$C"
check "a second vigild on the same runtime dir exits" dead "$C"
wait "$C"; rc=$?
check "... with status 1" test "$rc" = 1
check "... naming the running instance" log_has "$T_DIR/c.log" "another vigild \(pid $A\) is running"
check "instance A is untouched" bash -c "kill -0 $A && test \"\$(cat '$T_DIR/run-a/vigild.pid')\" = $A"
check "instance A keeps its children" has_children "$A"

kill -TERM "$A" "$B"
wait_until 5 bash -c "! kill -0 $A 2>/dev/null && ! kill -0 $B 2>/dev/null"
check "both instances stop on SIGTERM" bash -c "! kill -0 $A 2>/dev/null && ! kill -0 $B 2>/dev/null"
lab_done
