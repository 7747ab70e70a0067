#!/bin/bash
# The quick-start demo (tests/demo.sh runs it in the ip_vs guest through
# tests/kernel/vm-run.sh): the two-director LVS-DR lab of lvs_dr_lib.sh,
# narrated step by step for someone who has never used LVS. Exits 0 when
# every step did what it says, non-zero with the failed step named.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
. "$top_srcdir/tests/kernel/lvs_dr_lib.sh"
T_NAME=lvs_dr_demo
lvs_lab_init

STEP=0
step() { STEP=$((STEP + 1)); echo; echo "=== Step $STEP: $*"; }
say() { echo "    $*"; }
# show_on NODE CMD...: print a command as run on NODE, and its output.
show_on() {
    local node="$1"; shift
    echo "    ${node/#d/director}# $*"
    in_ns "$node" "$@" 2>&1 | sed 's/^/      /'
}
# die MESSAGE: the step failed; say why, show the directors' logs, exit 1.
die() {
    echo
    echo "DEMO FAILED at step $STEP: $*"
    local f
    for f in "$T_DIR"/d1.log* "$T_DIR"/d2.log; do
        [ -e "$f" ] || continue
        echo "---- last lines of ${f##*/}"
        tail -n 25 "$f"
    done
    exit 1
}
# addrs NODE: the IPv4 addresses on NODE's eth0, one line.
addrs() { in_ns "$1" ip -4 -o addr show dev eth0 | awk '{ printf "%s ", $4 }'; }
who_has_vip() {
    local h
    h=$(holders "$VIP" d1 d2)
    echo "${h:-nobody}"
}
secs() { printf '%d.%d s' $(($1 / 1000)) $(($1 % 1000 / 100)); }

cat <<EOF

vigil demo: two LVS directors in front of two web servers (LVS-DR)
==================================================================
Everything below runs inside this small virtual machine, in network
namespaces on one virtual switch:

                        client $NET.50
                              |
   ---------------------------+------------------------------------ switch
        |                  |                     |                |
   director1 .1       director2 .2            web1 .11         web2 .12
   vigild, priority   vigild, priority      HTTP "web1"      HTTP "web2"
   100 (MASTER)       99 (BACKUP)

- The service address clients use is the virtual IP (VIP) $VIP.
  It lives on ONE director at a time: the VRRP master.
- That director's kernel (IPVS, the Linux Virtual Server) spreads the
  client's connections over web1 and web2. In "direct routing" (DR) mode
  the web servers answer the client directly, not through the director.
- vigild on each director elects the master (VRRP), moves the VIP,
  health-checks web1/web2 and keeps the IPVS table in step.
EOF

step "start the lab and vigild on both directors"
lvs_topology
lvs_start_directors
say "web1 and web2 serve their own name; each has the VIP on its loopback"
say "and is told never to answer ARP for it (only the master director does)."
wait_until 20 only_holder "$VIP" d1 d1 d2 || die "director1 did not become the only holder of $VIP (holders: $(who_has_vip))"
say "director1 has the higher priority, so it became MASTER and took the VIP:"
say "  director1 eth0: $(addrs d1)  <- the VIP $VIP is here"
say "  director2 eth0: $(addrs d2)  (BACKUP: no VIP)"
grep -h -- "-> Master" "$T_DIR/d1.log" | tail -n 1 | sed 's/^/    director1 log: /'

step "the IPVS table on the master (ipvsadm -ln)"
wait_until 20 both_listed || die "director1's IPVS table does not list both web servers"
show_on d1 ipvsadm -ln
say "One virtual service, TCP $VIP:80, scheduler rr (round robin), and two"
say "real servers reached by 'Route' (direct routing), weight 1 each."

step "the client sends 6 requests to http://$VIP/"
b=$(gets 6)
i=0
for body in $b; do i=$((i + 1)); say "request $i -> answered by $body"; done
alternates $b || die "requests did not alternate between web1 and web2: $b"
say "Round robin: the requests alternate between web1 and web2, and every"
say "reply came straight from the web server to the client."

