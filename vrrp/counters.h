// Why a received VRRP packet was not used, and how often. Two families:
//  - DropReason: the bytes are not a valid VRRP packet (decided by parse(),
//    vrrp/advert.h, in the order of RFC 5798 section 7.1 / RFC 3768 7.1);
//  - RejectReason: a valid packet that is not for this instance or disagrees
//    with its configuration (decided by the caller, see Instance::screen()).
// Neither kind ever reaches the state machine: a dropped or rejected packet
// changes no state and restarts no timer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace vigil::vrrp {

enum class DropReason {
    TooShort,      // fewer bytes than the fixed header (or the IPv4 header)
    BadIpHeader,   // IPv4 header inconsistent: IHL, total length, protocol
    BadTtl,        // IPv4 TTL / IPv6 hop limit is not 255 (RFC 5798 7.1)
    BadVersion,    // not 2 or 3, v2 over IPv6, or not the version the caller expects
    BadType,       // type is not 1 (ADVERTISEMENT)
    BadChecksum,   // v3: over the pseudo-header (RFC 5798 5.2.8); v2: the VRRP message
    BadLength,     // length disagrees with the address count
    BadAddress,    // an advertised address is unusable (multicast, unspecified)
    Count_
};
inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::Count_);

enum class RejectReason {
    WrongVrid,             // no instance on this interface/family has this VRID
    VersionMismatch,       // valid packet of the other VRRP version
    AuthMismatch,          // v2: auth type or PASS data differs (RFC 2338 5.3.6)
    IntervalMismatch,      // v2: advert interval differs (RFC 3768 7.1); v3 learns it
    OwnAddress,            // our own advert (multicast loopback or looped unicast)
    AddressListMismatch,   // address list differs; logged and counted, NOT dropped
    Count_
};
inline constexpr size_t kRejectReasonCount = static_cast<size_t>(RejectReason::Count_);

// Stable, lower-case names for logs and the metrics endpoint.
const char* to_string(DropReason reason);
const char* to_string(RejectReason reason);

// Per-instance (or per-socket for WrongVrid and drops) packet accounting.
struct PacketCounters {
    uint64_t received = 0;  // every packet handed to parse()
    uint64_t accepted = 0;  // reached the state machine
    std::array<uint64_t, kDropReasonCount> dropped{};
    std::array<uint64_t, kRejectReasonCount> rejected{};

    void count(DropReason r) { ++dropped[static_cast<size_t>(r)]; }
    void count(RejectReason r) { ++rejected[static_cast<size_t>(r)]; }
    uint64_t of(DropReason r) const { return dropped[static_cast<size_t>(r)]; }
    uint64_t of(RejectReason r) const { return rejected[static_cast<size_t>(r)]; }
};

}  // namespace vigil::vrrp
