#!/bin/bash
# Guest side of ipvs.sh (issue 4): runs inside the ip_vs VM (vm-run.sh) and
# checks the reconciler against the real kernel, reading the result back with
# ipvsadm as an independent reader. Each group of checks gets a fresh network
# namespace (its own IPVS table). The reconciler is driven by ipvs_apply, which
# counts the netlink messages it writes, and at the end by vigild itself.
# Addresses: documentation / private ranges, only inside namespaces made here;
# no packet is sent anywhere (IPVS rules only).
set -u
. "$top_srcdir/tests/lib.sh"
T_NAME=ipvs_guest
lab_init
require_cmd ipvsadm
APPLY="$top_builddir/tests/bench/ipvs_apply"
[ -x "$APPLY" ] || { echo "not ok - $APPLY not built (make check builds it)"; exit 1; }

# run NS MODE ARGS...: ipvs_apply in namespace NS; sets MSGS, SENDS, FAILS
# (of its figures line) and keeps its output in $T_DIR/apply.log. Returns
# ipvs_apply's status.
run() {
    local out rc n="$1"; shift
    out="$(in_ns "$n" "$APPLY" "$@" 2>&1)"; rc=$?
    printf '== %s %s (rc %s)\n%s\n' "$n" "$*" "$rc" "$out" >>"$T_DIR/apply.log"
    LAST_OUT="$out"
    MSGS="$(sed -n 's/^ipvs_apply: .* messages=\([0-9]*\) .*/\1/p' <<<"$out")"
    SENDS="$(sed -n 's/^ipvs_apply: .* sendmsg=\([0-9]*\) .*/\1/p' <<<"$out")"
    FAILS="$(sed -n 's/^ipvs_apply: .* failures=\([0-9]*\) .*/\1/p' <<<"$out")"
    return $rc
}
saved() { in_ns "$1" ipvsadm -Sn; }

# --- 1. every scheduler, DR/NAT/TUN, fwmark, IPv6, SCTP, persistence --------
write_all_conf() {  # $1: file; the 192.0.2.2 weight and scheduler as $2 $3
    cat >"$1" <<EOF
virtual_server 192.0.2.1 80 {
    lb_algo rr
    lb_kind ${4:-DR}
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 1
    }
}
virtual_server 192.0.2.2 80 {
    lb_algo ${3:-wrr}
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.1 8080 {
        weight ${2:-5}
    }
    real_server 10.0.1.2 8080 {
        weight 0
    }
}
virtual_server 192.0.2.3 80 {
    lb_algo lc
    lb_kind TUN
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 2
        uthreshold 100
        lthreshold 10
    }
}
virtual_server 192.0.2.4 80 {
    lb_algo sh
    sh-port
    sh-fallback
    lb_kind DR
    protocol TCP
    persistence_timeout ${5:-600}
    persistence_granularity 255.255.255.0
    real_server 10.0.1.1 80 {
        weight 1
    }
}
virtual_server 192.0.2.5 53 {
    lb_algo mh
    mh-port
    mh-fallback
    ops
    lb_kind DR
    protocol UDP
    real_server 10.0.1.1 53 {
        weight 1
    }
}
virtual_server fwmark 7 {
    lb_algo wlc
    lb_kind DR
    real_server 10.0.1.1 {
        weight 1
    }
}
virtual_server fwmark 8 {
    ip_family inet6
    lb_algo rr
    lb_kind DR
    real_server 2001:db8:1::1 {
        weight 1
    }
}
virtual_server 2001:db8::5 443 {
    lb_algo sed
    lb_kind NAT
    protocol TCP
    persistence_timeout 300
    persistence_granularity 64
    real_server 2001:db8:1::1 443 {
        weight 3
    }
}
virtual_server 192.0.2.6 3868 {
    lb_algo nq
    lb_kind DR
    protocol SCTP
    real_server 10.0.1.1 3868 {
        weight 1
    }
}
EOF
    # The remaining schedulers, one service each.
    local i=10 s
    for s in dh lblc lblcr fo ovf; do
        cat >>"$1" <<EOF
