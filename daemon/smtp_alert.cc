#include "daemon/smtp_alert.h"

#include <unistd.h>

#include <cstdio>

namespace vigil::smtp {

const char* to_string(AlertState s) {
    switch (s) {
    case AlertState::Master: return "MASTER";
    case AlertState::Backup: return "BACKUP";
    case AlertState::Fault: return "FAULT";
    case AlertState::Stop: return "STOP";
    }
    return "?";
}

MailSettings settings_from(const config::GlobalDefs& g, const std::string& hostname) {
    MailSettings s;
    s.router_id = g.router_id.empty() ? hostname : g.router_id;
    // keepalived's default sender is keepalived@<local host name>.
    s.from = g.notification_email_from.empty() ? "vigil@" + hostname : g.notification_email_from;
    s.to = g.notification_email;
    s.relay = g.smtp_server;
    s.port = g.smtp_port;
    s.connect_timeout = g.smtp_connect_timeout;
    s.helo_name = g.smtp_helo_name.empty() ? hostname : g.smtp_helo_name;
    s.mail_faults = !g.no_email_faults;
    return s;
}

std::string local_host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
    return buf;
}

bool can_send(const MailSettings& s) { return !s.to.empty() && s.relay.has_value(); }

std::string relay_str(const MailSettings& s) {
    if (!s.relay) return "(no smtp_server)";
    std::string host = s.relay->is_v6() ? "[" + s.relay->str() + "]" : s.relay->str();
    return host + ":" + std::to_string(s.port);
}

// ---------------------------------------------------------------- text

namespace {

const char* subject_event(AlertState s) {
    switch (s) {
    case AlertState::Master: return "Entering MASTER state";
    case AlertState::Backup: return "Entering BACKUP state";
    case AlertState::Fault: return "Entering FAULT state";
    case AlertState::Stop: return "Stopping";
    }
    return "?";
}

std::string base64(std::string_view in) {
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 63];
    }
    if (size_t rest = in.size() - i) {
        uint32_t v = uint8_t(in[i]) << 16;
        if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

}  // namespace

std::string alert_subject(const std::string& router_id, const Alert& a) {
    const char* what = a.scope == AlertScope::Instance ? "VRRP Instance" : "VRRP Group";
    return "[" + router_id + "] " + what + " " + a.name + " - " + subject_event(a.state);
}

std::string alert_body(const std::string& router_id, const Alert& a) {
    std::string text;
    if (a.scope == AlertScope::Instance) {
        std::string who = "VRRP instance " + a.name;
        switch (a.state) {
        case AlertState::Master:
            text = who + " is now MASTER on " + router_id + ": this director holds its virtual addresses.";
            break;
        case AlertState::Backup:
            text = who + " is now BACKUP on " + router_id + ": this director does not hold its virtual addresses.";
            break;
        case AlertState::Fault:
            text = who + " is now in FAULT on " + router_id +
                   " (its interface or a tracked item failed): this director does not hold its virtual "
                   "addresses and does not take part in the election.";
            break;
        case AlertState::Stop:
            text = who + " stopped on " + router_id + ": this director released its virtual addresses.";
            break;
        }
    } else {
        std::string who = "All instances of VRRP sync group " + a.name;
        text = a.state == AlertState::Stop ? who + " stopped on " + router_id + "."
                                           : who + " are now " + to_string(a.state) + " on " + router_id + ".";
    }
    text += "\r\n";
    if (!a.details.empty()) {
        text += "\r\n";
        for (const auto& d : a.details) text += d + "\r\n";
    }
    return text;
}

std::string rfc5322_date(const std::tm& t, long utc_offset_seconds) {
    // RFC 5322 3.3: day-name "," day month year hour ":" minute ":" second zone.
    static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    long off = utc_offset_seconds;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", kDays[(t.tm_wday % 7 + 7) % 7],
                  t.tm_mday, kMonths[(t.tm_mon % 12 + 12) % 12], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec,
                  sign, off / 3600, (off % 3600) / 60);
    return buf;
}

std::string header_value(const std::string& text) {
    std::string clean;
    bool ascii = true;
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f)
            clean += ' ';
        else {
            clean += static_cast<char>(c);
            ascii = ascii && c < 0x80;
        }
    }
    if (ascii) return clean;
    // RFC 2047 2: an encoded-word is at most 75 characters; 45 bytes of text
    // make 60 of base64 plus 12 of framing. 6.3: each word holds whole
    // characters, so a UTF-8 sequence is never split between two words.
    std::string out;
    size_t pos = 0;
    while (pos < clean.size()) {
        size_t n = std::min<size_t>(45, clean.size() - pos);
        while (pos + n < clean.size() && n > 0 && (uint8_t(clean[pos + n]) & 0xC0) == 0x80) --n;
        if (n == 0) n = std::min<size_t>(45, clean.size() - pos);
        if (!out.empty()) out += "\r\n ";  // folding whitespace between words
        out += "=?UTF-8?B?" + base64(std::string_view(clean).substr(pos, n)) + "?=";
        pos += n;
    }
    return out;
}

