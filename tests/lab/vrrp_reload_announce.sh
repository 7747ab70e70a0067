#!/bin/bash
# Gratuitous ARP / unsolicited NA after a reload of a MASTER (it keeps its
# mastership, see vrrp_lifecycle.sh): a reload that adds VIPs announces them
# (garp_master_repeat each, like on becoming Master; keepalived re-announces
# after such a reload too), a reload that adds none announces nothing, and
# garp_master_refresh goes on after a reload (also when only it changed).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid tcpdump

conf() {  # conf FILE PRIORITY [EXTRA_VIP] [EXCLUDED_VIP] [INSTANCE_EXTRA_LINE]
    cat >"$1" <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 73
    priority $2
    version 3
    advert_int 0.5
    garp_master_delay 0
    garp_master_repeat 3
    ${5:-}
    virtual_ipaddress {
        10.77.0.100/24
        ${3:-}
    }
    virtual_ipaddress_excluded {
        ${4:-}
    }
}
EOF
}
# garps PCAP VIP: ARP announcements of VIP sent by a (its MAC).
garps() {
    tcpdump -r "$T_DIR/$1.pcap" -e -n 2>/dev/null | grep -E "who-has $2 .*tell $2," | awk -v mac="$AMAC" '$2 == mac' | wc -l
}
# nas PCAP VIP: neighbour advertisements for VIP sent by a.
nas() {
    tcpdump -r "$T_DIR/$1.pcap" -e -n 2>/dev/null | grep -E "neighbor advertisement, tgt is $2," | awk -v mac="$AMAC" '$2 == mac' | wc -l
}
a_transitions() { grep -c "VI_1/vrid 73/v4: .* -> " "$T_DIR/a.log"; }

lab_switch
vrrp_node a 1; vrrp_node b 2
AMAC=$(ip -n "$(ns a)" link show eth0 | awk '/link\/ether/ {print $2}')
conf "$T_DIR/a.conf" 150
conf "$T_DIR/b.conf" 100
pb=$(start_vigil b "$T_DIR/b.conf")
pa=$(start_vigil a "$T_DIR/a.conf")
check "a becomes the master" wait_until 6 only_holder 10.77.0.100 a a b
sleep 1
b_masters=$(grep -c "Backup -> Master" "$T_DIR/b.log")

# 1. A reload that changes the instance but adds no VIP: no announcement.
cap=$(capture none "arp or icmp6")
conf "$T_DIR/a.conf" 160
kill -HUP "$pa"
check "priority change: a keeps mastership" wait_until 3 log_has a "VI_1.*changed by reload; keeps mastership"
sleep 1.5
stop_capture "$cap"
check "priority change: no gratuitous ARP (got $(garps none 10.77.0.100))" test "$(garps none 10.77.0.100)" = 0

# 2. A reload adding an IPv4 VIP and an (excluded) IPv6 one: both announced,
# 3 times each.
n=$(a_transitions)
cap=$(capture added "arp or icmp6")
conf "$T_DIR/a.conf" 160 10.77.0.101/24 fd77::101/64
kill -HUP "$pa"
check "added VIPs installed" wait_until 3 bash -c "ip -n $(ns a) -o addr show dev eth0 | grep -q ' 10.77.0.101/' &&
                                                   ip -n $(ns a) -o addr show dev eth0 | grep -q ' fd77::101/'"
sleep 1
stop_capture "$cap"
check "added IPv4 VIP announced 3 times (got $(garps added 10.77.0.101))" test "$(garps added 10.77.0.101)" = 3
check "added IPv6 VIP announced by NA 3 times (got $(nas added fd77::101))" test "$(nas added fd77::101)" = 3
check "the mastership did not move: one resume, b never master" \
    test "$(( $(a_transitions) - n ))" = 1 -a "$(grep -c 'Backup -> Master' "$T_DIR/b.log")" = "$b_masters"

# 3. garp_master_refresh 1 added by reload: one announcement per second goes
# on while Master (no burst: nothing was added).
conf "$T_DIR/a.conf" 160 10.77.0.101/24 fd77::101/64 "garp_master_refresh 1"
cap=$(capture refresh "arp or icmp6")
kill -HUP "$pa"
sleep 3.5
stop_capture "$cap"
r=$(garps refresh 10.77.0.100)
check "refresh after reload: announcements go on, one at a time (1-4 in 3.5 s, got $r)" test "$r" -ge 1 -a "$r" -le 4
check "b never became master" test "$(grep -c 'Backup -> Master' "$T_DIR/b.log")" = "$b_masters"
lab_done
