#!/bin/bash
# vigil and keepalived (the Debian package) as VRRP peers on one link, same
# VRID: VRRPv2/IPv4 with vigil as master, VRRPv3/IPv4 with keepalived as
# master, VRRPv3/IPv6 with vigil as master. In each: the election resolves to
# the higher priority, the backup (the other implementation) accepts the
# master's adverts and stays quiet, a hard crash of the master moves the VIP
# to the other implementation, and neither side logs checksum/format errors.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd keepalived setsid

# conf FILE PRIORITY VERSION ADVERT_INT VIP
conf() {
    cat >"$1" <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 61
    priority $2
    version $3
    advert_int $4
    virtual_ipaddress {
        $5
    }
}
EOF
}

bad_words='checksum|invalid|bad |wrong|malformed|dropped packet|rejected advert|unknown|mismatch'

lab_switch
vrrp_node v 1
vrrp_node k 2

# scenario NAME VERSION ADVERT_INT VIP VIPHOST MASTER(vigil|keepalived) TIMEOUT
scenario() {
    local name="$1" ver="$2" adv="$3" vip="$4" viphost="$5" master="$6" limit="$7"
    local vprio=100 kprio=150
    [ "$master" = vigil ] && { vprio=150; kprio=100; }
    conf "$T_DIR/v-$name.conf" $vprio "$ver" "$adv" "$vip"
    conf "$T_DIR/k-$name.conf" $kprio "$ver" "$adv" "$vip"
    : >"$T_DIR/v.log"; : >"$T_DIR/k.log"
    local pv pk win lose
    local cap=""
    case "$viphost" in *:*) cap=$(capture "na-$name" "icmp6") ;; esac
    pv=$(start_vigil v "$T_DIR/v-$name.conf")
    pk=$(start_keepalived k "$T_DIR/k-$name.conf")
    if [ "$master" = vigil ]; then win=v; lose=k; else win=k; lose=v; fi
    check "$name: $master (priority 150) is master, alone holding $viphost" \
        wait_until "$limit" only_holder "$viphost" $win v k
    # A few advert intervals: the backup must keep accepting the master's adverts.
    sleep "$(awk "BEGIN{print $adv * 4}")"
    check "$name: still one holder after 4 advert intervals" only_holder "$viphost" $win v k
    if [ -n "$cap" ]; then
        stop_capture "$cap"
        tcpdump -r "$T_DIR/na-$name.pcap" -n -vv 2>/dev/null >"$T_DIR/na-$name.txt"
        # Unsolicited NA from the master (RFC 4861 7.2.6), checksum verified by tcpdump.
        check "$name: unsolicited neighbour advertisement for $viphost on the wire" \
            grep -qE "hlim 255.*icmp6 sum ok.*neighbor advertisement.*tgt is $viphost, Flags \[override\]" "$T_DIR/na-$name.txt"
        check "$name: no bad ICMPv6 checksum" bash -c "! grep -qi 'bad.*cksum\|cksum.*incorrect' '$T_DIR/na-$name.txt'"
    fi
    # Hard crash of the master: the other implementation takes over.
    if [ "$master" = vigil ]; then crash "$pv"; else crash "$pk"; fi
    check "$name: after crashing $master the other one takes over" wait_until "$limit" has_addr $lose eth0 "$viphost"
    check "$name: vigil logged no drops/rejects of keepalived's packets" bash -c "! grep -qiE '$bad_words' '$T_DIR/v.log'"
    check "$name: keepalived logged no complaint about vigil's packets" bash -c "! grep -qiE '$bad_words' '$T_DIR/k.log'"
    crash "$pv"; crash "$pk"
    cp "$T_DIR/v.log" "$T_DIR/v-$name.log"; cp "$T_DIR/k.log" "$T_DIR/k-$name.log"
    # Leave the namespaces clean for the next scenario (a crash keeps the VIP).
    ip -n "$(ns v)" addr flush dev eth0 scope global 2>/dev/null
    ip -n "$(ns k)" addr flush dev eth0 scope global 2>/dev/null
    ip -n "$(ns v)" addr add 10.77.0.1/24 dev eth0; ip -n "$(ns v)" addr add fd77::1/64 dev eth0 nodad
    ip -n "$(ns k)" addr add 10.77.0.2/24 dev eth0; ip -n "$(ns k)" addr add fd77::2/64 dev eth0 nodad
    sleep 0.3
}

scenario v2-ipv4 2 1 10.77.0.100/24 10.77.0.100 vigil 6
scenario v3-ipv4 3 0.1 10.77.0.101/24 10.77.0.101 keepalived 4
scenario v3-ipv6 3 0.1 fd77::100/64 fd77::100 vigil 4
lab_done
