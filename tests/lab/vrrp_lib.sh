# Helpers shared by the tests/lab/vrrp_*.sh scenarios (on top of tests/lib.sh).
# Source after tests/lib.sh.
#
# Each node is a namespace on the lab switch with eth0 in 10.77.0.0/24 and,
# for IPv6, fd77::N/64 (nodad so it is usable at once).

# vrrp_node NAME N: namespace NAME, eth0 = 10.77.0.N/24 + fd77::N/64.
vrrp_node() {
    lab_host "$1" eth0 "10.77.0.$2/24"
    ip -n "$(ns "$1")" addr add "fd77::$2/64" dev eth0 nodad
    # The link-local address is the VRRPv3/IPv6 source: wait out its DAD.
    ip netns exec "$(ns "$1")" sysctl -qw net.ipv6.conf.eth0.accept_dad=0 2>/dev/null
    wait_until 5 sh -c "ip -n $(ns "$1") -6 addr show dev eth0 scope link | grep -q 'fe80' && ! ip -n $(ns "$1") -6 addr show dev eth0 | grep -q tentative"
}

# start_vigil NODE CONF: vigild in its own session (so a SIGKILL of its process
# group is a hard crash of core and children, nothing else). Prints the PID (= PGID).
start_vigil() {
    local node="$1" conf="$2"
    mkdir -p "$T_DIR/run-$node"
    start_bg "$node" "$T_DIR/$node.log" setsid "$VIGILD" -n -l -D -f "$conf" --runtime-dir "$T_DIR/run-$node"
}

# start_keepalived NODE CONF: keepalived (VRRP only) in its own session. Prints the PID.
start_keepalived() {
    local node="$1" conf="$2"
    # A crashed keepalived leaves its pid files; a stale one stops the next start.
    rm -f "$T_DIR/$node.pid" "$T_DIR/$node.vrrp.pid" "$T_DIR/$node.check.pid"
    start_bg "$node" "$T_DIR/$node.log" setsid keepalived -n -l -D -G -P -f "$conf" \
        -p "$T_DIR/$node.pid" -r "$T_DIR/$node.vrrp.pid" -c "$T_DIR/$node.check.pid"
}

# crash PID: SIGKILL the whole process group, as a power cut would.
crash() { kill -KILL -- "-$1" 2>/dev/null; }

# holders VIP NODE...: the nodes that have VIP on eth0, space separated.
holders() {
    local vip="$1"; shift
    local n out=""
    for n in "$@"; do has_addr "$n" eth0 "$vip" && out="$out $n"; done
    echo "${out# }"
}

# only_holder VIP NODE ALL...: true when NODE is the one node of ALL with VIP.
only_holder() {
    local vip="$1" want="$2"; shift 2
    [ "$(holders "$vip" "$@")" = "$want" ]
}

# vstat NODE INSTANCE FIELD: a field of an instance line of vrrp.stats
# (written at most 1 s late). sock_stat NODE LABEL FIELD: of a socket line.
stats_field() {
    awk -v kind="$2" -v name="$3" -v key="$4" '$1 == kind && $2 == name {
        for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] } }' \
        "$T_DIR/run-$1/vrrp.stats" 2>/dev/null
}
vstat() { stats_field "$1" instance "$2" "$3"; }
sock_stat() { stats_field "$1" socket "$2" "$3"; }

# capture NAME FILTER: tcpdump on the switch bridge into $T_DIR/NAME.pcap.
# Prints the PID; stop it with stop_capture PID.
capture() {
    local pid
    pid=$(start_bg sw "$T_DIR/$1.tcpdump.log" tcpdump -i br0 --immediate-mode -U -n -w "$T_DIR/$1.pcap" "$2")
    # tcpdump says "listening on" once the capture runs.
    wait_until 5 grep -q "listening on" "$T_DIR/$1.tcpdump.log"
    echo "$pid"
}
stop_capture() { kill -INT "$1" 2>/dev/null; for _ in $(seq 1 40); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done; }

# log_has NODE REGEX: the node's log matches.
log_has() { grep -qE -e "$2" "$T_DIR/$1.log"; }

# vrrp_second_if NODE N: eth1 on NODE, also plugged into the switch,
# 10.78.0.N/24 (a second LAN, e.g. the inside of an LVS-NAT director).
vrrp_second_if() {
    local node="$1" n="$2"
    local peer="q${T_ID#v}${node:0:6}"
    ip link add "$peer" type veth peer name "t$peer"
    ip link set "$peer" netns "$(ns sw)"
    ip link set "t$peer" netns "$(ns "$node")"
    ip -n "$(ns "$node")" link set "t$peer" name eth1
    ip -n "$(ns sw)" link set "$peer" master br0 up
    ip -n "$(ns "$node")" addr add "10.78.0.$n/24" dev eth1
    ip -n "$(ns "$node")" link set eth1 up
}

# clear_vips NODE ADDR/PFX...: remove addresses a crashed node left behind.
clear_vips() {
    local node="$1"; shift
    local a
    for a in "$@"; do
        ip -n "$(ns "$node")" addr del "$a" dev eth0 2>/dev/null
        ip -n "$(ns "$node")" addr del "$a" dev eth1 2>/dev/null
    done
    return 0
}
