#!/bin/bash
# Guest side of ipvs_bench.sh (issue 4 benchmark): 100 virtual servers x 100
# real servers (10,000 destinations, TCP_CHECKs that succeed) programmed from
# an empty table by
#   (a) vigil's reconciler (ipvs_apply: config parse + dump + diff + batched apply),
#   (a2) vigild itself (core, check child, 10,000 checkers), with its unchanged
#        reload and stop,
#   (b) ipvsadm-restore of the same rules,
#   (c) keepalived -C with the same config,
#   (d) the minimal batched writer (ipvs_apply write: the same 10,100 messages,
#       no parse, no dump, no diff): the kernel's own cost,
# each in a fresh network namespace (deleted destinations linger in a
# per-namespace trash that slows later adds). Then vigil's unchanged reload
# and stop on the same 10,000. Prints figures; not a pass/fail test (exit 0
# unless something could not run at all).
# Addresses: 10.100.0.x (VIPs), 10.200.x.y (real servers, made local inside
# each namespace so TCP_CHECKs connect to a listener there); nothing leaves
# the namespaces.
set -u
. "$top_srcdir/tests/lib.sh"
T_NAME=ipvs_bench_guest
lab_init
require_cmd ipvsadm ipvsadm-restore keepalived python3
APPLY="$top_builddir/tests/bench/ipvs_apply"
S="${BENCH_SERVICES:-100}"
D="${BENCH_DESTS:-100}"
RULES=$((S * D + S))

conf="$T_DIR/bench.conf"
rules="$T_DIR/bench.rules"
{
    for s in $(seq 0 $((S - 1))); do
        printf 'virtual_server 10.100.0.%d 80 {\n    delay_loop 60\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n' "$s"
        for d in $(seq 0 $((D - 1))); do
            printf '    real_server 10.200.%d.%d 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n' "$s" "$d"
        done
        printf '}\n'
    done
} >"$conf"
{
    for s in $(seq 0 $((S - 1))); do
        printf -- '-A -t 10.100.0.%d:80 -s wrr\n' "$s"
        for d in $(seq 0 $((D - 1))); do printf -- '-a -t 10.100.0.%d:80 -r 10.200.%d.%d:80 -g -w 1\n' "$s" "$s" "$d"; done
    done
} >"$rules"
echo "config: $(wc -c <"$conf") bytes, $RULES rules; guest $(nproc) CPUs, kernel $(uname -r)"

