#!/bin/bash
# VIP movement details: virtual_ipaddress with label/scope, an excluded IPv6
# VIP (not in adverts, still moved), virtual_routes (via and blackhole) on the
# master only; a VIP deleted behind vigil's back is put back (netlink
# reflector); SIGTERM removes everything the master added and the backup
# installs it; VIPs and routes left on a node (as by a vigild killed with
# SIGKILL) are removed when vigild starts there behind a master, and the VIP
# is never held by both nodes from then on.
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

dead_pid() { ! kill -0 "$1" 2>/dev/null; }
not_log_has() { ! log_has "$@"; }

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

# What a vigild killed with SIGKILL leaves behind: everything of the instance
# still configured. Start a again as a lower-priority backup behind b.
check "a is down" wait_until 3 dead_pid "$pa"
ip -n "$(ns a)" addr add 10.77.0.100/24 dev eth0
ip -n "$(ns a)" addr add 10.77.0.101/24 dev eth0 label eth0:vip
ip -n "$(ns a)" addr add fd77::100/64 dev eth0 nodad
# vigild adds its routes as proto static.
ip -n "$(ns a)" route add 10.99.0.0/24 via 10.77.0.254 proto static
ip -n "$(ns a)" route add blackhole 10.98.0.0/24 proto static
check "leftovers in place on a (as after SIGKILL)" installed a
conf a 50
mv "$T_DIR/a.log" "$T_DIR/a.log.1"
pa=$(start_vigil a "$T_DIR/a.conf")
# cleared NODE: none of the instance's VIPs and routes within 3 s; else show what is left.
cleared() {
    wait_until 3 none "$1" && return 0
    ip -n "$(ns "$1")" addr show dev eth0; ip -n "$(ns "$1")" route show table all type unicast type blackhole
    return 1
}
check "a, starting as backup, removes the leftover VIPs and routes" cleared a
check "the removal is logged" log_has a "VIP 10.77.0.100/24 is on eth0 but this instance is not Master"
check "a entered Backup" log_has a "Initialize -> Backup"
# From here on only b may hold the VIP: sample for 2 s (20 samples).
b_alone() {
    local i
    for i in $(seq 1 20); do
        only_holder 10.77.0.100 b a b || return 1
        none a || return 1
        sleep 0.1
    done
}
check "b alone holds the VIPs after a started (2 s of samples)" b_alone
check "b kept everything" installed b
check "a never became Master" not_log_has a "-> Master"
lab_done
