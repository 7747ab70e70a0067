// From statements to the typed model: one handler per keyword, every value
// range-checked, then the defaults that depend on other blocks (instance
// version and garp_* from global_defs, families, persistence) and the
// cross-checks between blocks. Errors are collected, never thrown.
#include "daemon/config/load.h"

#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <span>

#include "daemon/config/syntax.h"
#include "daemon/config/units.h"

namespace vigil::config {

// Line 0: about the file as a whole (cannot open it, it is empty).
std::string Diagnostic::str() const {
    return (where.line > 0 ? where.str() : where.file_name()) + ": " + message;
}

namespace {

using syntax::Statement;
using syntax::Token;
using syntax::TokenKind;

// keepalived keywords vigil knows about but does not implement. Using one is
// an error (as for any unknown keyword), with a message that says so, so an
// operator migrating a config does not go hunting for a typo.
constexpr std::array kUnsupportedKeywords = std::to_array<std::string_view>({
    "BFD_CHECK", "DNS_CHECK", "FILE_CHECK", "PING_CHECK", "SMTP_CHECK", "UDP_CHECK",
    "accept", "bfd_instance", "checker_process_name", "child_wait_time", "debug",
    "default_interface", "dont_track_primary", "dynamic_interfaces", "enable_dbus",
    "enable_snmp_checker", "enable_snmp_keepalived", "enable_snmp_rfc", "enable_snmp_vrrp",
    "enable_traps", "garp_extra_if", "garp_group", "garp_interval", "garp_lower_prio_delay",
    "garp_lower_prio_repeat", "gna_interval", "ha_suspend", "higher_prio_send_advert",
    "ipset", "kernel_rx_buf_size", "linkbeat_interfaces", "linkbeat_use_polling",
    "lower_prio_no_advert", "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_monitor_rcv_bufs",
    "lvs_notify_fifo", "lvs_notify_fifo_script", "lvs_sync_daemon", "lvs_timeouts", "lvs_id",
    "max_auto_priority", "mcast_src_ip", "min_auto_priority_delay", "namespace_with_ipsets",
    "native_ipv6", "net_namespace", "no_accept", "notify_deleted",
    "notify_fifo", "notify_fifo_script", "notify_master_rx_lower_pri", "old_unicast_checksum",
    "persistence_engine", "process_names", "random_seed", "rs_init_notifies",
    "skip_check_adv_addr", "smtp_alert_checker",
    "snmp_name", "snmp_socket", "sorry_server_lvs_method", "static_ipaddress",
    "static_routes", "static_rules", "strict_mode", "track_bfd", "track_file", "track_process",
    "track_src_ip", "unicast_fault_no_peer", "unicast_ttl", "use_ipvlan", "use_pid_dir",
    "use_vmac", "virtual_rules", "vmac_xmit_base", "vrrp_check_unicast_src",
    "vrrp_garp_interval", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat",
    "vrrp_gna_interval", "vrrp_higher_prio_send_advert", "vrrp_iptables", "vrrp_ipsets",
    "vrrp_lower_prio_no_advert", "vrrp_mcast_group4", "vrrp_mcast_group6", "vrrp_min_garp",
    "vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs", "vrrp_no_swap",
    "vrrp_notify_fifo", "vrrp_notify_fifo_script", "vrrp_priority", "vrrp_process_name",
    "vrrp_rlimit_rttime", "vrrp_rt_priority", "vrrp_skip_check_adv_addr", "vrrp_startup_delay",
    "vrrp_strict", "vrrp_track_file", "vrrp_track_process", "vrrp_rx_bufs_policy",
    "checker_priority", "checker_no_swap", "checker_rt_priority", "checker_rlimit_rttime",
    "bfd_priority", "bfd_no_swap", "bfd_process_name", "nftables", "nftables_counters",
    "nftables_ifindex", "fast_recovery", "http_protocol", "virtualhost", "garp_master_refresh_repeat",
    "vrrp_garp_master_refresh_repeat", "regex", "regex_no_match", "regex_options", "enable_sni", "SSL",
    "sync_group_tracking_weight", "global_tracking", "track_group", "lvs_sync_daemon_interface",
});

bool is_unsupported(std::string_view kw) {
    return std::find(kUnsupportedKeywords.begin(), kUnsupportedKeywords.end(), kw) != kUnsupportedKeywords.end();
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::optional<int> netmask_to_prefix(const IpAddress& mask) {
    int len = 0;
    bool seen_zero = false;
    for (size_t i = 0; i < mask.size(); ++i) {
        for (int b = 7; b >= 0; --b) {
            bool one = mask.bytes()[i] & (1 << b);
            if (one && seen_zero) return std::nullopt;
            if (one) ++len;
            else seen_zero = true;
        }
    }
    return len;
}

struct InstanceDraft {
    VrrpInstance inst;
    std::optional<int> version;
    std::optional<milliseconds> advert;  // checked once the version is known
    std::string advert_text;             // as written
    SourceLoc advert_at;
    bool garp_delay_set = false, garp_repeat_set = false, garp_refresh_set = false;
    bool vrid_set = false;
    bool smtp_alert_set = false;  // else the global default
    SourceLoc interface_at;
};

struct ServerDraft {
    VirtualServer vs;
    std::optional<int> ip_family;
    SourceLoc granularity_at;
    std::vector<SourceLoc> rs_at;  // per real server, for cross-check messages
};

// What a statement is inside, for messages: "TCP_CHECK of real_server
// 10.0.0.2 80 of virtual_server 10.0.0.1 80". Nested contexts are formatted
// only when a message needs them: a config with 10,000 real servers would
// otherwise build 20,000 strings that no message ever reads.
class Context {
public:
    Context(std::string text) : text_(std::move(text)) {}
    Context(const char* text) : text_(text) {}
    // "<what()> of <parent>"; `what` runs only when the text is needed, and
    // `parent` must outlive this context (both live on the builder's stack).
    Context(std::function<std::string()> what, const Context& parent) : what_(std::move(what)), parent_(&parent) {}
    std::string str() const { return parent_ ? what_() + " of " + parent_->str() : text_; }

private:
    std::string text_;
    std::function<std::string()> what_;
    const Context* parent_ = nullptr;
};
std::string operator+(std::string left, const Context& c) { return left += c.str(); }

class Builder;
template <class T>
using Handler = void (*)(Builder&, const Statement&, T&, const Context& ctx);

template <class T>
struct Keyword {
    std::string_view name;
    Handler<T> fn;
    bool block = false;  // takes a { } block
};

// The entry of `table` named `word`, or null. Length and first letter are
// compared before the bytes, which rules out nearly every entry without a
// memcmp call (the tables are scanned for every statement of a 10,000-server
// config).
template <class T>
const Keyword<T>* find_keyword(std::span<const Keyword<T>> table, std::string_view word) {
    for (const auto& entry : table)
        if (entry.name.size() == word.size() && !word.empty() && entry.name[0] == word[0] && entry.name == word)
            return &entry;
    return nullptr;
}

class Builder {
public:
    explicit Builder(const syntax::Document& doc) : doc_(doc) {}

    LoadResult run();

    // --- diagnostics
    void error(const Token& at, std::string msg) { errors_.push_back(Diagnostic{doc_.loc(at), std::move(msg)}); }
    void warning(const Token& at, std::string msg) { warnings_.push_back(Diagnostic{doc_.loc(at), std::move(msg)}); }
    void error(const SourceLoc& at, std::string msg) { errors_.push_back(Diagnostic{at, std::move(msg)}); }
    void warning(const SourceLoc& at, std::string msg) { warnings_.push_back(Diagnostic{at, std::move(msg)}); }
    SourceLoc loc(const Token& t) const { return doc_.loc(t); }

    // --- argument helpers. Each reports its own error and returns nullopt/false.
    bool nargs(const Statement& s, size_t min, size_t max, const Context& ctx) {
        if (s.nargs >= min && s.nargs <= max) return true;
        std::string want = min == max ? (min == 0 ? "no arguments" : std::to_string(min) + (min == 1 ? " argument" : " arguments"))
                                      : (max == SIZE_MAX ? "at least " + std::to_string(min) + " argument(s)"
                                                         : std::to_string(min) + "-" + std::to_string(max) + " arguments");
        error(*s.keyword, "'" + std::string(s.name()) + "' takes " + want + ", got " + std::to_string(s.nargs) +
                              " in " + ctx);
        return false;
    }
    // `label` names the value in messages; default: the statement's keyword.
    std::optional<int64_t> integer(const Statement& s, const Token& t, int64_t min, int64_t max, const Context& ctx,
                                   std::string_view label = {}) {
        int64_t v = 0;
        auto txt = t.text;
        if (label.empty()) label = s.name();
        const std::errc ec = parse_decimal(txt, v);
        if (ec == std::errc::invalid_argument) {
            error(t, std::string(label) + " " + quote(txt) + " is not an integer in " + ctx);
            return std::nullopt;
        }
        if (ec == std::errc::result_out_of_range || v < min || v > max) {
            error(t, std::string(label) + " " + std::string(txt) + " out of range (" + std::to_string(min) + "-" +
                         std::to_string(max) + ") in " + ctx);
            return std::nullopt;
        }
        return v;
    }
    std::optional<int64_t> int_arg(const Statement& s, int64_t min, int64_t max, const Context& ctx) {
        if (!nargs(s, 1, 1, ctx)) return std::nullopt;
        return integer(s, s.arg(0), min, max, ctx);
    }
    std::optional<milliseconds> timer(const Statement& s, const Token& t, milliseconds min, milliseconds max,
                                      const Context& ctx) {
        auto v = parse_seconds(t.text);
        if (!v) {
            error(t, std::string(s.name()) + " " + quote(t.text) + " is not a time in seconds in " + ctx);
            return std::nullopt;
        }
        if (*v < min || *v > max) {
            error(t, std::string(s.name()) + " " + std::string(t.text) + " out of range (" + seconds_text(min) + "-" +
                         seconds_text(max) + " s) in " + ctx);
            return std::nullopt;
        }
        return v;
    }
    std::optional<milliseconds> timer_arg(const Statement& s, milliseconds min, milliseconds max, const Context& ctx) {
        if (!nargs(s, 1, 1, ctx)) return std::nullopt;
        return timer(s, s.arg(0), min, max, ctx);
    }
    std::optional<IpAddress> address(const Statement& s, const Token& t, const Context& ctx) {
        auto a = IpAddress::parse(t.text);
        if (!a) error(t, std::string(s.name()) + " " + quote(t.text) + " is not a valid IP address in " + ctx);
        return a;
    }
    std::optional<IpAddress> address_arg(const Statement& s, const Context& ctx) {
        if (!nargs(s, 1, 1, ctx)) return std::nullopt;
        return address(s, s.arg(0), ctx);
    }
    std::optional<uint16_t> port(const Statement& s, const Token& t, const Context& ctx, int min = 1) {
        auto v = integer(s, t, min, 65535, ctx);
        if (!v) return std::nullopt;
        return static_cast<uint16_t>(*v);
    }
    // A keyword with an optional <BOOL> argument: present alone means true.
    std::optional<bool> flag(const Statement& s, const Context& ctx) {
        if (!nargs(s, 0, 1, ctx)) return std::nullopt;
        if (s.nargs == 0) return true;
        auto t = s.arg(0).text;
        if (t == "on" || t == "true" || t == "yes") return true;
        if (t == "off" || t == "false" || t == "no") return false;
        error(s.arg(0), std::string(s.name()) + " " + quote(t) + " is not one of on|off|true|false|yes|no in " + ctx);
        return std::nullopt;
    }
    std::optional<std::string> string_arg(const Statement& s, const Context& ctx) {
        if (!nargs(s, 1, 1, ctx)) return std::nullopt;
        if (s.arg(0).text.empty()) {
            error(s.arg(0), std::string(s.name()) + " is empty in " + ctx);
            return std::nullopt;
        }
        return std::string(s.arg(0).text);
    }
    // Scripts: one word, quoted when it has arguments. keepalived reads further
    // words as the user and group to run it as; vigil does not support that per
    // script (use script_user), so say so rather than run it as someone else.
    std::optional<std::string> script_arg(const Statement& s, const Context& ctx) {
        if (s.nargs > 1) {
            error(s.arg(1), "'" + std::string(s.name()) + "': a user/group per script is not supported by vigil (quote the command if " +
                                "these are its arguments) in " + ctx);
            return std::nullopt;
        }
        return string_arg(s, ctx);
    }

    template <class T>
    void dispatch(std::span<const Statement> body, std::span<const Keyword<T>> table, T& target,
                  const Context& ctx) {
        for (const auto& st : body) {
            const Keyword<T>* k = find_keyword(table, st.name());
            if (!k) {
                std::vector<std::string_view> names;
                for (const auto& cand : table) names.push_back(cand.name);
                unknown(st, ctx, names);
                continue;
            }
            if (k->block != st.has_block) {
                error(*st.keyword, "'" + std::string(st.name()) + (k->block ? "' needs a { } block" : "' does not take a { } block") +
                                       " in " + ctx);
                continue;
            }
            k->fn(*this, st, target, ctx);
        }
    }
    // `known`: the keywords valid here, to suggest the one a typo was meant to be.
    void unknown(const Statement& st, const Context& ctx, std::span<const std::string_view> known = {}) {
        if (st.keyword->kind != TokenKind::Word) return;
        if (is_unsupported(st.name())) {
            error(*st.keyword, "keyword '" + std::string(st.name()) + "' is not supported by vigil (in " + ctx + ")");
            return;
        }
        std::string msg = "unknown keyword '" + std::string(st.name()) + "' in " + ctx;
        if (auto near = closest(st.name(), known)) msg += " (did you mean '" + std::string(*near) + "'?)";
        error(*st.keyword, msg);
    }
    static std::optional<std::string_view> closest(std::string_view word, std::span<const std::string_view> known) {
        std::optional<std::string_view> best;
        size_t best_distance = 3;  // more than 2 edits away is a different word
        for (auto k : known) {
            size_t d = edit_distance(word, k);
            // A truncated keyword ("virtual_router" for virtual_router_id) is
            // the likeliest slip of all.
            if (word.size() >= 6 && k.starts_with(word)) d = 0;
            if (d < best_distance) {
                best_distance = d;
                best = k;
            }
        }
        return best;
    }
    static size_t edit_distance(std::string_view a, std::string_view b) {
        std::vector<size_t> row(b.size() + 1);
        for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
        for (size_t i = 1; i <= a.size(); ++i) {
            size_t diag = row[0];
            row[0] = i;
            for (size_t j = 1; j <= b.size(); ++j) {
                size_t up = row[j];
                row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
                diag = up;
            }
        }
        return row[b.size()];
    }

    // Blocks whose statements are plain lists of words (notification_email,
    // a sync group's `group`): every word of every line.
    std::vector<const Token*> list_items(const Statement& s) {
        std::vector<const Token*> out;
        for (const auto& c : s.children) {
            if (c.has_block) {
                error(*c.keyword, "unexpected { } block in " + std::string(s.name()));
                continue;
            }
            out.push_back(c.keyword);
            for (size_t i = 0; i < c.nargs; ++i) out.push_back(&c.arg(i));
        }
        return out;
    }

    std::optional<VirtualAddress> virtual_address(const Statement& s, const Context& ctx);
    std::optional<VirtualRoute> virtual_route(const Statement& s, const Context& ctx);
    std::optional<int> granularity(const Token& t, const Context& ctx);
    void top_level(const Statement& st);
    void finish_instance(InstanceDraft& d);
    void finish_server(ServerDraft& d);
    void cross_checks();

    Config cfg_;
    std::vector<InstanceDraft> instances_;
    std::vector<ServerDraft> servers_;
    std::map<std::pair<VirtualServerKey, Protocol>, size_t> server_index_;  // -> its first entry in servers_
    // Where each track_script entry and sync group member is, for cross_checks'
    // messages: locations, not tokens (a token lives as long as its top-level
    // statement).
    std::vector<SourceLoc> script_at_, member_at_;
    std::set<std::string> groups_with_smtp_alert_;  // sync groups that set smtp_alert themselves
    void finish_smtp_alerts();
    std::vector<Diagnostic> errors_, warnings_;

private:
    const syntax::Document& doc_;
};

// ---------------------------------------------------------------- global_defs

const Keyword<GlobalDefs> kGlobalKeywords[] = {
    {"router_id", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.string_arg(s, c)) g.router_id = *v;
     }},
    {"notification_email", [](Builder& b, const Statement& s, GlobalDefs& g, const Context&) {
         for (auto* t : b.list_items(s)) g.notification_email.emplace_back(t->text);
     }, true},
    {"notification_email_from", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.string_arg(s, c)) g.notification_email_from = *v;
     }},
    {"smtp_server", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (!b.nargs(s, 1, 2, c)) return;
         auto a = b.address(s, s.arg(0), c);
         if (!a) return;
         g.smtp_server = a;
         if (s.nargs == 2)
             if (auto p = b.port(s, s.arg(1), c)) g.smtp_port = *p;
     }},
    {"smtp_connect_timeout", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.int_arg(s, 1, 3600, c)) g.smtp_connect_timeout = seconds(*v);
     }},
    {"smtp_helo_name", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.string_arg(s, c)) g.smtp_helo_name = *v;
     }},
    {"smtp_alert", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.flag(s, c)) g.smtp_alert = *v;
     }},
    {"smtp_alert_vrrp", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.flag(s, c)) g.smtp_alert_vrrp = *v;
     }},
    {"no_email_faults", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.flag(s, c)) g.no_email_faults = *v;
     }},
    {"script_user", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (!b.nargs(s, 1, 2, c)) return;
         g.script_user = std::string(s.arg(0).text);
         g.script_group = s.nargs == 2 ? std::string(s.arg(1).text) : std::string();
     }},
    {"enable_script_security", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.flag(s, c)) g.enable_script_security = *v;
     }},
    {"vrrp_version", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.int_arg(s, 2, 3, c)) g.vrrp_version = static_cast<int>(*v);
     }},
    {"vrrp_garp_master_delay", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.timer_arg(s, milliseconds(0), milliseconds(3600'000), c)) g.vrrp_garp_master_delay = *v;
     }},
    {"vrrp_garp_master_repeat", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.int_arg(s, 1, 1000, c)) g.vrrp_garp_master_repeat = static_cast<int>(*v);
     }},
    {"vrrp_garp_master_refresh", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.timer_arg(s, milliseconds(0), milliseconds(86400'000), c)) g.vrrp_garp_master_refresh = *v;
     }},
    {"lvs_flush", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.flag(s, c)) g.lvs_flush = *v;
     }},
    {"lvs_reconcile_interval", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.timer_arg(s, milliseconds(0), milliseconds(86400'000), c)) g.lvs_reconcile_interval = *v;
     }},
    {"lvs_flush_on_stop", [](Builder& b, const Statement& s, GlobalDefs& g, const Context& c) {
         if (auto v = b.flag(s, c)) g.lvs_flush_on_stop = *v;
     }},
};

