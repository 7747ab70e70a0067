#!/bin/bash
# Health checks against real servers in namespaces, observed through the check
# child's state file (<runtime dir>/check.state: "rs <vs> <rs> UP|DOWN" and
# "dest <service> <dest> <weight>" lines); the host kernel has no ip_vs.
#
#  - TCP_CHECK (retry 2, delay_before_retry 1 s, delay_loop 1 s): listener
#    stopped -> DOWN no earlier than the retries allow and within the bound
#    the config implies; listener back -> UP within one delay_loop;
#  - HTTP_GET with a matching digest stays UP, a wrong digest is DOWN;
#  - SSL_GET against openssl s_server (self-signed, SNI from virtualhost);
#  - a server that accepts but never answers HTTP is DOWN after the timeout;
#  - a black-holed address (SYN-ACK dropped) times out, while the other checks
#    keep their timing (the TCP bounds above are measured at the same time);
#  - MISC_CHECK follows the script's exit status; misc_dynamic sets the weight.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

lab_init
require_cmd socat python3 openssl
[ -x "$VIGILD" ] || { echo "SKIP: $VIGILD not built"; exit 77; }

lab_switch
lab_host dir eth0 10.77.5.1/24
lab_host be1 eth0 10.77.5.11/24
lab_host be2 eth0 10.77.5.12/24
lab_host be3 eth0 10.77.5.13/24
# be3 answers ARP but its SYN-ACKs to the director vanish: no reply at all.
ip -n "$(ns be3)" route add blackhole 10.77.5.1/32

mkdir -p "$T_DIR/www" "$T_DIR/run"
printf 'hello\n' >"$T_DIR/www/index.html"   # MD5 b1946ac92492d2347c6235b4d2611184
echo 0 >"$T_DIR/misc_exit"

# start_bg in $(...) runs in a subshell: record the PID for cleanup here.
TCP_PID=$(start_bg be1 "$T_DIR/tcp.log" socat TCP-LISTEN:8080,reuseaddr,fork SYSTEM:true); T_PIDS+=("$TCP_PID")
start_bg be2 "$T_DIR/http.log" python3 -m http.server 8081 --bind 10.77.5.12 --directory "$T_DIR/www" >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=be2.test -days 1 \
    -keyout "$T_DIR/key.pem" -out "$T_DIR/cert.pem" >/dev/null 2>&1
start_bg be2 "$T_DIR/tls.log" openssl s_server -quiet -accept 8443 -www -cert "$T_DIR/cert.pem" -key "$T_DIR/key.pem" >/dev/null
start_bg be2 "$T_DIR/hang.log" socat TCP-LISTEN:8082,reuseaddr,fork SYSTEM:"sleep 30" >/dev/null

backends_listening() {
    tcp_listening be1 8080 && tcp_listening be2 8081 && tcp_listening be2 8082 && tcp_listening be2 8443
}
check "backend listeners up" wait_until 5 backends_listening

cat >"$T_DIR/vigil.conf" <<CONF
virtual_server 10.77.5.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum_down "echo lost >> $T_DIR/quorum.log"
    quorum_up "echo gained >> $T_DIR/quorum.log"
    real_server 10.77.5.11 8080 {
        weight 1
        notify_down "echo down >> $T_DIR/notify.log"
        notify_up "echo up >> $T_DIR/notify.log"
        TCP_CHECK {
            connect_timeout 1
            retry 2
            delay_before_retry 1
        }
    }
}
virtual_server 10.77.5.101 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.77.5.12 8081 {
        HTTP_GET {
            url {
                path /index.html
                digest b1946ac92492d2347c6235b4d2611184
                status_code 200
            }
            connect_timeout 1.5
            retry 0
        }
    }
    real_server 10.77.5.12 9081 {
        HTTP_GET {
            url {
                path /index.html
                digest 00000000000000000000000000000000
            }
            connect_port 8081
            connect_timeout 1.5
            retry 0
        }
    }
    real_server 10.77.5.12 8082 {
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 1.5
            retry 0
        }
    }
    real_server 10.77.5.12 8443 {
        SSL_GET {
            url {
                path /
                status_code 200
            }
            virtualhost be2.test
            connect_timeout 1.5
            retry 0
        }
    }
    real_server 10.77.5.12 9443 {
        SSL_GET {
            url {
                path /
                status_code 404
            }
            connect_port 8443
            connect_timeout 1.5
            retry 0
        }
    }
    real_server 10.77.5.13 80 {
        TCP_CHECK {
            connect_timeout 1.5
            retry 0
        }
    }
    real_server 10.77.5.14 80 {
        weight 3
        MISC_CHECK {
            misc_path "exit \$(cat $T_DIR/misc_exit)"
            misc_timeout 2
            misc_dynamic
            retry 0
        }
    }
}
CONF

"$VIGILD" -t -f "$T_DIR/vigil.conf" >"$T_DIR/config-test.log" 2>&1 || {
    echo "config rejected:"; cat "$T_DIR/config-test.log"; exit 1; }

STATE="$T_DIR/run/check.state"
VIGILD_PID=$(start_bg dir "$T_DIR/vigild.log" "$VIGILD" -n -l -D -f "$T_DIR/vigil.conf" --runtime-dir "$T_DIR/run"); T_PIDS+=("$VIGILD_PID")

state_is() { grep -qx "rs $1 $2 $3" "$STATE" 2>/dev/null; }
dest_weight_is() { grep -qx "dest TCP $1 $2 $3" "$STATE" 2>/dev/null; }

