#!/bin/bash
# Tracking and preemption between two vigil nodes (VRRPv3, advert_int 0.1 s):
# a track_script with weight -50 moves mastership when it fails and back when
# it recovers; a weightless track_interface going down puts the node in FAULT
# (VIP removed, peer takes over); notify scripts get keepalived's arguments in
# transition order; `nopreempt` keeps a higher-priority newcomer in BACKUP.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid

VIP=10.77.0.100
cat >"$T_DIR/notify.sh" <<EOF
#!/bin/sh
echo "\$*" >>"$T_DIR/notify.\$2.out"
EOF
chmod +x "$T_DIR/notify.sh"

# conf NODE PRIORITY EXTRA-INSTANCE-LINES
conf() {
    cat >"$T_DIR/$1.conf" <<EOF
vrrp_script chk_ok {
    script "/usr/bin/test -f $T_DIR/$1.ok"
    interval 0.2
    weight -50
    rise 1
    fall 1
}
vrrp_instance VI_$1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $2
    version 3
    advert_int 0.1
    $3
    virtual_ipaddress {
        $VIP/24
    }
}
EOF
}

lab_switch
vrrp_node a 1; vrrp_node b 2
# eth1: a veth pair inside a (no dummy module on every kernel).
ip -n "$(ns a)" link add eth1 type veth peer name eth1p
ip -n "$(ns a)" link set eth1p up
ip -n "$(ns a)" link set eth1 up
touch "$T_DIR/a.ok" "$T_DIR/b.ok"
conf a 150 "track_interface {
        eth1
    }
    track_script {
        chk_ok
    }
    notify $T_DIR/notify.sh"
conf b 120 "track_script {
        chk_ok
    }"
pa=$(start_vigil a "$T_DIR/a.conf")
pb=$(start_vigil b "$T_DIR/b.conf")
check "a (150) is master" wait_until 5 only_holder $VIP a a b

rm -f "$T_DIR/a.ok"
check "a's script fails: 150-50 < 120, b preempts" wait_until 3 only_holder $VIP b a b
check "a logged its priority change" log_has a "tracking now ok, priority -50"
touch "$T_DIR/a.ok"
check "a's script recovers: a preempts back" wait_until 3 only_holder $VIP a a b

ip -n "$(ns a)" link set eth1 down
check "track_interface down: b takes over" wait_until 3 only_holder $VIP b a b
check "a is in Fault" wait_until 2 log_has a "-> Fault"
ip -n "$(ns a)" link set eth1 up
check "track_interface up again: a preempts back" wait_until 3 only_holder $VIP a a b
sleep 0.3

# notify: "INSTANCE name state priority", one line per transition, in order.
got=$(tr '\n' '|' <"$T_DIR/notify.VI_a.out" 2>/dev/null)
want="INSTANCE VI_a BACKUP 150|INSTANCE VI_a MASTER 150|INSTANCE VI_a BACKUP 100|INSTANCE VI_a MASTER 150|INSTANCE VI_a FAULT 150|INSTANCE VI_a BACKUP 150|INSTANCE VI_a MASTER 150|"
check "notify arguments in transition order (got: $got)" test "$got" = "$want"

# nopreempt: b holds mastership; a higher-priority a with nopreempt stays backup.
crash "$pa"; crash "$pb"
clear_vips a $VIP/24; clear_vips b $VIP/24
conf a 150 "nopreempt"
conf b 120 ""
pb=$(start_vigil b "$T_DIR/b.conf")
check "b alone becomes master" wait_until 3 only_holder $VIP b a b
pa=$(start_vigil a "$T_DIR/a.conf")
sleep 1
check "a (150, nopreempt) does not preempt b (120)" only_holder $VIP b a b
crash "$pb"
check "but takes over when b dies" wait_until 3 has_addr a eth0 $VIP
lab_done