// ---------------------------------------------------------------- vrrp_script

const Keyword<VrrpScript> kScriptKeywords[] = {
    {"script", [](Builder& b, const Statement& s, VrrpScript& v, const Context& c) {
         if (auto x = b.script_arg(s, c)) v.script = *x;
     }},
    {"interval", [](Builder& b, const Statement& s, VrrpScript& v, const Context& c) {
         if (auto x = b.timer_arg(s, milliseconds(10), milliseconds(86400'000), c)) v.interval = *x;
     }},
    {"timeout", [](Builder& b, const Statement& s, VrrpScript& v, const Context& c) {
         if (auto x = b.timer_arg(s, milliseconds(10), milliseconds(86400'000), c)) v.timeout = *x;
     }},
    {"weight", [](Builder& b, const Statement& s, VrrpScript& v, const Context& c) {
         if (s.nargs == 2 && s.arg(1).text == "reverse") {
             b.error(s.arg(1), "'weight ... reverse' is not supported by vigil (in " + c + ")");
             return;
         }
         if (auto x = b.int_arg(s, -253, 253, c)) v.weight = static_cast<int>(*x);
     }},
    {"rise", [](Builder& b, const Statement& s, VrrpScript& v, const Context& c) {
         if (auto x = b.int_arg(s, 1, 1000, c)) v.rise = static_cast<int>(*x);
     }},
    {"fall", [](Builder& b, const Statement& s, VrrpScript& v, const Context& c) {
         if (auto x = b.int_arg(s, 1, 1000, c)) v.fall = static_cast<int>(*x);
     }},
    {"user", [](Builder& b, const Statement& s, VrrpScript& v, const Context& c) {
         if (!b.nargs(s, 1, 2, c)) return;
         v.user = std::string(s.arg(0).text);
         v.group = s.nargs == 2 ? std::string(s.arg(1).text) : std::string();
     }},
};

// ---------------------------------------------------------------- vrrp_sync_group

void notify_keyword(Builder& b, const Statement& s, std::string& field, const Context& c) {
    if (auto x = b.script_arg(s, c)) field = *x;
}

const Keyword<SyncGroup> kSyncGroupKeywords[] = {
    {"group", [](Builder& b, const Statement& s, SyncGroup& g, const Context&) {
         for (auto* t : b.list_items(s)) {
             g.members.emplace_back(t->text);
             b.member_at_.push_back(b.loc(*t));
         }
     }, true},
    {"notify", [](Builder& b, const Statement& s, SyncGroup& g, const Context& c) { notify_keyword(b, s, g.notify, c); }},
    {"notify_master", [](Builder& b, const Statement& s, SyncGroup& g, const Context& c) { notify_keyword(b, s, g.notify_master, c); }},
    {"notify_backup", [](Builder& b, const Statement& s, SyncGroup& g, const Context& c) { notify_keyword(b, s, g.notify_backup, c); }},
    {"notify_fault", [](Builder& b, const Statement& s, SyncGroup& g, const Context& c) { notify_keyword(b, s, g.notify_fault, c); }},
    {"notify_stop", [](Builder& b, const Statement& s, SyncGroup& g, const Context& c) { notify_keyword(b, s, g.notify_stop, c); }},
    {"smtp_alert", [](Builder& b, const Statement& s, SyncGroup& g, const Context& c) {
         b.groups_with_smtp_alert_.insert(g.name);
         if (auto v = b.flag(s, c)) g.smtp_alert = *v;
     }},
};

// ---------------------------------------------------------------- vrrp_instance

// `ADDR[/LEN] [dev IF] [label L] [scope S] [brd B]` (keepalived.conf(5),
// virtual_ipaddress). Options keepalived has beyond these are refused by name.
std::optional<VirtualAddress> Builder::virtual_address(const Statement& s, const Context& ctx) {
    if (s.has_block) {
        error(*s.keyword, "unexpected { } block in virtual_ipaddress of " + ctx);
        return std::nullopt;
    }
    VirtualAddress va;
    auto p = IpPrefix::parse(s.keyword->text);
    if (!p) {
        error(*s.keyword, "virtual address " + quote(s.keyword->text) + " is not a valid IP address or prefix in " + ctx);
        return std::nullopt;
    }
    va.addr = *p;
    bool ok = true;
    for (size_t i = 0; i < s.nargs; ++i) {
        auto opt = s.arg(i).text;
        static constexpr std::string_view known[] = {"dev", "label", "scope", "brd", "broadcast"};
        if (std::find(std::begin(known), std::end(known), opt) == std::end(known)) {
            bool unsupported = opt == "no_track" || opt == "home" || opt == "preferred_lft" || opt == "nodad" ||
                               opt == "noprefixroute" || opt == "mngtmpaddr" || opt == "autojoin" || opt == "peer" ||
                               opt == "track_group";
            error(s.arg(i), "virtual address option " + quote(opt) + " is " +
                                (unsupported ? "not supported by vigil" : "unknown") + " in " + ctx);
            return std::nullopt;
        }
        if (i + 1 >= s.nargs) {
            error(s.arg(i), "virtual address option " + quote(opt) + " needs a value in " + ctx);
            return std::nullopt;
        }
        const Token& val = s.arg(++i);
        if ((opt == "dev" || opt == "label") && val.text.size() >= IFNAMSIZ) {
            // Both travel in IFNAMSIZ-sized kernel fields (IFA_LABEL, ifr_name).
            error(val, std::string(opt) + " " + quote(val.text) + " is longer than " + std::to_string(IFNAMSIZ - 1) +
                           " characters in " + ctx);
            ok = false;
        } else if (opt == "dev") va.dev = std::string(val.text);
        else if (opt == "label") va.label = std::string(val.text);
        else if (opt == "scope") {
            static constexpr std::string_view scopes[] = {"global", "site", "link", "host", "nowhere"};
            if (std::find(std::begin(scopes), std::end(scopes), val.text) == std::end(scopes)) {
                error(val, "scope " + quote(val.text) + " is not one of global|site|link|host|nowhere in " + ctx);
                ok = false;
            }
            va.scope = std::string(val.text);
        } else if (opt == "brd" || opt == "broadcast") {
            auto a = IpAddress::parse(val.text);
            if (!a || !a->is_v4() || !va.addr.addr.is_v4()) {
                error(val, "brd " + quote(val.text) + " is not a valid IPv4 broadcast address for this address in " + ctx);
                ok = false;
            } else {
                va.brd = a;
            }
        }
    }
    if (!ok) return std::nullopt;
    return va;
}

// `[blackhole] DST[/LEN] [src A] [via|gw A] [dev IF] [scope S] [table N] [metric N]`
std::optional<VirtualRoute> Builder::virtual_route(const Statement& s, const Context& ctx) {
    if (s.has_block) {
        error(*s.keyword, "unexpected { } block in virtual_routes of " + ctx);
        return std::nullopt;
    }
    std::vector<const Token*> words{s.keyword};
    for (size_t i = 0; i < s.nargs; ++i) words.push_back(&s.arg(i));
    VirtualRoute r;
    size_t i = 0;
    if (words[0]->text == "blackhole") {
        r.blackhole = true;
        if (++i >= words.size()) {
            error(*words[0], "virtual route 'blackhole' needs a destination in " + ctx);
            return std::nullopt;
        }
    }
    auto dst = IpPrefix::parse(words[i]->text);
    if (!dst) {
        error(*words[i], "virtual route destination " + quote(words[i]->text) + " is not a valid IP prefix in " + ctx);
        return std::nullopt;
    }
    r.dst = *dst;
    bool ok = true;
    for (++i; i < words.size(); ++i) {
        auto opt = words[i]->text;
        if (i + 1 >= words.size()) {
            error(*words[i], "virtual route option " + quote(opt) + " needs a value in " + ctx);
            return std::nullopt;
        }
        const Token& val = *words[++i];
        auto addr = [&](std::optional<IpAddress>& out) {
            auto a = IpAddress::parse(val.text);
            if (!a || a->family() != r.dst.addr.family()) {
                error(val, "virtual route " + std::string(opt) + " " + quote(val.text) +
                               " is not a valid address of the destination's family in " + ctx);
                ok = false;
            } else {
                out = a;
            }
        };
        auto number = [&](std::optional<uint32_t>& out) {
            uint32_t v = 0;
            auto [p, ec] = std::from_chars(val.text.data(), val.text.data() + val.text.size(), v);
            if (ec != std::errc() || p != val.text.data() + val.text.size()) {
                error(val, "virtual route " + std::string(opt) + " " + quote(val.text) + " is not an integer (0-4294967295) in " + ctx);
                ok = false;
            } else {
                out = v;
            }
        };
        if (opt == "src") addr(r.src);
        else if (opt == "via" || opt == "gw") addr(r.via);
        else if (opt == "dev") r.dev = std::string(val.text);
        else if (opt == "scope") r.scope = std::string(val.text);
        else if (opt == "table") number(r.table);
        else if (opt == "metric" || opt == "preference" || opt == "priority") number(r.metric);
        else {
            error(*words[i - 1], "virtual route option " + quote(opt) + " is unknown or not supported by vigil in " + ctx);
            ok = false;
        }
    }
    if (!ok) return std::nullopt;
    return r;
}

#define VIGIL_NOTIFY(field)                                                                     \
    [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {                \
        if (auto x = b.script_arg(s, c)) d.inst.field = *x;                                     \
    }

const Keyword<InstanceDraft> kInstanceKeywords[] = {
    {"state", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         if (!b.nargs(s, 1, 1, c)) return;
         auto t = s.arg(0).text;
         if (t == "MASTER") d.inst.state = InitialState::Master;
         else if (t == "BACKUP") d.inst.state = InitialState::Backup;
         else b.error(s.arg(0), "state " + quote(t) + " is not MASTER or BACKUP in " + c);
     }},
    {"interface", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         d.interface_at = b.loc(*s.keyword);
         if (auto v = b.string_arg(s, c)) {
             if (v->size() >= IFNAMSIZ) b.error(s.arg(0), "interface name " + quote(*v) + " is longer than " + std::to_string(IFNAMSIZ - 1) + " characters in " + c);
             else d.inst.interface = *v;
         }
     }},
    {"virtual_router_id", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         d.vrid_set = true;
         if (auto v = b.int_arg(s, 1, 255, c)) d.inst.vrid = static_cast<int>(*v);
     }},
    {"priority", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         if (auto v = b.int_arg(s, 1, 255, c)) d.inst.priority = static_cast<int>(*v);
     }},
    {"advert_int", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         // The range depends on the version (RFC 3768 5.3.7 whole seconds,
         // RFC 5798 5.2.7 centiseconds); checked in finish_instance.
         if (auto v = b.timer_arg(s, milliseconds(0), milliseconds(255'000), c)) {
             d.advert = *v;
             d.advert_text = s.arg(0).text;
             d.advert_at = b.loc(s.arg(0));
         }
     }},
    {"version", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         if (auto v = b.int_arg(s, 2, 3, c)) d.version = static_cast<int>(*v);
     }},
    {"authentication", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         std::string actx = "authentication of " + c;
         for (const auto& st : s.children) {
             if (st.has_block) {
                 b.error(*st.keyword, "unexpected { } block in " + actx);
             } else if (st.name() == "auth_type") {
                 if (!b.nargs(st, 1, 1, actx)) continue;
                 auto t = st.arg(0).text;
                 if (t == "PASS") d.inst.auth_type = AuthType::Pass;
                 else if (t == "AH") b.error(st.arg(0), "auth_type AH is not supported by vigil (in " + actx + ")");
                 else b.error(st.arg(0), "auth_type " + quote(t) + " is not PASS or AH in " + actx);
             } else if (st.name() == "auth_pass") {
                 if (auto v = b.string_arg(st, actx)) {
                     // RFC 2338 5.3.10: 8 octets on the wire; keepalived uses the
                     // first 8 too, so peers still agree.
                     if (v->size() > 8) {
                         b.warning(st.arg(0), "auth_pass longer than 8 characters, only the first 8 are used in " + actx);
                         v->resize(8);
                     }
                     d.inst.auth_pass = *v;
                 }
             } else {
                 static constexpr std::string_view known[] = {"auth_type", "auth_pass"};
                 b.unknown(st, actx, known);
             }
         }
     }, true},
    {"virtual_ipaddress", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         for (const auto& st : s.children)
             if (auto va = b.virtual_address(st, c)) d.inst.vips.push_back(*va);
     }, true},
    {"virtual_ipaddress_excluded", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         for (const auto& st : s.children)
             if (auto va = b.virtual_address(st, c)) d.inst.vips_excluded.push_back(*va);
     }, true},
    {"virtual_routes", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         for (const auto& st : s.children)
             if (auto r = b.virtual_route(st, c)) d.inst.routes.push_back(*r);
     }, true},
    {"unicast_src_ip", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         if (auto a = b.address_arg(s, c)) d.inst.unicast_src_ip = a;
     }},
    {"unicast_peer", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         std::string pctx = "unicast_peer of " + c;
         for (const auto& st : s.children) {
             if (st.has_block || st.nargs > 0) {
                 b.error(*st.keyword, "unicast_peer entries are one address per line (peer options are not supported by vigil) in " + pctx);
                 continue;
             }
             auto a = IpAddress::parse(st.keyword->text);
             if (!a) b.error(*st.keyword, "unicast peer " + quote(st.keyword->text) + " is not a valid IP address in " + c);
             else d.inst.unicast_peers.push_back(*a);
         }
     }, true},
    {"nopreempt", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         if (b.nargs(s, 0, 0, c)) d.inst.nopreempt = true;
     }},
    {"preempt_delay", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         if (auto v = b.int_arg(s, 0, 1000, c)) d.inst.preempt_delay = seconds(*v);
     }},
    {"track_interface", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         std::string tctx = "track_interface of " + c;
         for (const auto& st : s.children) {
             if (st.has_block) {
                 b.error(*st.keyword, "unexpected { } block in " + tctx);
                 continue;
             }
             TrackInterface ti{std::string(st.name()), 0};
             if (st.nargs == 2 && st.arg(0).text == "weight") {
                 auto w = b.integer(st, st.arg(1), -253, 253, tctx, "weight");
                 if (!w) continue;
                 ti.weight = static_cast<int>(*w);
             } else if (st.nargs != 0) {
                 b.error(st.arg(0), "track_interface entry takes 'IFNAME [weight N]' in " + c);
                 continue;
             }
             d.inst.track_interfaces.push_back(ti);
         }
     }, true},
    {"track_script", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         std::string tctx = "track_script of " + c;
         for (const auto& st : s.children) {
             if (st.has_block) {
                 b.error(*st.keyword, "unexpected { } block in " + tctx);
                 continue;
             }
             TrackScript ts{std::string(st.name()), std::nullopt};
             if (st.nargs == 2 && st.arg(0).text == "weight") {
                 auto w = b.integer(st, st.arg(1), -253, 253, tctx, "weight");
                 if (!w) continue;
                 ts.weight = static_cast<int>(*w);
             } else if (st.nargs != 0) {
                 b.error(st.arg(0), "track_script entry takes 'SCRIPT [weight N]' (reverse is not supported by vigil) in " + c);
                 continue;
             }
             d.inst.track_scripts.push_back(ts);
             b.script_at_.push_back(b.loc(*st.keyword));  // resolved in cross_checks
         }
     }, true},
    {"notify", VIGIL_NOTIFY(notify)},
    {"notify_master", VIGIL_NOTIFY(notify_master)},
    {"notify_backup", VIGIL_NOTIFY(notify_backup)},
    {"notify_fault", VIGIL_NOTIFY(notify_fault)},
    {"notify_stop", VIGIL_NOTIFY(notify_stop)},
    {"garp_master_delay", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         d.garp_delay_set = true;
         if (auto v = b.timer_arg(s, milliseconds(0), milliseconds(3600'000), c)) d.inst.garp_master_delay = *v;
     }},
    {"garp_master_repeat", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         d.garp_repeat_set = true;
         if (auto v = b.int_arg(s, 1, 1000, c)) d.inst.garp_master_repeat = static_cast<int>(*v);
     }},
    {"garp_master_refresh", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         d.garp_refresh_set = true;
         if (auto v = b.timer_arg(s, milliseconds(0), milliseconds(86400'000), c)) d.inst.garp_master_refresh = *v;
     }},
    {"smtp_alert", [](Builder& b, const Statement& s, InstanceDraft& d, const Context& c) {
         d.smtp_alert_set = true;
         if (auto v = b.flag(s, c)) d.inst.smtp_alert = *v;
     }},
};
#undef VIGIL_NOTIFY

void Builder::finish_instance(InstanceDraft& d) {
    auto& in = d.inst;
    const std::string ctx = "vrrp_instance " + in.name;
    const SourceLoc& at = in.where;
    in.version = d.version.value_or(cfg_.global.vrrp_version);
    if (!d.garp_delay_set) in.garp_master_delay = cfg_.global.vrrp_garp_master_delay;
    if (!d.garp_repeat_set) in.garp_master_repeat = cfg_.global.vrrp_garp_master_repeat;
    if (!d.garp_refresh_set) in.garp_master_refresh = cfg_.global.vrrp_garp_master_refresh;
    if (!d.smtp_alert_set) in.smtp_alert = cfg_.global.vrrp_smtp_alert_default();
    if (d.advert) {
        auto ms = d.advert->count();
        if (in.version == 2) {
            // RFC 3768 5.3.7: Adver Int is an 8-bit count of seconds.
            if (ms % 1000 != 0 || ms < 1000 || ms > 255'000)
                error(d.advert_at, "advert_int " + d.advert_text +
                                         " out of range (1-255 whole seconds for VRRP version 2) in " + ctx);
            else
                in.advert_int = Centiseconds(ms / 10);
        } else {
            // RFC 5798 5.2.7: Max Adver Int is a 12-bit count of centiseconds.
            if (ms % 10 != 0 || ms < 10 || ms > 40'950)
                error(d.advert_at, "advert_int " + d.advert_text +
                                         " out of range (0.01-40.95 s in steps of 0.01 for VRRP version 3) in " + ctx);
            else
                in.advert_int = Centiseconds(ms / 10);
        }
    }
    if (!d.vrid_set) error(at, "vrrp_instance " + in.name + " has no virtual_router_id");
    if (in.interface.empty()) error(at, "vrrp_instance " + in.name + " has no interface");
    if (in.vips.empty()) error(at, "vrrp_instance " + in.name + " has no virtual_ipaddress");
    // One family per instance: an advertisement carries addresses of one
    // family only (RFC 5798 5.2.9); IPv6 exists only in version 3.
    if (!in.vips.empty()) in.family = in.vips.front().addr.addr.family();
    for (const auto& va : in.vips) {
        if (va.addr.addr.family() != in.family) {
            error(at, "vrrp_instance " + in.name + " mixes IPv4 and IPv6 virtual addresses (" + in.vips.front().addr.str() +
                          ", " + va.addr.str() + "); use one instance per family");
            break;
        }
    }
    if (in.family == AF_INET6 && in.version == 2)
        error(at, "vrrp_instance " + in.name + " has IPv6 virtual addresses, which need version 3 (VRRPv2 is IPv4 only)");
    if (in.unicast_src_ip && in.unicast_src_ip->family() != in.family)
        error(at, "unicast_src_ip " + in.unicast_src_ip->str() + " is not of the virtual addresses' family in " + ctx);
    for (const auto& p : in.unicast_peers)
        if (p.family() != in.family) error(at, "unicast peer " + p.str() + " is not of the virtual addresses' family in " + ctx);
    if (in.auth_type == AuthType::Pass && in.auth_pass.empty())
        error(at, "auth_type PASS without auth_pass in " + ctx);
    if (in.auth_type == AuthType::Pass && in.version == 3)
        error(at, "authentication is not part of VRRP version 3 (RFC 5798 9) in " + ctx);
    if (in.nopreempt && in.state == InitialState::Master)
        warning(at, "nopreempt needs state BACKUP to have an effect (with state MASTER this director takes over at start) in " + ctx);
    // The address owner always preempts (RFC 3768 6.4.3 / RFC 5798 6.4.3:
    // priority 255 sends an advertisement and becomes master at once).
    if (in.nopreempt && in.priority == 255)
        error(at, "nopreempt cannot apply to priority 255 (the address owner always takes over) in " + ctx);
}

// ---------------------------------------------------------------- virtual_server

std::optional<int> Builder::granularity(const Token& t, const Context& ctx) {
    if (t.text.find('.') != std::string_view::npos || t.text.find(':') != std::string_view::npos) {
        auto mask = IpAddress::parse(t.text);
        std::optional<int> len;
        if (mask) len = netmask_to_prefix(*mask);
        if (!len) {
            error(t, "persistence_granularity " + quote(t.text) + " is not a contiguous netmask in " + ctx);
            return std::nullopt;
        }
        return len;
    }
    int v = 0;
    auto [p, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (ec != std::errc() || p != t.text.data() + t.text.size() || v < 1 || v > 128) {
        error(t, "persistence_granularity " + quote(t.text) + " is neither a netmask nor a prefix length (1-128) in " + ctx);
        return std::nullopt;
    }
    return v;
}

std::optional<ForwardingMethod> parse_method(Builder& b, const Statement& s, const Context& c) {
    if (s.nargs == 0) {
        b.nargs(s, 1, 1, c);
        return std::nullopt;
    }
    auto t = s.arg(0).text;
    std::optional<ForwardingMethod> m;
    if (t == "NAT") m = ForwardingMethod::Nat;
    else if (t == "DR") m = ForwardingMethod::Dr;
    else if (t == "TUN") m = ForwardingMethod::Tun;
    else {
        b.error(s.arg(0), std::string(s.name()) + " " + quote(t) + " is not NAT, DR or TUN in " + c);
        return std::nullopt;
    }
    if (s.nargs > 1) {
        b.error(s.arg(1), "tunnel options ('" + std::string(s.arg(1).text) + "') are not supported by vigil (in " + c + ")");
        return std::nullopt;
    }
    return m;
}

const Keyword<Checker> kCheckerCommon[] = {
    {"connect_ip", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (auto a = b.address_arg(s, c)) k.connect_ip = a;
     }},
    {"connect_port", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (b.nargs(s, 1, 1, c))
             if (auto p = b.port(s, s.arg(0), c)) k.connect_port = p;
     }},
    {"bindto", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (auto a = b.address_arg(s, c)) k.bindto = a;
     }},
    {"connect_timeout", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (auto v = b.timer_arg(s, milliseconds(1), milliseconds(3600'000), c)) k.connect_timeout = *v;
     }},
    {"retry", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (auto v = b.int_arg(s, 0, 1000, c)) k.retry = static_cast<int>(*v);
     }},
    // The pre-2.0 name, still in most published guides (keepalived 2.2 itself
    // no longer accepts it).
    {"nb_get_retry", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (auto v = b.int_arg(s, 0, 1000, c)) k.retry = static_cast<int>(*v);
     }},
    {"delay_before_retry", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (auto v = b.timer_arg(s, milliseconds(0), milliseconds(86400'000), c)) k.delay_before_retry = *v;
     }},
    {"delay_loop", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (auto v = b.timer_arg(s, milliseconds(1), milliseconds(86400'000), c)) k.delay_loop = *v;
     }},
    {"warmup", [](Builder& b, const Statement& s, Checker& k, const Context& c) {
         if (auto v = b.timer_arg(s, milliseconds(0), milliseconds(86400'000), c)) k.warmup = *v;
     }},
};

void url_block(Builder& b, const Statement& s, Checker& k, const Context& c) {
    std::string uctx = "url of " + c;
    HttpUrl u;
    for (const auto& st : s.children) {
        if (st.has_block) {
            b.error(*st.keyword, "unexpected { } block in " + uctx);
        } else if (st.name() == "path") {
            if (auto v = b.string_arg(st, uctx)) {
                if ((*v)[0] != '/') b.error(st.arg(0), "url path " + quote(*v) + " does not start with '/' in " + uctx);
                else u.path = *v;
            }
        } else if (st.name() == "status_code") {
            if (auto v = b.int_arg(st, 100, 599, uctx)) u.status_code = static_cast<int>(*v);
        } else if (st.name() == "digest") {
            if (auto v = b.string_arg(st, uctx)) {
                std::string lower = *v;
                bool hex = lower.size() == 32;
                for (auto& ch : lower) {
                    ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
                    if (!isxdigit(static_cast<unsigned char>(ch))) hex = false;
                }
                if (!hex) b.error(st.arg(0), "digest " + quote(*v) + " is not an MD5 digest (32 hex digits) in " + uctx);
                else u.digest = lower;
            }
        } else {
            static constexpr std::string_view known[] = {"path", "status_code", "digest"};
            b.unknown(st, uctx, known);
        }
    }
    if (u.path.empty()) {
        b.error(*s.keyword, "url without a path in " + c);
        return;
    }
    k.http.edit().urls.push_back(u);
}

void checker_block(Builder& b, const Statement& s, RealServer& rs, const Context& rs_ctx) {
    Checker& k = rs.checkers.emplace_back();
    k.where = b.loc(*s.keyword);
    auto n = s.name();
    // Defaults per keepalived.conf(5): retry 1 (MISC_CHECK 0); delay_before_retry
    // 3 s for HTTP_GET/SSL_GET and 1 s otherwise.
    if (n == "TCP_CHECK") k.type = CheckerType::Tcp;
    else if (n == "HTTP_GET") k.type = CheckerType::Http;
    else if (n == "SSL_GET") k.type = CheckerType::Ssl;
    else k.type = CheckerType::Misc;
    k.retry = k.type == CheckerType::Misc ? 0 : 1;
    k.delay_before_retry = (k.type == CheckerType::Http || k.type == CheckerType::Ssl) ? milliseconds(3000) : milliseconds(1000);
    Context ctx([n] { return std::string(n); }, rs_ctx);
    if (s.nargs) b.error(s.arg(0), std::string(n) + " takes no arguments in " + rs_ctx);
    for (const auto& st : s.children) {
        auto kw = st.name();
        const Keyword<Checker>* common = find_keyword<Checker>(kCheckerCommon, kw);
        bool is_http = k.type == CheckerType::Http || k.type == CheckerType::Ssl;
        if (common && !(k.type == CheckerType::Misc && (kw == "connect_ip" || kw == "connect_port" || kw == "bindto" ||
                                                         kw == "connect_timeout"))) {
            if (st.has_block) b.error(*st.keyword, "'" + std::string(kw) + "' does not take a { } block in " + ctx);
            else common->fn(b, st, k, ctx);
        } else if (is_http && kw == "url") {
            if (!st.has_block) b.error(*st.keyword, "'url' needs a { } block in " + ctx);
            else url_block(b, st, k, ctx);
        } else if (is_http && kw == "virtualhost" && !st.has_block) {
            if (auto v = b.string_arg(st, ctx)) k.http.edit().virtualhost = *v;
        } else if (k.type == CheckerType::Misc && kw == "misc_path" && !st.has_block) {
            if (!b.nargs(st, 1, 3, ctx)) continue;
            MiscCheckSettings& misc = k.misc.edit();
            misc.path = std::string(st.arg(0).text);
            if (st.nargs >= 2) misc.user = std::string(st.arg(1).text);
            if (st.nargs >= 3) misc.group = std::string(st.arg(2).text);
        } else if (k.type == CheckerType::Misc && kw == "misc_timeout" && !st.has_block) {
            if (auto v = b.timer_arg(st, milliseconds(1), milliseconds(86400'000), ctx)) k.misc.edit().timeout = *v;
        } else if (k.type == CheckerType::Misc && kw == "misc_dynamic" && !st.has_block) {
            if (auto v = b.flag(st, ctx)) k.misc.edit().dynamic = *v;
        } else if (k.type == CheckerType::Misc && kw == "user" && !st.has_block) {
            if (!b.nargs(st, 1, 2, ctx)) continue;
            k.misc.edit().user = std::string(st.arg(0).text);
            k.misc.edit().group = st.nargs == 2 ? std::string(st.arg(1).text) : std::string();
        } else {
            std::vector<std::string_view> known;
            for (const auto& c : kCheckerCommon) known.push_back(c.name);
            if (is_http) known.insert(known.end(), {"url", "virtualhost"});
            if (k.type == CheckerType::Misc) known.insert(known.end(), {"misc_path", "misc_timeout", "misc_dynamic", "user"});
            b.unknown(st, ctx, known);
        }
    }
    if (k.type == CheckerType::Misc && k.misc->path.empty()) b.error(*s.keyword, "MISC_CHECK without misc_path in " + rs_ctx);
    if ((k.type == CheckerType::Http || k.type == CheckerType::Ssl) && k.http->urls.empty())
        b.error(*s.keyword, std::string(n) + " without a url { path ... } in " + rs_ctx);
}

const Keyword<RealServer> kRealServerKeywords[] = {
    {"weight", [](Builder& b, const Statement& s, RealServer& r, const Context& c) {
         if (auto v = b.int_arg(s, 0, 65535, c)) r.weight = static_cast<int>(*v);
     }},
    {"inhibit_on_failure", [](Builder& b, const Statement& s, RealServer& r, const Context& c) {
         if (auto v = b.flag(s, c)) r.inhibit_on_failure = *v;
     }},
    {"lvs_method", [](Builder& b, const Statement& s, RealServer& r, const Context& c) {
         if (auto m = parse_method(b, s, c)) r.lb_kind = m;
     }},
    {"lb_kind", [](Builder& b, const Statement& s, RealServer& r, const Context& c) {
         if (auto m = parse_method(b, s, c)) r.lb_kind = m;
     }},
    {"uthreshold", [](Builder& b, const Statement& s, RealServer& r, const Context& c) {
         if (auto v = b.int_arg(s, 0, UINT32_MAX, c)) r.uthreshold = static_cast<uint32_t>(*v);
     }},
    {"lthreshold", [](Builder& b, const Statement& s, RealServer& r, const Context& c) {
         if (auto v = b.int_arg(s, 0, UINT32_MAX, c)) r.lthreshold = static_cast<uint32_t>(*v);
     }},
    {"notify_up", [](Builder& b, const Statement& s, RealServer& r, const Context& c) {
         if (auto x = b.script_arg(s, c)) r.notify.edit().up = *x;
     }},
    {"notify_down", [](Builder& b, const Statement& s, RealServer& r, const Context& c) {
         if (auto x = b.script_arg(s, c)) r.notify.edit().down = *x;
     }},
    {"TCP_CHECK", checker_block, true},
    {"HTTP_GET", checker_block, true},
    {"SSL_GET", checker_block, true},
    {"MISC_CHECK", checker_block, true},
};

// `real_server ADDR [PORT]` / `sorry_server ADDR [PORT]`.
std::optional<RealServer> server_address(Builder& b, const Statement& s, const Context& c) {
    if (!b.nargs(s, 1, 2, c)) return std::nullopt;
    RealServer rs;
    auto a = b.address(s, s.arg(0), c);
    if (!a) return std::nullopt;
    rs.addr = *a;
    if (s.nargs == 2) {
        auto p = b.port(s, s.arg(1), c, 0);
        if (!p) return std::nullopt;
        if (*p) rs.port = p;
    }
    rs.where = b.loc(*s.keyword);
    return rs;
}

constexpr std::string_view kSchedulers[] = {"rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh",
                                            "fo", "ovf", "lblcr", "sed", "nq", "twos"};
constexpr std::string_view kSchedFlags[] = {"flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback",
                                            "mh-port", "mh-fallback", "ops"};

void sched_flag(Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
    if (!b.nargs(s, 0, 0, c)) return;
    std::string f(s.name());
    if (std::find(d.vs.sched_flags.begin(), d.vs.sched_flags.end(), f) == d.vs.sched_flags.end()) d.vs.sched_flags.push_back(f);
}

const Keyword<ServerDraft> kServerKeywords[] = {
    {"delay_loop", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.timer_arg(s, milliseconds(1), milliseconds(86400'000), c)) d.vs.delay_loop = *v;
     }},
    {"lb_algo", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.string_arg(s, c)) {
             if (std::find(std::begin(kSchedulers), std::end(kSchedulers), *v) == std::end(kSchedulers))
                 b.error(s.arg(0), std::string(s.name()) + " " + quote(*v) + " is not a known IPVS scheduler in " + c);
             else d.vs.scheduler = *v;
         }
     }},
    {"lvs_sched", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.string_arg(s, c)) {
             if (std::find(std::begin(kSchedulers), std::end(kSchedulers), *v) == std::end(kSchedulers))
                 b.error(s.arg(0), std::string(s.name()) + " " + quote(*v) + " is not a known IPVS scheduler in " + c);
             else d.vs.scheduler = *v;
         }
     }},
    {"lb_kind", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto m = parse_method(b, s, c)) d.vs.lb_kind = *m;
     }},
    {"lvs_method", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto m = parse_method(b, s, c)) d.vs.lb_kind = *m;
     }},
    {"persistence_timeout", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (!b.nargs(s, 0, 1, c)) return;
         // keepalived.conf(5): "LVS persistence timeout in seconds, default 6 minutes".
         if (s.nargs == 0) d.vs.persistence_timeout = seconds(360);
         else if (auto v = b.integer(s, s.arg(0), 1, 31 * 86400, c)) d.vs.persistence_timeout = seconds(*v);
     }},
    {"persistence_granularity", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (!b.nargs(s, 1, 1, c)) return;
         if (auto g = b.granularity(s.arg(0), c)) {
             d.vs.persistence_granularity = g;
             d.granularity_at = b.loc(s.arg(0));
         }
     }},
    {"protocol", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (!b.nargs(s, 1, 1, c)) return;
         auto t = s.arg(0).text;
         if (t == "TCP") d.vs.protocol = Protocol::Tcp;
         else if (t == "UDP") d.vs.protocol = Protocol::Udp;
         else if (t == "SCTP") d.vs.protocol = Protocol::Sctp;
         else b.error(s.arg(0), "protocol " + quote(t) + " is not TCP, UDP or SCTP in " + c);
     }},
    {"sorry_server", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto rs = server_address(b, s, c)) d.vs.sorry_server = rs;
     }},
    {"sorry_server_inhibit", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.flag(s, c)) d.vs.sorry_server_inhibit = *v;
     }},
    {"quorum", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.int_arg(s, 1, INT32_MAX, c)) d.vs.quorum = static_cast<int>(*v);
     }},
    {"hysteresis", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.int_arg(s, 0, INT32_MAX, c)) d.vs.hysteresis = static_cast<int>(*v);
     }},
    {"quorum_up", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto x = b.script_arg(s, c)) d.vs.quorum_up = *x;
     }},
    {"quorum_down", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto x = b.script_arg(s, c)) d.vs.quorum_down = *x;
     }},
    {"alpha", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.flag(s, c)) d.vs.alpha = *v;
     }},
    {"omega", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.flag(s, c)) d.vs.omega = *v;
     }},
    {"inhibit_on_failure", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (auto v = b.flag(s, c)) d.vs.inhibit_on_failure = *v;
     }},
    {"ip_family", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         if (!b.nargs(s, 1, 1, c)) return;
         auto t = s.arg(0).text;
         if (t == "inet") d.ip_family = AF_INET;
         else if (t == "inet6") d.ip_family = AF_INET6;
         else b.error(s.arg(0), "ip_family " + quote(t) + " is not inet or inet6 in " + c);
     }},
    {"flag-1", sched_flag}, {"flag-2", sched_flag}, {"flag-3", sched_flag}, {"sh-port", sched_flag},
    {"sh-fallback", sched_flag}, {"mh-port", sched_flag}, {"mh-fallback", sched_flag}, {"ops", sched_flag},
    {"real_server", [](Builder& b, const Statement& s, ServerDraft& d, const Context& c) {
         auto rs = server_address(b, s, c);
         if (!rs) return;
         const RealServer& r = *rs;
         Context rctx([&r] { return "real_server " + r.addr.str() + (r.port ? " " + std::to_string(*r.port) : ""); }, c);
         b.dispatch<RealServer>(s.children, kRealServerKeywords, *rs, rctx);
         d.vs.real_servers.push_back(std::move(*rs));
         d.rs_at.push_back(b.loc(*s.keyword));
     }, true},
};

