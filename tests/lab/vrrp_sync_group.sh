#!/bin/bash
# A vrrp_sync_group (outside VIP on eth0 + inside VIP on eth1) moves as one:
# when the master's eth1 fails, VI_IN goes to FAULT and takes VI_OUT out of
# MASTER with it, so the peer holds both VIPs; when eth1 recovers, both come
# back together. Then unicast mode: unicast_src_ip + unicast_peer, adverts
# seen on the wire as unicast to the peer, failover on crash.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid tcpdump

OUT=10.77.0.100
IN=10.78.0.100
conf() {  # conf NODE PRIORITY
    cat >"$T_DIR/$1.conf" <<EOF
vrrp_sync_group G {
    group {
        VI_OUT
        VI_IN
    }
}
vrrp_instance VI_OUT {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $2
    version 3
    advert_int 0.1
    virtual_ipaddress {
        $OUT/24
    }
}
vrrp_instance VI_IN {
    state BACKUP
    interface eth1
    virtual_router_id 52
    priority $2
    version 3
    advert_int 0.1
    virtual_ipaddress {
        $IN/24
    }
}
EOF
}
in_holders() { local n o=""; for n in a b; do has_addr $n eth1 $IN && o="$o $n"; done; echo "${o# }"; }
both_on() { only_holder $OUT "$1" a b && [ "$(in_holders)" = "$1" ]; }

lab_switch
vrrp_node a 1; vrrp_node b 2
vrrp_second_if a 1; vrrp_second_if b 2
conf a 150; conf b 100
pa=$(start_vigil a "$T_DIR/a.conf")
pb=$(start_vigil b "$T_DIR/b.conf")
check "a holds both VIPs" wait_until 5 both_on a
ip -n "$(ns a)" link set eth1 down
check "a's eth1 down: b holds both VIPs" wait_until 3 both_on b
check "a's VI_OUT left Master because of the group" log_has a "VI_OUT.*Master -> "
ip -n "$(ns a)" link set eth1 up
check "eth1 back: a holds both again" wait_until 4 both_on a
crash "$pa"; crash "$pb"
clear_vips a $OUT/24 $IN/24; clear_vips b $OUT/24 $IN/24

# Unicast peers.
uconf() {  # uconf NODE PRIORITY SRC PEER
    cat >"$T_DIR/u$1.conf" <<EOF
vrrp_instance VI_U {
    state BACKUP
    interface eth0
    virtual_router_id 71
    priority $2
    advert_int 1
    unicast_src_ip $3
    unicast_peer {
        $4
    }
    virtual_ipaddress {
        $OUT/24
    }
}
EOF
}
uconf a 150 10.77.0.1 10.77.0.2
uconf b 100 10.77.0.2 10.77.0.1
cap=$(capture unicast "ip proto 112")
pa=$(start_vigil a "$T_DIR/ua.conf")
pb=$(start_vigil b "$T_DIR/ub.conf")
check "unicast: a is master" wait_until 6 only_holder $OUT a a b
sleep 1.2
stop_capture "$cap"
tcpdump -r "$T_DIR/unicast.pcap" -n 2>/dev/null >"$T_DIR/unicast.txt"
check "unicast: adverts from 10.77.0.1 to 10.77.0.2 on the wire" grep -q "10.77.0.1 > 10.77.0.2: VRRP" "$T_DIR/unicast.txt"
check "unicast: nothing sent to 224.0.0.18" bash -c "! grep -q 224.0.0.18 '$T_DIR/unicast.txt'"
crash "$pa"
check "unicast: b takes over after a crashes" wait_until 5 has_addr b eth0 $OUT
lab_done