step "director1 crashes (SIGKILL of every vigild process)"
say "A crash leaves the VIP and the IPVS rules in director1's kernel, but"
say "director1 stops sending VRRP adverts. director2 waits 3 advert"
say "intervals + a skew ($(secs $MASTER_DOWN_MS)) and takes over. Meanwhile the client keeps"
say "sending 3 requests a second."
request_loop "$T_DIR/loop-crash.log" 18 3/s retry
sleep 0.5
crash_ts=$(now_ts)
crash "$P1"
wait_until 15 has_addr d2 eth0 "$VIP" || die "director2 did not take the VIP within 15 s"
took=$(wait_transition d2 "$crash_ts" "Backup -> Master") || die "director2's log shows no Backup -> Master"
say "director2 became MASTER $(secs "$took") after the crash (the protocol's $(secs $MASTER_DOWN_MS),"
say "plus this emulated CPU's own delays)."
wait "$LOOP_PID"
ok=$(grep -o 'web[12]' "$T_DIR/loop-crash.log" | wc -l)
say "requests during the failover: $ok of 18 answered:"
say "  $(cat "$T_DIR/loop-crash.log")"
say "(until director2 announced the VIP with gratuitous ARP, the client's"
say "packets still reached director1, whose kernel kept forwarding them."
say "The connection in flight at that moment, if any, is reset by director2"
say "and the client tries again: retried here $(retries "$T_DIR/loop-crash.log") time(s).)"
say "  director2 eth0: $(addrs d2)  <- VIP"
say "  director1 eth0: $(addrs d1)  <- the dead instance's leftover VIP"
loop_ok "$T_DIR/loop-crash.log" 18 || die "not every request was answered during the failover"

step "director1 comes back and takes the VIP back (preemption)"
mon1=$(monitor d1 demo-mon-d1); mon2=$(monitor d2 demo-mon-d2)
restart_ts=$(now_ts)
P1=$(restart_vigil d1 "$C1")
wait_until 20 only_holder "$VIP" d1 d1 d2 || die "director1 did not take the VIP back (holders: $(who_has_vip))"
back=$(wait_transition d1 "$restart_ts" "Backup -> Master") || die "director1's log shows no Backup -> Master"
sleep 1
kill "$mon1" "$mon2" 2>/dev/null
grep -h "left by a run" "$T_DIR/d1.log" | head -n 1 | sed 's/^/    director1 log: /'
say "vigild starts as BACKUP and first removes the VIP the crashed run left"
say "behind, so the VIP is never answered by both directors. Hearing only"
say "priority 99 adverts, it preempts (MASTER $(secs "$back") after it was started)."
vip_events "$T_DIR/demo-mon-d1.log" >"$T_DIR/ev-d1"; vip_events "$T_DIR/demo-mon-d2.log" >"$T_DIR/ev-d2"
add1=$(sed -n 's/ add$//p' "$T_DIR/ev-d1" | head -n 1)
del2=$(sed -n 's/ del$//p' "$T_DIR/ev-d2" | head -n 1)
[ "$(cut -d' ' -f2 "$T_DIR/ev-d1" | head -n 1)" = del ] || die "director1 did not remove the leftover VIP first"
if [ -n "$add1" ] && [ -n "$del2" ]; then
    overlap=$(( $(ms_of "$del2") - $(ms_of "$add1") ))
    if [ "$overlap" -gt 0 ]; then
        say "VIP on both directors during the handback: $overlap ms"
        say "(director2 drops it as soon as it hears director1's first advert)"
    else
        say "VIP on both directors during the handback: never (director2 dropped"
        say "it on director1's first advert, before director1 had added it)"
    fi
fi
say "  director1 eth0: $(addrs d1)  <- VIP"
say "  director2 eth0: $(addrs d2)"
b=$(gets 2)
alternates $b || die "requests after the handback: $b"
say "requests: $b"

step "web1's HTTP server stops: the health check removes it"
say "vigild connects to port 80 of each web server every second (TCP_CHECK)."
kill -TERM "$WEB1"; wait_until 5 dead "$WEB1"
t0=$(now_ms)
wait_until 30 unlisted_rs d1 11 || die "director1 did not remove web1 from IPVS"
say "web1 failed its check and left the IPVS table $(secs $(( $(now_ms) - t0 ))) after it stopped:"
show_on d1 ipvsadm -ln
b=$(gets 4)
all_are web2 $b || die "requests with web1 down: $b (want only web2)"
say "requests: $b  (nobody is sent to the dead server)"

step "web1 comes back"
WEB1=$(web_server 1)
t0=$(now_ms)
wait_until 30 lists_rs d1 11 || die "director1 did not add web1 back"
say "web1 passed its check and is back in the table after $(secs $(( $(now_ms) - t0 ))):"
show_on d1 ipvsadm -ln
b=$(gets 4)
alternates $b || die "requests with web1 back: $b"
say "requests: $b"

echo
echo "=== Demo complete: every step did what it said."
echo "    Try it on real machines: etc/lvs-dr-director1.conf and"
echo "    etc/lvs-dr-director2.conf, and see the README."
exit 0