std::string key_text(const VirtualServerKey& key) {
    if (auto* ip = std::get_if<IpPort>(&key)) return ip->addr.str() + " " + std::to_string(ip->port);
    if (auto* fw = std::get_if<Fwmark>(&key)) return "fwmark " + std::to_string(fw->mark);
    return "group " + std::get<GroupRef>(key).name;
}

void Builder::finish_server(ServerDraft& d) {
    auto& vs = d.vs;
    const std::string ctx = "virtual_server " + key_text(vs.key);
    const SourceLoc& at = vs.where;
    if (auto* ip = std::get_if<IpPort>(&vs.key)) {
        vs.family = ip->addr.family();
        if (d.ip_family && *d.ip_family != vs.family)
            error(at, "ip_family does not match the address of " + ctx);
    } else if (d.ip_family) {
        vs.family = *d.ip_family;
    } else if (const auto* g = std::get_if<GroupRef>(&vs.key);
               g && std::any_of(cfg_.vs_groups.begin(), cfg_.vs_groups.end(), [&](auto& x) { return x.name == g->name && !x.addresses.empty(); })) {
        for (const auto& x : cfg_.vs_groups)
            if (x.name == g->name) vs.family = x.addresses.front().first.family();
    } else if (!vs.real_servers.empty()) {
        vs.family = vs.real_servers.front().addr.family();
    } else {
        vs.family = AF_INET;
    }
    if (vs.persistence_granularity && !vs.persistence_timeout) vs.persistence_timeout = seconds(360);
    if (vs.persistence_granularity && *vs.persistence_granularity > (vs.family == AF_INET ? 32 : 128))
        error(d.granularity_at, "persistence_granularity /" + std::to_string(*vs.persistence_granularity) +
                                      " is longer than an address of " + ctx);
    bool needs_port = false;
    if (const auto* g = std::get_if<GroupRef>(&vs.key)) {
        for (const auto& x : cfg_.vs_groups)
            if (x.name == g->name)
                for (const auto& r : x.addresses) needs_port = needs_port || r.port != 0;
    }
    if (auto* ip = std::get_if<IpPort>(&vs.key)) {
        needs_port = ip->port != 0;
        if (ip->port == 0 && !vs.persistence_timeout)
            error(at, ctx + ": port 0 (all ports) needs persistence_timeout");
    }
    for (const auto& f : vs.sched_flags) {
        // keepalived warns and ignores these too: the kernel only reads them
        // for the scheduler they belong to.
        if ((f.starts_with("sh-") && vs.scheduler != "sh") || (f.starts_with("mh-") && vs.scheduler != "mh"))
            warnings_.push_back(Diagnostic{vs.where, f + " only applies to the " + f.substr(0, 2) + " scheduler, not " +
                                                         vs.scheduler + ", in " + ctx});
    }
    for (size_t i = 0; i < vs.real_servers.size(); ++i) {
        const auto& rs = vs.real_servers[i];
        auto method = rs.lb_kind.value_or(vs.lb_kind);
        // DR and TUN forward the packet unchanged: the real server receives it
        // on the virtual server's port, so another port cannot work
        // (keepalived silently resets it; vigil asks for the config to say so).
        if (auto* ip = std::get_if<IpPort>(&vs.key); ip && ip->port && rs.port && *rs.port != ip->port &&
                                                       method != ForwardingMethod::Nat)
            error(d.rs_at[i], "real_server " + rs.addr.str() + " port " + std::to_string(*rs.port) + " differs from port " +
                                     std::to_string(ip->port) + " of " + ctx + ", which " + (method == ForwardingMethod::Dr ? "DR" : "TUN") +
                                     " cannot translate");
        if (needs_port && !rs.port && method == ForwardingMethod::Nat)
            error(d.rs_at[i], "real_server " + rs.addr.str() + " has no port, which NAT needs, in " + ctx);
        if (rs.addr.family() != vs.family && method != ForwardingMethod::Tun)
            error(d.rs_at[i], "real_server " + rs.addr.str() + " is not of the family of " + ctx +
                                     " (only TUN can mix families)");
    }
    int64_t total_weight = 0;
    for (const auto& rs : vs.real_servers) total_weight += rs.weight;
    if (!vs.real_servers.empty() && vs.quorum > total_weight)
        warnings_.push_back(Diagnostic{vs.where, "quorum " + std::to_string(vs.quorum) + " exceeds the total weight " +
                                                     std::to_string(total_weight) + " of the real servers of " + ctx +
                                                     ": the quorum can never be met"});
    if (vs.sorry_server && vs.sorry_server->addr.family() != vs.family)
        error(at, "sorry_server " + vs.sorry_server->addr.str() + " is not of the family of " + ctx);
}

