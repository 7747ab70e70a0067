#include "vrrp/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "vrrp/advert.h"

namespace vigil::vrrp {

namespace {

std::string errtext(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool setopt(int fd, int level, int name, int value, const char* what, std::string* error) {
    if (setsockopt(fd, level, name, &value, sizeof value) == 0) return true;
    if (error) *error = errtext(what);
    return false;
}

}  // namespace

std::unique_ptr<VrrpSocket> VrrpSocket::open(const SocketOptions& opts, std::string* error) {
    int fd = socket(opts.family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kIpProtoVrrp);
    if (fd < 0) {
        if (error) *error = errtext("socket(IPPROTO_VRRP)");
        return nullptr;
    }
    std::unique_ptr<VrrpSocket> s(new VrrpSocket(fd, opts));
    // Only this interface's packets: the same VRID may be in use on another LAN.
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, opts.ifname.c_str(), opts.ifname.size() + 1) != 0) {
        if (error) *error = errtext(("SO_BINDTODEVICE " + opts.ifname).c_str());
        return nullptr;
    }
    if (opts.family == AF_INET) {
        // RFC 5798 5.1.1.3 / RFC 3768 5.2.3: TTL 255, for both kinds of destination.
        if (!setopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, 255, "IP_MULTICAST_TTL", error)) return nullptr;
        if (!setopt(fd, IPPROTO_IP, IP_TTL, 255, "IP_TTL", error)) return nullptr;
        // Our own adverts must not come back to us as if from a peer.
        if (!setopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP", error)) return nullptr;
        if (!setopt(fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO", error)) return nullptr;
        ip_mreqn mif{};
        mif.imr_ifindex = opts.ifindex;
        if (opts.source) mif.imr_address = opts.source->to_in_addr();
        if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) != 0) {
            if (error) *error = errtext("IP_MULTICAST_IF");
            return nullptr;
        }
    } else {
        // RFC 5798 5.1.2.3: hop limit 255.
        if (!setopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255, "IPV6_MULTICAST_HOPS", error)) return nullptr;
        if (!setopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255, "IPV6_UNICAST_HOPS", error)) return nullptr;
        if (!setopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP", error)) return nullptr;
        if (!setopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT", error)) return nullptr;
        if (!setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO", error)) return nullptr;
        if (!setopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, opts.ifindex, "IPV6_MULTICAST_IF", error)) return nullptr;
    }
    if (!s->unicast() && !s->join(error)) return nullptr;
    return s;
}

VrrpSocket::~VrrpSocket() {
    if (fd_ >= 0) close(fd_);
}

bool VrrpSocket::join(std::string* error) {
    if (opts_.family == AF_INET) {
        ip_mreqn mreq{};
        mreq.imr_multiaddr = vrrp_multicast_group(AF_INET).to_in_addr();
        mreq.imr_ifindex = opts_.ifindex;
        if (setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0 && errno != EADDRINUSE) {
            if (error) *error = errtext("IP_ADD_MEMBERSHIP 224.0.0.18");
            return false;
        }
    } else {
        ipv6_mreq mreq{};
        mreq.ipv6mr_multiaddr = vrrp_multicast_group(AF_INET6).to_in6_addr();
        mreq.ipv6mr_interface = static_cast<unsigned>(opts_.ifindex);
        if (setsockopt(fd_, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0 && errno != EADDRINUSE) {
            if (error) *error = errtext("IPV6_ADD_MEMBERSHIP ff02::12");
            return false;
        }
    }
    return true;
}

bool VrrpSocket::rejoin(int ifindex, std::string* error) {
    opts_.ifindex = ifindex;
    // SO_BINDTODEVICE resolved the name to the old index: bind again.
    if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, opts_.ifname.c_str(), opts_.ifname.size() + 1) != 0) {
        if (error) *error = errtext(("SO_BINDTODEVICE " + opts_.ifname).c_str());
        return false;
    }
    if (opts_.family == AF_INET) {
        ip_mreqn mif{};
        mif.imr_ifindex = ifindex;
        if (opts_.source) mif.imr_address = opts_.source->to_in_addr();
        setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif);
    } else {
        setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
    }
    return unicast() || join(error);
}

bool VrrpSocket::send(std::span<const uint8_t> msg, std::string* error) {
    if (!unicast()) return send_to(msg, vrrp_multicast_group(opts_.family), error);
    bool ok = true;
    for (const auto& peer : opts_.unicast_peers)
        if (!send_to(msg, peer, error)) ok = false;
    return ok;
}

bool VrrpSocket::send_to(std::span<const uint8_t> msg, const IpAddress& dst, std::string* error) {
    sockaddr_storage ss{};
    socklen_t sslen;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
    msghdr mh{};
    iovec iov{const_cast<uint8_t*>(msg.data()), msg.size()};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_name = &ss;
    // Source address and outgoing interface per packet: the interface index
    // keeps unicast and multicast on the configured link, the source address
    // is the one peers use for tie-breaking (RFC 5798 6.4.3).
    mh.msg_control = control;
    if (dst.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_addr = dst.to_in_addr();
        sslen = sizeof *sin;
        mh.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo pi{};
        pi.ipi_ifindex = opts_.ifindex;
        if (opts_.source) pi.ipi_spec_dst = opts_.source->to_in_addr();
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = dst.to_in6_addr();
        if (dst.is_link_local_v6() || dst.is_multicast()) sin6->sin6_scope_id = static_cast<uint32_t>(opts_.ifindex);
        sslen = sizeof *sin6;
        mh.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
        in6_pktinfo pi{};
        pi.ipi6_ifindex = static_cast<unsigned>(opts_.ifindex);
        if (opts_.source) pi.ipi6_addr = opts_.source->to_in6_addr();
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
    mh.msg_namelen = sslen;
    if (sendmsg(fd_, &mh, MSG_DONTWAIT) < 0) {
        if (error) *error = errtext(("send to " + dst.str()).c_str());
        return false;
    }
    return true;
}

std::optional<ReceivedPacket> VrrpSocket::receive() {
    uint8_t buf[4096];
    sockaddr_storage from{};
    alignas(cmsghdr) char control[256];
    iovec iov{buf, sizeof buf};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd_, &mh, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    ReceivedPacket p;
    // A truncated datagram is kept truncated: the codec will drop it for its length.
    p.bytes.assign(buf, buf + n);
    if (from.ss_family == AF_INET) {
        p.src = IpAddress::v4(reinterpret_cast<sockaddr_in*>(&from)->sin_addr);
        if (n >= static_cast<ssize_t>(sizeof(iphdr))) {
            const auto* ip = reinterpret_cast<const iphdr*>(buf);
            p.hop_limit = ip->ttl;
            in_addr d;
            d.s_addr = ip->daddr;
            p.dst = IpAddress::v4(d);
        }
    } else if (from.ss_family == AF_INET6) {
        p.src = IpAddress::v6(reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr);
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            p.ifindex = pi.ipi_ifindex;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
            int hl;
            std::memcpy(&hl, CMSG_DATA(c), sizeof hl);
            p.hop_limit = hl;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            p.dst = IpAddress::v6(pi.ipi6_addr);
            p.ifindex = static_cast<int>(pi.ipi6_ifindex);
        }
    }
    return p;
}

}  // namespace vigil::vrrp
