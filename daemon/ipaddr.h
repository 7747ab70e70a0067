// IPv4/IPv6 addresses and prefixes as values: parsed once from text, compared,
// ordered and printed. Used by the config model, VRRP, checks and IPVS alike.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil {

class IpAddress {
public:
    IpAddress() = default;
    static IpAddress v4(const in_addr& a);
    static IpAddress v6(const in6_addr& a);
    // Strict: dotted quad or RFC 4291 text; no hostnames, no prefix.
    static std::optional<IpAddress> parse(std::string_view text);

    int family() const { return family_; }  // AF_INET, AF_INET6, or AF_UNSPEC if empty
    bool is_v4() const { return family_ == AF_INET; }
    bool is_v6() const { return family_ == AF_INET6; }
    bool empty() const { return family_ == AF_UNSPEC; }
    const uint8_t* bytes() const { return bytes_.data(); }
    size_t size() const { return family_ == AF_INET ? 4 : family_ == AF_INET6 ? 16 : 0; }
    in_addr to_in_addr() const;
    in6_addr to_in6_addr() const;
    bool is_multicast() const;
    bool is_link_local_v6() const;
    std::string str() const;

    friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
    friend bool operator==(const IpAddress&, const IpAddress&) = default;

private:
    int family_ = AF_UNSPEC;
    std::array<uint8_t, 16> bytes_{};
};

struct IpPrefix {
    IpAddress addr;
    int len = 0;  // 0-32 / 0-128
    // "a.b.c.d" (host prefix) or "a.b.c.d/len".
    static std::optional<IpPrefix> parse(std::string_view text);
    std::string str() const;
    friend auto operator<=>(const IpPrefix&, const IpPrefix&) = default;
    friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

}  // namespace vigil
