#!/bin/bash
# Malformed and foreign VRRP packets crafted on the wire with scapy (an
# independent implementation of the format): truncated, bad checksum, wrong
# TTL, wrong version, wrong auth, wrong VRID, random bytes. Every kind claims
# priority 255, so a packet wrongly accepted would make the master step down.
# Expected: each dropped and counted under its reason (RUNTIME_DIR/vrrp.stats),
# no crash, no mastership change on either node.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid
PY=/usr/bin/python3
$PY -c "import scapy.layers.vrrp" 2>/dev/null || { echo "SKIP: needs python3-scapy"; exit 77; }

VIP=10.77.0.100
conf() {
    cat >"$T_DIR/$1.conf" <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $2
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        $VIP/24
    }
}
EOF
}

lab_switch
vrrp_node a 1; vrrp_node b 2; vrrp_node x 9
conf a 150; conf b 100
pa=$(start_vigil a "$T_DIR/a.conf")
pb=$(start_vigil b "$T_DIR/b.conf")
check "a is master" wait_until 6 only_holder $VIP a a b

N=50
cat >"$T_DIR/craft.py" <<'EOF'
import os, random, sys, time
from scapy.all import Ether, IP, Raw, sendp, conf
from scapy.layers.vrrp import VRRP
conf.verb = 0
kinds, count = sys.argv[1].split(","), int(sys.argv[2])
mac = open("/sys/class/net/eth0/address").read().strip()
eth = Ether(src=mac, dst="01:00:5e:00:00:12")
def auth(pw):
    b = pw.encode().ljust(8, b"\0")
    return dict(authtype=1, auth1=int.from_bytes(b[:4], "big"), auth2=int.from_bytes(b[4:], "big"))
def vrrp(**kw):
    f = dict(vrid=51, priority=255, adv=1, addrlist=["10.77.0.100"])
    f.update(auth("secret"))
    f.update(kw)
    return VRRP(**f)
def ip(ttl=255):
    return IP(src="10.77.0.9", dst="224.0.0.18", ttl=ttl, proto=112)
pkts = []
for kind, i in [(k, i) for k in kinds for i in range(count)]:
    if kind == "truncated":
        p = eth / ip() / Raw(bytes(vrrp())[:random.randint(1, 7)])
    elif kind == "bad_checksum":
        p = eth / ip() / vrrp(chksum=0x1234)
    elif kind == "bad_ttl":
        p = eth / ip(ttl=64) / vrrp()
    elif kind == "bad_version":
        p = eth / ip() / vrrp(version=1)
    elif kind == "wrong_auth":
        p = eth / ip() / vrrp(**auth("guess"))
    elif kind == "wrong_vrid":
        p = eth / ip() / vrrp(vrid=99)
    elif kind == "random":
        p = eth / ip() / Raw(os.urandom(random.randint(1, 80)))
    pkts.append(p)
# Spread over ~2 s so the master's own adverts interleave with the garbage.
sendp(pkts, iface="eth0", inter=2.0 / max(len(pkts), 1))
EOF

sleep 1.1; acc0=$(vstat b VI_1 accepted)
in_ns x timeout 30 $PY "$T_DIR/craft.py" truncated,bad_checksum,bad_ttl,bad_version,wrong_auth,wrong_vrid,random $N ||
    fail "scapy could not send the packets"
sleep 1.5  # vrrp.stats is rewritten at most once a second

check "a is still master" only_holder $VIP a a b
check "a never left Master" bash -c "! grep -q 'Master -> ' '$T_DIR/a.log'"
check "b never became Master" bash -c "! grep -q '> Master' '$T_DIR/b.log'"
check "no vrrp child died" bash -c "! grep -qE 'vrrp child .*(died|killed)' '$T_DIR/a.log' '$T_DIR/b.log'"
check "a's core still running" kill -0 "$pa"
check "b's core still running" kill -0 "$pb"
for node in a b; do
    s="$T_DIR/run-$node/vrrp.stats"
    check "$node: truncated counted (too_short $(sock_stat $node eth0/v4 dropped.too_short))" \
        test "$(sock_stat $node eth0/v4 dropped.too_short)" -ge $N
    check "$node: bad checksum counted ($(sock_stat $node eth0/v4 dropped.bad_checksum))" \
        test "$(sock_stat $node eth0/v4 dropped.bad_checksum)" -ge $N
    check "$node: wrong TTL counted ($(sock_stat $node eth0/v4 dropped.bad_ttl))" \
        test "$(sock_stat $node eth0/v4 dropped.bad_ttl)" -ge $N
    check "$node: wrong version counted ($(sock_stat $node eth0/v4 dropped.bad_version))" \
        test "$(sock_stat $node eth0/v4 dropped.bad_version)" -ge $N
    check "$node: wrong VRID counted ($(sock_stat $node eth0/v4 rejected.wrong_vrid))" \
        test "$(sock_stat $node eth0/v4 rejected.wrong_vrid)" -ge $N
    check "$node: wrong auth counted ($(vstat $node VI_1 rejected.auth_mismatch))" \
        test "$(vstat $node VI_1 rejected.auth_mismatch)" -ge $N
done
# The backup accepted the master's adverts all along (the garbage did not displace them).
acc1=$(vstat b VI_1 accepted)
check "b kept accepting a's adverts during the flood ($acc0 -> $acc1)" test "$acc1" -ge $((acc0 + 2))
check "drops are logged rate-limited (b: $(grep -c 'dropped packet' "$T_DIR/b.log") lines for $((N * 7)) packets)" \
    test "$(grep -c 'dropped packet' "$T_DIR/b.log")" -le 12
lab_done
