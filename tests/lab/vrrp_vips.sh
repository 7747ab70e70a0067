#!/bin/bash
# VIP movement details: virtual_ipaddress with label/scope, an excluded IPv6
# VIP (not in adverts, still moved), virtual_routes (via and blackhole) on the
# master only; a VIP deleted behind vigil's back is put back (netlink
# reflector); SIGTERM removes everything the master added and the backup
# installs it.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid

conf() {  # conf NODE PRIORITY
    cat >"$T_DIR/$1.conf" <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $2
    version 3
    advert_int 0.1
    virtual_ipaddress {
        10.77.0.100/24
        10.77.0.101/24 dev eth0 label eth0:vip scope global
    }
    virtual_ipaddress_excluded {
        fd77::100/64
    }
    virtual_routes {
        10.99.0.0/24 via 10.77.0.254
        blackhole 10.98.0.0/24
    }
}
EOF
}
# installed NODE: every VIP and route of the instance is present on NODE.
installed() {
    local n="$1"
    has_addr "$n" eth0 10.77.0.100 && has_addr "$n" eth0 10.77.0.101 && has_addr "$n" eth0 fd77::100 &&
        ip -n "$(ns "$n")" -o addr show dev eth0 | grep -q "10.77.0.101/24 .*eth0:vip" &&
        ip -n "$(ns "$n")" route show 10.99.0.0/24 | grep -q "via 10.77.0.254" &&
        ip -n "$(ns "$n")" route show type blackhole | grep -q "10.98.0.0/24"
}
# none NODE: nothing of the instance is present on NODE.
none() {
    local n="$1"
    ! has_addr "$n" eth0 10.77.0.100 && ! has_addr "$n" eth0 10.77.0.101 && ! has_addr "$n" eth0 fd77::100 &&
        [ -z "$(ip -n "$(ns "$n")" route show 10.99.0.0/24)" ] &&
        ! ip -n "$(ns "$n")" route show type blackhole | grep -q "10.98.0.0/24"
}

lab_switch
vrrp_node a 1; vrrp_node b 2
conf a 150; conf b 100
pa=$(start_vigil a "$T_DIR/a.conf")
pb=$(start_vigil b "$T_DIR/b.conf")
check "master a has every VIP (label, excluded IPv6) and route" wait_until 5 installed a
check "backup b has none of them" none b

ip -n "$(ns a)" addr del 10.77.0.100/24 dev eth0
check "a VIP deleted behind vigil's back is restored" wait_until 2 has_addr a eth0 10.77.0.100
check "the restore is logged" wait_until 1 log_has a "VIP 10.77.0.100/24 was removed behind our back"
restores() { [ "$(vstat a VI_1 vip_restores)" -ge 1 ]; }
check "and counted in vrrp.stats" wait_until 2 restores

kill -TERM "$pa"
check "SIGTERM: a removed everything it added" wait_until 3 none a
check "SIGTERM: b installed everything" wait_until 3 installed b
check "a's own address is untouched" has_addr a eth0 10.77.0.1
lab_done
