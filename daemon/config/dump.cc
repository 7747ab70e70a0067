// The normalised config in keepalived syntax: one keyword per line, every
// default written out, includes already expanded. What `vigild --dump-config`
// prints and what core hands to its children; load_text() of it gives back an
// equal model (tests/unit/test_config.cc checks that over every fixture).
#include <cstdio>
#include <string>

#include "daemon/config/load.h"
#include "daemon/config/units.h"

namespace vigil::config {
namespace {

// Words with blanks, quotes, braces, comment characters or backslashes are
// written as a double-quoted string with escapes the lexer decodes.
std::string word(const std::string& s) {
    bool plain = !s.empty();
    for (char c : s) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '{' || c == '}' ||
            c == '\\' || static_cast<unsigned char>(c) < 0x20)
            plain = false;
    }
    if (!s.empty() && (s[0] == '#' || s[0] == '!')) plain = false;
    if (plain) return s;
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned char>(c));
                out += buf;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

std::string secs(std::chrono::milliseconds ms) { return seconds_text(ms); }
const char* yes_no(bool b) { return b ? "on" : "off"; }

std::string method(ForwardingMethod m) {
    switch (m) {
    case ForwardingMethod::Nat: return "NAT";
    case ForwardingMethod::Dr: return "DR";
    case ForwardingMethod::Tun: return "TUN";
    }
    return "NAT";
}

std::string netmask(int family, int len) {
    if (family != AF_INET) return std::to_string(len);
    uint32_t m = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
    return std::to_string(m >> 24) + "." + std::to_string((m >> 16) & 255) + "." + std::to_string((m >> 8) & 255) + "." +
           std::to_string(m & 255);
}

class Writer {
public:
    std::string out;  // appended to directly: an ostream costs several times more per line
    int depth = 0;
    void line(const std::string& s) {
        out.append(static_cast<size_t>(depth) * 4, ' ');
        out += s;
        out += '\n';
    }
    void open(const std::string& s) {
        line(s + " {");
        ++depth;
    }
    void close() {
        --depth;
        line("}");
    }
    // Flags keepalived takes without a value (lvs_flush, alpha, ...): written
    // bare when on, left out when off (the default).
    void flag(const char* kw, bool on) {
        if (on) line(kw);
    }
    void str(const char* kw, const std::string& v) {
        if (!v.empty()) line(std::string(kw) + " " + word(v));
    }
};

void address(Writer& w, const VirtualAddress& va) {
    std::string s = va.addr.str();
    if (!va.dev.empty()) s += " dev " + word(va.dev);
    if (!va.label.empty()) s += " label " + word(va.label);
    if (!va.scope.empty()) s += " scope " + va.scope;
    if (va.brd) s += " brd " + va.brd->str();
    w.line(s);
}

void checker(Writer& w, const Checker& k) {
    static const char* names[] = {"TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK"};
    w.open(names[static_cast<int>(k.type)]);
    if (k.type != CheckerType::Misc) {
        if (k.connect_ip) w.line("connect_ip " + k.connect_ip->str());
        if (k.connect_port) w.line("connect_port " + std::to_string(*k.connect_port));
        if (k.bindto) w.line("bindto " + k.bindto->str());
        w.line("connect_timeout " + secs(k.connect_timeout));
    }
    w.line("retry " + std::to_string(k.retry));
    w.line("delay_before_retry " + secs(k.delay_before_retry));
    if (k.delay_loop) w.line("delay_loop " + secs(*k.delay_loop));
    if (k.warmup) w.line("warmup " + secs(*k.warmup));
    for (const auto& u : k.http->urls) {
        w.open("url");
        w.str("path", u.path);
        if (u.status_code) w.line("status_code " + std::to_string(*u.status_code));
        w.str("digest", u.digest);
        w.close();
    }
    w.str("virtualhost", k.http->virtualhost);
    if (k.type == CheckerType::Misc) {
        const MiscCheckSettings& m = *k.misc;
        w.str("misc_path", m.path);
        if (m.timeout.count()) w.line("misc_timeout " + secs(m.timeout));
        w.flag("misc_dynamic", m.dynamic);
        if (!m.user.empty()) w.line("user " + word(m.user) + (m.group.empty() ? "" : " " + word(m.group)));
    }
    w.close();
}

void server(Writer& w, const char* kw, const RealServer& rs, bool with_body) {
    std::string head = std::string(kw) + " " + rs.addr.str() + (rs.port ? " " + std::to_string(*rs.port) : "");
    if (!with_body) {
        w.line(head);
        return;
    }
    w.open(head);
    w.line("weight " + std::to_string(rs.weight));
    if (rs.inhibit_on_failure) w.line(std::string("inhibit_on_failure ") + yes_no(*rs.inhibit_on_failure));
    if (rs.lb_kind) w.line("lvs_method " + method(*rs.lb_kind));
    if (rs.uthreshold) w.line("uthreshold " + std::to_string(rs.uthreshold));
    if (rs.lthreshold) w.line("lthreshold " + std::to_string(rs.lthreshold));
    w.str("notify_up", rs.notify->up);
    w.str("notify_down", rs.notify->down);
    for (const auto& k : rs.checkers) checker(w, k);
    w.close();
}

}  // namespace