// `ADDR PORT`, `ADDR-LAST PORT` (IPv4 last-octet range) or `fwmark N`.
void vs_group_entry(Builder& b, const Statement& s, VirtualServerGroup& g, const Context& c) {
    if (s.has_block) {
        b.error(*s.keyword, "unexpected { } block in " + c);
        return;
    }
    if (s.name() == "fwmark") {
        if (auto v = b.int_arg(s, 1, UINT32_MAX, c)) g.fwmarks.push_back(static_cast<uint32_t>(*v));
        return;
    }
    if (s.nargs != 1) {
        b.error(*s.keyword, "virtual_server_group entry takes 'ADDR[-LAST] PORT' or 'fwmark N' in " + c);
        return;
    }
    auto text = s.name();
    auto dash = text.find('-');
    VirtualServerGroup::Range r;
    auto a = IpAddress::parse(text.substr(0, dash));
    if (!a) {
        b.error(*s.keyword, "virtual_server_group address " + quote(text) + " is not a valid IP address or range in " + c);
        return;
    }
    r.first = *a;
    if (dash != std::string_view::npos) {
        auto last_txt = text.substr(dash + 1);
        int last = 0;
        auto [p, ec] = std::from_chars(last_txt.data(), last_txt.data() + last_txt.size(), last);
        int first_octet = a->is_v4() ? a->bytes()[3] : -1;
        if (!a->is_v4() || ec != std::errc() || p != last_txt.data() + last_txt.size() || last < first_octet || last > 255) {
            b.error(*s.keyword, "virtual_server_group range " + quote(text) +
                                    " is not an IPv4 last-octet range (a.b.c.FIRST-LAST, LAST >= FIRST) in " + c);
            return;
        }
        r.count = last - first_octet + 1;
    }
    auto port = b.port(s, s.arg(0), c, 0);
    if (!port) return;
    r.port = *port;
    g.addresses.push_back(r);
}

