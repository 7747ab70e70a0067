# The two-director LVS-DR lab of issue 6, shared by the test
# (lvs_dr_guest.sh) and the quick-start demo (lvs_dr_demo_guest.sh); both run
# inside the ip_vs guest (tests/kernel/vm-run.sh). Source after tests/lib.sh
# and tests/lab/vrrp_lib.sh, then call lvs_lab_init, lvs_topology and
# lvs_start_directors.
#
# One bridge; client .50, director1 .1 (MASTER, 100), director2 .2 (BACKUP,
# 99), web1 .11 and web2 .12 (busybox httpd, distinct bodies, the VIP on
# lo with arp_ignore=1 / arp_announce=2), VIP .100, all in 10.79.0.0/24 inside
# namespaces of this guest only. Both directors run vigild with
# etc/lvs-dr-director{1,2}.conf, interface and addresses substituted and the
# check timers shortened so a failure is seen in seconds, not half a minute.

NET=10.79.0
VIP=$NET.100
# Master_Down_Interval of director2 (RFC 3768 6.1): 3 * Advertisement_Interval
# + Skew_Time, Skew_Time = (256 - Priority) / 256 s; advert_int 1, priority 99.
MASTER_DOWN_MS=$(( 3000 + (256 - 99) * 1000 / 256 ))

# lvs_lab_init: lab_init plus what the lab needs from the guest.
lvs_lab_init() {
    lab_init
    require_cmd ipvsadm curl busybox setsid
    [ -x "$VIGILD" ] || { echo "SKIP: $VIGILD not built"; exit 77; }
    modprobe ip_vs || { echo "lvs_dr: modprobe ip_vs failed: not the ip_vs guest?"; exit 99; }
}

# director_conf N PERSIST [INHIBIT]: the example config for director N,
# substituted; PERSIST yes keeps persistence_timeout 50, INHIBIT yes adds
# inhibit_on_failure to both real servers. Prints the file name.
director_conf() {
    local n="$1" persist="$2" inhibit="${3:-no}" out="$T_DIR/d$1.conf"
    sed -e "s/ens33/eth0/g" -e "s/192\.168\.10\./$NET./g" \
        -e "s/^\( *delay_loop\) .*/\1 1/" \
        -e "s/^\( *connect_timeout\) .*/\1 1/" \
        -e "s/^\( *nb_get_retry\) .*/\1 1/" \
        -e "s/^\( *delay_before_retry\) .*/\1 1/" \
        "$top_srcdir/etc/lvs-dr-director$n.conf" >"$out.new"
    [ "$persist" = yes ] || sed -i '/^ *persistence_timeout /d' "$out.new"
    [ "$inhibit" = yes ] && sed -i 's/^\( *\)weight 1$/&\n\1inhibit_on_failure/' "$out.new"
    mv "$out.new" "$out"
    echo "$out"
}

# web_server N: (re)start web N's HTTP server, print its PID. busybox httpd:
# it starts at once even on the emulated CPU (python3's http.server takes
# seconds there) and closes the connection after each answer.
web_server() {
    start_bg "web$1" "$T_DIR/web$1.http.log" busybox httpd -f -p 80 -h "$T_DIR/www$1"
}
web_up() { in_ns "web$1" bash -c "exec 3<>/dev/tcp/$NET.1$1/80" 2>/dev/null; }

# gets N [RATE [RETRY]]: N requests from the client to the VIP, at most RATE
# (curl's --rate, e.g. 3/s) apart; bodies on one line, FAIL for a request
# without an answer within 3 s. One curl for all (an exec is slow on the
# emulated CPU): busybox httpd closes after each answer, so each request is
# a new connection, scheduled by IPVS on its own. RETRY "retry": a failed
# request is tried once more after 1 s, as an HTTP client retries an
# idempotent request; each retry shows on stderr as curl's "Will retry".
gets() {
    local urls=() i opts=(-s)
    for i in $(seq 1 "$1"); do urls+=("http://$VIP/"); done
    [ -n "${2:-}" ] && opts+=(--rate "$2")
    [ "${3:-}" = retry ] && opts=(--no-progress-meter --retry 1 --retry-all-errors --retry-delay 1 ${2:+--rate "$2"})
    in_ns client curl "${opts[@]}" -m 3 -w '=%{http_code}\n' "${urls[@]}" |
        awk '/^=/ { printf "%s%s", sep, ($0 == "=200" && body != "" ? body : "FAIL"); sep = " "; body = ""; next }
             { body = $0 }
             END { print "" }'
}
alternates() {  # alternates BODIES...: web1/web2 alternate, both present
    local prev="" b
    for b in "$@"; do
        case "$b" in web1|web2) ;; *) return 1 ;; esac
        [ "$b" = "$prev" ] && return 1
        prev="$b"
    done
    return 0
}
all_are() { local want="$1" b; shift; for b in "$@"; do [ "$b" = "$want" ] || return 1; done; }

