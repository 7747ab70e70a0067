# Helpers for the core process tests (tests/lab/process_*.sh). Source after
# tests/lib.sh.

# process_vrrp_config FILE [PRIORITY]: a small valid config (one VRRP
# instance) for a director whose eth0 is in 10.231.0.0/24 (a lab namespace only).
process_vrrp_config() {
    cat >"$1" <<CONF
global_defs {
    router_id PROCESS_TEST
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 61
    priority ${2:-100}
    advert_int 1
    virtual_ipaddress {
        10.231.0.100/24
    }
}
CONF
}

# process_config FILE [PRIORITY]: process_vrrp_config plus a virtual server
# (one real server without a checker), so that both children run: a child
# with nothing configured is not started.
process_config() {
    process_vrrp_config "$@"
    cat >>"$1" <<CONF
virtual_server 10.231.0.100 8080 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.231.0.10 8080 {
    }
}
CONF
}

# children_of PID: the pids whose parent is PID.
children_of() { pgrep -P "$1"; }

# child_pid CORE ROLE: pid of core's child whose command line is "vigild: ROLE".
child_pid() {
    local p
    for p in $(children_of "$1"); do
        if [ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | sed 's/ *$//')" = "vigild: $2" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
# gone PID: exited (a zombie waiting to be reaped counts as gone).
# (/proc/PID/stat's second field is "(comm)", and "vigild: vrrp" has a space:
# read the fields after the closing parenthesis.)
gone() { dead "$1" || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; }

# start_vigild NS LOG ARGS...: vigild in namespace NS, pid in $VIGILD_PID (a
# child of this shell, so `wait` gives its exit status).
start_vigild() {
    local name="$1" logf="$2"; shift 2
    start_bg "$name" "$logf" "$VIGILD" "$@" >/dev/null
    VIGILD_PID=${T_PIDS[-1]}
}

has_children() { child_pid "$1" vrrp >/dev/null && child_pid "$1" check >/dev/null; }

# log_has LOG REGEX
log_has() { grep -Eq "$2" "$1"; }