// ---------------------------------------------------------------- top level

void Builder::top_level(const Statement& st) {
    auto kw = st.name();
    auto need_block = [&]() {
        if (!st.has_block) error(*st.keyword, "'" + std::string(kw) + "' needs a { } block");
        return st.has_block;
    };
    auto name_arg = [&]() -> std::optional<std::string> {
        if (st.nargs != 1) {
            error(*st.keyword, "'" + std::string(kw) + "' takes one name, got " + std::to_string(st.nargs) + " words");
            return std::nullopt;
        }
        return std::string(st.arg(0).text);
    };
    if (kw == "global_defs") {
        if (!need_block()) return;
        if (st.nargs) error(st.arg(0), "global_defs takes no arguments");
        dispatch<GlobalDefs>(st.children, kGlobalKeywords, cfg_.global, "global_defs");
    } else if (kw == "vrrp_script") {
        if (!need_block()) return;
        auto name = name_arg();
        if (!name) return;
        VrrpScript vs;
        vs.name = *name;
        vs.where = loc(*st.keyword);
        std::string ctx = "vrrp_script " + *name;
        dispatch<VrrpScript>(st.children, kScriptKeywords, vs, ctx);
        if (vs.script.empty()) error(*st.keyword, ctx + " has no script");
        for (const auto& other : cfg_.vrrp_scripts)
            if (other.name == vs.name) error(*st.keyword, "duplicate " + ctx + " (first at " + other.where.str() + ")");
        cfg_.vrrp_scripts.push_back(std::move(vs));
    } else if (kw == "vrrp_sync_group") {
        if (!need_block()) return;
        auto name = name_arg();
        if (!name) return;
        SyncGroup g;
        g.name = *name;
        g.where = loc(*st.keyword);
        std::string ctx = "vrrp_sync_group " + *name;
        dispatch<SyncGroup>(st.children, kSyncGroupKeywords, g, ctx);
        if (g.members.empty()) error(*st.keyword, ctx + " has no group { } of instances");
        for (const auto& other : cfg_.sync_groups)
            if (other.name == g.name) error(*st.keyword, "duplicate " + ctx + " (first at " + other.where.str() + ")");
        cfg_.sync_groups.push_back(std::move(g));
    } else if (kw == "vrrp_instance") {
        if (!need_block()) return;
        auto name = name_arg();
        if (!name) return;
        InstanceDraft d;
        d.inst.name = *name;
        d.inst.where = loc(*st.keyword);
        std::string ctx = "vrrp_instance " + *name;
        dispatch<InstanceDraft>(st.children, kInstanceKeywords, d, ctx);
        for (const auto& other : instances_)
            if (other.inst.name == d.inst.name) error(*st.keyword, "duplicate " + ctx + " (first at " + other.inst.where.str() + ")");
        instances_.push_back(std::move(d));
    } else if (kw == "virtual_server_group") {
        if (!need_block()) return;
        auto name = name_arg();
        if (!name) return;
        VirtualServerGroup g;
        g.name = *name;
        g.where = loc(*st.keyword);
        std::string ctx = "virtual_server_group " + *name;
        for (const auto& e : st.children) vs_group_entry(*this, e, g, ctx);
        if (g.addresses.empty() && g.fwmarks.empty()) error(*st.keyword, ctx + " is empty");
        for (const auto& other : cfg_.vs_groups)
            if (other.name == g.name) error(*st.keyword, "duplicate " + ctx + " (first at " + other.where.str() + ")");
        cfg_.vs_groups.push_back(std::move(g));
    } else if (kw == "virtual_server") {
        if (!need_block()) return;
        ServerDraft d;
        d.vs.where = loc(*st.keyword);
        if (st.nargs == 2 && st.arg(0).text == "fwmark") {
            auto m = integer(st, st.arg(1), 1, UINT32_MAX, "virtual_server");
            if (!m) return;
            d.vs.key = Fwmark{static_cast<uint32_t>(*m)};
        } else if (st.nargs == 2 && st.arg(0).text == "group") {
            d.vs.key = GroupRef{std::string(st.arg(1).text)};
        } else if (st.nargs == 2) {
            auto a = address(st, st.arg(0), "virtual_server");
            auto p = port(st, st.arg(1), "virtual_server", 0);
            if (!a || !p) return;
            d.vs.key = IpPort{*a, *p};
        } else {
            error(*st.keyword, "virtual_server takes 'ADDR PORT', 'fwmark N' or 'group NAME'");
            return;
        }
        std::string ctx = "virtual_server " + key_text(d.vs.key);
        auto real_servers = std::count_if(st.children.begin(), st.children.end(),
                                          [](const Statement& c) { return c.name() == "real_server"; });
        d.vs.real_servers.reserve(static_cast<size_t>(real_servers));
        d.rs_at.reserve(static_cast<size_t>(real_servers));
        dispatch<ServerDraft>(st.children, kServerKeywords, d, ctx);
        // An index, not a scan of the servers so far: configs of thousands
        // of virtual servers (fwmark or one per VIP) exist.
        auto [first, fresh] = server_index_.try_emplace({d.vs.key, d.vs.protocol}, servers_.size());
        if (!fresh) error(*st.keyword, "duplicate " + ctx + " (first at " + servers_[first->second].vs.where.str() + ")");
        servers_.push_back(std::move(d));
    } else {
        static constexpr std::string_view known[] = {"global_defs", "vrrp_script", "vrrp_sync_group", "vrrp_instance",
                                                     "virtual_server_group", "virtual_server", "include"};
        unknown(st, "the top level", known);
    }
}