std::string dump(const Config& c, ConfigPart part) {
    Writer w;
    const auto& g = c.global;
    // Sections outside the part asked for are read from an empty config.
    static const Config none;
    const Config& vrrp = part == ConfigPart::Check ? none : c;
    const Config& check = part == ConfigPart::Vrrp ? none : c;
    w.open("global_defs");
    w.str("router_id", g.router_id);
    if (!g.notification_email.empty()) {
        w.open("notification_email");
        for (const auto& e : g.notification_email) w.line(word(e));
        w.close();
    }
    w.str("notification_email_from", g.notification_email_from);
    if (g.smtp_server) w.line("smtp_server " + g.smtp_server->str() + " " + std::to_string(g.smtp_port));
    w.line("smtp_connect_timeout " + std::to_string(g.smtp_connect_timeout.count()));
    w.str("smtp_helo_name", g.smtp_helo_name);
    if (g.smtp_alert) w.line(std::string("smtp_alert ") + yes_no(*g.smtp_alert));
    if (g.smtp_alert_vrrp) w.line(std::string("smtp_alert_vrrp ") + yes_no(*g.smtp_alert_vrrp));
    w.flag("no_email_faults", g.no_email_faults);
    if (!g.script_user.empty()) w.line("script_user " + word(g.script_user) + (g.script_group.empty() ? "" : " " + word(g.script_group)));
    w.flag("enable_script_security", g.enable_script_security);
    w.line("vrrp_version " + std::to_string(g.vrrp_version));
    w.line("vrrp_garp_master_delay " + secs(g.vrrp_garp_master_delay));
    w.line("vrrp_garp_master_repeat " + std::to_string(g.vrrp_garp_master_repeat));
    w.line("vrrp_garp_master_refresh " + secs(g.vrrp_garp_master_refresh));
    w.flag("lvs_flush", g.lvs_flush);
    w.flag("lvs_flush_on_stop", g.lvs_flush_on_stop);
    w.line("lvs_reconcile_interval " + secs(g.lvs_reconcile_interval));
    w.close();

    for (const auto& s : vrrp.vrrp_scripts) {
        w.out += '\n';
        w.open("vrrp_script " + word(s.name));
        w.str("script", s.script);
        w.line("interval " + secs(s.interval));
        if (s.timeout.count()) w.line("timeout " + secs(s.timeout));
        w.line("weight " + std::to_string(s.weight));
        w.line("rise " + std::to_string(s.rise));
        w.line("fall " + std::to_string(s.fall));
        if (!s.user.empty()) w.line("user " + word(s.user) + (s.group.empty() ? "" : " " + word(s.group)));
        w.close();
    }

    for (const auto& sg : vrrp.sync_groups) {
        w.out += '\n';
        w.open("vrrp_sync_group " + word(sg.name));
        w.open("group");
        for (const auto& m : sg.members) w.line(word(m));
        w.close();
        w.str("notify", sg.notify);
        w.str("notify_master", sg.notify_master);
        w.str("notify_backup", sg.notify_backup);
        w.str("notify_fault", sg.notify_fault);
        w.str("notify_stop", sg.notify_stop);
        w.line(std::string("smtp_alert ") + yes_no(sg.smtp_alert));
        w.close();
    }

    for (const auto& in : vrrp.vrrp_instances) {
        w.out += '\n';
        w.open("vrrp_instance " + word(in.name));
        w.line(std::string("state ") + (in.state == InitialState::Master ? "MASTER" : "BACKUP"));
        w.str("interface", in.interface);
        w.line("virtual_router_id " + std::to_string(in.vrid));
        w.line("priority " + std::to_string(in.priority));
        w.line("version " + std::to_string(in.version));
        w.line("advert_int " + secs(std::chrono::duration_cast<std::chrono::milliseconds>(in.advert_int)));
        if (in.auth_type == AuthType::Pass) {
            w.open("authentication");
            w.line("auth_type PASS");
            w.str("auth_pass", in.auth_pass);
            w.close();
        }
        w.open("virtual_ipaddress");
        for (const auto& va : in.vips) address(w, va);
        w.close();
        if (!in.vips_excluded.empty()) {
            w.open("virtual_ipaddress_excluded");
            for (const auto& va : in.vips_excluded) address(w, va);
            w.close();
        }
        if (!in.routes.empty()) {
            w.open("virtual_routes");
            for (const auto& r : in.routes) {
                std::string s = (r.blackhole ? "blackhole " : "") + r.dst.str();
                if (r.src) s += " src " + r.src->str();
                if (r.via) s += " via " + r.via->str();
                if (!r.dev.empty()) s += " dev " + word(r.dev);
                if (!r.scope.empty()) s += " scope " + word(r.scope);
                if (r.table) s += " table " + std::to_string(*r.table);
                if (r.metric) s += " metric " + std::to_string(*r.metric);
                w.line(s);
            }
            w.close();
        }
        if (in.unicast_src_ip) w.line("unicast_src_ip " + in.unicast_src_ip->str());
        if (!in.unicast_peers.empty()) {
            w.open("unicast_peer");
            for (const auto& p : in.unicast_peers) w.line(p.str());
            w.close();
        }
        if (in.nopreempt) w.line("nopreempt");
        w.line("preempt_delay " + std::to_string(in.preempt_delay.count()));
        if (!in.track_interfaces.empty()) {
            w.open("track_interface");
            for (const auto& t : in.track_interfaces) w.line(word(t.name) + (t.weight ? " weight " + std::to_string(t.weight) : ""));
            w.close();
        }
        if (!in.track_scripts.empty()) {
            w.open("track_script");
            for (const auto& t : in.track_scripts) w.line(word(t.name) + (t.weight ? " weight " + std::to_string(*t.weight) : ""));
            w.close();
        }
        w.str("notify", in.notify);
        w.str("notify_master", in.notify_master);
        w.str("notify_backup", in.notify_backup);
        w.str("notify_fault", in.notify_fault);
        w.str("notify_stop", in.notify_stop);
        w.line("garp_master_delay " + secs(in.garp_master_delay));
        w.line("garp_master_repeat " + std::to_string(in.garp_master_repeat));
        w.line("garp_master_refresh " + secs(in.garp_master_refresh));
        w.line(std::string("smtp_alert ") + yes_no(in.smtp_alert));
        w.close();
    }

    for (const auto& g2 : check.vs_groups) {
        w.out += '\n';
        w.open("virtual_server_group " + word(g2.name));
        for (const auto& r : g2.addresses) {
            std::string a = r.first.str();
            if (r.count > 1) a += "-" + std::to_string(r.first.bytes()[3] + r.count - 1);
            w.line(a + " " + std::to_string(r.port));
        }
        for (auto m : g2.fwmarks) w.line("fwmark " + std::to_string(m));
        w.close();
    }

    for (const auto& vs : check.virtual_servers) {
        w.out += '\n';
        std::string head = "virtual_server ";
        if (auto* ip = std::get_if<IpPort>(&vs.key)) head += ip->addr.str() + " " + std::to_string(ip->port);
        else if (auto* fw = std::get_if<Fwmark>(&vs.key)) head += "fwmark " + std::to_string(fw->mark);
        else head += "group " + word(std::get<GroupRef>(vs.key).name);
        w.open(head);
        if (!std::holds_alternative<IpPort>(vs.key)) w.line(std::string("ip_family ") + (vs.family == AF_INET6 ? "inet6" : "inet"));
        w.line("delay_loop " + secs(vs.delay_loop));
        w.line("lvs_sched " + vs.scheduler);
        for (const auto& f : vs.sched_flags) w.line(f);
        w.line("lvs_method " + method(vs.lb_kind));
        if (vs.persistence_timeout) w.line("persistence_timeout " + std::to_string(vs.persistence_timeout->count()));
        if (vs.persistence_granularity) w.line("persistence_granularity " + netmask(vs.family, *vs.persistence_granularity));
        w.line(std::string("protocol ") + (vs.protocol == Protocol::Tcp ? "TCP" : vs.protocol == Protocol::Udp ? "UDP" : "SCTP"));
        if (vs.sorry_server) server(w, "sorry_server", *vs.sorry_server, false);
        if (vs.sorry_server_inhibit) w.line("sorry_server_inhibit");
        w.line("quorum " + std::to_string(vs.quorum));
        w.line("hysteresis " + std::to_string(vs.hysteresis));
        w.str("quorum_up", vs.quorum_up);
        w.str("quorum_down", vs.quorum_down);
        w.flag("alpha", vs.alpha);
        w.flag("omega", vs.omega);
        w.flag("inhibit_on_failure", vs.inhibit_on_failure);
        for (const auto& rs : vs.real_servers) server(w, "real_server", rs, true);
        w.close();
    }
    return std::move(w.out);
}

bool same_part(const Config& a, const Config& b, ConfigPart part) {
    if (!(a.global == b.global)) return false;
    bool vrrp_same = a.vrrp_scripts == b.vrrp_scripts && a.sync_groups == b.sync_groups &&
                     a.vrrp_instances == b.vrrp_instances;
    bool check_same = a.vs_groups == b.vs_groups && a.virtual_servers == b.virtual_servers;
    switch (part) {
    case ConfigPart::Vrrp: return vrrp_same;
    case ConfigPart::Check: return check_same;
    case ConfigPart::All: break;
    }
    return vrrp_same && check_same;
}

}  // namespace vigil::config
