#!/bin/bash
# Issue 6: the two-director LVS-DR lab end to end, inside the ip_vs guest
# (run it with tests/kernel/vm-run.sh; tests/kernel/lvs_dr.sh does).
#
# One bridge; client .50, director1 .1 (MASTER, 100), director2 .2 (BACKUP,
# 99), web1 .11 and web2 .12 (python3 http.server, distinct bodies, the VIP on
# lo with arp_ignore=1 / arp_announce=2), VIP .100, all in 10.79.0.0/24 inside
# namespaces of this guest only. Both directors run vigild with
# etc/lvs-dr-director{1,2}.conf, interface and addresses substituted and the
# check timers shortened so a failure is seen in seconds, not half a minute.
# Each numbered assertion is the one of the same number in issue 6.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
T_NAME=lvs_dr_guest
lab_init
require_cmd ipvsadm curl python3 setsid
[ -x "$VIGILD" ] || { echo "SKIP: $VIGILD not built"; exit 77; }
modprobe ip_vs || { echo "lvs_dr: modprobe ip_vs failed: not the ip_vs guest?"; exit 99; }

NET=10.79.0
VIP=$NET.100
# Master_Down_Interval of director2 (RFC 3768 6.1): 3 * Advertisement_Interval
# + Skew_Time, Skew_Time = (256 - Priority) / 256 s; advert_int 1, priority 99.
MASTER_DOWN_MS=$(( 3000 + (256 - 99) * 1000 / 256 ))
# Emulated CPU: polling (an `ip` exec per probe) adds delay of its own.
SLACK_MS=1500

# director_conf N PERSIST: the example config for director N, substituted.
director_conf() {
    local n="$1" persist="$2" out="$T_DIR/d$1.conf"
    sed -e "s/ens33/eth0/g" -e "s/192\.168\.10\./$NET./g" \
        -e "s/^\( *delay_loop\) .*/\1 1/" \
        -e "s/^\( *connect_timeout\) .*/\1 1/" \
        -e "s/^\( *nb_get_retry\) .*/\1 1/" \
        -e "s/^\( *delay_before_retry\) .*/\1 1/" \
        "$top_srcdir/etc/lvs-dr-director$n.conf" >"$out.new"
    [ "$persist" = yes ] || sed -i '/^ *persistence_timeout /d' "$out.new"
    mv "$out.new" "$out"
    echo "$out"
}

web_server() {  # web_server N: (re)start web N's HTTP server, print its PID
    start_bg "web$1" "$T_DIR/web$1.http.log" python3 -m http.server 80 --directory "$T_DIR/www$1"
}
web_up() { in_ns "web$1" bash -c "exec 3<>/dev/tcp/$NET.1$1/80" 2>/dev/null; }

# get: one HTTP request from the client to the VIP; prints the body or FAIL.
get() { in_ns client curl -s -m 3 "http://$VIP/" || echo FAIL; }
# gets N: N requests, bodies on one line.
gets() { local i out=""; for i in $(seq 1 "$1"); do out="$out $(get)"; done; echo "${out# }"; }
alternates() {  # alternates BODIES...: web1/web2 alternate, both present
    local prev="" b
    for b in "$@"; do
        case "$b" in web1|web2) ;; *) return 1 ;; esac
        [ "$b" = "$prev" ] && return 1
        prev="$b"
    done
    return 0
}
all_are() { local want="$1" b; shift; for b in "$@"; do [ "$b" = "$want" ] || return 1; done; }