check "state file written" wait_until 5 test -s "$STATE"
check "TCP server starts UP" state_is 10.77.5.100:80 10.77.5.11:8080 UP
check "HTTP server with the right digest UP" wait_until 4 state_is 10.77.5.101:80 10.77.5.12:8081 UP
check "HTTP server with a wrong digest DOWN" wait_until 4 state_is 10.77.5.101:80 10.77.5.12:9081 DOWN
check "... because of the digest" grep -q "9081 HTTP_GET failed: /index.html: digest b1946ac92492d2347c6235b4d2611184, expected 0" "$T_DIR/vigild.log"
check "SSL_GET (TLS, SNI virtualhost) UP" state_is 10.77.5.101:80 10.77.5.12:8443 UP
check "SSL_GET with the wrong status DOWN" wait_until 3 state_is 10.77.5.101:80 10.77.5.12:9443 DOWN
check "... because of the status" grep -q "9443 SSL_GET failed: /: status 200, expected 404" "$T_DIR/vigild.log"
check "MISC_CHECK exit 0: UP" state_is 10.77.5.101:80 10.77.5.14:80 UP

# Let every checker run at least once (start-up jitter is up to one delay_loop).
sleep 1.1
check "TCP server UP after its first probe" state_is 10.77.5.100:80 10.77.5.11:8080 UP

# TCP listener stops: the next probe fails, then 2 retries 1 s apart.
# Earliest DOWN: stop + 2 x delay_before_retry = 2 s. Latest: stop + delay_loop
# + 2 x delay_before_retry (+ scheduling slack) = 3 s + slack.
kill "$TCP_PID"; t0=$(now_ms)
wait_until 6 bash -c "! grep -qx 'rs 10.77.5.100:80 10.77.5.11:8080 UP' '$STATE'"
t_down=$(( $(now_ms) - t0 ))
echo "# TCP listener stopped -> DOWN after ${t_down} ms (bounds 2000..3000 ms + slack)"
check "TCP DOWN not before the retries are spent (${t_down} ms >= 1950)" test "$t_down" -ge 1950
check "TCP DOWN within the configured bound (${t_down} ms <= 3600)" test "$t_down" -le 3600
check "TCP server DOWN" state_is 10.77.5.100:80 10.77.5.11:8080 DOWN
check "DOWN server removed from the desired table" bash -c "! grep -q '^dest TCP 10.77.5.100:80 10.77.5.11:8080' '$STATE'"

# Accepting-but-silent HTTP and the black hole, measured from start-up.
check "HTTP server that never answers DOWN after the timeout" state_is 10.77.5.101:80 10.77.5.12:8082 DOWN
check "black-holed server DOWN after connect_timeout" state_is 10.77.5.101:80 10.77.5.13:80 DOWN

# Back: a DOWN checker probes every delay_loop, one success is enough.
start_bg be1 "$T_DIR/tcp2.log" socat TCP-LISTEN:8080,reuseaddr,fork SYSTEM:true >/dev/null; t0=$(now_ms)
wait_until 4 state_is 10.77.5.100:80 10.77.5.11:8080 UP
t_up=$(( $(now_ms) - t0 ))
echo "# TCP listener back -> UP after ${t_up} ms (bound: delay_loop 1000 ms + slack)"
check "TCP server back UP within one delay_loop (${t_up} ms <= 1600)" test "$t_up" -le 1600
check "UP server back in the desired table, weight 1" dest_weight_is 10.77.5.100:80 10.77.5.11:8080 1

check "notify_down then notify_up ran" wait_until 2 bash -c "[ \"\$(tr '\n' ' ' < '$T_DIR/notify.log')\" = 'down up ' ]"
check "quorum_down then quorum_up ran" wait_until 2 bash -c "[ \"\$(tr '\n' ' ' < '$T_DIR/quorum.log')\" = 'lost gained ' ]"

# misc_dynamic: exit 12 -> weight 10; exit 1 -> DOWN.
echo 12 >"$T_DIR/misc_exit"
check "misc_dynamic exit 12 sets weight 10" wait_until 3 dest_weight_is 10.77.5.101:80 10.77.5.14:80 10
echo 1 >"$T_DIR/misc_exit"
check "MISC_CHECK exit 1: DOWN" wait_until 3 state_is 10.77.5.101:80 10.77.5.14:80 DOWN

# Reload: the TCP server's weight changes (its checker does not), one real
# server is added. Unchanged checkers keep their state: the black-holed server
# is still DOWN at once (a restarted checker would start UP again).
sed -i 's/^        weight 1$/        weight 5/' "$T_DIR/vigil.conf"
cat >>"$T_DIR/vigil.conf" <<CONF
virtual_server 10.77.5.102 80 {
    delay_loop 1
    lb_kind NAT
    real_server 10.77.5.11 8080 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
CONF
transitions_before=$(grep -c "real server .* \(UP\|DOWN\)" "$T_DIR/vigild.log")
kill -HUP "$VIGILD_PID"
check "reload keeps unchanged checkers" wait_until 3 grep -q "checkers: 8 kept, 1 started, 0 removed" "$T_DIR/vigild.log"
check "new weight in the desired table" wait_until 2 dest_weight_is 10.77.5.100:80 10.77.5.11:8080 5
check "black-holed server still DOWN after reload" state_is 10.77.5.101:80 10.77.5.13:80 DOWN
check "added virtual server checked" wait_until 2 state_is 10.77.5.102:80 10.77.5.11:8080 UP
sleep 0.5
transitions_after=$(grep -c "real server .* \(UP\|DOWN\)" "$T_DIR/vigild.log")
check "no health transition caused by the reload" test "$transitions_before" -eq "$transitions_after"

check "health transitions logged" grep -q "real server 10.77.5.11:8080 DOWN" "$T_DIR/vigild.log"
check "no check child crash" bash -c "! grep -qi 'check.*\\(died\\|crash\\|signal\\)' '$T_DIR/vigild.log'"
lab_done
