#include "vrrp/netlink.h"

#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rtnl.h>
#include <linux/rtnetlink.h>

#include <cstring>

namespace vigil::vrrp {

namespace {

std::string nlerr(const std::string& what, int err) { return what + ": " + nl_geterror(err); }

// An nl_addr built from a vigil address; freed by the guard.
struct NlAddr {
    nl_addr* a = nullptr;
    NlAddr(const IpAddress& ip, int prefixlen = -1) {
        a = nl_addr_build(ip.family(), ip.bytes(), ip.size());
        if (a && prefixlen >= 0) nl_addr_set_prefixlen(a, prefixlen);
    }
    ~NlAddr() {
        if (a) nl_addr_put(a);
    }
    NlAddr(const NlAddr&) = delete;
    NlAddr& operator=(const NlAddr&) = delete;
};

std::optional<IpAddress> from_nl(nl_addr* a) {
    if (!a) return std::nullopt;
    int fam = nl_addr_get_family(a);
    if (fam == AF_INET && nl_addr_get_len(a) == 4) {
        in_addr v;
        std::memcpy(&v, nl_addr_get_binary_addr(a), 4);
        return IpAddress::v4(v);
    }
    if (fam == AF_INET6 && nl_addr_get_len(a) == 16) {
        in6_addr v;
        std::memcpy(&v, nl_addr_get_binary_addr(a), 16);
        return IpAddress::v6(v);
    }
    return std::nullopt;
}

LinkInfo to_info(rtnl_link* l) {
    LinkInfo info;
    info.ifindex = rtnl_link_get_ifindex(l);
    if (const char* n = rtnl_link_get_name(l)) info.name = n;
    unsigned flags = rtnl_link_get_flags(l);
    info.up = (flags & IFF_UP) && (flags & IFF_RUNNING);
    nl_addr* mac = rtnl_link_get_addr(l);
    if (mac && nl_addr_get_len(mac) == 6) {
        std::memcpy(info.mac.data(), nl_addr_get_binary_addr(mac), 6);
        info.has_mac = true;
    }
    return info;
}

// Scope names as `ip` spells them (keepalived accepts the same words).
int scope_value(const std::string& scope) {
    if (scope.empty()) return RT_SCOPE_UNIVERSE;
    int v = rtnl_str2scope(scope.c_str());
    return v < 0 ? RT_SCOPE_UNIVERSE : v;
}

}  // namespace

std::unique_ptr<NetlinkReflector> NetlinkReflector::open(std::string* error) {
    std::unique_ptr<NetlinkReflector> r(new NetlinkReflector());
    int err = nl_cache_mngr_alloc(nullptr, NETLINK_ROUTE, NL_AUTO_PROVIDE, &r->mngr_);
    if (err < 0) {
        if (error) *error = nlerr("netlink cache manager", err);
        return nullptr;
    }
    err = nl_cache_mngr_add(r->mngr_, "route/link", &NetlinkReflector::change_trampoline, r.get(), &r->links_);
    if (err < 0) {
        if (error) *error = nlerr("netlink link cache", err);
        return nullptr;
    }
    err = nl_cache_mngr_add(r->mngr_, "route/addr", &NetlinkReflector::change_trampoline, r.get(), &r->addrs_);
    if (err < 0) {
        if (error) *error = nlerr("netlink address cache", err);
        return nullptr;
    }
    r->req_ = nl_socket_alloc();
    if (!r->req_ || (err = nl_connect(r->req_, NETLINK_ROUTE)) < 0) {
        if (error) *error = nlerr("netlink request socket", err);
        return nullptr;
    }
    return r;
}

NetlinkReflector::~NetlinkReflector() {
    // The manager owns the caches it allocated.
    if (mngr_) nl_cache_mngr_free(mngr_);
    if (req_) nl_socket_free(req_);
}

int NetlinkReflector::fd() const { return nl_cache_mngr_get_fd(mngr_); }

void NetlinkReflector::process() { nl_cache_mngr_data_ready(mngr_); }

void NetlinkReflector::change_trampoline(nl_cache*, nl_object* obj, int action, void* data) {
    static_cast<NetlinkReflector*>(data)->changed(obj, action);
}

void NetlinkReflector::changed(nl_object* obj, int action) {
    const char* type = nl_object_get_type(obj);
    if (!type) return;
    if (std::strcmp(type, "route/link") == 0) {
        if (link_cb_) link_cb_(to_info(reinterpret_cast<rtnl_link*>(obj)), action == NL_ACT_DEL);
    } else if (std::strcmp(type, "route/addr") == 0) {
        auto* a = reinterpret_cast<rtnl_addr*>(obj);
        auto ip = from_nl(rtnl_addr_get_local(a));
        if (!ip || !addr_cb_) return;
        AddressEvent ev;
        ev.ifindex = rtnl_addr_get_ifindex(a);
        ev.prefix = IpPrefix{*ip, rtnl_addr_get_prefixlen(a)};
        ev.added = action != NL_ACT_DEL;
        addr_cb_(ev);
    }
}

std::optional<LinkInfo> NetlinkReflector::link(const std::string& name) const {
    rtnl_link* l = rtnl_link_get_by_name(links_, name.c_str());
    if (!l) return std::nullopt;
    LinkInfo info = to_info(l);
    rtnl_link_put(l);
    return info;
}

std::optional<LinkInfo> NetlinkReflector::link(int ifindex) const {
    rtnl_link* l = rtnl_link_get(links_, ifindex);
    if (!l) return std::nullopt;
    LinkInfo info = to_info(l);
    rtnl_link_put(l);
    return info;
}

bool NetlinkReflector::has_address(int ifindex, const IpAddress& addr) const {
    for (nl_object* o = nl_cache_get_first(addrs_); o; o = nl_cache_get_next(o)) {
        auto* a = reinterpret_cast<rtnl_addr*>(o);
        if (rtnl_addr_get_ifindex(a) != ifindex) continue;
        auto ip = from_nl(rtnl_addr_get_local(a));
        if (ip && *ip == addr) return true;
    }
    return false;
}

std::optional<IpAddress> NetlinkReflector::primary_address(int ifindex, int family,
                                                          const std::vector<IpAddress>& exclude) const {
    for (nl_object* o = nl_cache_get_first(addrs_); o; o = nl_cache_get_next(o)) {
        auto* a = reinterpret_cast<rtnl_addr*>(o);
        if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != family) continue;
        // Secondary addresses (VIPs among them) are never the primary.
        if (rtnl_addr_get_flags(a) & IFA_F_SECONDARY) continue;
        // An address still in duplicate address detection cannot be a source yet.
        if (rtnl_addr_get_flags(a) & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) continue;
        auto ip = from_nl(rtnl_addr_get_local(a));
        if (!ip) continue;
        if (family == AF_INET6 && !ip->is_link_local_v6()) continue;
        bool excluded = false;
        for (const auto& x : exclude) excluded = excluded || x == *ip;
        if (excluded) continue;
        return ip;
    }
    return std::nullopt;
}

