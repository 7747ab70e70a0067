# Shared helpers for scenario tests (tests/lab, tests/kernel). Source it:
#   . "$top_srcdir/tests/lib.sh"
#
# Rules every scenario follows (see ../shared/docs/LAB.md):
# - traffic only to addresses inside namespaces the test created itself;
#   the "switch" bridge lives in its own namespace, never in the host's;
# - every wait is bounded (wait_until), every started process is recorded and
#   killed by PID at exit, every namespace is deleted at exit.
# Exit status follows automake: 0 pass, 1 fail, 77 skip, 99 hard error.

set -u

: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
VIGILD="${VIGILD:-$top_builddir/vigild}"

# Namespace prefix unique to this test run (names are limited in length).
T_ID="v$$"
T_DIR=""
T_PIDS=()
T_NETNS=()
T_FAILS=0
T_NAME="$(basename "$0" .sh)"

require_root() {
    if [ "$(id -u)" != 0 ]; then echo "SKIP: $T_NAME needs root"; exit 77; fi
}

require_cmd() {
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $T_NAME needs $c"; exit 77; }
    done
}

lab_cleanup() {
    local pid ns
    # start_bg usually runs in a command substitution (a subshell), where
    # T_PIDS+= is lost: it also appends each PID to this file.
    if [ -n "$T_DIR" ] && [ -f "$T_DIR/bg.pids" ]; then
        while read -r pid; do T_PIDS+=("$pid"); done <"$T_DIR/bg.pids"
    fi
    for pid in "${T_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${T_PIDS[@]}"; do
        # Bounded wait for a graceful exit, then SIGKILL the straggler.
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    for ns in "${T_NETNS[@]}"; do
        # Anything still running inside a namespace we made was started by us.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    if [ -n "$T_DIR" ] && [ -z "${KEEP_LAB:-}" ]; then rm -rf "$T_DIR"; fi
}

lab_init() {
    require_root
    require_cmd ip
    T_DIR="$(mktemp -d "/tmp/vigil-$T_NAME.XXXXXX")"
    trap lab_cleanup EXIT
    trap 'exit 99' INT TERM
}

# ns NAME -> full namespace name for NAME
ns() { echo "$T_ID-$1"; }

ns_add() {
    ip netns add "$(ns "$1")" || return 1
    T_NETNS+=("$(ns "$1")")
    ip -n "$(ns "$1")" link set lo up
}

in_ns() { local n="$1"; shift; ip netns exec "$(ns "$n")" "$@"; }

# lab_switch: a namespace "sw" holding bridge br0 (multicast snooping off so
# VRRP multicast reaches every port immediately).
lab_switch() {
    ns_add sw
    ip -n "$(ns sw)" link add br0 type bridge mcast_snooping 0 stp_state 0 forward_delay 0
    ip -n "$(ns sw)" link set br0 up
}

# lab_host NAME IFNAME ADDR/PFX [ADDR/PFX...]: namespace NAME with IFNAME
# plugged into the switch.
lab_host() {
    local name="$1" ifname="$2"; shift 2
    ns_add "$name"
    local peer="p${T_ID#v}${name:0:6}"
    ip link add "$peer" type veth peer name "t$peer"
    ip link set "$peer" netns "$(ns sw)"
    ip link set "t$peer" netns "$(ns "$name")"
    ip -n "$(ns "$name")" link set "t$peer" name "$ifname"
    ip -n "$(ns sw)" link set "$peer" master br0 up
    local a
    for a in "$@"; do ip -n "$(ns "$name")" addr add "$a" dev "$ifname"; done
    ip -n "$(ns "$name")" link set "$ifname" up
}

# start_bg NAME LOG cmd...: run cmd in namespace NAME (or "-" for none) in the
# background, output to LOG; prints the PID and records it for cleanup (in
# $T_DIR/bg.pids too, since pid=$(start_bg ...) runs in a subshell).
start_bg() {
    local name="$1" logf="$2"; shift 2
    if [ "$name" = "-" ]; then
        "$@" >"$logf" 2>&1 &
    else
        ip netns exec "$(ns "$name")" "$@" >"$logf" 2>&1 &
    fi
    local pid=$!
    T_PIDS+=("$pid")
    [ -n "$T_DIR" ] && echo "$pid" >>"$T_DIR/bg.pids"
    echo "$pid"
}

# wait_until SECONDS cmd...: poll cmd every 50 ms until it succeeds or time runs out.
wait_until() {
    local limit="$1"; shift
    local deadline=$(( $(date +%s%N) + ${limit%.*} * 1000000000 ))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(date +%s%N)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# tcp_listening NAME PORT [ADDR]: does something listen on TCP PORT (on ADDR,
# if given) in namespace NAME? For waiting until a server started in the
# background is up.
tcp_listening() {
    local filter="sport = :$2"
    [ -n "${3:-}" ] && filter="src $3:$2"
    ip netns exec "$(ns "$1")" ss -Hltn "$filter" | grep -q .
}

# has_addr NAME IFNAME ADDR: is ADDR configured on IFNAME in namespace NAME?
has_addr() { ip -n "$(ns "$1")" -o addr show dev "$2" 2>/dev/null | grep -qw "inet6\? $3\(/[0-9]*\)\?"; }

pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; T_FAILS=$((T_FAILS + 1)); }
check() { local what="$1"; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

# lab_done: exit status from the checks made so far.
lab_done() {
    if [ "$T_FAILS" -gt 0 ]; then
        echo "$T_NAME: $T_FAILS check(s) failed; logs in $T_DIR"
        KEEP_LAB=1
        exit 1
    fi
    exit 0
}