Mail build_mail(const MailSettings& s, const Alert& a, const MailStamp& stamp) {
    Mail m;
    m.subject = alert_subject(s.router_id, a);
    m.envelope_from = s.from;
    m.recipients = s.to;
    std::string to;
    for (const auto& r : s.to) to += (to.empty() ? "" : ", ") + r;
    // RFC 5322 3.6: Date and From are required; Message-ID should be there.
    std::string& t = m.text;
    t += "Date: " + rfc5322_date(stamp.local, stamp.utc_offset_seconds) + "\r\n";
    t += "From: " + header_value(s.from) + "\r\n";
    t += "To: " + header_value(to) + "\r\n";
    t += "Subject: " + header_value(m.subject) + "\r\n";
    t += "Message-ID: " + header_value(stamp.message_id) + "\r\n";
    t += "MIME-Version: 1.0\r\n";
    t += "Content-Type: text/plain; charset=utf-8\r\n";
    t += "Content-Transfer-Encoding: 8bit\r\n";
    t += "X-Mailer: vigil\r\n";
    t += "\r\n";
    t += alert_body(s.router_id, a);
    return m;
}

bool AlertFilter::should_mail(const Alert& a) {
    auto [it, inserted] = last_.try_emplace(Key{a.scope, a.name}, a.state);
    if (inserted) return true;
    if (it->second == a.state) return false;
    it->second = a.state;
    return true;
}

// ---------------------------------------------------------------- Mailer

Mailer::Mailer(std::unique_ptr<MailTransport> transport, size_t queue_limit)
    : transport_(std::move(transport)), queue_limit_(queue_limit == 0 ? 1 : queue_limit) {}

bool Mailer::alert(const Alert& a) {
    if (!can_send(settings_)) return false;
    // keepalived: a FAULT not mailed (no_email_faults) is not "the last state
    // mailed" either, so BACKUP -> FAULT -> BACKUP mails nothing the second time.
    if (a.state == AlertState::Fault && !settings_.mail_faults) return false;
    if (!filter_.should_mail(a)) return false;
    MailStamp stamp;
    std::time_t now = std::time(nullptr);
    localtime_r(&now, &stamp.local);
    stamp.utc_offset_seconds = stamp.local.tm_gmtoff;
    stamp.message_id = "<" + std::to_string(now) + "." + std::to_string(getpid()) + "." +
                       std::to_string(++sequence_) + "@" + settings_.helo_name + ">";
    Queued q{settings_, build_mail(settings_, a, stamp)};
    ++counters_.queued;
    if (queue_.size() >= queue_limit_) {
        // The oldest waiting mail goes: after a storm of transitions the
        // mailbox should still end with the current state.
        ++counters_.dropped;
        drop_log_.write(log::Level::Warning, "mail: queue full (%zu waiting): dropped \"%s\"", queue_.size(),
                        queue_.front().mail.subject.c_str());
        queue_.pop_front();
    }
    queue_.push_back(std::move(q));
    send_next();
    return true;
}

void Mailer::send_next() {
    if (in_flight_ || queue_.empty()) return;
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    transport_->send(in_flight_->settings, in_flight_->mail, [this](const std::string& error) { on_done(error); });
}

void Mailer::on_done(const std::string& error) {
    if (!in_flight_) return;
    Queued done = std::move(*in_flight_);
    in_flight_.reset();
    if (error.empty()) {
        ++counters_.sent;
        VLOG_INFO("mail: sent \"%s\" to %zu recipient(s) via %s", done.mail.subject.c_str(),
                  done.mail.recipients.size(), relay_str(done.settings).c_str());
    } else {
        ++counters_.failed;
        failure_log_.write(log::Level::Warning, "mail: cannot send \"%s\" via %s: %s", done.mail.subject.c_str(),
                           relay_str(done.settings).c_str(), error.c_str());
    }
    send_next();
}

std::string Mailer::stats_line() const {
    return "mail queued=" + std::to_string(counters_.queued) + " sent=" + std::to_string(counters_.sent) +
           " failed=" + std::to_string(counters_.failed) + " dropped=" + std::to_string(counters_.dropped) +
           " waiting=" + std::to_string(queue_.size() + (in_flight_ ? 1 : 0));
}

}  // namespace vigil::smtp