virtual_server 192.0.2.$i 80 {
    lb_algo $s
    lb_kind DR
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 1
    }
    real_server 10.0.1.2 80 {
        weight 2
    }
}
EOF
        i=$((i + 1))
    done
}

expected_all() {
    cat <<'EOF'
-A -t 192.0.2.1:80 -s rr
-a -t 192.0.2.1:80 -r 10.0.1.1:80 -g -w 1
-A -t 192.0.2.2:80 -s wrr
-a -t 192.0.2.2:80 -r 10.0.1.1:8080 -m -w 5
-a -t 192.0.2.2:80 -r 10.0.1.2:8080 -m -w 0
-A -t 192.0.2.3:80 -s lc
-a -t 192.0.2.3:80 -r 10.0.1.1:80 -i -w 2 --tun-type ipip
-A -t 192.0.2.4:80 -s sh -p 600 -M 255.255.255.0 -b sh-fallback,sh-port
-a -t 192.0.2.4:80 -r 10.0.1.1:80 -g -w 1
-A -u 192.0.2.5:53 -s mh -o -b mh-fallback,mh-port
-a -u 192.0.2.5:53 -r 10.0.1.1:53 -g -w 1
-A --sctp-service 192.0.2.6:3868 -s nq
-a --sctp-service 192.0.2.6:3868 -r 10.0.1.1:3868 -g -w 1
-A -t 192.0.2.10:80 -s dh
-a -t 192.0.2.10:80 -r 10.0.1.1:80 -g -w 1
-a -t 192.0.2.10:80 -r 10.0.1.2:80 -g -w 2
-A -t 192.0.2.11:80 -s lblc
-a -t 192.0.2.11:80 -r 10.0.1.1:80 -g -w 1
-a -t 192.0.2.11:80 -r 10.0.1.2:80 -g -w 2
-A -t 192.0.2.12:80 -s lblcr
-a -t 192.0.2.12:80 -r 10.0.1.1:80 -g -w 1
-a -t 192.0.2.12:80 -r 10.0.1.2:80 -g -w 2
-A -t 192.0.2.13:80 -s fo
-a -t 192.0.2.13:80 -r 10.0.1.1:80 -g -w 1
-a -t 192.0.2.13:80 -r 10.0.1.2:80 -g -w 2
-A -t 192.0.2.14:80 -s ovf
-a -t 192.0.2.14:80 -r 10.0.1.1:80 -g -w 1
-a -t 192.0.2.14:80 -r 10.0.1.2:80 -g -w 2
-A -t [2001:db8::5]:443 -s sed -p 300 -M 64
-a -t [2001:db8::5]:443 -r [2001:db8:1::1]:443 -m -w 3
-A -f 7 -s wlc
-a -f 7 -r 10.0.1.1:0 -g -w 1
-A -f 8 -6 -s rr
-a -f 8 -6 -r [2001:db8:1::1]:0 -g -w 1
EOF
}

# same_rules NS EXPECTED_FILE [GREP_V_PATTERN]: the table (without the rules
# matching the pattern) equals the file, order-insensitive. Temporary files,
# not <(...): the guest has no /dev/fd.
same_rules() {
    saved "$1" | grep -v -e "${3:-^\$}" | sort >"$T_DIR/have.rules"
    sort "$2" >"$T_DIR/want.rules"
    diff "$T_DIR/want.rules" "$T_DIR/have.rules" >"$T_DIR/diff.out"
}

ns_add all
conf="$T_DIR/all.conf"
write_all_conf "$conf"
expected_all >"$T_DIR/all.expected"
rules=$(grep -c . "$T_DIR/all.expected")
check "every scheduler, DR/NAT/TUN, fwmark v4+v6, IPv6, SCTP, persistence: applied without failure" run all apply "$conf"
check "  one message per rule ($rules) in one sendmsg (got $MSGS in $SENDS)" test "$MSGS" = "$rules" -a "$SENDS" = 1
check "  ipvsadm -Sn reads back exactly the configured table" same_rules all "$T_DIR/all.expected"
[ -s "$T_DIR/diff.out" ] && cat "$T_DIR/diff.out"
check "  thresholds 100/10 on the TUN destination (ipvsadm --thresholds)" \
    bash -c "ip netns exec $(ns all) ipvsadm -ln --thresholds -t 192.0.2.3:80 | grep -q '10.0.1.1:80 *100 *10 '"
