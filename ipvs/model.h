// The IPVS table as values: what the kernel holds (read back by a dump) and what
// vigil wants it to hold (built from config + check results) have the same type,
// so the reconciler is `diff(desired, actual, owned)` over two of these.
//
// Field meanings and numeric values are the kernel's (/usr/include/linux/ip_vs.h);
// nothing here does I/O.
#pragma once

#include <linux/ip_vs.h>
#include <netinet/in.h>

#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/config/model.h"
#include "daemon/ipaddr.h"

namespace vigil::ipvs {

// The kernel defines the MH flag aliases only in its private header
// (include/net/ip_vs.h); they share bits with the SH ones.
inline constexpr uint32_t kSvcFlagMhFallback = IP_VS_SVC_F_SCHED1;
inline constexpr uint32_t kSvcFlagMhPort = IP_VS_SVC_F_SCHED2;
// Flags that are ours to set. IP_VS_SVC_F_HASHED is kernel bookkeeping: it is
// always set in a dump and never compared.
inline constexpr uint32_t kSvcFlagsSettable = IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_ONEPACKET |
                                              IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2 |
                                              IP_VS_SVC_F_SCHED3;

// A service's identity: what the kernel looks a service up by. Either
// protocol + address + port, or fwmark + family (protocol, addr, port empty).
struct ServiceKey {
    int family = AF_INET;     // AF_INET / AF_INET6
    uint16_t protocol = 0;    // IPPROTO_TCP / UDP / SCTP; 0 for fwmark services
    IpAddress addr;           // empty for fwmark services
    uint16_t port = 0;        // host byte order
    uint32_t fwmark = 0;      // non-zero: a fwmark service

    static ServiceKey tcp(const IpAddress& a, uint16_t p) { return {a.family(), IPPROTO_TCP, a, p, 0}; }
    static ServiceKey udp(const IpAddress& a, uint16_t p) { return {a.family(), IPPROTO_UDP, a, p, 0}; }
    static ServiceKey sctp(const IpAddress& a, uint16_t p) { return {a.family(), IPPROTO_SCTP, a, p, 0}; }
    static ServiceKey mark(uint32_t m, int fam = AF_INET) { return {fam, 0, IpAddress{}, 0, m}; }
    bool is_fwmark() const { return fwmark != 0; }
    // "TCP 10.0.0.1:80", "UDP [fd00::1]:53", "FWM 7 (IPv6)": ipvsadm's spelling,
    // so a log line can be matched against `ipvsadm -ln`.
    std::string str() const;

    friend auto operator<=>(const ServiceKey&, const ServiceKey&) = default;
    friend bool operator==(const ServiceKey&, const ServiceKey&) = default;
};

// What can change on a service without re-creating it (IPVS_CMD_SET_SERVICE).
struct ServiceAttrs {
    std::string scheduler = "wlc";  // at most IP_VS_SCHEDNAME_MAXLEN-1 bytes
    uint32_t flags = 0;             // IP_VS_SVC_F_*, without HASHED
    uint32_t timeout_s = 0;         // persistence timeout, seconds
    // Persistence granularity as a prefix length: the kernel wants a v4 netmask
    // (network order) or a v6 prefix length; encoding converts. -1: full length
    // (/32 or /128, what ipvsadm sets when not told otherwise).
    int netmask_prefix = -1;
    std::string pe_name;            // persistence engine ("sip"), usually empty

