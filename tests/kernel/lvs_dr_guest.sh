#!/bin/bash
# Issue 6: the two-director LVS-DR lab end to end, inside the ip_vs guest
# (run it with tests/kernel/vm-run.sh; tests/kernel/lvs_dr.sh does). The
# topology and its helpers are in lvs_dr_lib.sh (shared with the quick-start
# demo). Each numbered assertion is the one of the same number in issue 6.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
. "$top_srcdir/tests/kernel/lvs_dr_lib.sh"
T_NAME=lvs_dr_guest
lvs_lab_init
# The crash takeover is checked against the protocol bound plus this slack:
# on the emulated CPU of a loaded host, director2's vigild itself runs up to
# ~1 s late (4.1 s seen at load 9). A takeover that waits for anything else
# than one Master_Down_Interval (e.g. two, 7.2 s) still fails.
SLACK_MS=3000
phase() { echo "== $(date +%T.%3N) $*"; }

phase "topology"
lvs_topology
lvs_start_directors

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
check "5. web1 stopped: director1 drops it from IPVS" wait_until 30 unlisted_rs d1 11
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
request_loop "$T_DIR/loop6.log" 15 5/s
sleep 1
kill -HUP "$P1"
wait "$LOOP_PID"
sleep 1
kill "$mon1" "$mon2" 2>/dev/null
check "6. vigild still running after SIGHUP" alive "$P1"
check "6. every request across the reload succeeded ($(cat "$T_DIR/loop6.log"))" loop_ok "$T_DIR/loop6.log" 15
check "6. address monitors were recording" monitoring mon6-d1
check "6. ... on both directors" monitoring mon6-d2
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

# ---- 5b. inhibit_on_failure (reload both directors): weight 0, not removed
phase "5b. inhibit_on_failure (reload both directors): a dead server stays at weight 0"
director_conf 1 no yes >/dev/null; director_conf 2 no yes >/dev/null
lines_before=$(wc -l <"$T_DIR/d1.log")
kill -HUP "$P1" "$P2"
check "5. reload with inhibit_on_failure complete" wait_until 15 logged_since d1 "$lines_before" "reload complete"
check "5. (inhibit) both real servers still listed at weight 1" both_listed
kill -TERM "$WEB1"; wait_until 5 dead "$WEB1"
t0=$(now_ms)
check "5. (inhibit) web1 stopped: director1 lists it at weight 0" wait_until 30 inhibited_rs d1 11
echo "   (weight 0 after $(( $(now_ms) - t0 )) ms)"
in_ns d1 ipvsadm -ln
b=$(gets 4); echo "bodies: $b"
check "5. (inhibit) every request goes to web2 ($b)" all_are web2 $b
WEB1=$(web_server 1)
check "5. (inhibit) web1 restarted: weight 1 again" wait_until 30 lists_rs d1 11
b=$(gets 4); echo "bodies: $b"
check "5. (inhibit) requests alternate again ($b)" alternates $b

# ---- 2b. persistence_timeout 50 (reload both directors): one client sticks
phase "2b. persistence_timeout 50 (reload both directors): one client sticks"
director_conf 1 yes yes >/dev/null; director_conf 2 yes yes >/dev/null
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
request_loop "$T_DIR/loop3.log" 18 3/s retry
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
wait "$LOOP_PID"
# Without connection sync between the directors (ip_vs sync daemon, not in
# vigil), the one connection in flight when the client's ARP entry moves to
# director2 is reset by it; the client retries it, as HTTP clients do.
n_retries=$(retries "$T_DIR/loop3.log")
echo "   requests retried by the client: $n_retries"
check "3. requests kept succeeding through the failover ($(cat "$T_DIR/loop3.log"))" loop_ok "$T_DIR/loop3.log" 18
check "3. ... at most 2 of 18 needed the client's retry ($n_retries)" test "$n_retries" -le 2
mon1=$(monitor d1 mon3-d1)
mon2=$(monitor d2 mon3-d2)
P1=$(restart_vigil d1 "$C1")
check "3. restarted director1 preempts back and alone holds the VIP" wait_until 20 only_holder $VIP d1 d1 d2
sleep 1
kill "$mon1" "$mon2" 2>/dev/null
check "3. address monitors were recording" monitoring mon3-d1
check "3. ... on both directors" monitoring mon3-d2
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
