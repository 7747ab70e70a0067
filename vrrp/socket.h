// Raw VRRP sockets (IP protocol 112), one per (interface, family, mode), shared
// by every instance on that interface and demultiplexed by VRID by the caller.
//
// Multicast mode joins 224.0.0.18 / ff02::12 on the interface (RFC 5798 5.1.1.2,
// 5.1.2.2); unicast mode (keepalived's unicast_src_ip + unicast_peer) sends to
// each peer. Every packet leaves with TTL / hop limit 255 (RFC 5798 5.1.1.3,
// 5.1.2.3) because receivers drop anything else.
//
// The socket does no VRRP validation: it hands the bytes, the sender, the
// destination and the TTL / hop limit to the codec, which checks them in RFC
// order and counts drops. The kernel's IPv6 checksum offload (IPV6_CHECKSUM)
// is deliberately NOT enabled: it would drop bad checksums silently, and vigil
// counts them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemon/ipaddr.h"

namespace vigil::vrrp {

struct SocketOptions {
    int family = AF_INET;
    std::string ifname;
    int ifindex = 0;
    // Unicast mode when non-empty: adverts go to each peer instead of the group,
    // and only packets addressed to `source` are received.
    std::vector<IpAddress> unicast_peers;
    // Source address of sent adverts. Empty: the kernel picks (the interface's
    // primary address; for IPv6 it must be link-local, RFC 5798 5.1.2.1).
    std::optional<IpAddress> source;
};

struct ReceivedPacket {
    // IPv4: the whole IP datagram, header included (the codec checks TTL and
    // skips options). IPv6: the VRRP message only (raw IPv6 sockets never see
    // the fixed header); hop_limit comes from IPV6_HOPLIMIT ancillary data.
    std::vector<uint8_t> bytes;
    IpAddress src;
    IpAddress dst;
    int hop_limit = -1;   // -1: unknown
    int ifindex = 0;
};

class VrrpSocket {
public:
    // nullptr and *error set when the socket cannot be created (no privilege,
    // no such interface, ...).
    static std::unique_ptr<VrrpSocket> open(const SocketOptions& opts, std::string* error);
    ~VrrpSocket();
    VrrpSocket(const VrrpSocket&) = delete;
    VrrpSocket& operator=(const VrrpSocket&) = delete;

    int fd() const { return fd_; }
    const SocketOptions& options() const { return opts_; }
    bool unicast() const { return !opts_.unicast_peers.empty(); }

    // Sends one VRRP message (no IP header) to the group, or to every unicast
    // peer. False (with errno-based text in *error) if any send failed.
    bool send(std::span<const uint8_t> vrrp_message, std::string* error);
    // Sends to one explicit destination (used by tests and by unicast replies).
    bool send_to(std::span<const uint8_t> vrrp_message, const IpAddress& dst, std::string* error);

    // One datagram, or nullopt when nothing is pending (non-blocking).
    std::optional<ReceivedPacket> receive();

    // Re-join the multicast group after the interface came back up (the
    // kernel drops memberships when an interface goes away).
    bool rejoin(int ifindex, std::string* error);

private:
    VrrpSocket(int fd, SocketOptions opts) : fd_(fd), opts_(std::move(opts)) {}
    bool join(std::string* error);
    int fd_;
    SocketOptions opts_;
};

}  // namespace vigil::vrrp
