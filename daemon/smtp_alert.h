// SMTP alerts: a mail to the notification_email addresses when a VRRP
// instance or sync group with smtp_alert changes state, as keepalived sends
// them (same subjects, so operators' mail filters keep working).
//
// Three parts:
//  - the mail itself (subject, headers, body, date) is built by pure functions
//    from the alert, the settings and a time, so it is unit-tested byte for byte;
//  - Mailer: alerts in, mails out. A bounded queue (the oldest waiting mail is
//    dropped, counted and logged when it is full), one mail in flight at a time
//    so mails reach the relay in the order of the transitions, failures logged
//    (rate-limited) and counted, never retried (keepalived does not either: a
//    state change mailed an hour late misleads more than it helps);
//  - MailTransport: the sending, behind a small interface. The real one
//    (make_curl_transport) runs libcurl's SMTP client in a forked process
//    that the loop watches, so a slow or dead relay never blocks the loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/model.h"
#include "daemon/ev.h"
#include "daemon/ipaddr.h"
#include "daemon/log.h"

namespace vigil::smtp {

// What changed. States are keepalived's notify states.
enum class AlertScope : uint8_t { Instance, Group };
enum class AlertState : uint8_t { Master, Backup, Fault, Stop };
const char* to_string(AlertState s);  // "MASTER", "BACKUP", "FAULT", "STOP"

struct Alert {
    AlertScope scope = AlertScope::Instance;
    std::string name;                    // vrrp_instance or vrrp_sync_group name
    AlertState state = AlertState::Backup;
    std::vector<std::string> details;    // extra body lines ("virtual addresses: ...")
};

// From global_defs, with the defaults filled in.
struct MailSettings {
    std::string router_id;
    std::string from;                    // notification_email_from, else vigil@HOSTNAME
    std::vector<std::string> to;         // notification_email
    std::optional<IpAddress> relay;      // smtp_server
    uint16_t port = 25;
    std::chrono::seconds connect_timeout{30};
    std::string helo_name;               // smtp_helo_name, else the host name (keepalived's default)
    bool mail_faults = true;             // false: no_email_faults
    bool operator==(const MailSettings&) const = default;
};
MailSettings settings_from(const config::GlobalDefs& g, const std::string& hostname);
std::string local_host_name();  // gethostname(), "localhost" if there is none
// keepalived sends nothing unless there is a recipient and a relay.
bool can_send(const MailSettings& s);
std::string relay_str(const MailSettings& s);  // "192.0.2.25:25", "[2001:db8::25]:25"

// "[ROUTER_ID] VRRP Instance VI_1 - Entering MASTER state" (keepalived's shape).
std::string alert_subject(const std::string& router_id, const Alert& a);
std::string alert_body(const std::string& router_id, const Alert& a);

// RFC 5322 3.3 date-time, English names whatever the locale:
// "Tue, 04 Jun 2024 10:00:00 +0200". `local` is the broken-down local time,
// `utc_offset` its offset east of UTC (tm_gmtoff).
std::string rfc5322_date(const std::tm& local, long utc_offset_seconds);

// A header field value: control characters (CR and LF above all: a value
// could otherwise start a new header) become spaces; text with non-ASCII
// bytes is sent as RFC 2047 encoded-words (UTF-8, base64).
std::string header_value(const std::string& text);

struct Mail {
    std::string subject;                 // as in the header, for the log
    std::string envelope_from;           // MAIL FROM
    std::vector<std::string> recipients; // RCPT TO, one per address
    std::string text;                    // the RFC 5322 message, CRLF line ends
};

// Everything that makes two mails of the same alert differ.
struct MailStamp {
    std::tm local{};
    long utc_offset_seconds = 0;
    std::string message_id;              // "<...@host>"
};
Mail build_mail(const MailSettings& s, const Alert& a, const MailStamp& stamp);

// keepalived mails a state only when it differs from the last one mailed for
// the same instance or group.
class AlertFilter {
public:
    bool should_mail(const Alert& a);

private:
    struct Key {
        AlertScope scope;
        std::string name;
        auto operator<=>(const Key&) const = default;
    };
    std::map<Key, AlertState> last_;
};

// Sends one mail. `done` gets "" when the relay accepted it, else why not; it
// is never called from inside send(). Destroying the transport cancels a send
// in flight (no callback afterwards).
class MailTransport {
public:
    using Done = std::function<void(const std::string& error)>;
    virtual ~MailTransport() = default;
    virtual void send(const MailSettings& s, const Mail& m, Done done) = 0;
};

// libcurl SMTP in a process forked per mail, watched from `loop` (a default
// loop: it needs a child watcher): connecting, up to the relay's greeting, is
// bounded by smtp_connect_timeout, the whole exchange by twice that.
std::unique_ptr<MailTransport> make_curl_transport(ev::Loop* loop);

class Mailer {
public:
    static constexpr size_t kDefaultQueueLimit = 64;
    struct Counters {
        uint64_t queued = 0, sent = 0, failed = 0, dropped = 0;
    };

    explicit Mailer(std::unique_ptr<MailTransport> transport, size_t queue_limit = kDefaultQueueLimit);
    // Settings for the mails queued from now on (a reload).
    void configure(MailSettings s) { settings_ = std::move(s); }
    const MailSettings& settings() const { return settings_; }

    // Builds the mail now (its Date is the transition's time) and queues it.
    // False when nothing was queued: mail not configured, or the same state
    // was mailed last for this instance/group.
    bool alert(const Alert& a);
    // A mail is waiting or in flight.
    bool busy() const { return in_flight_ || !queue_.empty(); }
    const Counters& counters() const { return counters_; }
    std::string stats_line() const;  // "mail queued=.. sent=.. failed=.. dropped=.. waiting=.."

private:
    struct Queued {
        MailSettings settings;
        Mail mail;
    };
    void send_next();
    void on_done(const std::string& error);

    std::unique_ptr<MailTransport> transport_;
    size_t queue_limit_;
    MailSettings settings_;
    AlertFilter filter_;
    std::deque<Queued> queue_;
    std::optional<Queued> in_flight_;
    uint64_t sequence_ = 0;
    Counters counters_;
    log::RateLimit failure_log_{5, std::chrono::seconds(60)};
    log::RateLimit drop_log_{5, std::chrono::seconds(60)};
};

}  // namespace vigil::smtp
