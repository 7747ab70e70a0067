// The netlink reflector: libnl-route's link and address caches, kept current by
// the kernel's notifications, with change callbacks; and the writes vrrp owns:
// adding/removing VIPs (virtual_ipaddress, *_excluded) and virtual_routes.
//
// Only what vrrp added is ever removed: vrrp never flushes an interface.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/model.h"
#include "daemon/ipaddr.h"

struct nl_cache_mngr;
struct nl_cache;
struct nl_sock;
struct nl_object;

namespace vigil::vrrp {

struct LinkInfo {
    int ifindex = 0;
    std::string name;
    // keepalived's notion of a usable interface: administratively up AND
    // carrier present (IFF_UP | IFF_RUNNING).
    bool up = false;
    std::array<uint8_t, 6> mac{};
    bool has_mac = false;
};

struct AddressEvent {
    int ifindex = 0;
    IpPrefix prefix;
    bool added = false;  // false: removed
};

class NetlinkReflector {
public:
    using LinkCallback = std::function<void(const LinkInfo& link, bool removed)>;
    using AddressCallback = std::function<void(const AddressEvent& ev)>;

    static std::unique_ptr<NetlinkReflector> open(std::string* error);
    ~NetlinkReflector();
    NetlinkReflector(const NetlinkReflector&) = delete;
    NetlinkReflector& operator=(const NetlinkReflector&) = delete;

    // Poll this fd for reading, then call process().
    int fd() const;
    void process();

    void on_link_change(LinkCallback cb) { link_cb_ = std::move(cb); }
    void on_address_change(AddressCallback cb) { addr_cb_ = std::move(cb); }

    std::optional<LinkInfo> link(const std::string& name) const;
    std::optional<LinkInfo> link(int ifindex) const;
    bool has_address(int ifindex, const IpAddress& addr) const;
    // The interface's first address of `family` (IPv6: link-local only, as
    // RFC 5798 5.1.2.1 wants for the advert source). Used as the advert source
    // and for the tie-break (RFC 5798 6.4.3). `exclude`: our VIPs, which may
    // still be configured (a restarted child resuming as Master).
    std::optional<IpAddress> primary_address(int ifindex, int family,
                                             const std::vector<IpAddress>& exclude = {}) const;

    // Writes. `ifindex` is the VIP's device (its own `dev` or the instance's).
    // Adding an address that is already there succeeds (idempotent).
    bool add_address(const config::VirtualAddress& vip, int ifindex, std::string* error);
    bool del_address(const config::VirtualAddress& vip, int ifindex, std::string* error);
    // `default_ifindex` is used when the route has no `dev` of its own.
    bool add_route(const config::VirtualRoute& route, int default_ifindex, std::string* error);
    bool del_route(const config::VirtualRoute& route, int default_ifindex, std::string* error);

private:
    NetlinkReflector() = default;
    static void change_trampoline(nl_cache* cache, nl_object* obj, int action, void* data);
    void changed(nl_object* obj, int action);
    bool resolve_route_ifindex(const config::VirtualRoute& r, int default_ifindex, int* ifindex,
                               std::string* error) const;

    nl_cache_mngr* mngr_ = nullptr;
    nl_cache* links_ = nullptr;
    nl_cache* addrs_ = nullptr;
    nl_sock* req_ = nullptr;  // requests (add/del), separate from the notification socket
    LinkCallback link_cb_;
    AddressCallback addr_cb_;
};

}  // namespace vigil::vrrp
