#!/bin/bash
# enable_script_security (keepalived.conf(5)): scripts run as root whose path
# a non-root user could change are refused: a refused vrrp_script is ignored
# by the instance tracking it (a failing weight-0 script then does not force
# FAULT), a refused notify script is not run, while safe ones run. Without
# the keyword (reload) the same scripts run, with a warning.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd setsid

VIP=10.77.0.100
chmod 0755 "$T_DIR"
mkdir -m 0755 "$T_DIR/safe"
mkdir -m 0777 "$T_DIR/open"   # writable by anyone, no sticky bit
chmod 0777 "$T_DIR/open"      # whatever the umask
script() {  # script PATH BODY
    printf '#!/bin/sh\n%s\n' "$2" >"$1"
    chmod 0755 "$1"
}
script "$T_DIR/open/fail.sh" "exit 1"
script "$T_DIR/safe/ok.sh" "touch $T_DIR/ok.ran; exit 0"
script "$T_DIR/open/notify.sh" "echo \"\$3\" >>$T_DIR/open-notify.out"
script "$T_DIR/safe/notify.sh" "echo \"\$3\" >>$T_DIR/safe-notify.out"

conf() {  # conf SECURITY_LINE
    cat >"$T_DIR/a.conf" <<EOF
global_defs {
    script_user root
    $1
}
vrrp_script chk_open {
    script "$T_DIR/open/fail.sh"
    interval 1
}
vrrp_script chk_safe {
    script "$T_DIR/safe/ok.sh"
    interval 1
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 71
    priority 100
    advert_int 0.5
    version 3
    virtual_ipaddress {
        $VIP/24
    }
    track_script {
        chk_open
        chk_safe
    }
    notify "$T_DIR/open/notify.sh"
    notify_master "$T_DIR/safe/notify.sh x y MASTER"
}
EOF
}

lab_switch
vrrp_node a 1
conf enable_script_security
pa=$(start_vigil a "$T_DIR/a.conf")
check "the open tracked script is refused, naming why" \
    wait_until 3 log_has a "vrrp_script chk_open: not running $T_DIR/open/fail.sh as root: '$T_DIR/open' is writable by others"
check "the open notify script is refused" \
    wait_until 3 log_has a "VI_1: not running $T_DIR/open/notify.sh as root"
check "the safe tracked script runs" wait_until 3 test -e "$T_DIR/ok.ran"
check "the refused failing script does not force FAULT: a becomes master" wait_until 4 has_addr a eth0 $VIP
check "the safe notify script ran on MASTER" wait_until 3 grep -qx MASTER "$T_DIR/safe-notify.out"
check "the refused notify script never ran" test ! -e "$T_DIR/open-notify.out"
check "a never entered Fault" bash -c "! grep -q -- '-> Fault' '$T_DIR/a.log'"

# Without enable_script_security the same scripts run: the failing weight-0
# script forces FAULT and the open notify script reports it.
conf ""
kill -HUP "$pa"
check "reload without the keyword warns about the open script" \
    wait_until 3 log_has a "vrrp_script chk_open: $T_DIR/open/fail.sh runs as root although .*enable_script_security would refuse it"
check "the failing script now runs: a goes to Fault and drops the VIP" \
    wait_until 5 bash -c "! ip -n $(ns a) -o addr show dev eth0 | grep -q ' $VIP/'"
check "the open notify script now runs (FAULT)" wait_until 3 grep -qx FAULT "$T_DIR/open-notify.out"
lab_done
