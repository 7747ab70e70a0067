#!/bin/bash
# The control socket RUNTIME_DIR/vigild.ctl: two directors in two namespaces,
# each with its own runtime dir and socket; `vigild --status` shows MASTER on
# one and BACKUP on the other, children and restarts, the health summary;
# `--ctl stats` gives the counters; `--ctl reload` with a broken config
# answers with the file:line errors and changes nothing; garbage, oversized
# and silent clients are refused without harm; a stale socket is replaced.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/process_lib.sh"
lab_init
require_cmd socat python3
lab_switch
lab_host d1 eth0 10.231.0.1/24
lab_host d2 eth0 10.231.0.2/24

# process_vrrp_config plus a virtual server: one real server nobody answers
# (10.231.0.9, not in the lab: its TCP_CHECK fails) and one without a checker
# (always up).
control_config() {
    process_vrrp_config "$1" "$2"
    cat >>"$1" <<CONF
virtual_server 10.231.0.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.231.0.9 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server 10.231.0.10 80 {
    }
}
CONF
}
control_config "$T_DIR/d1.conf" 100
control_config "$T_DIR/d2.conf" 90
RUN1="$T_DIR/run1"
RUN2="$T_DIR/run2"
SOCK1="$RUN1/vigild.ctl"

start_vigild d1 "$T_DIR/d1.log" -n -l -f "$T_DIR/d1.conf" --runtime-dir "$RUN1"
CORE1=$VIGILD_PID
start_vigild d2 "$T_DIR/d2.log" -n -l -f "$T_DIR/d2.conf" --runtime-dir "$RUN2"
CORE2=$VIGILD_PID
check "both directors start their children" wait_until 5 bash -c \
    ". $top_srcdir/tests/lab/process_lib.sh; has_children $CORE1 && has_children $CORE2"

check "the control socket is a socket" test -S "$SOCK1"
check "the control socket is mode 0600" test "$(stat -c %a "$SOCK1")" = 600
check "each runtime dir has its own socket" test -S "$RUN2/vigild.ctl"

ctl() { local run="$1"; shift; "$VIGILD" --runtime-dir "$run" "$@"; }
status_has() { ctl "$1" --status | grep -Eq "$2"; }

check "director 1 reports VI_1 MASTER" wait_until 8 status_has "$RUN1" "^instance VI_1 state=MASTER priority=100$"
check "director 2 reports VI_1 BACKUP" wait_until 8 status_has "$RUN2" "^instance VI_1 state=BACKUP priority=90$"
ctl "$RUN1" --status >"$T_DIR/status1" 2>"$T_DIR/status1.err"; rc=$?
check "--status exits 0" test "$rc" = 0
check "status names core's pid" grep -q "^core pid=$CORE1 " "$T_DIR/status1"
check "status names the config file" grep -q "^config file=$T_DIR/d1.conf loaded=" "$T_DIR/status1"
VRRP1=$(child_pid "$CORE1" vrrp)
CHECK1=$(child_pid "$CORE1" check)
check "status lists the vrrp child with its pid" grep -q "^child vrrp pid=$VRRP1 state=running restarts=0$" "$T_DIR/status1"
check "status lists the check child with its pid" grep -q "^child check pid=$CHECK1 state=running restarts=0$" "$T_DIR/status1"
check "status summarises the checks (one real server down)" wait_until 8 status_has "$RUN1" \
    "^checks virtual_servers=1 real_servers=2 up=1 down=1 "
check "status has a line per virtual server" status_has "$RUN1" \
    "^virtual_server 10.231.0.100:80 real_servers=2 up=1 down=1 quorum=UP$"

kill -KILL "$CHECK1"
check "a restart shows in status" wait_until 5 status_has "$RUN1" "^child check pid=[0-9]+ state=running restarts=1$"

ctl "$RUN1" --ctl stats >"$T_DIR/stats1" 2>&1; rc=$?
check "--ctl stats exits 0" test "$rc" = 0
check "stats has the vrrp child's per-reason drop counters" \
    grep -Eq "^instance VI_1 state=Master .* dropped\.bad_ttl=[0-9]+ .*rejected\.auth_mismatch=[0-9]+" "$T_DIR/stats1"
check "stats has the vrrp socket counters" grep -Eq "^socket eth0/v4 received=[0-9]+ " "$T_DIR/stats1"
check "stats has the check child's counters" grep -Eq "^check_probes_started [0-9]+$" "$T_DIR/stats1"
check "stats has core's counters" grep -Eq "^core child_restarts=1 " "$T_DIR/stats1"