namespace {

// What adding and deleting a VIP both name: its address and prefix on ifindex
// (the object holds its own reference to the address). Free with rtnl_addr_put.
rtnl_addr* vip_address(const config::VirtualAddress& vip, int ifindex) {
    rtnl_addr* a = rtnl_addr_alloc();
    NlAddr local(vip.addr.addr, vip.addr.len);
    rtnl_addr_set_ifindex(a, ifindex);
    rtnl_addr_set_family(a, vip.addr.addr.family());
    rtnl_addr_set_local(a, local.a);
    rtnl_addr_set_prefixlen(a, vip.addr.len);
    return a;
}

}  // namespace

bool NetlinkReflector::add_address(const config::VirtualAddress& vip, int ifindex, std::string* error) {
    rtnl_addr* a = vip_address(vip, ifindex);
    rtnl_addr_set_scope(a, scope_value(vip.scope));
    if (!vip.label.empty()) rtnl_addr_set_label(a, vip.label.c_str());
    if (vip.brd) {
        NlAddr brd(*vip.brd);
        rtnl_addr_set_broadcast(a, brd.a);
    }
    if (vip.addr.addr.is_v6()) {
        // A VIP that moves between hosts must not wait for duplicate address
        // detection before it answers (keepalived adds IPv6 VIPs nodad too).
        rtnl_addr_set_flags(a, IFA_F_NODAD);
    }
    int err = rtnl_addr_add(req_, a, 0);
    rtnl_addr_put(a);
    if (err < 0 && err != -NLE_EXIST) {
        if (error) *error = nlerr("add " + vip.addr.str(), err);
        return false;
    }
    return true;
}

