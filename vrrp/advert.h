// VRRP ADVERTISEMENT codec: bytes <-> Advert, no I/O.
//
// Wire formats:
//  VRRPv2 (RFC 3768 5.1, IPv4 only)        VRRPv3 (RFC 5798 5.1, IPv4 and IPv6)
//   0: version(4) | type(4)                 0: version(4) | type(4)
//   1: VRID                                 1: VRID
//   2: priority                             2: priority
//   3: count IPv4 addrs                     3: count IPvX addrs
//   4: auth type                            4: rsvd(4) | max adver int(12), centiseconds
//   5: adver int (seconds)                  6: checksum (with pseudo-header)
//   6: checksum (VRRP message only)         8: count * 4 or 16 bytes of addresses
//   8: count * 4 bytes of IPv4 addresses
//   then 8 bytes of authentication data
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "daemon/ipaddr.h"
#include "vrrp/counters.h"
#include "vrrp/timers.h"

namespace vigil::vrrp {

inline constexpr uint8_t kIpProtoVrrp = 112;   // IANA protocol number
inline constexpr int kVrrpTtl = 255;           // RFC 5798 5.1.1.3 / 5.1.2.3
inline constexpr int kAdvertisementType = 1;   // the only VRRP packet type
inline constexpr int kPriorityOwner = 255;     // address owner (RFC 5798 6.1)
inline constexpr int kPriorityStop = 0;        // "Master stopped" (RFC 5798 5.2.4)
// v2 auth types (RFC 2338 5.3.6; RFC 3768 keeps the field, keepalived keeps PASS).
inline constexpr int kAuthNone = 0;
inline constexpr int kAuthPass = 1;

struct Advert {
    int version = 3;                 // 2 or 3
    int vrid = 0;                    // 1..255
    int priority = 100;              // 0..255
    Centiseconds advert_int{100};    // v2: whole seconds on the wire (x100 here)
    int auth_type = kAuthNone;       // v2 only
    std::array<char, 8> auth_data{}; // v2 only; PASS text, zero padded
    std::vector<IpAddress> addresses;
    IpAddress source;                // filled by parse() from PacketMeta; unused by serialize()

    bool operator==(const Advert&) const = default;
};

// What the socket layer knows about a received packet besides its VRRP bytes.
struct PacketMeta {
    int family = AF_INET;            // AF_INET or AF_INET6
    IpAddress source;                // IP source address
    IpAddress destination;           // IP destination (224.0.0.18, ff02::12 or unicast)
    int ttl = -1;                    // IPv4 TTL / IPv6 hop limit (IPV6_RECVHOPLIMIT cmsg); -1 unknown
    int expected_version = 0;        // 0: accept 2 and 3; 2 or 3: anything else is BadVersion
};

// A raw IPv4 socket (IPPROTO_VRRP) delivers the IPv4 header in front of the
// VRRP message. This splits it: fills meta.family/source/destination/ttl and
// returns the VRRP bytes (bounded by the header's total length), or
// TooShort / BadIpHeader. IPv6 raw sockets deliver only the payload; the
// caller fills PacketMeta from recvmsg() (source) and cmsgs (hop limit, dst).
struct Ipv4Split {
    std::span<const uint8_t> vrrp;
    PacketMeta meta;
};
std::variant<Ipv4Split, DropReason> split_ipv4(std::span<const uint8_t> ip_packet);

// parse(): is `vrrp_bytes` a valid VRRP ADVERTISEMENT?
//
// Contract. Checks, in this order, and returns the first failure
// (RFC 5798 7.1, RFC 3768 7.1):
//   1. at least the 8-byte fixed header               -> TooShort
//   2. meta.ttl == 255 (TTL / hop limit)              -> BadTtl
//   3. version 2 or 3; v2 only over IPv4; equal to
//      meta.expected_version when that is set         -> BadVersion
//   4. type == 1 (ADVERTISEMENT)                      -> BadType
//   5. checksum: v3 over the IPv4/IPv6 pseudo-header
//      (RFC 5798 5.2.8, needs meta.source/destination);
//      v2 over the VRRP message alone (RFC 3768 5.3.8) -> BadChecksum
//   6. length == header + count * address size
//      (+ 8 auth bytes for v2)                        -> BadLength
//   7. advertised addresses are unicast, non-zero     -> BadAddress
// On success the Advert carries every field, with source = meta.source.
// It does NOT check: VRID, v2 authentication, advertisement interval, own
// source address, address-list agreement. Those need the instance's
// configuration; see Instance::screen() in vrrp/instance.h.
// Never reads past the span, never throws, allocates only the address vector.
std::variant<Advert, DropReason> parse(std::span<const uint8_t> vrrp_bytes, const PacketMeta& meta);

// serialize(): the VRRP message (no IP header) for `advert`, checksum filled
// in: v3 over the pseudo-header built from src/dst (src/dst family selects
// IPv4 or IPv6), v2 over the message. advert.source is ignored.
// Values are encoded as given, masked to their field width (v2 interval:
// seconds, 1..255 expected; v3: centiseconds, 1..4095 expected).
std::vector<uint8_t> serialize(const Advert& advert, const IpAddress& src, const IpAddress& dst);

// The Internet checksum (RFC 1071) of `pseudo_header` followed by `data`,
// as stored in the packet (already complemented). Exposed for tests.
uint16_t internet_checksum(std::span<const uint8_t> pseudo_header, std::span<const uint8_t> data);

// The multicast group VRRP uses for a family (RFC 5798 5.1.1.2 / 5.1.2.2).
IpAddress vrrp_multicast_group(int family);

}  // namespace vigil::vrrp