check "  ipvsadm --persistent-conn lists all 14 services" \
    test "$(in_ns all ipvsadm -ln --persistent-conn | grep -c '^\(TCP\|UDP\|SCTP\|FWM\)')" = 14
check "  ipvsadm --rate lists all 14 services" \
    test "$(in_ns all ipvsadm -ln --rate | grep -c '^\(TCP\|UDP\|SCTP\|FWM\)')" = 14

run all apply "$conf"
check "same config again (a fresh process adopting the table): zero netlink writes (got $MSGS)" test "$MSGS" = 0

write_all_conf "$conf" 7
run all apply "$conf"
check "weight change: exactly one write (got $MSGS)" test "$MSGS" = 1
check "  ipvsadm shows the new weight" bash -c "ip netns exec $(ns all) ipvsadm -Sn | grep -qx -- '-a -t 192.0.2.2:80 -r 10.0.1.1:8080 -m -w 7'"

write_all_conf "$conf" 7 wlc
run all apply "$conf"
check "scheduler change: one write, in place (got $MSGS)" test "$MSGS" = 1
check "  ipvsadm shows wlc and both destinations kept" \
    test "$(saved all | grep -c -- '-t 192.0.2.2:80')" = 3 -a "$(saved all | grep -c -- '-A -t 192.0.2.2:80 -s wlc')" = 1

write_all_conf "$conf" 7 wlc DR 900
run all apply "$conf"
check "persistence timeout change: one write (got $MSGS)" test "$MSGS" = 1
check "  ipvsadm shows -p 900" bash -c "ip netns exec $(ns all) ipvsadm -Sn | grep -q -- '-A -t 192.0.2.4:80 -s sh -p 900 '"

write_all_conf "$conf" 7 wlc TUN 900
run all apply "$conf"
check "forwarding method DR -> TUN: one write (got $MSGS)" test "$MSGS" = 1
check "  ipvsadm shows the tunnel" bash -c "ip netns exec $(ns all) ipvsadm -Sn | grep -q -- '-a -t 192.0.2.1:80 -r 10.0.1.1:80 -i -w 1'"

in_ns all ipvsadm -d -t 192.0.2.2:80 -r 10.0.1.2:8080
run all apply "$conf"
check "destination deleted by hand with ipvsadm: restored with one write (got $MSGS)" test "$MSGS" = 1
check "  ipvsadm shows it again" bash -c "ip netns exec $(ns all) ipvsadm -Sn | grep -q -- '-r 10.0.1.2:8080 -m -w 0'"

in_ns all ipvsadm -D -t 192.0.2.2:80
in_ns all ipvsadm -e -t 192.0.2.10:80 -r 10.0.1.2:80 -g -w 9
run all apply "$conf"
check "service deleted and weight edited by hand: restored with 3+1 writes (got $MSGS)" test "$MSGS" = 4
check "  ipvsadm shows them again" \
    test "$(saved all | grep -c -- '-t 192.0.2.2:80')" = 3 -a "$(saved all | grep -c -- '-r 10.0.1.2:80 -g -w 2$')" = 5

# --- 2. ownership: foreign services survive start, reload and stop ---------
ns_add own
in_ns own ipvsadm -A -t 198.51.100.1:25 -s rr
in_ns own ipvsadm -a -t 198.51.100.1:25 -r 10.9.9.9:25 -g -w 4
in_ns own ipvsadm -A -f 99 -s lc
in_ns own ipvsadm -A -t 192.0.2.2:81 -s rr     # same address as ours, other port
saved own | sort >"$T_DIR/foreign.rules"
cat >"$T_DIR/own.conf" <<'EOF'
virtual_server 192.0.2.2 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 1
    }
}
virtual_server 192.0.2.3 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 1
    }
}
EOF
run own apply "$T_DIR/own.conf"
check "start with foreign services present: ours added (4 writes, got $MSGS)" test "$MSGS" = 4
check "  foreign services untouched after start" same_rules own "$T_DIR/foreign.rules" '-t 192.0.2.[23]:80'

