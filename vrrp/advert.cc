#include "vrrp/advert.h"

#include <netinet/ip.h>

#include <algorithm>
#include <cstring>

namespace vigil::vrrp {

namespace {

constexpr size_t kFixedHeaderSize = 8;   // RFC 3768 5.1 / RFC 5798 5.1
constexpr size_t kV2AuthDataSize = 8;    // RFC 3768 5.1: Authentication Data
constexpr size_t kIpv4HeaderMin = 20;
constexpr size_t kMaxAddresses = 255;    // the count field is one byte

size_t address_size(int family) { return family == AF_INET6 ? 16 : 4; }

IpAddress address_from(const uint8_t* p, int family)
{
    if (family == AF_INET6) {
        in6_addr a;
        std::memcpy(&a, p, sizeof a);
        return IpAddress::v6(a);
    }
    in_addr a;
    std::memcpy(&a, p, sizeof a);
    return IpAddress::v4(a);
}

// The pseudo-header of RFC 5798 5.2.8, which points to RFC 2460 8.1 (IPv6:
// source, destination, upper-layer length as 32 bits, 3 zero bytes, next
// header) and, for IPv4, to the UDP/TCP pseudo-header of RFC 768 / RFC 793
// (source, destination, zero, protocol, length as 16 bits).
// Returns the number of bytes written into `out`, 0 if src/dst are unusable.
size_t pseudo_header(const IpAddress& src, const IpAddress& dst, size_t vrrp_length,
                     std::array<uint8_t, 40>& out)
{
    if (src.family() != dst.family() || src.empty()) return 0;
    out.fill(0);
    if (src.is_v4()) {
        std::memcpy(&out[0], src.bytes(), 4);
        std::memcpy(&out[4], dst.bytes(), 4);
        out[9] = kIpProtoVrrp;
        out[10] = static_cast<uint8_t>(vrrp_length >> 8);
        out[11] = static_cast<uint8_t>(vrrp_length);
        return 12;
    }
    std::memcpy(&out[0], src.bytes(), 16);
    std::memcpy(&out[16], dst.bytes(), 16);
    out[34] = static_cast<uint8_t>(vrrp_length >> 8);
    out[35] = static_cast<uint8_t>(vrrp_length);
    out[39] = kIpProtoVrrp;
    return 40;
}

void put16(std::vector<uint8_t>& buf, size_t at, uint16_t value)
{
    buf[at] = static_cast<uint8_t>(value >> 8);
    buf[at + 1] = static_cast<uint8_t>(value);
}

}  // namespace

const char* to_string(DropReason reason)
{
    switch (reason) {
    case DropReason::TooShort: return "too_short";
    case DropReason::BadIpHeader: return "bad_ip_header";
    case DropReason::BadTtl: return "bad_ttl";
    case DropReason::BadVersion: return "bad_version";
    case DropReason::BadType: return "bad_type";
    case DropReason::BadChecksum: return "bad_checksum";
    case DropReason::BadLength: return "bad_length";
    case DropReason::BadAddress: return "bad_address";
    case DropReason::Count_: break;
    }
    return "unknown";
}

const char* to_string(RejectReason reason)
{
    switch (reason) {
    case RejectReason::WrongVrid: return "wrong_vrid";
    case RejectReason::VersionMismatch: return "version_mismatch";
    case RejectReason::AuthMismatch: return "auth_mismatch";
    case RejectReason::IntervalMismatch: return "interval_mismatch";
    case RejectReason::OwnAddress: return "own_address";
    case RejectReason::AddressListMismatch: return "address_list_mismatch";
    case RejectReason::Count_: break;
    }
    return "unknown";
}

uint16_t internet_checksum(std::span<const uint8_t> pseudo_header, std::span<const uint8_t> data)
{
    // RFC 1071: one's complement sum of 16-bit big-endian words, odd byte
    // padded with zero, carries folded, result complemented.
    uint32_t sum = 0;
    auto add = [&sum](std::span<const uint8_t> bytes) {
        size_t i = 0;
        for (; i + 1 < bytes.size(); i += 2) sum += static_cast<uint32_t>(bytes[i] << 8 | bytes[i + 1]);
        if (i < bytes.size()) sum += static_cast<uint32_t>(bytes[i] << 8);
        // Fold now so the 32-bit sum cannot overflow however long the input.
        sum = (sum & 0xffff) + (sum >> 16);
    };
    add(pseudo_header);
    add(data);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum & 0xffff);
}

IpAddress vrrp_multicast_group(int family)
{
    // RFC 5798 5.1.1.2: 224.0.0.18; 5.1.2.2: ff02::12.
    return *IpAddress::parse(family == AF_INET6 ? "ff02::12" : "224.0.0.18");
}

std::variant<Ipv4Split, DropReason> split_ipv4(std::span<const uint8_t> ip_packet)
{
    if (ip_packet.size() < kIpv4HeaderMin) return DropReason::TooShort;
    const size_t header_len = static_cast<size_t>(ip_packet[0] & 0x0f) * 4;
    const size_t total_len = static_cast<size_t>(ip_packet[2] << 8 | ip_packet[3]);
    if ((ip_packet[0] >> 4) != 4 || header_len < kIpv4HeaderMin || header_len > ip_packet.size())
        return DropReason::BadIpHeader;
    // The kernel hands raw sockets the header as on the wire (network order
    // total length). A datagram shorter than its header claims is truncated;
    // bytes beyond total_len are link-layer padding and ignored.
    if (total_len < header_len || total_len > ip_packet.size()) return DropReason::BadIpHeader;
    if (ip_packet[9] != kIpProtoVrrp) return DropReason::BadIpHeader;

    Ipv4Split split;
    split.vrrp = ip_packet.subspan(header_len, total_len - header_len);
    split.meta.family = AF_INET;
    split.meta.ttl = ip_packet[8];
    split.meta.source = address_from(&ip_packet[12], AF_INET);
    split.meta.destination = address_from(&ip_packet[16], AF_INET);
    return split;
}

