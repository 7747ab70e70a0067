#!/bin/bash
# Capabilities (DESIGN.md: each child keeps only the privileges it needs):
# after setup the vrrp child holds CAP_NET_ADMIN, CAP_NET_RAW, CAP_SETUID,
# CAP_SETGID, CAP_KILL and the check child the same without CAP_NET_RAW, in
# the permitted, effective and bounding sets, with nothing inheritable or
# ambient; core keeps its own. With them the vrrp child still does its job
# (MASTER, VIP added), a notify script still runs as script_user, and a script
# run as root gets no more than the child has. --keep-capabilities keeps all.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/process_lib.sh"
lab_init
lab_switch
lab_host d1 eth0 10.231.0.1/24

# Bits from linux/capability.h: KILL 5, SETGID 6, SETUID 7, NET_ADMIN 12, NET_RAW 13.
VRRP_CAPS=$(printf '%016x' $(( (1 << 5) | (1 << 6) | (1 << 7) | (1 << 12) | (1 << 13) )))
CHECK_CAPS=$(printf '%016x' $(( (1 << 5) | (1 << 6) | (1 << 7) | (1 << 12) )))
cap() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

OUT="$T_DIR/out"
mkdir -m 0777 "$OUT"
cat >"$T_DIR/as_user.sh" <<EOF
#!/bin/sh
id -u >"$OUT/user.uid"
EOF
cat >"$T_DIR/as_root.sh" <<EOF
#!/bin/sh
awk '\$1 == "CapEff:" { print \$2 }' /proc/self/status >"$OUT/root.capeff"
EOF
chmod 0755 "$T_DIR/as_user.sh" "$T_DIR/as_root.sh"
NOBODY=$(id -u nobody)
chmod 0711 "$T_DIR"  # nobody must reach its script and $OUT
# notify_master runs as script_user (nobody); the tracked script is given the
# user root (vrrp_script's `user`).
process_config "$T_DIR/vigil.conf" 100
sed -i "s|^global_defs {|global_defs {\n    script_user nobody|" "$T_DIR/vigil.conf"
sed -i "s|^    advert_int 1|    advert_int 1\n    notify_master $T_DIR/as_user.sh\n    track_script {\n        as_root\n    }|" "$T_DIR/vigil.conf"
cat >>"$T_DIR/vigil.conf" <<EOF
vrrp_script as_root {
    script $T_DIR/as_root.sh
    interval 1
    user root
}
EOF
"$VIGILD" -t -f "$T_DIR/vigil.conf" >"$T_DIR/t.log" 2>&1 || { cat "$T_DIR/t.log"; fail "test config is valid"; }

start_vigild d1 "$T_DIR/vigild.log" -n -l -D -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run"
CORE=$VIGILD_PID
check "children start" wait_until 5 has_children "$CORE"
check "both children ready (capabilities dropped)" wait_until 5 log_has "$T_DIR/vigild.log" "core: running"
VRRP=$(child_pid "$CORE" vrrp)
CHECK=$(child_pid "$CORE" check)
check "vrrp child: effective = NET_ADMIN NET_RAW SETUID SETGID KILL" test "$(cap "$VRRP" CapEff)" = "$VRRP_CAPS"
check "vrrp child: permitted the same" test "$(cap "$VRRP" CapPrm)" = "$VRRP_CAPS"
check "vrrp child: bounding set the same" test "$(cap "$VRRP" CapBnd)" = "$VRRP_CAPS"
check "vrrp child: nothing inheritable or ambient" \
    test "$(cap "$VRRP" CapInh)$(cap "$VRRP" CapAmb)" = "00000000000000000000000000000000"
check "check child: effective = NET_ADMIN SETUID SETGID KILL" test "$(cap "$CHECK" CapEff)" = "$CHECK_CAPS"
check "check child: bounding set the same" test "$(cap "$CHECK" CapBnd)" = "$CHECK_CAPS"
check "core keeps its capabilities" test "$(cap "$CORE" CapEff)" = "$(cap $$ CapEff)"

check "the vrrp child still becomes MASTER" wait_until 6 log_has "$T_DIR/vigild.log" "core: VI_1: .*-> MASTER"
check "... and adds the VIP" wait_until 3 has_addr d1 eth0 10.231.0.100
check "notify_master runs as script_user" wait_until 3 test "$(cat "$OUT/user.uid" 2>/dev/null)" = "$NOBODY"
check "a script run as root has only the vrrp child's capabilities" \
    wait_until 3 test "$(cat "$OUT/root.capeff" 2>/dev/null)" = "$VRRP_CAPS"

# A restarted child drops them again.
kill -KILL "$VRRP"
check "the vrrp child is restarted" \
    wait_until 3 bash -c "p=\$(. $top_srcdir/tests/lab/process_lib.sh; child_pid $CORE vrrp) && [ \"\$p\" != $VRRP ]"
VRRP=$(child_pid "$CORE" vrrp)
check "the restarted vrrp child has the same reduced set" \
    wait_until 3 bash -c "[ \"\$(awk '\$1 == \"CapBnd:\" { print \$2 }' /proc/$VRRP/status)\" = $VRRP_CAPS ]"

kill -TERM "$CORE"
check "core stops" wait_until 5 dead "$CORE"
check "the VIP is removed on stop (CAP_NET_ADMIN kept)" wait_until 3 bash -c "! ip -n $(ns d1) -o addr show dev eth0 | grep -qw 10.231.0.100"

# --keep-capabilities: the children keep what core has.
start_vigild d1 "$T_DIR/keep.log" -n -l -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run" --keep-capabilities
CORE=$VIGILD_PID
check "--keep-capabilities: children start" wait_until 5 has_children "$CORE"
wait_until 5 log_has "$T_DIR/keep.log" "core: running"
check "--keep-capabilities: the vrrp child has core's set" \
    test "$(cap "$(child_pid "$CORE" vrrp)" CapEff)" = "$(cap "$CORE" CapEff)"
lab_done