// Sync groups take the global smtp_alert default like instances do (in
// finish_instance). keepalived sends nothing without recipients and a relay,
// silently; vigil says so once.
void Builder::finish_smtp_alerts() {
    const auto& g = cfg_.global;
    for (auto& sg : cfg_.sync_groups)
        if (!groups_with_smtp_alert_.count(sg.name)) sg.smtp_alert = g.vrrp_smtp_alert_default();
    if (!g.notification_email.empty() && g.smtp_server) return;
    const SourceLoc* first = nullptr;
    std::string what;
    size_t count = 0;
    for (const auto& d : instances_)
        if (d.inst.smtp_alert && count++ == 0) first = &d.inst.where, what = "vrrp_instance " + d.inst.name;
    for (const auto& sg : cfg_.sync_groups)
        if (sg.smtp_alert && count++ == 0) first = &sg.where, what = "vrrp_sync_group " + sg.name;
    if (!first) return;
    std::string others = count > 1 ? " (and " + std::to_string(count - 1) + " more)" : "";
    warnings_.push_back(Diagnostic{*first, "smtp_alert is on in " + what + others + ", but no mail is sent without " +
                                               (g.notification_email.empty() ? "notification_email" : "smtp_server") +
                                               " in global_defs"});
}

void Builder::cross_checks() {
    // Duplicate VRID on one interface and family: both instances would send
    // the same advertisements (RFC 5798 5.2.3, VRID unique per link).
    std::map<std::tuple<std::string, int, int>, const VrrpInstance*> vrids;
    for (const auto& d : instances_) {
        const auto& in = d.inst;
        if (in.vrid == 0 || in.interface.empty()) continue;
        auto [it, fresh] = vrids.emplace(std::make_tuple(in.interface, in.family, in.vrid), &in);
        if (!fresh)
            error(in.where, "virtual_router_id " + std::to_string(in.vrid) + " on " + in.interface + " is used by both vrrp_instance " +
                                   it->second->name + " (" + it->second->where.str() + ") and vrrp_instance " + in.name);
    }
    // Sync groups: members must exist and belong to one group only.
    std::map<std::string, std::string> member_of;
    size_t member_index = 0;
    for (const auto& g : cfg_.sync_groups) {
        for (const auto& m : g.members) {
            const SourceLoc& at = member_at_[member_index++];
            bool exists = std::any_of(instances_.begin(), instances_.end(), [&](auto& d) { return d.inst.name == m; });
            if (!exists) error(at, "vrrp_sync_group " + g.name + " names vrrp_instance " + m + ", which does not exist");
            auto [it, fresh] = member_of.emplace(m, g.name);
            if (!fresh) error(at, "vrrp_instance " + m + " is in both vrrp_sync_group " + it->second + " and " + g.name);
        }
    }
    // track_script names a vrrp_script.
    size_t t = 0;
    for (const auto& d : instances_) {
        for (const auto& ts : d.inst.track_scripts) {
            const SourceLoc& at = script_at_[t++];
            bool exists = std::any_of(cfg_.vrrp_scripts.begin(), cfg_.vrrp_scripts.end(), [&](auto& s) { return s.name == ts.name; });
            if (!exists) error(at, "track_script " + ts.name + " in vrrp_instance " + d.inst.name + " names no vrrp_script");
        }
    }
    // virtual_server group NAME names a virtual_server_group.
    for (const auto& d : servers_) {
        if (auto* g = std::get_if<GroupRef>(&d.vs.key)) {
            bool exists = std::any_of(cfg_.vs_groups.begin(), cfg_.vs_groups.end(), [&](auto& x) { return x.name == g->name; });
            if (!exists) error(d.vs.where, "virtual_server group " + g->name + " names no virtual_server_group");
        }
    }
    // Interfaces that do not exist here are warnings: the instance waits in
    // FAULT until the interface appears (e.g. a VLAN created later).
    std::set<std::string> warned;
    auto check_if = [&](const std::string& ifname, const SourceLoc& where, const Context& ctx) {
        if (ifname.empty() || warned.count(ifname)) return;
        if (if_nametoindex(ifname.c_str()) == 0) {
            warned.insert(ifname);
            warnings_.push_back(Diagnostic{where, "interface " + ifname + " does not exist on this machine (" + ctx +
                                                      " stays in FAULT until it appears)"});
        }
    };
    for (const auto& d : instances_) {
        std::string ctx = "vrrp_instance " + d.inst.name;
        check_if(d.inst.interface, d.interface_at, ctx);
        for (const auto& va : d.inst.vips) check_if(va.dev, d.inst.where, ctx);
        for (const auto& ti : d.inst.track_interfaces) check_if(ti.name, d.inst.where, ctx);
    }
}

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
    return buf;
}

}  // namespace

