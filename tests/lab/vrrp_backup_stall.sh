#!/bin/bash
# A backup that was not scheduled for longer than its Master_Down_Interval
# (a loaded machine; here SIGSTOP of its vrrp child) while the Master kept
# advertising does not take over when it runs again: the adverts waiting in
# its socket are read before the expired Master_Down_Timer is acted on. A
# Master that really stopped advertising is still replaced.
# VRRPv3 advert_int 0.05: the backup's Master_Down_Interval is 180.5 ms.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid

VIP=10.77.0.100
conf() {  # conf FILE PRIORITY
    cat >"$1" <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 74
    priority $2
    version 3
    advert_int 0.05
    virtual_ipaddress {
        $VIP/24
    }
}
EOF
}
vrrp_child_of() { ps -o pid=,args= --ppid "$1" | awk '/vrrp/ {print $1}'; }
b_takeovers() { grep -c "Backup -> Master" "$T_DIR/b.log"; }

lab_switch
vrrp_node a 1; vrrp_node b 2
conf "$T_DIR/a.conf" 150
conf "$T_DIR/b.conf" 100
pb=$(start_vigil b "$T_DIR/b.conf")
pa=$(start_vigil a "$T_DIR/a.conf")
check "a becomes the master" wait_until 5 only_holder $VIP a a b
sleep 1  # past the start-up election
bchild=$(vrrp_child_of "$pb")
check "found b's vrrp child ($bchild)" test -n "$bchild"
before=$(b_takeovers)
# Three stalls of 0.5 s, each well past the 180.5 ms Master_Down_Interval.
for _ in 1 2 3; do
    kill -STOP "$bchild"
    sleep 0.5
    kill -CONT "$bchild"
    sleep 0.5
done
check "the stalled backup never took over (takeovers before $before, after $(b_takeovers))" \
    test "$(b_takeovers)" = "$before"
check "a still holds the VIP alone" only_holder $VIP a a b

# The Master itself stalls: its adverts stop, the backup takes over.
achild=$(vrrp_child_of "$pa")
kill -STOP "$achild"
check "a stalled master is replaced by b" wait_until 3 has_addr b eth0 $VIP
kill -CONT "$achild"
check "a preempts again once it runs" wait_until 3 only_holder $VIP a a b
lab_done
