#!/bin/bash
# smtp_alert: two vigil nodes mail their VRRP state changes to a real SMTP
# server (python3's smtpd) in a third namespace on the lab switch.
# Expected: keepalived's subjects ("[ROUTER_ID] VRRP Instance VI_1 - Entering
# MASTER state", "... VRRP Group VG_1 ..."), From: notification_email_from,
# To: and RCPT TO: every notification_email address, one mail per change
# (BACKUP at start-up, MASTER, Stopping on SIGTERM, BACKUP after preemption),
# nothing for an instance without smtp_alert. With the relay down the failure
# is logged and counted and VRRP goes on; with a relay that accepts and never
# answers, the master keeps advertising (no spurious failover) while its
# mails hang, and the failure is logged once the exchange times out.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lab/vrrp_lib.sh"
lab_init
require_cmd python3 setsid
python3 -W ignore -c "import smtpd, asyncore" 2>/dev/null || { echo "SKIP: $T_NAME needs python3's smtpd"; exit 77; }

VIP=10.77.0.100
VIP2=10.77.0.101
RELAY=10.77.0.25
PORT=2525
MAIL="$T_DIR/mail"
mkdir -p "$MAIL"

# The SMTP server: every message into $MAIL/NNN.eml with its envelope on top;
# "silent" accepts connections and never says a word.
cat >"$T_DIR/smtp_sink.py" <<'EOF'
import os, socket, sys, warnings
warnings.simplefilter("ignore")
addr, port, outdir, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if mode == "silent":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    held = []
    while True:
        held.append(s.accept()[0])
import asyncore, smtpd
class Sink(smtpd.SMTPServer):
    count = 0
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        Sink.count += 1
        tmp = os.path.join(outdir, ".tmp")
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-From: %s\nX-Envelope-To: %s\n" % (mailfrom, " ".join(rcpttos))).encode())
            f.write(data)
        os.rename(tmp, os.path.join(outdir, "%03d.eml" % Sink.count))
Sink((addr, port), None, decode_data=False)
asyncore.loop()
EOF

conf() {  # conf NODE ROUTER_ID PRIORITY [extra instance block]
    cat >"$T_DIR/$1.conf" <<EOF
global_defs {
    router_id $2
    notification_email {
        ops@example.com
        noc@example.com
    }
    notification_email_from vigil-$1@example.com
    smtp_server $RELAY $PORT
    smtp_connect_timeout 1
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 1
}
vrrp_sync_group VG_1 {
    group {
        VI_1
        VI_2
    }
    smtp_alert
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $3
    version 3
    advert_int 0.3
    smtp_alert
    virtual_ipaddress {
        $VIP/24
    }
}
vrrp_instance VI_2 {
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority $3
    version 3
    advert_int 0.3
    virtual_ipaddress {
        $VIP2/24
    }
}
${4:-}
EOF
}

