// IPVS table model: printing, the minimal diff, and building the desired table
// from the config. No I/O here.
#include "ipvs/model.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>

namespace vigil::ipvs {

namespace {

const char* protocol_name(uint16_t protocol) {
    switch (protocol) {
        case IPPROTO_TCP: return "TCP";
        case IPPROTO_UDP: return "UDP";
        case IPPROTO_SCTP: return "SCTP";
        default: return "PROTO?";
    }
}

std::string addr_port(const IpAddress& a, uint16_t port) {
    if (a.is_v6()) return "[" + a.str() + "]:" + std::to_string(port);
    return a.str() + ":" + std::to_string(port);
}

}  // namespace

std::string ServiceKey::str() const {
    if (is_fwmark()) {
        std::string s = "FWM " + std::to_string(fwmark);
        if (family == AF_INET6) s += " IPv6";
        return s;
    }
    return std::string(protocol_name(protocol)) + " " + addr_port(addr, port);
}

std::string DestKey::str() const { return addr_port(addr, port); }

bool ServiceAttrs::same_as(const ServiceAttrs& other, int family) const {
    return scheduler == other.scheduler &&
           (flags & kSvcFlagsSettable) == (other.flags & kSvcFlagsSettable) &&
           timeout_s == other.timeout_s && prefix_for(family) == other.prefix_for(family) &&
           pe_name == other.pe_name;
}

const char* forward_name(Forward f) {
    switch (f) {
        case Forward::Nat: return "Masq";
        case Forward::Local: return "Local";
        case Forward::Tun: return "Tunnel";
        case Forward::Dr: return "Route";
    }
    return "?";
}

const char* change_kind_name(ChangeKind k) {
    switch (k) {
        case ChangeKind::AddService: return "add service";
        case ChangeKind::EditService: return "edit service";
        case ChangeKind::DelService: return "delete service";
        case ChangeKind::AddDest: return "add dest";
        case ChangeKind::EditDest: return "edit dest";
        case ChangeKind::DelDest: return "delete dest";
    }
    return "?";
}

std::string Change::str() const {
    std::string s = std::string(change_kind_name(kind)) + " " + service.str();
    switch (kind) {
        case ChangeKind::AddService:
        case ChangeKind::EditService:
            s += " scheduler " + service_attrs->scheduler;
            if (service_attrs->flags & IP_VS_SVC_F_PERSISTENT)
                s += " persistent " + std::to_string(service_attrs->timeout_s);
            break;
        case ChangeKind::DelService: break;
        case ChangeKind::AddDest:
        case ChangeKind::EditDest:
            s += " -> " + dest.str() + " " + forward_name(dest_attrs.forward) + " weight " +
                 std::to_string(dest_attrs.weight);
            break;
        case ChangeKind::DelDest: s += " -> " + dest.str(); break;
    }
    return s;
}

namespace {

// The kernel turns the forwarding method of a destination that is one of its
// own addresses into LOCALNODE, whatever was asked (ip_vs_ctl.c,
// __ip_vs_update_dest): asking again would be an edit on every reconcile.
bool same_dest(const DestAttrs& want, const DestAttrs& have) {
    if (have.forward == Forward::Local && want.forward != Forward::Local) {
        DestAttrs w = want;
        w.forward = Forward::Local;
        w.tun_type = have.tun_type;
        w.tun_port = have.tun_port;
        w.tun_flags = have.tun_flags;
        return w == have;
    }
    return want == have;
}

}  // namespace

std::vector<Change> diff(const Table& desired, const Table& actual, const OwnedSet& owned) {
    // Four buckets, concatenated at the end: see the ordering contract in model.h.
    std::vector<Change> del_dests, del_services, services, dests;
    // Every destination of a service the kernel lacks is an add: at start
    // that is the whole table (10,000 changes), reserved once instead of
    // grown by doubling (a 96-byte Change each: megabytes of copies). The
    // room reserved includes one service change per owned service, which go
    // in front of the destinations at the end: without it, that insert would
    // reallocate the whole bucket after all.
    size_t whole_service_adds = 0;
    for (const ServiceKey& key : owned) {
        auto want = desired.find(key);
        if (want != desired.end() && !actual.count(key)) whole_service_adds += want->second.dests.size();
    }
    dests.reserve(whole_service_adds + owned.size());

    for (const ServiceKey& key : owned) {
        auto want = desired.find(key);
        auto have = actual.find(key);
        if (want == desired.end() && have == actual.end()) continue;
        if (want == desired.end()) {
            // The kernel drops the destinations with the service.
            del_services.push_back({ChangeKind::DelService, key, {}, {}, {}});
            continue;
        }
        const Service& w = want->second;
        if (have == actual.end()) {
            services.push_back({ChangeKind::AddService, key, w.attrs, {}, {}});
            for (const auto& [dk, da] : w.dests)
                dests.push_back({ChangeKind::AddDest, key, {}, dk, da});
            continue;
        }
        const Service& h = have->second;
        if (!w.attrs.same_as(h.attrs, key.family))
            services.push_back({ChangeKind::EditService, key, w.attrs, {}, {}});
        // Both destination maps are ordered by key: one merge pass.
        auto wi = w.dests.begin();
        auto hi = h.dests.begin();
        while (wi != w.dests.end() || hi != h.dests.end()) {
            if (hi == h.dests.end() || (wi != w.dests.end() && wi->first < hi->first)) {
                dests.push_back({ChangeKind::AddDest, key, {}, wi->first, wi->second});
                ++wi;
            } else if (wi == w.dests.end() || hi->first < wi->first) {
                del_dests.push_back({ChangeKind::DelDest, key, {}, hi->first, {}});
                ++hi;
            } else {
                if (!same_dest(wi->second, hi->second))
                    dests.push_back({ChangeKind::EditDest, key, {}, wi->first, wi->second});
                ++wi;
                ++hi;
            }
        }
    }

    // The destination bucket is usually nearly all of it: the other buckets
    // go in front of it in place, instead of all four being copied into a
    // fifth vector (another 1.7 MB at the check child's start).
    std::vector<Change> head = std::move(del_dests);
    for (auto* bucket : {&del_services, &services})
        head.insert(head.end(), std::make_move_iterator(bucket->begin()), std::make_move_iterator(bucket->end()));
    if (head.empty()) return dests;
    if (dests.empty()) return head;
    dests.insert(dests.begin(), std::make_move_iterator(head.begin()), std::make_move_iterator(head.end()));
    return dests;
}

// ---------------------------------------------------------------------------

namespace {

uint16_t kernel_protocol(config::Protocol p) {
    switch (p) {
        case config::Protocol::Tcp: return IPPROTO_TCP;
        case config::Protocol::Udp: return IPPROTO_UDP;
        case config::Protocol::Sctp: return IPPROTO_SCTP;
    }
    return IPPROTO_TCP;
}

Forward kernel_forward(config::ForwardingMethod m) {
    switch (m) {
        case config::ForwardingMethod::Nat: return Forward::Nat;
        case config::ForwardingMethod::Dr: return Forward::Dr;
        case config::ForwardingMethod::Tun: return Forward::Tun;
    }
    return Forward::Nat;
}

// The address `steps` after `a`, counting the address as one big-endian integer
// (a range "10.0.0.250-5" in a group has been turned into first + count already).
IpAddress advance(const IpAddress& a, int steps) {
    if (a.empty() || steps == 0) return a;
    if (a.is_v4()) {
        in_addr v4 = a.to_in_addr();
        v4.s_addr = htonl(ntohl(v4.s_addr) + static_cast<uint32_t>(steps));
        return IpAddress::v4(v4);
    }
    in6_addr v6 = a.to_in6_addr();
    uint32_t carry = static_cast<uint32_t>(steps);
    for (int i = 15; i >= 0 && carry; --i) {
        uint32_t sum = v6.s6_addr[i] + (carry & 0xff);
        v6.s6_addr[i] = static_cast<uint8_t>(sum);
        carry = (carry >> 8) + (sum >> 8);
    }
    return IpAddress::v6(v6);
}

}  // namespace

std::vector<ServiceKey> service_keys(const config::VirtualServer& vs,
                                     const std::vector<config::VirtualServerGroup>& groups) {
    std::vector<ServiceKey> keys;
    const uint16_t proto = kernel_protocol(vs.protocol);
    if (const auto* ip = std::get_if<config::IpPort>(&vs.key)) {
        keys.push_back({ip->addr.family(), proto, ip->addr, ip->port, 0});
    } else if (const auto* fw = std::get_if<config::Fwmark>(&vs.key)) {
        keys.push_back(ServiceKey::mark(fw->mark, vs.family));
    } else if (const auto* g = std::get_if<config::GroupRef>(&vs.key)) {
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const config::VirtualServerGroup& x) { return x.name == g->name; });
        if (it == groups.end()) return keys;
        for (const auto& range : it->addresses)
            for (int i = 0; i < range.count; ++i) {
                IpAddress a = advance(range.first, i);
                keys.push_back({a.family(), proto, a, range.port, 0});
            }
        for (uint32_t mark : it->fwmarks) keys.push_back(ServiceKey::mark(mark, vs.family));
    }
    return keys;
}

