#include "vrrp/garp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace vigil::vrrp {

int GarpPlan::start(Clock::time_point now) {
    second_set_pending_ = sched_.delay.count() > 0;
    next_.reset();
    if (second_set_pending_)
        next_ = now + sched_.delay;
    else
        schedule_refresh(now);
    return sched_.repeat;
}

void GarpPlan::resume(Clock::time_point now) {
    second_set_pending_ = false;
    schedule_refresh(now);
}

void GarpPlan::schedule_refresh(Clock::time_point from) {
    if (sched_.refresh.count() > 0)
        next_ = from + sched_.refresh;
    else
        next_.reset();
}

int GarpPlan::fire(Clock::time_point now) {
    if (!next_ || now < *next_) return 0;
    if (second_set_pending_) {
        second_set_pending_ = false;
        schedule_refresh(now);
        return sched_.repeat;
    }
    schedule_refresh(now);
    // keepalived's garp_master_refresh_repeat defaults to 1.
    return 1;
}

std::vector<uint8_t> build_gratuitous_arp(const std::array<uint8_t, 6>& mac, const IpAddress& vip) {
    std::vector<uint8_t> f;
    f.reserve(28);
    auto put16 = [&](uint16_t v) {
        f.push_back(static_cast<uint8_t>(v >> 8));
        f.push_back(static_cast<uint8_t>(v));
    };
    put16(1);        // hardware type: Ethernet
    put16(0x0800);   // protocol type: IPv4
    f.push_back(6);  // hardware address length
    f.push_back(4);  // protocol address length
    put16(1);        // opcode: request (RFC 5227 3 prefers requests for announcements)
    f.insert(f.end(), mac.begin(), mac.end());
    f.insert(f.end(), vip.bytes(), vip.bytes() + 4);
    for (int i = 0; i < 6; ++i) f.push_back(0xff);
    f.insert(f.end(), vip.bytes(), vip.bytes() + 4);
    return f;
}

std::vector<uint8_t> build_unsolicited_na(const std::array<uint8_t, 6>& mac, const IpAddress& vip) {
    std::vector<uint8_t> f(32, 0);
    f[0] = 136;   // ND_NEIGHBOR_ADVERT
    f[1] = 0;
    // f[2..3] checksum: filled in by the kernel.
    f[4] = 0x20;  // Override flag (RFC 4861 7.2.6: unsolicited NAs SHOULD set it); not Solicited
    std::memcpy(&f[8], vip.bytes(), 16);
    f[24] = 2;    // option: target link-layer address
    f[25] = 1;    // length in units of 8 octets
    std::memcpy(&f[26], mac.data(), 6);
    return f;
}

std::unique_ptr<GarpSender> GarpSender::open(std::string* error) {
    std::unique_ptr<GarpSender> s(new GarpSender());
    s->arp_fd_ = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->arp_fd_ < 0) {
        if (error) *error = std::string("AF_PACKET socket: ") + std::strerror(errno);
        return nullptr;
    }
    s->nd_fd_ = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
    if (s->nd_fd_ < 0) {
        if (error) *error = std::string("ICMPv6 socket: ") + std::strerror(errno);
        return nullptr;
    }
    // Receivers ignore NAs with any other hop limit (RFC 4861 7.1.2).
    int hops = 255;
    setsockopt(s->nd_fd_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
    setsockopt(s->nd_fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops);
    // The socket only sends; drop everything it would otherwise receive.
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    setsockopt(s->nd_fd_, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
    return s;
}

GarpSender::~GarpSender() {
    if (arp_fd_ >= 0) close(arp_fd_);
    if (nd_fd_ >= 0) close(nd_fd_);
}

bool GarpSender::announce(int ifindex, const std::array<uint8_t, 6>& mac, const IpAddress& vip, std::string* error) {
    if (vip.is_v4()) {
        auto frame = build_gratuitous_arp(mac, vip);
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_protocol = htons(ETH_P_ARP);
        to.sll_ifindex = ifindex;
        to.sll_halen = 6;
        std::memset(to.sll_addr, 0xff, 6);
        if (sendto(arp_fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
            if (error) *error = "gratuitous ARP for " + vip.str() + ": " + std::strerror(errno);
            return false;
        }
    } else {
        auto msg = build_unsolicited_na(mac, vip);
        sockaddr_in6 to{};
        to.sin6_family = AF_INET6;
        inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);  // all-nodes (RFC 4861 7.2.6)
        to.sin6_scope_id = static_cast<uint32_t>(ifindex);
        int idx = ifindex;
        setsockopt(nd_fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx);
        if (sendto(nd_fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
            if (error) *error = "unsolicited NA for " + vip.str() + ": " + std::strerror(errno);
            return false;
        }
    }
    ++sent_;
    return true;
}

}  // namespace vigil::vrrp