ipvs_of() { in_ns "$1" ipvsadm -Sn; }   # the director's table, sorted rules
# rs_weight NODE N: web N's weight in NODE's table for the VIP service
# (empty when not listed).
rs_weight() {
    in_ns "$1" ipvsadm -ln -t "$VIP:80" 2>/dev/null | awk -v rs="$NET.$2:80" '$1 == "->" && $2 == rs { print $4 }'
}
lists_rs() { [ "$(rs_weight "$1" "$2")" -ge 1 ] 2>/dev/null; }   # listed with a weight >= 1
inhibited_rs() { [ "$(rs_weight "$1" "$2")" = 0 ]; }           # listed at weight 0
unlisted_rs() { [ -z "$(rs_weight "$1" "$2")" ]; }
ipvs_empty() { [ -z "$(ipvs_of "$1")" ]; }
both_listed() { lists_rs d1 11 && lists_rs d1 12; }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
not() { ! "$@"; }
# request_loop LOG N RATE [RETRY]: gets N RATE RETRY in the background, the
# bodies into LOG, curl's messages into LOG.err; sets LOOP_PID (not a
# command substitution: the caller must be able to wait for it).
request_loop() {
    gets "$2" "$3" "${4:-}" >"$1" 2>"$1.err" &
    LOOP_PID=$!
}
# retries LOG: how many requests of request_loop LOG were retried.
retries() { grep -c "Will retry" "$1.err"; }
# loop_ok LOG N: the request loop's LOG has N bodies, every one a web server's.
loop_ok() {
    local b n=0
    for b in $(cat "$1"); do
        case "$b" in web1|web2) n=$((n + 1)) ;; *) return 1 ;; esac
    done
    [ "$n" = "$2" ]
}
# persistent_on NODE: the VIP service shows persistence 50 in NODE's table.
persistent_on() { in_ns "$1" ipvsadm -ln | grep -Eq "^TCP +$VIP:80 +rr +persistent 50"; }
# vip_events LOG: the VIP's address events in an `ip -ts monitor` log, one
# per line as "TIMESTAMP add|del".
vip_events() {
    sed -n "s/^\[\([^]]*\)\] Deleted .*inet $VIP\/.*/\1 del/p;s/^\[\([^]]*\)\] [0-9]*: .*inet $VIP\/.*/\1 add/p" "$1"
}
ms_of() { echo $(( $(date -d "$1" +%s%N) / 1000000 )); }
now_ts() { date +%Y-%m-%dT%H:%M:%S.%N; }
# monitor NODE NAME: `ip -ts monitor address` in NODE into $T_DIR/NAME.log,
# returned only once it is seen to record (a marker address on lo, added
# again until it shows: the monitor may subscribe late), so an empty log
# means "no event", not "not started yet". Prints the PID; check
# `monitoring NAME` before trusting an empty log.
monitor() {
    local pid i
    pid=$(start_bg "$1" "$T_DIR/$2.log" ip -ts monitor address)
    for i in $(seq 1 20); do
        in_ns "$1" ip addr add 127.0.0.99/32 dev lo
        wait_until 1 monitoring "$2" && break
        in_ns "$1" ip addr del 127.0.0.99/32 dev lo
    done
    in_ns "$1" ip addr del 127.0.0.99/32 dev lo 2>/dev/null
    monitoring "$2" || echo "monitor $2 did not start" >&2
    echo "$pid"
}
monitoring() { grep -q 127.0.0.99 "$T_DIR/$1.log"; }
# transition_ms NODE SINCE_TS TEXT: ms from SINCE_TS to the first log line of
# NODE with TEXT timestamped after it (vigild logs HH:MM:SS.mmm); empty if none.
transition_ms() {
    local since_ms t
    since_ms=$(ms_of "$2")
    while read -r t _; do
        t=$(ms_of "${2%%T*}T$t")
        [ "$t" -ge "$since_ms" ] && { echo $((t - since_ms)); return 0; }
    done < <(grep -F "$3" "$T_DIR/$1.log")
    return 1
}
# wait_transition NODE SINCE_TS TEXT: transition_ms, allowing the log line
# a moment to land after the effect the caller saw.
wait_transition() {
    local i
    for i in $(seq 1 50); do transition_ms "$@" && return 0; sleep 0.1; done
    return 1
}
# restart_vigil NODE CONF: start vigild again, keeping the previous log.
restart_vigil() {
    local n=1
    while [ -e "$T_DIR/$1.log.$n" ]; do n=$((n + 1)); done
    mv "$T_DIR/$1.log" "$T_DIR/$1.log.$n"
    start_vigil "$1" "$2"
}
# logged_since NODE LINES TEXT: TEXT in NODE's log after its first LINES lines.
logged_since() { tail -n +"$(( $2 + 1 ))" "$T_DIR/$1.log" | grep -qF "$3"; }

# lvs_topology: the switch, the client, both directors and both real servers
# with their HTTP servers answering; sets WEB1 and WEB2 (server PIDs).
lvs_topology() {
    local w c
    lab_switch
    lab_host client eth0 $NET.50/24
    lab_host d1 eth0 $NET.1/24
    lab_host d2 eth0 $NET.2/24
    for w in 1 2; do
        lab_host "web$w" eth0 "$NET.1$w/24"
        in_ns "web$w" ip addr add "$VIP/32" dev lo
        # LVS-DR real server: accept the VIP, never answer ARP for it (the
        # director must), never use it as an ARP source.
        for c in all eth0 lo; do
            in_ns "web$w" sysctl -qw "net.ipv4.conf.$c.arp_ignore=1" "net.ipv4.conf.$c.arp_announce=2"
        done
        mkdir -p "$T_DIR/www$w"
        echo "web$w" >"$T_DIR/www$w/index.html"
    done
    WEB1=$(web_server 1); WEB2=$(web_server 2)
    wait_until 20 web_up 1 && wait_until 20 web_up 2 || { echo "lvs_dr: web servers did not start"; exit 99; }
}

# lvs_start_directors: vigild on both directors, without persistence; sets
# C1, C2 (config files) and P1, P2 (vigild PIDs).
lvs_start_directors() {
    C1=$(director_conf 1 no); C2=$(director_conf 2 no)
    P1=$(start_vigil d1 "$C1"); P2=$(start_vigil d2 "$C2")
}