# fresh NAME: a namespace with lo up, the real servers' addresses local, and a
# listener accepting on port 80 (so TCP_CHECKs succeed), listening before
# fresh returns: Python's start-up takes about a second of CPU in this guest,
# which would otherwise run alongside whatever is timed next.
fresh() {
    ns_add "$1"
    ip -n "$(ns "$1")" route add local 10.200.0.0/16 dev lo
    LISTENER_PID=$(start_bg "$1" "$T_DIR/$1.listener.log" python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(4096)
while True:
    c, _ = s.accept()
    c.close()
')
    wait_until 60 tcp_listening "$1" 80 || echo "    (the listener in $1 did not start)"
}
gone() { ! kill -0 "$1" 2>/dev/null; }
# Rules in a namespace's table: /proc/net/ip_vs has 3 header lines, then one
# line per service and per destination (cheaper to poll than ipvsadm).
count_rules() { echo $(( $(in_ns "$1" cat /proc/net/ip_vs | wc -l) - 3 )); }
# The final count after a run comes from ipvsadm: a /proc/net/ip_vs read
# restarts by position after each page, so rules deleted meanwhile in any
# namespace (keepalived still stopping elsewhere) make it skip lines.
final_rules() { in_ns "$1" ipvsadm -Sn 2>/dev/null | wc -l; }
# wait_count NS OP N SECONDS: poll until the rule count OP N (-ge / -eq), bounded.
# A /proc count that stalls short of the target is checked with ipvsadm:
# some runs saw /proc/net/ip_vs stay at about half the rules for minutes,
# for vigild (whose log had all 10,100 acked) and keepalived alike.
wait_count() {
    local deadline=$(( $(date +%s) + $4 )) n prev=-1
    while :; do
        n=$(count_rules "$1")
        # (Not while the table is still empty: a daemon still reading its
        # config would be charged an ipvsadm run that costs more than a poll.)
        if ! [ "$n" "$2" "$3" ] && [ "$n" = "$prev" ] && [ "$n" != 0 ]; then n=$(final_rules "$1"); fi
        [ "$n" "$2" "$3" ] && break
        prev=$n
        [ "$(date +%s)" -ge "$deadline" ] && break
        sleep 0.2
    done
    echo "$n"
}
# emptied NS LISTENER: a namespace's table flushed and its listener stopped
# once its figures are taken: the kernel keeps a rate estimator for every
# service and destination and updates them all every 2 s, so 10,000 left in
# each measured namespace would load the guest more with every round.
emptied() { in_ns "$1" ipvsadm -C; kill "$2" 2>/dev/null; }
ms_between() { echo $(( ($2 - $1) / 1000000 )); }
figure() { printf '%-44s %s\n' "$1" "$2"; }

# Load the modules first: the first add otherwise pays for loading ip_vs and
# the scheduler, and that is not anyone's programming cost. Run every binary
# once so the 9p page cache is warm for all contenders.
modprobe -a ip_vs ip_vs_wrr || echo "modprobe ip_vs ip_vs_wrr failed"
VIGILD="$top_builddir/vigild"
"$APPLY" dump >/dev/null 2>&1; "$VIGILD" --version >/dev/null 2>&1; ipvsadm -v >/dev/null 2>&1; keepalived -v >/dev/null 2>&1
# A run touches only some pages of each binary; the rest would come over 9p,
# one fault at a time, during the measurement (vigild's 1 MB of code more
# than the others). Read every binary and its libraries whole.
for bin in "$APPLY" "$VIGILD" "$(command -v ipvsadm)" "$(command -v keepalived)"; do
    cat "$bin" $(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }') >/dev/null 2>&1
done

# (d) minimal batched writer (run first and again last: the spread is the noise)
writer() {
    fresh "$1"
    t0=$(date +%s%N); out="$(in_ns "$1" "$APPLY" write "$S" "$D" 2>&1)"; t1=$(date +%s%N)
    figure "(d) batched writer: start -> last rule" "$(ms_between "$t0" "$t1") ms  [$(grep -o 'netlink_ms=.*' <<<"$out")]"
    figure "    rules in the kernel" "$(final_rules "$1")"
    emptied "$1" "$LISTENER_PID"
}
writer w1

# (a) vigil
fresh v
t0=$(date +%s%N); out="$(in_ns v "$APPLY" apply "$conf" 2>&1)"; t1=$(date +%s%N)
figure "(a) vigil: start -> last rule" "$(ms_between "$t0" "$t1") ms  [$(grep -o 'parse_ms=.*' <<<"$out")]"
figure "    rules in the kernel" "$(final_rules v)"
t0=$(date +%s%N); out="$(in_ns v "$APPLY" apply "$conf" 2>&1)"; t1=$(date +%s%N)
figure "    unchanged reload (parse+dump+diff)" "$(ms_between "$t0" "$t1") ms  [$(grep -o 'parse_ms=.*' <<<"$out")]"
t0=$(date +%s%N); out="$(in_ns v "$APPLY" stop "$conf" 2>&1)"; t1=$(date +%s%N)
figure "    stop: table empty after" "$(ms_between "$t0" "$t1") ms  [$(grep -o 'parse_ms=.*' <<<"$out")], rules left $(final_rules v)"

# (a2) vigild itself: the same config through core, the check child and its
# checkers (TCP_CHECKs succeed; no vrrp_instance, so no vrrp child, as with
# keepalived). The split comes from vigild's own log lines (ms timestamps):
# parse = "starting" -> the first "started ... child" (core parses before
# forking); check child set-up = "started check child" -> "ipvs: first
# pass" (netlink open); netlink = -> "ipvs: reconcile: N changes" (desired
# table, dump, diff, batched apply; logged once the last ack is in); the
# 10,000 checkers are built after that ("checkers: ... started"). "From its
# log" ends at that reconcile line; "polled" at the first poll of
# /proc/net/ip_vs that sees every rule (up to one poll interval plus one poll,
# about 0.3 s here, later).
vrun="$T_DIR/run-vd"; vlog="$T_DIR/vigild.log"
log_ms() {  # log_ms REGEX [FROM_LINE]: ms of day of the first log line matching REGEX
    tail -n +"${2:-1}" "$vlog" | grep -m1 -E "$1" | awk '{ split($1, t, ":"); printf "%d\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 }'
}
span() { [ -n "$1" ] && [ -n "$2" ] && echo "$(($2 - $1)) ms" || echo "?"; }
vstat() { "$VIGILD" --runtime-dir "$vrun" --ctl stats 2>/dev/null | sed -n "s/^$1 //p"; }
rss_of() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$1/status" 2>/dev/null; }
child_of() { for p in $(pgrep -P "$1"); do [ "$(tr '\0' ' ' <"/proc/$p/cmdline" | sed 's/ *$//')" = "vigild: $2" ] && echo "$p"; done; }
# wait_log REGEX FROM_LINE SECONDS: poll vigild's log, bounded.
wait_log() {
    local deadline=$(( $(date +%s) + $3 ))
    until tail -n +"$2" "$vlog" | grep -qE "$1"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
fresh vd
vd_listener=$LISTENER_PID
t0=$(date +%s%N)
vpid=$(start_bg vd "$vlog" "$VIGILD" -n -l -f "$conf" --runtime-dir "$vrun")
n=$(wait_count vd -ge "$RULES" 300)
t1=$(date +%s%N)
t0_ms=$(( t0 / 1000000 % 86400000 ))
figure "(a2) vigild: start -> last rule (polled)" "$(ms_between "$t0" "$t1") ms, rules $n"
figure "    start -> last rule (from its log)" "$(span "$t0_ms" "$(log_ms 'check: ipvs: reconcile: [0-9]+ changes')")"
figure "    exec -> first log line" "$(span "$t0_ms" "$(log_ms 'core: vigild .* starting')")"
figure "    parse (core, from its log)" "$(span "$(log_ms 'core: vigild .* starting')" "$(log_ms 'core: started [a-z]+ child')")"
figure "    -> check child forked" "$(span "$(log_ms 'core: started [a-z]+ child')" "$(log_ms 'core: started check child')")"
figure "    check child set-up (netlink open)" "$(span "$(log_ms 'core: started check child')" "$(log_ms 'check: ipvs: first pass')")"
figure "    netlink (desired, dump, diff, apply)" "$(span "$(log_ms 'check: ipvs: first pass')" "$(log_ms 'check: ipvs: reconcile: [0-9]+ changes')")"
figure "    then 10,000 checkers built" "$(span "$(log_ms 'check: ipvs: reconcile: [0-9]+ changes')" "$(log_ms 'check: checkers: ')")"
figure "    $(grep -m1 -o 'ipvs: reconcile: .*' "$vlog")" ""
wait_log 'core: running' 1 60
# A poll that never sees every rule: servers taken down by failed checks
# (the listener too slow for the guest's load), or reads skipping lines.
figure "    checks by then" "$(vstat check_probes_failed) probes failed, $(vstat check_server_transitions) server transitions, rules now $(final_rules vd)"
vcheck=$(child_of "$vpid" check)
figure "    RSS core / check child" "$(rss_of "$vpid") / $(rss_of "$vcheck")"
sleep 2
msgs=$(vstat ipvs_messages); reads=$(vstat ipvs_table_reads); trans=$(vstat check_server_transitions)
lines=$(( $(wc -l <"$vlog") + 1 ))
kill -HUP "$vpid"
wait_log 'core: reload complete' "$lines" 120
figure "    unchanged reload: SIGHUP -> reload complete" "$(span "$(log_ms 'core: SIGHUP' "$lines")" "$(log_ms 'core: reload complete' "$lines")")"
figure "      core parse, compared" "$(span "$(log_ms 'core: SIGHUP' "$lines")" "$(log_ms 'core: virtual servers unchanged' "$lines")")"
figure "      check child" "$(tail -n +"$lines" "$vlog" | grep -q 'check child left as it is' && echo 'left as it is (virtual servers unchanged)' || echo 'sent the config')"
figure "      netlink writes (ipvs_messages)" "$(( $(vstat ipvs_messages) - msgs )), table reads $(( $(vstat ipvs_table_reads) - reads ))"
figure "      checkers" "$(tail -n +"$lines" "$vlog" | grep -m1 -o 'checkers: .*'), server transitions $(( $(vstat check_server_transitions) - trans ))"
figure "      RSS core / check child" "$(rss_of "$vpid") / $(rss_of "$vcheck")"
# The same with one weight changed: the whole path (core parse + dump of the
# check part, the check child's parse, checkers kept, full reconcile).
cp "$conf" "$T_DIR/bench-orig.conf"
sed -i '0,/weight 1/s//weight 2/' "$conf"
msgs=$(vstat ipvs_messages); trans=$(vstat check_server_transitions)
lines=$(( $(wc -l <"$vlog") + 1 ))
kill -HUP "$vpid"
wait_log 'core: reload complete' "$lines" 120
figure "    reload, one weight changed: -> complete" "$(span "$(log_ms 'core: SIGHUP' "$lines")" "$(log_ms 'core: reload complete' "$lines")")"
figure "      core parse + dump + send" "$(span "$(log_ms 'core: SIGHUP' "$lines")" "$(log_ms 'core: new config sent to the check' "$lines")")"
figure "      check child: parse, checkers" "$(span "$(log_ms 'core: new config sent to the check' "$lines")" "$(log_ms 'check: checkers: ' "$lines")")"
figure "      check child: reconcile (dump, diff)" "$(span "$(log_ms 'check: checkers: ' "$lines")" "$(log_ms 'core: check child applied' "$lines")")"
figure "      netlink writes (ipvs_messages)" "$(( $(vstat ipvs_messages) - msgs )), $(tail -n +"$lines" "$vlog" | grep -m1 -o 'checkers: .*'), server transitions $(( $(vstat check_server_transitions) - trans ))"
cp "$T_DIR/bench-orig.conf" "$conf"
lines=$(( $(wc -l <"$vlog") + 1 ))
t0=$(date +%s%N); kill -TERM "$vpid"
n=$(wait_count vd -eq 0 60)
t1=$(date +%s%N)
figure "    stop: table empty after (polled)" "$(ms_between "$t0" "$t1") ms, rules left $n"
figure "      from its log: SIGTERM -> ipvs: stop" "$(span "$(log_ms 'core: SIGTERM' "$lines")" "$(log_ms 'check: ipvs: stop' "$lines")")"
wait_log 'core: stopped' "$lines" 30
figure "      from its log: SIGTERM -> core stopped" "$(span "$(log_ms 'core: SIGTERM' "$lines")" "$(log_ms 'core: stopped' "$lines")")"
kill "$vd_listener"  # still accepting the checkers' connections

# Start-up again, BENCH_ROUNDS (default 9) rounds of writer then vigild,
# each in a fresh namespace: one pass of each swings by 2x in this emulated
# guest, so the ratio is taken between medians. vigild's time ends at its
# reconcile line (written after the last ack); the writer's when it exits
# after its last ack.
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
# settle: a pause before each timed start, for the work the previous step
# left to the guest (a listener's start-up, the kernel closing sockets and
# freeing destinations) to finish rather than land in the timing. (Polling
# /proc/stat for an idle guest does not work here: the polling's own forks
# keep an emulated CPU more than 10% busy.)
settle() { sleep 3; }
w_ms=(); v_ms=()
ROUNDS="${BENCH_ROUNDS:-9}"
for round in $(seq 1 "$ROUNDS"); do
    fresh "wr$round"
    settle
    t0=$(date +%s%N); out="$(in_ns "wr$round" "$APPLY" write "$S" "$D" 2>&1)"; t1=$(date +%s%N)
    w_ms+=("$(ms_between "$t0" "$t1")")
    w_netlink=$(grep -o 'netlink_ms=[0-9]*' <<<"$out" | cut -d= -f2)
    emptied "wr$round" "$LISTENER_PID"
    fresh "vr$round"
    settle
    vlog="$T_DIR/vigild-r$round.log"
    t0=$(date +%s%N)
    p=$(start_bg "vr$round" "$vlog" "$VIGILD" -n -l -f "$conf" --runtime-dir "$T_DIR/run-r$round")
    wait_log 'check: ipvs: reconcile: [0-9]+ changes' 1 120
    t0_ms=$(( t0 / 1000000 % 86400000 ))
    v_ms+=("$(( $(log_ms 'check: ipvs: reconcile: [0-9]+ changes') - t0_ms ))")
    figure "    round $round" "writer ${w_ms[-1]} (netlink $w_netlink); vigild ${v_ms[-1]} (to first log line $(span "$t0_ms" "$(log_ms 'core: vigild .* starting')"), parse $(span "$(log_ms 'core: vigild .* starting')" "$(log_ms 'core: started [a-z]+ child')"), netlink $(span "$(log_ms 'check: ipvs: first pass')" "$(log_ms 'check: ipvs: reconcile: [0-9]+ changes')"))"
    wait_log 'core: running' 1 60
    kill -TERM "$p"
    wait_count "vr$round" -eq 0 60 >/dev/null
    wait_log 'core: stopped' 1 30
    # Its listener may still be accepting the checkers' 10,000 connections:
    # stopped, so that it does not run alongside the next round.
    kill "$LISTENER_PID"
done
wm=$(median "${w_ms[@]}"); vm=$(median "${v_ms[@]}")
figure "start -> last rule, $ROUNDS rounds (ms)" "writer ${w_ms[*]}; vigild (its log) ${v_ms[*]}"
figure "    medians" "writer $wm, vigild $vm: vigild/writer $(awk -v v="$vm" -v w="$wm" 'BEGIN { printf "%.2f", v / w }')"

# (b) ipvsadm-restore
fresh r
t0=$(date +%s%N); in_ns r ipvsadm-restore <"$rules"; t1=$(date +%s%N)
figure "(b) ipvsadm-restore: start -> last rule" "$(ms_between "$t0" "$t1") ms"
figure "    rules in the kernel" "$(final_rules r)"
emptied r "$LISTENER_PID"

# (c) keepalived, checker process only
fresh k
k_listener=$LISTENER_PID
t0=$(date +%s%N)
kpid=$(start_bg k "$T_DIR/keepalived.log" keepalived -n -C -f "$conf" \
    -p "$T_DIR/k.pid" -c "$T_DIR/kc.pid" -r "$T_DIR/kv.pid")
n=$(wait_count k -ge "$RULES" 300)
t1=$(date +%s%N)
figure "(c) keepalived: start -> last rule (polled)" "$(ms_between "$t0" "$t1") ms, rules $n"
[ "$n" -lt "$RULES" ] && { echo "    keepalived did not program every rule; the end of its log:"; tail -n 5 "$T_DIR/keepalived.log"; uptime; }
ckpid=$(cat "$T_DIR/kc.pid" 2>/dev/null)
[ -n "$ckpid" ] && figure "    checker RSS" "$(awk '/VmRSS/ {print $2 " kB"}' /proc/"$ckpid"/status 2>/dev/null)"
# keepalived's unchanged reload: "busy" until its checker's CPU use (utime +
# stime, 10 ms ticks) per second falls back to what it was before SIGHUP.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
if [ -n "$ckpid" ]; then
    c0=$(cpu_ticks "$ckpid"); sleep 2; base=$(( ($(cpu_ticks "$ckpid") - c0) / 2 ))
    t0=$(date +%s%N); kill -HUP "$kpid"
    sleep 1
    deadline=$(( $(date +%s) + 120 ))
    while :; do
        c0=$(cpu_ticks "$ckpid"); sleep 1; c1=$(cpu_ticks "$ckpid")
        [ -z "$c1" ] && break
        [ $(( c1 - c0 )) -le $(( base + 5 )) ] && break
        [ "$(date +%s)" -ge "$deadline" ] && break
    done
    t1=$(date +%s%N)
    figure "    unchanged reload: back to idle CPU after" "$(ms_between "$t0" "$t1") ms (1 s resolution; idle rate $base ticks/s), rules $(count_rules k)"
    ckpid2=$(cat "$T_DIR/kc.pid" 2>/dev/null)
    figure "    checker RSS after reload" "$(awk '/VmRSS/ {print $2 " kB"}' /proc/"$ckpid2"/status 2>/dev/null) (pid $ckpid -> $ckpid2)"
fi
t0=$(date +%s%N); kill -TERM "$kpid"
n=$(wait_count k -eq 0 60)  # some runs stall with rules left: bounded
t1=$(date +%s%N)
figure "    stop: table empty after (polled)" "$(ms_between "$t0" "$t1") ms, rules left $n"
kill "$k_listener"  # still accepting keepalived's last checks
# Its processes may outlive the table: let them exit before anything else is timed.
for pid in "$kpid" ${ckpid:+"$ckpid"}; do
    wait_until 60 gone "$pid" || figure "    keepalived still running 60 s after SIGTERM" "pid $pid"
done

writer w2

exit 0