ipvs_of() { in_ns "$1" ipvsadm -Sn; }   # the director's table, sorted rules
lists_rs() { in_ns "$1" ipvsadm -ln -t "$VIP:80" 2>/dev/null | grep -Eq "^ +-> $NET\.$2:80 +Route +[1-9]"; }
ipvs_empty() { [ -z "$(ipvs_of "$1")" ]; }
both_listed() { lists_rs d1 11 && lists_rs d1 12; }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
not() { ! "$@"; }
phase() { echo "== $(date +%T.%3N) $*"; }
# loop_ok LOG N: the request loop's LOG has N lines, every one a web body.
loop_ok() { [ "$(grep -c '^web[12]$' "$1")" = "$2" ] && [ "$(wc -l <"$1")" = "$2" ]; }
# persistent_on NODE: the VIP service shows persistence 50 in NODE's table.
persistent_on() { in_ns "$1" ipvsadm -ln | grep -Eq "^TCP +$VIP:80 +rr +persistent 50"; }
# vip_events LOG: the VIP's address events in an `ip -ts monitor` log, one
# per line as "TIMESTAMP add|del".
vip_events() {
    sed -n "s/^\[\([^]]*\)\] Deleted .*inet $VIP\/.*/\1 del/p;s/^\[\([^]]*\)\] [0-9]*: .*inet $VIP\/.*/\1 add/p" "$1"
}
ms_of() { echo $(( $(date -d "$1" +%s%N) / 1000000 )); }
now_ts() { date +%Y-%m-%dT%H:%M:%S.%N; }
# monitor NODE NAME: `ip -ts monitor address` in NODE into $T_DIR/NAME.log,
# returned only once it is seen to record (a marker address on lo), so an
# empty log means "no event", not "not started yet". Prints the PID.
monitor() {
    local pid
    pid=$(start_bg "$1" "$T_DIR/$2.log" ip -ts monitor address)
    in_ns "$1" ip addr add 127.0.0.99/32 dev lo
    wait_until 10 grep -q 127.0.0.99 "$T_DIR/$2.log" || echo "monitor $2 did not start" >&2
    in_ns "$1" ip addr del 127.0.0.99/32 dev lo
    echo "$pid"
}
# transition_ms NODE SINCE_TS TEXT: ms from SINCE_TS to the first log line of
# NODE with TEXT timestamped after it (vigild logs HH:MM:SS.mmm); empty if none.
transition_ms() {
    local since_ms t
    since_ms=$(ms_of "$2")
    while read -r t _; do
        t=$(ms_of "${2%%T*}T$t")
        [ "$t" -ge "$since_ms" ] && { echo $((t - since_ms)); return 0; }
    done < <(grep -F "$3" "$T_DIR/$1.log")
    return 1
}
# wait_transition NODE SINCE_TS TEXT: transition_ms, allowing the log line
# a moment to land after the effect the caller saw.
wait_transition() {
    local i
    for i in $(seq 1 50); do transition_ms "$@" && return 0; sleep 0.1; done
    return 1
}
# restart_vigil NODE CONF: start vigild again, keeping the previous log.
restart_vigil() {
    local n=1
    while [ -e "$T_DIR/$1.log.$n" ]; do n=$((n + 1)); done
    mv "$T_DIR/$1.log" "$T_DIR/$1.log.$n"
    start_vigil "$1" "$2"
}
# logged_since NODE LINES TEXT: TEXT in NODE's log after its first LINES lines.
logged_since() { tail -n +"$(( $2 + 1 ))" "$T_DIR/$1.log" | grep -qF "$3"; }

# ---- topology
phase "topology"
lab_switch
lab_host client eth0 $NET.50/24
lab_host d1 eth0 $NET.1/24
lab_host d2 eth0 $NET.2/24
for w in 1 2; do
    lab_host "web$w" eth0 "$NET.1$w/24"
    in_ns "web$w" ip addr add "$VIP/32" dev lo
    # LVS-DR real server: accept the VIP, never answer ARP for it (the
    # director must), never use it as an ARP source.
    for c in all eth0 lo; do
        in_ns "web$w" sysctl -qw "net.ipv4.conf.$c.arp_ignore=1" "net.ipv4.conf.$c.arp_announce=2"
    done
    mkdir -p "$T_DIR/www$w"
    echo "web$w" >"$T_DIR/www$w/index.html"
done
WEB1=$(web_server 1); web_server 2 >/dev/null
wait_until 20 web_up 1 && wait_until 20 web_up 2 || { echo "lvs_dr: web servers did not start"; exit 99; }

C1=$(director_conf 1 no); C2=$(director_conf 2 no)
P1=$(start_vigil d1 "$C1"); P2=$(start_vigil d2 "$C2")

# ---- 1. VIP on director1 only; its table lists both real servers
phase "1. VIP on director1 only; its table lists both real servers"
check "1. director1 alone holds the VIP" wait_until 20 only_holder $VIP d1 d1 d2
check "1. ipvsadm -ln on director1 lists web1 and web2 (DR)" wait_until 20 both_listed
in_ns d1 ipvsadm -ln