bool NetlinkReflector::del_address(const config::VirtualAddress& vip, int ifindex, std::string* error) {
    rtnl_addr* a = vip_address(vip, ifindex);
    int err = rtnl_addr_delete(req_, a, 0);
    rtnl_addr_put(a);
    // Already gone is the state we wanted.
    if (err < 0 && err != -NLE_NOADDR && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV) {
        if (error) *error = nlerr("delete " + vip.addr.str(), err);
        return false;
    }
    return true;
}

bool NetlinkReflector::resolve_route_ifindex(const config::VirtualRoute& r, int default_ifindex, int* ifindex,
                                             std::string* error) const {
    *ifindex = default_ifindex;
    if (!r.dev.empty()) {
        auto l = link(r.dev);
        if (!l) {
            if (error) *error = "route " + r.dst.str() + ": no interface " + r.dev;
            return false;
        }
        *ifindex = l->ifindex;
    }
    return true;
}

namespace {

rtnl_route* build_route(const config::VirtualRoute& r, int ifindex) {
    rtnl_route* route = rtnl_route_alloc();
    NlAddr dst(r.dst.addr, r.dst.len);
    rtnl_route_set_family(route, static_cast<uint8_t>(r.dst.addr.family()));
    rtnl_route_set_dst(route, dst.a);
    rtnl_route_set_table(route, r.table.value_or(RT_TABLE_MAIN));
    rtnl_route_set_protocol(route, RTPROT_STATIC);
    if (r.metric) rtnl_route_set_priority(route, *r.metric);
    if (r.src) {
        NlAddr src(*r.src);
        rtnl_route_set_pref_src(route, src.a);
    }
    if (r.blackhole) {
        rtnl_route_set_type(route, RTN_BLACKHOLE);
        rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
        return route;
    }
    rtnl_route_set_type(route, RTN_UNICAST);
    // Without a gateway the destination is on the link (`ip route` does the same).
    int scope = !r.scope.empty() ? scope_value(r.scope) : r.via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    rtnl_route_set_scope(route, static_cast<uint8_t>(scope));
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    rtnl_route_nh_set_ifindex(nh, ifindex);
    if (r.via) {
        NlAddr gw(*r.via);
        rtnl_route_nh_set_gateway(nh, gw.a);
    }
    rtnl_route_add_nexthop(route, nh);
    return route;
}

}  // namespace

bool NetlinkReflector::add_route(const config::VirtualRoute& r, int default_ifindex, std::string* error) {
    int ifindex;
    if (!resolve_route_ifindex(r, default_ifindex, &ifindex, error)) return false;
    rtnl_route* route = build_route(r, ifindex);
    int err = rtnl_route_add(req_, route, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_route_put(route);
    if (err < 0) {
        if (error) *error = nlerr("add route " + r.dst.str(), err);
        return false;
    }
    return true;
}

bool NetlinkReflector::del_route(const config::VirtualRoute& r, int default_ifindex, std::string* error) {
    int ifindex;
    if (!resolve_route_ifindex(r, default_ifindex, &ifindex, error)) return false;
    rtnl_route* route = build_route(r, ifindex);
    int err = rtnl_route_delete(req_, route, 0);
    rtnl_route_put(route);
    if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR) {
        if (error) *error = nlerr("delete route " + r.dst.str(), err);
        return false;
    }
    return true;
}

}  // namespace vigil::vrrp