# Reload in one process (as the daemon does): 192.0.2.3 dropped, 192.0.2.2's weight changed.
sed -e '/^virtual_server 192.0.2.3 80/,$d' -e 's/weight 1/weight 3/' "$T_DIR/own.conf" >"$T_DIR/own-new.conf"
run own reload "$T_DIR/own.conf" "$T_DIR/own-new.conf"
check "reload dropping a service and changing a weight: 2 writes (got $MSGS)" test "$MSGS" = 2
check "  the dropped service is gone" bash -c "! ip netns exec $(ns own) ipvsadm -Sn | grep -q -- '-t 192.0.2.3:80'"
check "  foreign services untouched after reload" same_rules own "$T_DIR/foreign.rules" '-t 192.0.2.[23]:80'
run own stop "$T_DIR/own-new.conf"
check "stop: exactly our service removed, in one write (got $MSGS)" test "$MSGS" = 1
check "  only the foreign services are left" same_rules own "$T_DIR/foreign.rules"

# --- 3. lvs_flush / lvs_flush_on_stop (keepalived: the whole table) --------
ns_add flush
in_ns flush ipvsadm -A -t 198.51.100.1:25 -s rr
{ printf 'global_defs {\n    lvs_flush\n    lvs_flush_on_stop\n}\n'; cat "$T_DIR/own-new.conf"; } >"$T_DIR/flush.conf"
run flush apply "$T_DIR/flush.conf"
check "lvs_flush: the foreign service is flushed at start, ours programmed" \
    test "$(saved flush | tr '\n' ' ')" = "-A -t 192.0.2.2:80 -s rr -a -t 192.0.2.2:80 -r 10.0.1.1:80 -g -w 3 "
in_ns flush ipvsadm -A -t 198.51.100.1:25 -s rr
run flush stop "$T_DIR/flush.conf"
check "lvs_flush_on_stop: the whole table is empty after stop" test -z "$(saved flush)"

# --- 4. batching: 20 x 50, several sendmsg, one failure named, rest applied -
ns_add big
{
    for s in $(seq 1 20); do
        printf 'virtual_server 192.0.3.%d 80 {\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n' "$s"
        for d in $(seq 1 50); do printf '    real_server 10.1.%d.%d 80 {\n        weight %d\n    }\n' "$s" "$d" "$d"; done
        printf '}\n'
    done
} >"$T_DIR/big.conf"
run big apply "$T_DIR/big.conf"
check "20 x 50 from empty: 1020 writes (got $MSGS) in more than one sendmsg, fewer than 10 (got $SENDS)" \
    test "$MSGS" = 1020 -a "$SENDS" -gt 1 -a "$SENDS" -lt 10
check "  ipvsadm -Sn lists all 1020 rules" test "$(saved big | wc -l)" = 1020
run big apply "$T_DIR/big.conf"
check "  again: zero writes (got $MSGS)" test "$MSGS" = 0

ns_add bad
cat >"$T_DIR/bad.conf" <<'EOF'
virtual_server 192.0.2.1 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 1
    }
    real_server 224.0.0.5 80 {
        weight 1
    }
    real_server 10.0.1.2 80 {
        weight 1
        uthreshold 5
        lthreshold 10
    }
    real_server 10.0.1.3 80 {
        weight 1
    }
}
EOF
run bad apply "$T_DIR/bad.conf"; rc=$?
check "rules the kernel refuses: 2 failures counted (got $FAILS), exit non-zero" test "$FAILS" = 2 -a "$rc" != 0
check "  each refused rule is named with the kernel's reason" \
    bash -c "grep -q 'add dest TCP 192.0.2.1:80 -> 224.0.0.5:80 .*: Invalid argument' <<<'$LAST_OUT' &&
             grep -q 'add dest TCP 192.0.2.1:80 -> 10.0.1.2:80 .*: Numerical result out of range' <<<'$LAST_OUT'"
