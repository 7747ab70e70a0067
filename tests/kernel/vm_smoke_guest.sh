#!/bin/bash
# Guest side of vm_smoke.sh: runs inside the ip_vs guest (vm-run.sh) and
# checks what every kernel test relies on. Usage:
#   vm_smoke_guest.sh            the full check, exit 0 when all pass
#   vm_smoke_guest.sh exit N ARG...  echo the arguments, exit N (vm-run.sh
#                                must carry N and the arguments through)
#   vm_smoke_guest.sh panic      crash the guest kernel (vm-run.sh must fail)
# Addresses: 10.77.0.0/24, only inside namespaces created here, in the guest.
set -u

case "${1:-}" in
    exit)
        shift; code="$1"; shift
        for a in "$@"; do echo "arg: [$a]"; done
        exit "$code" ;;
    panic)
        echo "guest: crashing the kernel on purpose"
        echo 1 >/proc/sys/kernel/sysrq
        echo c >/proc/sysrq-trigger
        sleep 30
        exit 0 ;;  # not reached: a pass here would be a harness bug
esac

. "$top_srcdir/tests/lib.sh"
T_NAME=vm_smoke_guest
lab_init

check "running as root in the Debian guest kernel ($(uname -r))" \
    test "$(id -u)" = 0 -a -d "/lib/modules/$(uname -r)/kernel/net/netfilter/ipvs"
check "host root is read-only" bash -c '! touch /etc/vigil-vm-probe 2>/dev/null'
check "/tmp is writable" touch "$T_DIR/probe"
check "top_srcdir is visible" test -f "$top_srcdir/tests/lib.sh"
check "process substitution works (/dev/fd)" bash -c 'read -r x < <(echo y) && [ "$x" = y ]'
check "loopback is up" bash -c 'ip -o link show lo | grep -q "UP"'
check "modprobe ip_vs" modprobe ip_vs
check "ip_vs is loaded" test -d /sys/module/ip_vs

# Every scheduler the kernel has, each loaded on demand by the kernel itself
# (request_module) when ipvsadm names it: that exercises the guest's
# kernel.modprobe helper, which vigil's own IPVS code relies on too.
schedulers="rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh"
port=8000
for s in $schedulers; do
    port=$((port + 1))
    check "ipvsadm -A -s $s" ipvsadm -A -t "10.77.0.1:$port" -s "$s"
done
listing="$(ipvsadm -ln)"
port=8000
for s in $schedulers; do
    port=$((port + 1))
    check "ipvsadm -ln lists 10.77.0.1:$port with $s" \
        grep -Eq "^TCP +10\.77\.0\.1:$port +$s( |\$)" <<<"$listing"
done
# DR keeps the service's port (the real server sees the VIP's packet as is).
check "ipvsadm -a real server (DR, weight 3)" ipvsadm -a -t 10.77.0.1:8001 -r 10.77.0.2 -g -w 3
check "ipvsadm -ln lists the real server" \
    bash -c 'ipvsadm -ln -t 10.77.0.1:8001 | grep -Eq "^ +-> 10\.77\.0\.2:8001 +Route +3 "'
check "ipvsadm -C clears the table" ipvsadm -C
check "table is empty" bash -c '[ -z "$(ipvsadm -Sn)" ]'

# Network namespaces joined by veth through a bridge in its own namespace.
lab_switch
lab_host a eth0 10.77.0.10/24
lab_host b eth0 10.77.0.11/24
# busybox's ping: the host root may have no iputils-ping.
check "veth + bridge: a pings b" in_ns a busybox ping -c 1 -W 5 10.77.0.11
check "IPVS in a namespace" in_ns a ipvsadm -A -u 10.77.0.100:53 -s rr
check "namespaces have their own IPVS table" bash -c '[ -z "$(ipvsadm -Sn)" ]'
for m in 8021q dummy macvlan; do check "modprobe $m" modprobe "$m"; done

lab_done