    // The prefix actually meant, for a given family (-1 resolved).
    int prefix_for(int family) const { return netmask_prefix >= 0 ? netmask_prefix : (family == AF_INET6 ? 128 : 32); }
    bool same_as(const ServiceAttrs& other, int family) const;
    bool operator==(const ServiceAttrs&) const = default;
};

// Forwarding method, as the kernel's IP_VS_CONN_F_* values.
enum class Forward : uint32_t {
    Nat = IP_VS_CONN_F_MASQ,
    Local = IP_VS_CONN_F_LOCALNODE,
    Tun = IP_VS_CONN_F_TUNNEL,
    Dr = IP_VS_CONN_F_DROUTE,
};
const char* forward_name(Forward f);  // "Masq", "Local", "Tunnel", "Route" (ipvsadm's)

enum class TunnelType : uint8_t {
    Ipip = IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
    Gue = IP_VS_CONN_F_TUNNEL_TYPE_GUE,
    Gre = IP_VS_CONN_F_TUNNEL_TYPE_GRE,
};

struct DestKey {
    IpAddress addr;     // may be another family than the service (v4 dest in a v6 TUN service)
    uint16_t port = 0;  // host byte order
    std::string str() const;
    friend auto operator<=>(const DestKey&, const DestKey&) = default;
    friend bool operator==(const DestKey&, const DestKey&) = default;
};

// What can change on a destination in place (IPVS_CMD_SET_DEST).
struct DestAttrs {
    Forward forward = Forward::Nat;
    int32_t weight = 1;           // 0..INT32_MAX; 0 = no new connections
    uint32_t u_threshold = 0;     // 0: no limit
    uint32_t l_threshold = 0;
    TunnelType tun_type = TunnelType::Ipip;  // only meaningful for Forward::Tun
    uint16_t tun_port = 0;        // GUE port, host byte order
    uint16_t tun_flags = 0;       // IP_VS_TUNNEL_ENCAP_FLAG_*
    bool operator==(const DestAttrs&) const = default;
};

struct Service {
    ServiceAttrs attrs;
    std::map<DestKey, DestAttrs> dests;
    bool operator==(const Service&) const = default;
};

// The whole table (or the part vigil cares about), ordered so that diffs and
// dumps are deterministic.
using Table = std::map<ServiceKey, Service>;
using OwnedSet = std::set<ServiceKey>;

// ---------------------------------------------------------------------------
// Changes: one per netlink message.

enum class ChangeKind { AddService, EditService, DelService, AddDest, EditDest, DelDest };
const char* change_kind_name(ChangeKind k);

struct Change {
    ChangeKind kind;
    ServiceKey service;
    // Add/EditService only: behind a pointer, as the thousands of destination
    // changes of a start or a reload need none (96 bytes a change, not 168).
    config::OutOfLine<ServiceAttrs> service_attrs;
    DestKey dest;                // *Dest kinds
    DestAttrs dest_attrs;        // Add/EditDest
    std::string str() const;     // "add dest TCP 10.0.0.1:80 -> 10.0.1.1:80 weight 1 Route"
    bool operator==(const Change&) const = default;
};

// The minimal ordered change list that turns `actual` into `desired` for the
// services in `owned`. Services not in `owned` are never touched, whatever
// either table says about them.
//  - Unchanged: no changes.
//  - Weight / threshold / forwarding change: one EditDest (never delete + add).
//    A destination the kernel reports as Local (one of the director's own
//    addresses: the kernel forces LOCALNODE) matches any forwarding method.
//  - Scheduler / flags / timeout / netmask / pe change: one EditService.
//  - Order: deletes of destinations, then deletes of services, then service
//    adds and edits, then destination adds and edits; so a destination moved
//    between services, or a service re-created, never collides with itself.
// An owned service missing from `desired` is deleted (with its destinations,
// which the kernel removes along with it: one message).
std::vector<Change> diff(const Table& desired, const Table& actual, const OwnedSet& owned);

// ---------------------------------------------------------------------------
// Building the desired table from the config model. The check child decides
// which real servers are in and at what weight; these are the building blocks.

// Every service key a virtual_server stands for: one for `ip port` or `fwmark`,
// one per address (ranges expanded) and per fwmark for a virtual_server_group.
// An unknown group name gives no keys (the config loader rejects it earlier).
std::vector<ServiceKey> service_keys(const config::VirtualServer& vs,
                                     const std::vector<config::VirtualServerGroup>& groups);

// Scheduler, flags (persistence, sched_flags), timeout and granularity.
// Unknown sched_flags are ignored here: the config loader validates them with
// parse_sched_flag().
ServiceAttrs service_attrs(const config::VirtualServer& vs);

// One sched_flags word ("sh-port", "sh-fallback", "mh-port", "mh-fallback",
// "ops", "flag-1".."flag-3") -> its IP_VS_SVC_F_* bit; nullopt when unknown.
std::optional<uint32_t> parse_sched_flag(const std::string& word);

// Every scheduler name the kernel ships (rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh).
bool is_known_scheduler(const std::string& name);

// A real server as a destination of `service`: its own port, or the service's
// port when it has none (fwmark services: 0); lb_kind from the real server or
// the virtual server; thresholds from the real server.
DestKey dest_key(const config::RealServer& rs, const ServiceKey& service);
DestAttrs dest_attrs(const config::VirtualServer& vs, const config::RealServer& rs, int32_t weight);

// The weight a real server should have right now, or nullopt when it must not
// be in the table at all (failed and not inhibit_on_failure). Supplied by the
// check child; `healthy_weight` below is the "all up" version.
using WeightOf = std::function<std::optional<int32_t>(const config::VirtualServer&, const config::RealServer&)>;
std::optional<int32_t> healthy_weight(const config::VirtualServer& vs, const config::RealServer& rs);

// Adds every service of `vs` with the real servers `weight_of` admits. Sorry
// server / quorum logic stays with the caller (it decides the weights and may
// add the sorry server with dest_key()/dest_attrs()).
void add_virtual_server(Table& table, const config::VirtualServer& vs,
                        const std::vector<config::VirtualServerGroup>& groups, const WeightOf& weight_of);

// The desired table for a whole config with every real server healthy, and the
// set of services the config declares (what vigil owns).
Table desired_all_healthy(const config::Config& cfg);
OwnedSet owned_services(const config::Config& cfg);

}  // namespace vigil::ipvs