check "  the rest of the batch applied (service + 2 destinations)" test "$(saved bad | wc -l)" = 3

# --- 5. the daemon: health batches without a table read, periodic repair ---
# vigild itself: a health change is applied incrementally (no dump), a rule
# deleted by hand comes back at the next periodic pass (lvs_reconcile_interval,
# 2 s here), an unchanged reload writes nothing, stop removes our service.
VIGILD="$top_builddir/vigild"
ns_add d
ip -n "$(ns d)" addr add 10.0.5.1/32 dev lo
listener() {  # listener PORT: accepts (and closes) connections on 10.0.5.1:PORT
    start_bg d "$T_DIR/listener-$1.log" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.5.1", int(sys.argv[1])))
s.listen(16)
while True:
    s.accept()[0].close()
' "$1"
}
L1=$(listener 8081); L2=$(listener 8082)
# Listening before vigild starts: the first pass programs both from the config
# at once, and a first probe that found a port not yet open would take it out
# and back in, outside what the checks below count.
both_listening() { tcp_listening d 8081 10.0.5.1 && tcp_listening d 8082 10.0.5.1; }
check "listeners up" wait_until 20 both_listening
cat >"$T_DIR/d.conf" <<'EOF'
global_defs {
    lvs_reconcile_interval 2
}
virtual_server 192.0.2.50 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.5.1 8081 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.0.5.1 8082 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
EOF
dlog="$T_DIR/vigild.log"
dpid=$(start_bg d "$dlog" "$VIGILD" -n -l -f "$T_DIR/d.conf" --runtime-dir "$T_DIR/run-d")
dests() { saved d | grep -c -- '-t 192.0.2.50:80 -r 10.0.5.1:808[12] '; }
has_dest() { saved d | grep -q -- "-t 192.0.2.50:80 -r 10.0.5.1:$1 "; }
lacks_dest() { ! has_dest "$1"; }
dstat() { "$VIGILD" --runtime-dir "$T_DIR/run-d" --ctl stats 2>/dev/null | sed -n "s/^$1 //p"; }
logged_after() { tail -n +$(($1 + 1)) "$dlog" | grep -q "$2"; }  # logged_after LINES REGEX
both_dests() { [ "$(dests)" = 2 ]; }
health_kept() { lacks_dest 8082 && has_dest 8081; }
table_empty() { [ -z "$(saved d)" ]; }
check "vigild: both real servers programmed" wait_until 30 both_dests
kill -TERM "$L2"
check "vigild: the stopped real server is removed" wait_until 30 lacks_dest 8082
check "  by an incremental update: one write, no table read" grep -q 'ipvs: update: 1 changes, 1 messages' "$dlog"
in_ns d ipvsadm -d -t 192.0.2.50:80 -r 10.0.5.1:8081
check "vigild: a destination deleted by hand is restored by the periodic pass" wait_until 30 has_dest 8081
check "  and the log says so" wait_until 5 grep -q 'periodic check repaired 1 rule' "$dlog"
msgs=$(dstat ipvs_messages)
lines=$(wc -l <"$dlog")
kill -HUP "$dpid"
check "vigild: unchanged reload complete" wait_until 30 logged_after "$lines" 'reload complete'
msgs_after=$(dstat ipvs_messages)
check "  with zero netlink writes (ipvs_messages $msgs -> $msgs_after)" test -n "$msgs" -a "$msgs_after" = "$msgs"
check "  health state kept: 8082 still out, 8081 in" health_kept
kill -TERM "$dpid"
check "vigild: SIGTERM removes our service" wait_until 30 table_empty
check "  and vigild exits" wait_until 30 bash -c "! kill -0 $dpid 2>/dev/null"
echo "--- vigild log"; cat "$dlog"

echo "--- ipvs_apply output"; cat "$T_DIR/apply.log"
lab_done
