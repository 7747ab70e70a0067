#!/bin/bash
# The vrrp child's life: an instance whose interface does not exist yet waits
# in FAULT and starts when the interface appears; a crash of the vrrp child
# alone (core alive) causes no transition on the wire (core restarts it and
# it resumes as MASTER before the peer's Master_Down_Interval runs out; at
# advert_int 0.5 s that leaves 1.3-1.8 s for core's restart delay and the new
# child's start on a loaded machine); a reload (SIGHUP) that adds an instance
# leaves the existing one untouched, and one that changes the master instance
# keeps its mastership; an interface deleted and created again (new ifindex)
# is found again by the socket.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid

VIP=10.78.0.100
VIP2=10.77.0.102
inst() {  # inst NAME IF VRID PRIORITY VIP
    cat <<EOF
vrrp_instance $1 {
    state BACKUP
    interface $2
    virtual_router_id $3
    priority $4
    version 3
    advert_int 0.5
    virtual_ipaddress {
        $5/24
    }
}
EOF
}
lab_switch
vrrp_node a 1; vrrp_node b 2
vrrp_second_if b 2
inst VI_1 eth1 51 150 $VIP >"$T_DIR/a.conf"
inst VI_1 eth1 51 100 $VIP >"$T_DIR/b.conf"
pb=$(start_vigil b "$T_DIR/b.conf")
check "b alone is master on eth1" wait_until 3 has_addr b eth1 $VIP
pa=$(start_vigil a "$T_DIR/a.conf")
check "a's VI_1 waits: eth1 does not exist" wait_until 3 log_has a "interface eth1 does not exist; waiting in FAULT"
check "core knows VI_1 is in FAULT" wait_until 2 log_has a "VI_1: .*FAULT"
vrrp_second_if a 1
check "eth1 appears: a starts VI_1 and preempts" wait_until 4 has_addr a eth1 $VIP
wait_until 2 bash -c "! ip -n $(ns b) -o addr show dev eth1 | grep -q $VIP"

# Crash of the vrrp child alone.
b_masters=$(grep -c "Backup -> Master" "$T_DIR/b.log")
vrrp_pid=$(ps -o pid=,args= --ppid "$pa" | awk '/vrrp/ {print $1}')
check "found a's vrrp child ($vrrp_pid)" test -n "$vrrp_pid"
kill -KILL "$vrrp_pid"
check "core restarted the vrrp child" wait_until 3 log_has a "started vrrp child"
check "the new child resumed as Master" wait_until 3 log_has a "resuming as Master"
sleep 2  # longer than b's Master_Down_Interval
check "b never became master: zero transitions on the wire" \
    test "$(grep -c 'Backup -> Master' "$T_DIR/b.log")" = "$b_masters"
check "a still holds the VIP" has_addr a eth1 $VIP

# Reload adding an instance: VI_1 keeps state, VIP and timers.
{ inst VI_1 eth1 51 150 $VIP; inst VI_2 eth0 52 150 $VIP2; } >"$T_DIR/a.conf"
n_before=$(grep -c "VI_1/vrid 51/v4: .* -> " "$T_DIR/a.log")
kill -HUP "$pa"
check "reload: VI_2 starts and becomes master" wait_until 4 has_addr a eth0 $VIP2
sleep 0.5
check "reload: VI_1 made no transition" test "$(grep -c "VI_1/vrid 51/v4: .* -> " "$T_DIR/a.log")" = "$n_before"
check "reload: b still never became master" test "$(grep -c 'Backup -> Master' "$T_DIR/b.log")" = "$b_masters"
check "reload: a still holds VI_1's VIP" has_addr a eth1 $VIP

# Reload changing the master VI_1 (priority) and dropping VI_2: VI_1 keeps
# mastership without a priority-0 advert, VI_2's VIP goes away.
inst VI_1 eth1 51 200 $VIP >"$T_DIR/a.conf"
kill -HUP "$pa"
check "reload: changed VI_1 keeps mastership" wait_until 3 log_has a "VI_1.*changed by reload; keeps mastership"
check "reload: removed VI_2's VIP is gone" wait_until 3 bash -c "! ip -n $(ns a) -o addr show dev eth0 | grep -q $VIP2"
sleep 0.5
check "reload: b still never became master after the change" \
    test "$(grep -c 'Backup -> Master' "$T_DIR/b.log")" = "$b_masters"
check "reload: a holds VI_1's VIP" has_addr a eth1 $VIP

# The interface is deleted and created again (new ifindex): FAULT, then back.
rx_before=$(sock_stat a eth1/v4 received)
ip -n "$(ns a)" link del eth1
check "eth1 deleted: b takes over" wait_until 4 has_addr b eth1 $VIP
check "a's VI_1 is in Fault" wait_until 2 log_has a "VI_1.* -> Fault"
vrrp_second_if a 1
check "eth1 created again: a receives and preempts on the new interface" wait_until 5 has_addr a eth1 $VIP
check "b released the VIP (it heard a on the new eth1)" wait_until 2 bash -c "! ip -n $(ns b) -o addr show dev eth1 | grep -q $VIP"
rx_more() { [ "$(sock_stat a eth1/v4 received)" -gt "$rx_before" ]; }
check "a's socket receives on the new eth1 (b's adverts; before: $rx_before)" wait_until 3 rx_more
lab_done