# Reload with a broken config: ERROR, every error with file:line, nothing changes.
cp "$T_DIR/d1.conf" "$T_DIR/d1.good"
printf 'vrrp_instance VI_2 {\n    virtual_router_id 999\n    bogus_keyword 1\n}\n' >>"$T_DIR/d1.conf"
VRRP1=$(child_pid "$CORE1" vrrp)
CHECK1=$(child_pid "$CORE1" check)
ctl "$RUN1" --ctl reload >"$T_DIR/reload.out" 2>"$T_DIR/reload.err"; rc=$?
check "reload of a broken config exits 1" test "$rc" = 1
check "it says the reload failed" grep -q "^vigild: reload failed: [0-9]* error(s)" "$T_DIR/reload.err"
check "it names file:line of the bad keyword" grep -q "^$T_DIR/d1.conf:[0-9]*: .*bogus_keyword" "$T_DIR/reload.err"
check "it lists every error" test "$(grep -c "^$T_DIR/d1.conf:[0-9]*: " "$T_DIR/reload.err")" -ge 2
check "core and the same children still run" \
    test "$(child_pid "$CORE1" vrrp) $(child_pid "$CORE1" check)" = "$VRRP1 $CHECK1"
check "still MASTER after the refused reload" status_has "$RUN1" "^instance VI_1 state=MASTER "

cp "$T_DIR/d1.good" "$T_DIR/d1.conf"
ctl "$RUN1" --ctl reload >"$T_DIR/reload.out" 2>"$T_DIR/reload.err"; rc=$?
check "reload of a good config exits 0" test "$rc" = 0
check "it says the reload is complete" grep -q "^reload complete: $T_DIR/d1.conf$" "$T_DIR/reload.out"
check "status counts both reloads" status_has "$RUN1" "^config file=.* reloads=1 reload_failures=1$"

# Bad clients. Each gets an ERROR line and core carries on.
raw() { socat -t 2 - "UNIX-CONNECT:$SOCK1"; }
check "an unknown command is refused" bash -c "echo shutdown | socat -t 2 - UNIX-CONNECT:$SOCK1 | grep -q '^ERROR unknown command'"
out=$(printf '\001\377status\n' | raw)
check "a binary request is refused" grep -q "^ERROR malformed request" <<<"$out"
# 1 MB without a newline; core answers and hangs up while it is still being
# sent, so the sender must expect EPIPE and then read the answer.
out=$(python3 - "$SOCK1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b"s" * 1000000)
except OSError:
    pass
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except OSError:
    pass
print(data.decode(errors="replace"), end="")
PY
)
check "an oversized request is refused" grep -q "^ERROR request too long" <<<"$out"
out=$(printf 'status' | raw)
check "a request without newline, then end of input, is answered" grep -q "^OK" <<<"$out"
ctl "$RUN1" --ctl "no such" >/dev/null 2>&1; rc=$?
check "--ctl with an unknown command exits 1" test "$rc" = 1
# A client that connects and says nothing must not hold up anyone else.
start_bg - "$T_DIR/silent.log" bash -c "sleep 8 | socat -t 8 - UNIX-CONNECT:$SOCK1" >/dev/null
sleep 0.3
check "a silent client does not block others" status_has "$RUN1" "^core pid=$CORE1 "
check "core still runs after the bad clients" alive "$CORE1"
check "core counted the refused clients" bash -c \
    "'$VIGILD' --runtime-dir '$RUN1' --ctl stats | grep -Eq '^core .* control_refused=[3-9]'"
check "the silent client is dropped after the request timeout" wait_until 8 log_has "$T_DIR/d1.log" "control: client [0-9]+ timed out"

ctl "$T_DIR/nowhere" --status >/dev/null 2>&1; rc=$?
check "--status without a running vigild exits 2" test "$rc" = 2

# A core killed with SIGKILL leaves its socket; the next start replaces it.
kill -KILL "$CORE2"
wait_until 3 dead "$CORE2"
check "SIGKILL leaves a stale socket" test -S "$RUN2/vigild.ctl"
ctl "$RUN2" --status >/dev/null 2>&1; rc=$?
check "a stale socket answers nothing (exit 2)" test "$rc" = 2
wait_until 3 bash -c "! pgrep -P $CORE2 >/dev/null"
start_vigild d2 "$T_DIR/d2b.log" -n -l -f "$T_DIR/d2.conf" --runtime-dir "$RUN2"
CORE2=$VIGILD_PID
check "the next vigild replaces the stale socket" wait_until 5 status_has "$RUN2" "^core pid=$CORE2 "

# Something that is not a socket is never removed.
mkdir -p "$T_DIR/run3"
echo keep >"$T_DIR/run3/vigild.ctl"
ip netns exec "$(ns d1)" "$VIGILD" -n -l -f "$T_DIR/d2.conf" --runtime-dir "$T_DIR/run3" >"$T_DIR/d3.log" 2>&1; rc=$?
check "a file in the socket's place stops the start" test "$rc" = 1
check "... says why" log_has "$T_DIR/d3.log" "vigild.ctl exists and is not a socket"
check "... and is left alone" test "$(cat "$T_DIR/run3/vigild.ctl")" = keep

kill -TERM "$CORE1"
wait_until 5 dead "$CORE1"
check "SIGTERM removes the control socket" test ! -e "$SOCK1"
lab_done