std::optional<uint32_t> parse_sched_flag(const std::string& word) {
    static const std::array<std::pair<const char*, uint32_t>, 8> kFlags{{
        {"sh-fallback", IP_VS_SVC_F_SCHED_SH_FALLBACK},
        {"sh-port", IP_VS_SVC_F_SCHED_SH_PORT},
        {"mh-fallback", kSvcFlagMhFallback},
        {"mh-port", kSvcFlagMhPort},
        {"ops", IP_VS_SVC_F_ONEPACKET},
        {"flag-1", IP_VS_SVC_F_SCHED1},
        {"flag-2", IP_VS_SVC_F_SCHED2},
        {"flag-3", IP_VS_SVC_F_SCHED3},
    }};
    for (const auto& [name, bit] : kFlags)
        if (word == name) return bit;
    return std::nullopt;
}

bool is_known_scheduler(const std::string& name) {
    static const std::array<const char*, 13> kSchedulers{
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"};
    return std::any_of(kSchedulers.begin(), kSchedulers.end(), [&](const char* s) { return name == s; });
}

ServiceAttrs service_attrs(const config::VirtualServer& vs) {
    ServiceAttrs a;
    a.scheduler = vs.scheduler;
    for (const auto& word : vs.sched_flags)
        if (auto bit = parse_sched_flag(word)) a.flags |= *bit;
    if (vs.persistence_timeout) {
        a.flags |= IP_VS_SVC_F_PERSISTENT;
        a.timeout_s = static_cast<uint32_t>(vs.persistence_timeout->count());
    }
    if (vs.persistence_granularity) a.netmask_prefix = *vs.persistence_granularity;
    return a;
}

DestKey dest_key(const config::RealServer& rs, const ServiceKey& service) {
    return {rs.addr, rs.port.value_or(service.port)};
}

DestAttrs dest_attrs(const config::VirtualServer& vs, const config::RealServer& rs, int32_t weight) {
    DestAttrs d;
    d.forward = kernel_forward(rs.lb_kind.value_or(vs.lb_kind));
    d.weight = weight;
    d.u_threshold = rs.uthreshold;
    d.l_threshold = rs.lthreshold;
    return d;
}

std::optional<int32_t> healthy_weight(const config::VirtualServer&, const config::RealServer& rs) {
    return rs.weight;
}

void add_virtual_server(Table& table, const config::VirtualServer& vs,
                        const std::vector<config::VirtualServerGroup>& groups, const WeightOf& weight_of) {
    const ServiceAttrs attrs = service_attrs(vs);
    for (const ServiceKey& key : service_keys(vs, groups)) {
        Service& svc = table[key];
        svc.attrs = attrs;
        for (const auto& rs : vs.real_servers) {
            auto weight = weight_of(vs, rs);
            if (!weight) continue;
            DestKey dk = dest_key(rs, key);
            // Configs usually list real servers in address order: then each
            // one goes at the end of the map without a search (this runs for
            // every health batch, over every real server).
            if (svc.dests.empty() || std::prev(svc.dests.end())->first < dk)
                svc.dests.emplace_hint(svc.dests.end(), dk, dest_attrs(vs, rs, *weight));
            else
                svc.dests[dk] = dest_attrs(vs, rs, *weight);  // out of order, or listed twice: the last one wins
        }
    }
}

Table desired_all_healthy(const config::Config& cfg) {
    Table t;
    for (const auto& vs : cfg.virtual_servers) add_virtual_server(t, vs, cfg.vs_groups, healthy_weight);
    return t;
}

OwnedSet owned_services(const config::Config& cfg) {
    OwnedSet owned;
    for (const auto& vs : cfg.virtual_servers)
        for (auto& key : service_keys(vs, cfg.vs_groups)) owned.insert(std::move(key));
    return owned;
}

}  // namespace vigil::ipvs