std::variant<Advert, DropReason> parse(std::span<const uint8_t> bytes, const PacketMeta& meta)
{
    // 1. The fixed header must be there before any field is read.
    if (bytes.size() < kFixedHeaderSize) return DropReason::TooShort;

    // 2. RFC 5798 7.1 / RFC 3768 7.1: "MUST verify that the IP TTL [hop limit]
    //    is 255": a packet that crossed a router is not from this link.
    if (meta.ttl != kVrrpTtl) return DropReason::BadTtl;

    // 3. Version: v2 exists only for IPv4 (RFC 3768); v3 for both.
    const int version = bytes[0] >> 4;
    if (version != 2 && version != 3) return DropReason::BadVersion;
    if (version == 2 && meta.family != AF_INET) return DropReason::BadVersion;
    if (meta.expected_version != 0 && version != meta.expected_version) return DropReason::BadVersion;

    // 4. Type: ADVERTISEMENT is the only one defined (RFC 5798 5.2.2).
    if ((bytes[0] & 0x0f) != kAdvertisementType) return DropReason::BadType;

    // 5. Checksum over what was received; a valid packet sums to zero.
    //    v3 (RFC 5798 5.2.8) includes the pseudo-header; v2 (RFC 3768 5.3.8)
    //    covers "the entire VRRP message starting with the version field".
    if (version == 3) {
        std::array<uint8_t, 40> pseudo;
        const size_t pseudo_len = pseudo_header(meta.source, meta.destination, bytes.size(), pseudo);
        if (pseudo_len == 0 || meta.source.family() != meta.family) return DropReason::BadChecksum;
        if (internet_checksum(std::span(pseudo.data(), pseudo_len), bytes) != 0)
            return DropReason::BadChecksum;
    } else if (internet_checksum({}, bytes) != 0) {
        return DropReason::BadChecksum;
    }

    // 6. Length must match the address count exactly (RFC 5798 7.1: "MUST
    //    verify that the received packet contains the complete VRRP packet").
    const size_t count = bytes[3];
    const size_t addr_size = address_size(meta.family);
    const size_t expected = kFixedHeaderSize + count * addr_size + (version == 2 ? kV2AuthDataSize : 0);
    if (bytes.size() != expected) return DropReason::BadLength;

    Advert advert;
    advert.version = version;
    advert.vrid = bytes[1];
    advert.priority = bytes[2];
    if (version == 3) {
        // The top 4 bits are reserved: "MUST be ignored on reception" (5.2.6).
        advert.advert_int = Centiseconds{(bytes[4] & 0x0f) << 8 | bytes[5]};
    } else {
        advert.auth_type = bytes[4];
        advert.advert_int = Centiseconds{bytes[5] * 100};
        std::memcpy(advert.auth_data.data(), &bytes[expected - kV2AuthDataSize], kV2AuthDataSize);
    }

    // 7. Every advertised address must be a usable unicast address.
    advert.addresses.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        const uint8_t* raw = &bytes[kFixedHeaderSize + i * addr_size];
        IpAddress addr = address_from(raw, meta.family);
        const bool unspecified = std::all_of(raw, raw + addr_size, [](uint8_t b) { return b == 0; });
        if (unspecified || addr.is_multicast()) return DropReason::BadAddress;
        advert.addresses.push_back(addr);
    }
    advert.source = meta.source;
    return advert;
}

std::vector<uint8_t> serialize(const Advert& advert, const IpAddress& src, const IpAddress& dst)
{
    const int family = src.empty() ? AF_INET : src.family();
    const size_t addr_size = address_size(family);
    std::vector<const IpAddress*> addresses;
    for (const IpAddress& a : advert.addresses)
        if (a.family() == family && addresses.size() < kMaxAddresses) addresses.push_back(&a);

    const bool v2 = advert.version == 2;
    std::vector<uint8_t> buf(kFixedHeaderSize + addresses.size() * addr_size + (v2 ? kV2AuthDataSize : 0), 0);
    buf[0] = static_cast<uint8_t>((v2 ? 2 : 3) << 4 | kAdvertisementType);
    buf[1] = static_cast<uint8_t>(advert.vrid);
    buf[2] = static_cast<uint8_t>(advert.priority);
    buf[3] = static_cast<uint8_t>(addresses.size());
    if (v2) {
        buf[4] = static_cast<uint8_t>(advert.auth_type);
        buf[5] = static_cast<uint8_t>(advert.advert_int.count() / 100);
    } else {
        put16(buf, 4, static_cast<uint16_t>(advert.advert_int.count() & 0x0fff));
    }
    for (size_t i = 0; i < addresses.size(); ++i)
        std::memcpy(&buf[kFixedHeaderSize + i * addr_size], addresses[i]->bytes(), addr_size);
    if (v2) std::memcpy(&buf[buf.size() - kV2AuthDataSize], advert.auth_data.data(), kV2AuthDataSize);

    uint16_t checksum;
    if (v2) {
        checksum = internet_checksum({}, buf);
    } else {
        std::array<uint8_t, 40> pseudo;
        const size_t pseudo_len = pseudo_header(src, dst, buf.size(), pseudo);
        checksum = internet_checksum(std::span(pseudo.data(), pseudo_len), buf);
    }
    put16(buf, 6, checksum);
    return buf;
}

}  // namespace vigil::vrrp