# mail SUBJECT: the file of the (first) mail with exactly this subject.
mail_file() { grep -lxF "Subject: $1" "$MAIL"/*.eml 2>/dev/null | head -1; }
has_mail() { [ -n "$(mail_file "$1")" ]; }
mail_count() { grep -lxF "Subject: $1" "$MAIL"/*.eml 2>/dev/null | wc -l; }
mail_count_is() { [ "$(mail_count "$2")" -eq "$1" ]; }
log_count() { grep -cE -e "$2" "$T_DIR/$1.log"; }
log_count_is() { [ "$(log_count "$1" "$2")" -eq "$3" ]; }
header_is() {  # header_is SUBJECT "Header: value"
    local f
    f=$(mail_file "$1")
    [ -n "$f" ] && grep -qxF "$2" "$f"
}
mail_stat() {  # mail_stat NODE FIELD: from the "mail ..." line of vrrp.stats
    awk -v key="$2" '$1 == "mail" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] } }' \
        "$T_DIR/run-$1/vrrp.stats" 2>/dev/null
}
stat_at_least() { local v; v=$(mail_stat "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }

lab_switch
vrrp_node a 1; vrrp_node b 2
lab_host m eth0 "$RELAY/24"
conf a DIR_A 150; conf b DIR_B 100

relay=$(start_bg m "$T_DIR/smtp.log" python3 "$T_DIR/smtp_sink.py" "$RELAY" "$PORT" "$MAIL" sink)
check "SMTP server listens" wait_until 5 tcp_listening m "$PORT"

pa=$(start_vigil a "$T_DIR/a.conf")
pb=$(start_vigil b "$T_DIR/b.conf")
check "a (150) becomes master" wait_until 5 only_holder $VIP a a b

A_MASTER="[DIR_A] VRRP Instance VI_1 - Entering MASTER state"
check "a mails: $A_MASTER" wait_until 5 has_mail "$A_MASTER"
check "a mailed BACKUP at start-up first" has_mail "[DIR_A] VRRP Instance VI_1 - Entering BACKUP state"
check "b mails: [DIR_B] VRRP Instance VI_1 - Entering BACKUP state" \
    wait_until 5 has_mail "[DIR_B] VRRP Instance VI_1 - Entering BACKUP state"
check "the sync group mails once all members are master" wait_until 5 has_mail "[DIR_A] VRRP Group VG_1 - Entering MASTER state"
check "From: is notification_email_from" header_is "$A_MASTER" "From: vigil-a@example.com"
check "To: lists every notification_email address" header_is "$A_MASTER" "To: ops@example.com, noc@example.com"
check "the envelope goes to both recipients" header_is "$A_MASTER" "X-Envelope-To: ops@example.com noc@example.com"
check "the envelope sender is notification_email_from" header_is "$A_MASTER" "X-Envelope-From: vigil-a@example.com"
check "the mail has a Date: header" bash -c "grep -qE '^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} 20[0-9]{2} ' '$(mail_file "$A_MASTER")'"
check "the body names the transition" bash -c "grep -q 'VRRP instance VI_1 is now MASTER on DIR_A' '$(mail_file "$A_MASTER")'"
check "VI_2 has no smtp_alert: no mail for it" bash -c "! grep -lqF 'VRRP Instance VI_2' '$MAIL'/*.eml"
check "one MASTER mail, not one per advert" test "$(mail_count "$A_MASTER")" -eq 1

# SIGTERM of a: b takes over; a mails Stopping on its way out.
kill -TERM "$pa"
check "b takes over after SIGTERM of a" wait_until 3 only_holder $VIP b a b
check "b mails: Entering MASTER state" wait_until 5 has_mail "[DIR_B] VRRP Instance VI_1 - Entering MASTER state"
check "a mailed: Stopping" wait_until 5 has_mail "[DIR_A] VRRP Instance VI_1 - Stopping"
check "a's group mailed: Stopping" wait_until 5 has_mail "[DIR_A] VRRP Group VG_1 - Stopping"
check "a's vigild exited" wait_until 5 bash -c "! kill -0 $pa 2>/dev/null"

# a back: it preempts, b mails BACKUP again.
pa=$(start_vigil a "$T_DIR/a.conf")
check "restarted a preempts" wait_until 5 only_holder $VIP a a b
check "b mails BACKUP after preemption" wait_until 5 mail_count_is 2 "[DIR_B] VRRP Instance VI_1 - Entering BACKUP state"
check "b counts the mails it sent" wait_until 3 stat_at_least b sent 4

# Relay down (connection refused): the failure is logged and counted, VRRP goes on.
kill -TERM "$relay"
check "SMTP server stopped" wait_until 3 bash -c "! kill -0 $relay 2>/dev/null"
n_before=$(ls "$MAIL"/*.eml | wc -l)
crash "$pa"
check "b takes over after a crash, relay down" wait_until 5 has_addr b eth0 $VIP
check "b logs the mail it could not send" wait_until 5 log_has b 'mail: cannot send "\[DIR_B\] VRRP Instance VI_1 - Entering MASTER state" via 10\.77\.0\.25:2525'
check "and counts it" wait_until 3 stat_at_least b failed 1
check "b's vigild keeps running" kill -0 "$pb"
check "no mail arrived while the relay was down" test "$(ls "$MAIL"/*.eml | wc -l)" -eq "$n_before"

# A relay that accepts and never answers: a's mails hang up to 2 x
# smtp_connect_timeout (2 s) each; meanwhile a, master, must keep advertising.
# advert_int 0.3 gives b a master-down interval of about 1.1 s: shorter than
# one hung mail, so a loop blocked by a mail shows as a takeover, and longer
# than the scheduling stalls of a loaded CI machine (with advert_int 0.1, a
# 0.36 s stall was enough for a spurious takeover).
# A reload adds VI_3 (smtp_alert) on b, which then mails two transitions.
relay=$(start_bg m "$T_DIR/smtp-silent.log" python3 "$T_DIR/smtp_sink.py" "$RELAY" "$PORT" "$MAIL" silent)
check "silent relay listens" wait_until 5 tcp_listening m "$PORT"
clear_vips a $VIP/24 $VIP2/24
pa=$(start_vigil a "$T_DIR/a.conf")
check "a preempts again (its mails now hang too)" wait_until 5 only_holder $VIP a a b
# b's transitions from its log (vrrp.stats lags up to 1 s), once it shows
# this second preemption.
check "b is backup again" wait_until 3 log_count_is b 'VI_1/vrid 51/v4: Master -> Backup' 2
tr_b=$(log_count b 'VI_1/vrid 51/v4: .* -> ')
conf a DIR_A 150 "vrrp_instance VI_3 {
    interface eth0
    virtual_router_id 53
    priority 150
    version 3
    advert_int 0.3
    smtp_alert
    virtual_ipaddress {
        10.77.0.103/24
    }
}"
kill -HUP "$pa"
# The mail process (the one child of a's vrrp child) holds no capability.
mail_proc_without_caps() {
    local vrrp_pid child
    vrrp_pid=$(grep -oE 'started vrrp child \(pid [0-9]+' "$T_DIR/a.log" | tail -1 | grep -oE '[0-9]+$')
    child=$(pgrep -P "$vrrp_pid" | head -1)
    [ -n "$child" ] && grep -qxE 'CapEff:[[:space:]]+0+' "/proc/$child/status"
}
check "a's mail process runs without capabilities" wait_until 3 mail_proc_without_caps
check "a's new VI_3 becomes master" wait_until 5 has_addr a eth0 10.77.0.103
sleep 3
check "a kept VI_1 while its mails hung: b made no transition" log_count_is b 'VI_1/vrid 51/v4: .* -> ' "$tr_b"
check "a still alone holds the VIP" only_holder $VIP a a b
# Six mails (VI_1 and VG_1 BACKUP and MASTER, VI_3 BACKUP and MASTER), each
# abandoned after 2 s: all fail, in the end.
check "a gives up on every mail to the silent relay" wait_until 20 stat_at_least a failed 6
check "a logs the timed-out exchanges" log_has a 'mail: cannot send .* via 10\.77\.0\.25:2525: .*[Tt]ime'
check "a's vigild keeps running" kill -0 "$pa"
lab_done
