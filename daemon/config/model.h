// The typed configuration model: what a keepalived.conf-syntax file means once
// parsed, validated and defaulted. Immutable after load; core hands the same
// model to the vrrp and check children. Every default here is keepalived's
// documented default for the same keyword (the man page, keepalived.conf(5)).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "daemon/ipaddr.h"

namespace vigil::config {

using std::chrono::milliseconds;
using std::chrono::seconds;
// VRRPv3 expresses the advertisement interval in centiseconds (RFC 5798 5.2.7);
// v2 intervals are whole seconds, stored in the same unit.
using Centiseconds = std::chrono::duration<int, std::centi>;

// Where a block or statement came from. Not part of a model's identity: two
// models that differ only in where things were written are the same config
// (this is what makes `--dump-config` output re-parse to an equal model).
struct SourceLoc {
    SourceLoc() = default;
    SourceLoc(const std::string& file, int line) : file_id(intern_file_name(file)), line(line) {}
    static SourceLoc at(uint32_t file_id, int line) {
        SourceLoc l;
        l.file_id = file_id;
        l.line = line;
        return l;
    }
    // The file as an index into one process-wide table of file names, each
    // name kept once (syntax.cc): a 10,000-server config holds 20,000
    // locations, and a location is 8 bytes instead of 24 with a shared
    // pointer to its name. 0: no file.
    uint32_t file_id = 0;
    int line = 0;
    const std::string& file_name() const;
    static uint32_t intern_file_name(const std::string& name);
    friend bool operator==(const SourceLoc&, const SourceLoc&) { return true; }
    std::string str() const { return file_name() + ":" + std::to_string(line); }
};

struct GlobalDefs {
    std::string router_id;  // default: the host name (filled in by the loader)
    std::vector<std::string> notification_email;
    std::string notification_email_from;
    std::optional<IpAddress> smtp_server;
    uint16_t smtp_port = 25;
    seconds smtp_connect_timeout{30};
    std::string smtp_helo_name;          // empty: the host name
    // Defaults of smtp_alert in vrrp_instance and vrrp_sync_group (keepalived:
    // smtp_alert for every alert, smtp_alert_vrrp for VRRP ones, which wins).
    std::optional<bool> smtp_alert;
    std::optional<bool> smtp_alert_vrrp;
    bool no_email_faults = false;        // no mail for FAULT states
    bool vrrp_smtp_alert_default() const { return smtp_alert_vrrp.value_or(smtp_alert.value_or(false)); }
    std::string script_user;   // empty: keepalived_script if it exists, else root
    std::string script_group;
    bool enable_script_security = false;
    int vrrp_version = 2;
    milliseconds vrrp_garp_master_delay{5000};
    int vrrp_garp_master_repeat = 5;
    milliseconds vrrp_garp_master_refresh{0};  // 0: no periodic refresh
    bool lvs_flush = false;
    bool lvs_flush_on_stop = false;
    // vigil: how often the check child re-reads its IPVS services and repairs
    // them (a rule deleted by hand comes back); 0: only at start and reload.
    milliseconds lvs_reconcile_interval{60000};
    bool operator==(const GlobalDefs&) const = default;
};

struct VrrpScript {
    std::string name;
    std::string script;           // command line, run through execve after word splitting
    milliseconds interval{1000};
    milliseconds timeout{0};      // 0: same as interval
    int weight = 0;               // -253..253
    int rise = 1;
    int fall = 1;
    std::string user, group;      // empty: global script_user
    SourceLoc where;
    bool operator==(const VrrpScript&) const = default;
};

struct VirtualAddress {
    IpPrefix addr;
    std::string dev;     // empty: the instance's interface
    std::string label;
    std::string scope;   // empty: "global"
    std::optional<IpAddress> brd;
    bool operator==(const VirtualAddress&) const = default;
};

struct VirtualRoute {
    bool blackhole = false;
    IpPrefix dst;
    std::optional<IpAddress> src;
    std::optional<IpAddress> via;
    std::string dev;
    std::string scope;
    std::optional<uint32_t> table;
    std::optional<uint32_t> metric;
    bool operator==(const VirtualRoute&) const = default;
};

struct TrackInterface {
    std::string name;
    int weight = 0;  // 0: down means FAULT; otherwise priority changes by weight
    bool operator==(const TrackInterface&) const = default;
};

struct TrackScript {
    std::string name;
    std::optional<int> weight;  // overrides the vrrp_script's weight
    bool operator==(const TrackScript&) const = default;
};

enum class InitialState { Backup, Master };
enum class AuthType { None, Pass };

struct VrrpInstance {
    std::string name;
    SourceLoc where;
    InitialState state = InitialState::Backup;
    std::string interface;
    int vrid = 0;                       // 1..255, required
    int priority = 100;                 // 1..255; 255 = address owner
    Centiseconds advert_int{100};       // v2: whole seconds 1..255; v3: 0.01..40.95 s
    int version = 2;                    // from `version`, else global vrrp_version
    int family = AF_INET;               // from the virtual addresses
    AuthType auth_type = AuthType::None;
    std::string auth_pass;              // at most 8 bytes on the wire (RFC 2338)
    std::vector<VirtualAddress> vips;
    std::vector<VirtualAddress> vips_excluded;
    std::vector<VirtualRoute> routes;
    std::optional<IpAddress> unicast_src_ip;
    std::vector<IpAddress> unicast_peers;
    bool nopreempt = false;
    seconds preempt_delay{0};           // 0..1000
    std::vector<TrackInterface> track_interfaces;
    std::vector<TrackScript> track_scripts;
    std::string notify, notify_master, notify_backup, notify_fault, notify_stop;
    milliseconds garp_master_delay{5000};   // defaults from global_defs
    int garp_master_repeat = 5;
    milliseconds garp_master_refresh{0};
    bool smtp_alert = false;
    bool operator==(const VrrpInstance&) const = default;
};

struct SyncGroup {
    std::string name;
    SourceLoc where;
    std::vector<std::string> members;   // vrrp_instance names
    std::string notify, notify_master, notify_backup, notify_fault, notify_stop;
    bool smtp_alert = false;
    bool operator==(const SyncGroup&) const = default;
};

enum class Protocol { Tcp, Udp, Sctp };
enum class ForwardingMethod : uint8_t { Nat, Dr, Tun };  // lb_kind / lvs_method
enum class CheckerType : uint8_t { Tcp, Http, Ssl, Misc };

struct HttpUrl {
    std::string path;
    std::optional<int> status_code;  // unset: any 2xx
    std::string digest;              // lower-case hex MD5 of the body, or empty
    bool operator==(const HttpUrl&) const = default;
};

// A value kept behind a pointer, for the part of a struct most instances
// leave at its defaults: unset, it reads as a default T and costs one
// pointer. Copies are deep and comparison is by value (unset equals a
// default T), so the owner keeps value semantics.
template <class T>
class OutOfLine {
public:
    OutOfLine() = default;
    OutOfLine(T value) : p_(std::make_unique<T>(std::move(value))) {}  // NOLINT: converts, as a T member would
    OutOfLine(const OutOfLine& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
    OutOfLine(OutOfLine&&) noexcept = default;
    OutOfLine& operator=(const OutOfLine& o) {
        if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
        return *this;
    }
    OutOfLine& operator=(OutOfLine&&) noexcept = default;
    const T& operator*() const { return p_ ? *p_ : defaults(); }
    const T* operator->() const { return &**this; }
    T& edit() {  // allocates on first write
        if (!p_) p_ = std::make_unique<T>();
        return *p_;
    }
    friend bool operator==(const OutOfLine& a, const OutOfLine& b) { return *a == *b; }

private:
    static const T& defaults() {
        static const T d;
        return d;
    }
    std::unique_ptr<T> p_;
};

struct HttpGetSettings {  // HTTP_GET / SSL_GET
    std::vector<HttpUrl> urls;
    std::string virtualhost;
    bool operator==(const HttpGetSettings&) const = default;
};

struct MiscCheckSettings {  // MISC_CHECK
    std::string path;                       // misc_path
    milliseconds timeout{0};                // misc_timeout; 0: delay_loop
    bool dynamic = false;                   // misc_dynamic
    std::string user, group;
    bool operator==(const MiscCheckSettings&) const = default;
};

struct Checker {
    CheckerType type = CheckerType::Tcp;
    int retry = 1;                          // also `nb_get_retry` (old name)
    SourceLoc where;
    std::optional<IpAddress> connect_ip;    // default: real server address
    std::optional<IpAddress> bindto;
    std::optional<uint16_t> connect_port;   // default: real server port
    milliseconds connect_timeout{5000};
    milliseconds delay_before_retry{1000};
    std::optional<milliseconds> delay_loop; // overrides the virtual server's
    std::optional<milliseconds> warmup;     // unset: random 0..delay_loop at start
    // Out of line: a config of 10,000 TCP_CHECKs would otherwise carry 10,000
    // empty url lists and script settings (half of each Checker's size).
    OutOfLine<HttpGetSettings> http;        // set for HTTP_GET / SSL_GET
    OutOfLine<MiscCheckSettings> misc;      // set for MISC_CHECK
    bool operator==(const Checker&) const = default;
};

struct ServerNotify {
    std::string up, down;                   // notify_up / notify_down
    bool operator==(const ServerNotify&) const = default;
};

// Fields ordered so that no padding is left between them: configs list
// thousands of real servers.
struct RealServer {
    IpAddress addr;
    std::optional<uint16_t> port;           // none for fwmark services
    SourceLoc where;
    int weight = 1;                         // 0..65535 (IPVS limit is INT32_MAX)
    uint32_t uthreshold = 0;
    uint32_t lthreshold = 0;
    std::optional<bool> inhibit_on_failure; // default: the virtual server's
    std::optional<ForwardingMethod> lb_kind;// default: the virtual server's
    OutOfLine<ServerNotify> notify;         // scripts are rare next to thousands of servers
    std::vector<Checker> checkers;
    bool operator==(const RealServer&) const = default;
};

struct IpPort {
    IpAddress addr;
    uint16_t port = 0;
    friend auto operator<=>(const IpPort&, const IpPort&) = default;
    friend bool operator==(const IpPort&, const IpPort&) = default;
};
struct Fwmark {
    uint32_t mark = 0;
    friend auto operator<=>(const Fwmark&, const Fwmark&) = default;
    friend bool operator==(const Fwmark&, const Fwmark&) = default;
};
struct GroupRef {
    std::string name;
    friend auto operator<=>(const GroupRef&, const GroupRef&) = default;
    friend bool operator==(const GroupRef&, const GroupRef&) = default;
};
using VirtualServerKey = std::variant<IpPort, Fwmark, GroupRef>;

struct VirtualServerGroup {
    std::string name;
    SourceLoc where;
    struct Range {
        IpAddress first;
        int count = 1;      // "10.0.0.1-10" gives first 10.0.0.1, count 10
        uint16_t port = 0;
        bool operator==(const Range&) const = default;
    };
    std::vector<Range> addresses;
    std::vector<uint32_t> fwmarks;
    bool operator==(const VirtualServerGroup&) const = default;
};

struct VirtualServer {
    VirtualServerKey key;
    SourceLoc where;
    int family = AF_INET;                   // of the addresses (fwmark: from real servers / `ip_family`)
    milliseconds delay_loop{60000};
    std::string scheduler = "wlc";          // lb_algo / lvs_sched
    std::vector<std::string> sched_flags;   // e.g. "sh-port", "sh-fallback", "mh-port", "ops"
    ForwardingMethod lb_kind = ForwardingMethod::Nat;
    std::optional<seconds> persistence_timeout;  // persistence on when set
    std::optional<int> persistence_granularity;  // prefix length (v4 netmask converted)
    Protocol protocol = Protocol::Tcp;
    std::optional<RealServer> sorry_server;
    bool sorry_server_inhibit = false;
    int quorum = 1;
    int hysteresis = 0;
    std::string quorum_up, quorum_down;
    bool alpha = false;
    bool omega = false;
    bool inhibit_on_failure = false;
    std::vector<RealServer> real_servers;
    bool operator==(const VirtualServer&) const = default;
};

struct Config {
    GlobalDefs global;
    std::vector<VrrpScript> vrrp_scripts;
    std::vector<SyncGroup> sync_groups;
    std::vector<VrrpInstance> vrrp_instances;
    std::vector<VirtualServerGroup> vs_groups;
    std::vector<VirtualServer> virtual_servers;
    bool operator==(const Config&) const = default;
};

}  // namespace vigil::config