# ---- 2a. no persistence: successive requests alternate
phase "2a. no persistence: successive requests alternate"
b=$(gets 6); echo "bodies: $b"
check "2. without persistence requests alternate web1/web2 ($b)" alternates $b

# ---- 5. health check removes a dead real server, and brings it back
phase "5. health check removes a dead real server, and brings it back"
kill -TERM "$WEB1"; wait_until 5 dead "$WEB1"
t0=$(now_ms)
check "5. web1 stopped: director1 drops it from IPVS" wait_until 30 not lists_rs d1 11
echo "   (removed after $(( $(now_ms) - t0 )) ms)"
b=$(gets 4); echo "bodies: $b"
check "5. every request goes to web2 ($b)" all_are web2 $b
WEB1=$(web_server 1)
check "5. web1 restarted: director1 lists it again" wait_until 30 lists_rs d1 11
b=$(gets 4); echo "bodies: $b"
check "5. requests alternate again ($b)" alternates $b

# ---- 6. SIGHUP, config unchanged: no VIP movement, no IPVS change, no failure
phase "6. SIGHUP, config unchanged: no VIP movement, no IPVS change, no failure"
before=$(ipvs_of d1)
mon1=$(monitor d1 mon6-d1)
mon2=$(monitor d2 mon6-d2)
( for i in $(seq 1 15); do get; sleep 0.2; done ) >"$T_DIR/loop6.log" 2>&1 &
loop=$!
sleep 1
kill -HUP "$P1"
wait "$loop"
sleep 1
kill "$mon1" "$mon2" 2>/dev/null
check "6. vigild still running after SIGHUP" alive "$P1"
check "6. every request across the reload succeeded" loop_ok "$T_DIR/loop6.log" 15
check "6. no VIP movement (no address event on either director)" not grep -q "$VIP/" "$T_DIR/mon6-d1.log" "$T_DIR/mon6-d2.log"
check "6. IPVS table unchanged" test "$before" = "$(ipvs_of d1)"
check "6. director1 still alone with the VIP" only_holder $VIP d1 d1 d2

# ---- 7. SIGHUP with a broken config: file:line logged, nothing changes
phase "7. SIGHUP with a broken config: file:line logged, nothing changes"
cp "$C1" "$T_DIR/d1.good"
bad_line=$(( $(wc -l <"$C1") + 1 ))
echo "no_such_keyword_vigil 1" >>"$C1"
lines_before=$(wc -l <"$T_DIR/d1.log")
kill -HUP "$P1"
check "7. the error is logged with file:line ($C1:$bad_line)" wait_until 10 logged_since d1 "$lines_before" "$C1:$bad_line"
check "7. vigild still running" alive "$P1"
b=$(gets 4); echo "bodies: $b"
check "7. requests still served and alternating ($b)" alternates $b
check "7. IPVS table unchanged" test "$before" = "$(ipvs_of d1)"
check "7. director1 still alone with the VIP" only_holder $VIP d1 d1 d2
cp "$T_DIR/d1.good" "$C1"

# ---- 2b. persistence_timeout 50 (reload both directors): one client sticks
phase "2b. persistence_timeout 50 (reload both directors): one client sticks"
director_conf 1 yes >/dev/null; director_conf 2 yes >/dev/null
kill -HUP "$P1" "$P2"
check "2. reload with persistence_timeout 50 reaches director1's table" wait_until 15 persistent_on d1
check "2. ... and director2's" wait_until 15 persistent_on d2
b=$(gets 6); echo "bodies: $b"
first=${b%% *}
check "2. with persistence one client sticks to one server ($b)" all_are "$first" $b
check "2. ... and it is a real server" alternates "$first"