namespace {
LoadResult build(syntax::Document&& doc) {
    Builder b(doc);
    syntax::StatementReader statements(doc);
    while (const Statement* st = statements.next()) b.top_level(*st);
    // The lexer's and the reader's diagnostics first, as they came first.
    b.errors_.insert(b.errors_.begin(), doc.errors.begin(), doc.errors.end());
    b.warnings_.insert(b.warnings_.begin(), doc.warnings.begin(), doc.warnings.end());
    if (b.instances_.empty() && b.servers_.empty() && b.errors_.empty() && !doc.file_ids.empty())
        b.warnings_.push_back(Diagnostic{SourceLoc::at(doc.file_ids[0], 0),
                                         "configuration is empty: no vrrp_instance and no virtual_server, vigild will do nothing"});
    for (auto& d : b.instances_) b.finish_instance(d);
    for (auto& d : b.servers_) b.finish_server(d);
    b.finish_smtp_alerts();
    b.cross_checks();
    LoadResult r;
    if (b.cfg_.global.router_id.empty()) b.cfg_.global.router_id = host_name();
    for (auto& d : b.instances_) b.cfg_.vrrp_instances.push_back(std::move(d.inst));
    for (auto& d : b.servers_) b.cfg_.virtual_servers.push_back(std::move(d.vs));
    // Report in file order: files in the order they were first read, lines
    // ascending (cross-checks run last but belong to a line like any other).
    auto by_position = [&](const Diagnostic& x, const Diagnostic& y) {
        auto index = [&](uint32_t file_id) {
            return std::find(doc.file_ids.begin(), doc.file_ids.end(), file_id) - doc.file_ids.begin();
        };
        auto ix = index(x.where.file_id), iy = index(y.where.file_id);
        return ix != iy ? ix < iy : x.where.line < y.where.line;
    };
    std::stable_sort(b.errors_.begin(), b.errors_.end(), by_position);
    std::stable_sort(b.warnings_.begin(), b.warnings_.end(), by_position);
    r.errors = std::move(b.errors_);
    r.warnings = std::move(b.warnings_);
    if (r.errors.empty()) r.config = std::make_shared<const Config>(std::move(b.cfg_));
    return r;
}
}  // namespace

LoadResult load_file(const std::string& path) { return build(syntax::parse_file(path)); }

LoadResult load_text(const std::string& text, const std::string& name) { return build(syntax::parse_text(text, name)); }

}  // namespace vigil::config
