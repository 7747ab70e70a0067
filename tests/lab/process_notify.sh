#!/bin/bash
# Core process and systemd: READY=1 once the children are up, RELOADING=1 then
# READY=1 around SIGHUP, STOPPING=1 on SIGTERM, WATCHDOG=1 when WATCHDOG_USEC
# is set; and the classic forking start (no -n) writes the daemon's pid.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/process_lib.sh"
lab_init
require_cmd python3
lab_switch
lab_host d1 eth0 10.231.0.1/24
process_config "$T_DIR/vigil.conf"

# A stand-in for systemd's notify socket: one line per datagram.
SOCK="$T_DIR/notify.sock"
NOTES="$T_DIR/notify.log"
start_bg - "$T_DIR/recorder.log" python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "a") as out:
    while True:
        try:
            d = s.recv(4096)
        except socket.timeout:
            break
        out.write(d.decode().replace("\n", " ") + "\n")
        out.flush()
' "$SOCK" "$NOTES" >/dev/null
wait_until 3 test -S "$SOCK"
: >"$NOTES"

NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=200000 \
    start_vigild d1 "$T_DIR/vigild.log" -n -l -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run"
CORE=$VIGILD_PID
check "READY=1 is sent" wait_until 5 grep -q "^READY=1" "$NOTES"
# core logs "running" right where it sends READY=1.
line_of() { grep -n "$1" "$T_DIR/vigild.log" | head -1 | cut -d: -f1; }
check "READY=1 only after both children reported ready" \
    test "$(line_of 'core: running')" -gt "$(line_of 'vrrp child ready')" -a \
         "$(line_of 'core: running')" -gt "$(line_of 'check child ready')"
check "WATCHDOG=1 is sent every half period" \
    wait_until 3 bash -c "[ \$(grep -c '^WATCHDOG=1' '$NOTES') -ge 3 ]"
kill -HUP "$CORE"
check "RELOADING=1 on SIGHUP" wait_until 3 grep -q "^RELOADING=1 MONOTONIC_USEC=[0-9]" "$NOTES"
check "READY=1 again after the reload" \
    wait_until 3 bash -c "grep -v WATCHDOG '$NOTES' | tail -1 | grep -q '^READY=1'"
kill -TERM "$CORE"
check "STOPPING=1 on SIGTERM" wait_until 5 grep -q "^STOPPING=1" "$NOTES"
wait_until 5 dead "$CORE"

# Without -n: the parent returns 0 at once, the daemon's pid is in the pid file.
ip netns exec "$(ns d1)" "$VIGILD" -l -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run2" >"$T_DIR/fork.log" 2>&1
rc=$?
check "forking start: the parent exits 0" test "$rc" = 0
check "forking start: pid file written" wait_until 3 test -s "$T_DIR/run2/vigild.pid"
DAEMON=$(cat "$T_DIR/run2/vigild.pid" 2>/dev/null)
[ -n "$DAEMON" ] && T_PIDS+=("$DAEMON")
check "forking start: the daemon runs with its children" wait_until 5 has_children "${DAEMON:-0}"
check "forking start: the daemon left the session" \
    test "$(ps -o sid= -p "${DAEMON:-0}" | tr -d ' ')" = "${DAEMON:-x}"
[ -n "$DAEMON" ] && kill -TERM "$DAEMON"
check "forking start: SIGTERM stops it" wait_until 5 dead "${DAEMON:-0}"
lab_done