# ---- 4. SIGTERM of the master: priority 0 hands over at once
phase "4. SIGTERM of the master: priority 0 hands over at once"
t0=$(now_ms); term_ts=$(now_ts)
kill -TERM "$P1"
check "4. director2 takes the VIP after SIGTERM of director1" wait_until 10 has_addr d2 eth0 $VIP
dt=$(( $(now_ms) - t0 ))
took=$(wait_transition d2 "$term_ts" "Backup -> Master")
echo "   director2 Backup -> Master ${took:-?} ms after SIGTERM (VIP seen after $dt ms)"
check "4. handover via priority 0, faster than Master_Down_Interval (${took:-?} ms < $MASTER_DOWN_MS ms)" test "${took:-999999}" -lt "$MASTER_DOWN_MS"
check "4. director1's vigild exits" wait_until 10 dead "$P1"
check "4. director1 released the VIP" not has_addr d1 eth0 $VIP
check "4. director1 removed its IPVS services on stop" ipvs_empty d1
b=$(gets 2); echo "bodies: $b"
check "4. requests served by director2 ($b)" not grep -q FAIL <<<"$b"
P1=$(restart_vigil d1 "$C1")
check "4. restarted director1 preempts back" wait_until 20 only_holder $VIP d1 d1 d2

# ---- 3. SIGKILL of every vigild process on director1 (a crash)
phase "3. SIGKILL of every vigild process on director1 (a crash)"
( for i in $(seq 1 12); do get; sleep 0.3; done ) >"$T_DIR/loop3.log" 2>&1 &
loop=$!
sleep 0.5
t0=$(now_ms); crash_ts=$(now_ts)
crash "$P1"
check "3. the crash leaves the VIP in director1's kernel" has_addr d1 eth0 $VIP
check "3. director2 takes the VIP" wait_until 15 has_addr d2 eth0 $VIP
dt=$(( $(now_ms) - t0 ))
# The bound is checked on director2's own log (its Backup -> Master line),
# the VIP poll above only adds this emulated CPU's exec delays.
took=$(wait_transition d2 "$crash_ts" "Backup -> Master")
echo "   director2 Backup -> Master ${took:-?} ms after the crash (VIP seen after $dt ms)"
check "3. within the protocol bound (${took:-?} ms <= $MASTER_DOWN_MS + $SLACK_MS ms)" test "${took:-999999}" -le $((MASTER_DOWN_MS + SLACK_MS))
wait "$loop"
check "3. requests kept succeeding through the failover ($(tr '\n' ' ' <"$T_DIR/loop3.log"))" loop_ok "$T_DIR/loop3.log" 12
mon1=$(monitor d1 mon3-d1)
mon2=$(monitor d2 mon3-d2)
P1=$(restart_vigil d1 "$C1")
check "3. restarted director1 preempts back and alone holds the VIP" wait_until 20 only_holder $VIP d1 d1 d2
sleep 1
kill "$mon1" "$mon2" 2>/dev/null
vip_events "$T_DIR/mon3-d1.log" >"$T_DIR/ev3-d1"; vip_events "$T_DIR/mon3-d2.log" >"$T_DIR/ev3-d2"
echo "   director1 VIP events: $(tr '\n' ' ' <"$T_DIR/ev3-d1")"
echo "   director2 VIP events: $(tr '\n' ' ' <"$T_DIR/ev3-d2")"
# The leftover VIP must be deleted before director1 adds it as the new master.
check "3. restart clears the dead instance's VIP before taking over" \
    test "$(cut -d' ' -f2 "$T_DIR/ev3-d1" | head -n 2 | tr '\n' ' ')" = "del add "
# Overlap: from director1 adding the VIP to director2 deleting it.
add1=$(sed -n 's/ add$//p' "$T_DIR/ev3-d1" | head -n 1)
del2=$(sed -n 's/ del$//p' "$T_DIR/ev3-d2" | head -n 1)
if [ -n "$add1" ] && [ -n "$del2" ]; then
    overlap=$(( $(ms_of "$del2") - $(ms_of "$add1") ))
    echo "   VIP on both directors during preemption: $overlap ms"
    check "3. preemption overlap under one advert interval ($overlap ms)" test "$overlap" -lt 1000
else
    fail "3. preemption overlap measurable (director1 added the VIP at '$add1' (empty: it kept the dead instance's), director2 deleted it at '$del2')"
fi
b=$(gets 2); echo "bodies: $b"
check "3. requests served after preemption ($b)" not grep -q FAIL <<<"$b"

# The guest's /tmp dies with it: show the daemons' logs when anything failed.
if [ "$T_FAILS" -gt 0 ]; then
    for f in "$T_DIR"/d1.log.* "$T_DIR"/d1.log "$T_DIR"/d2.log; do echo "---- ${f##*/}"; cat "$f"; done
fi
lab_done
