#include "daemon/ipaddr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace vigil {

IpAddress IpAddress::v4(const in_addr& a) {
    IpAddress r;
    r.family_ = AF_INET;
    std::memcpy(r.bytes_.data(), &a, 4);
    return r;
}

IpAddress IpAddress::v6(const in6_addr& a) {
    IpAddress r;
    r.family_ = AF_INET6;
    std::memcpy(r.bytes_.data(), &a, 16);
    return r;
}

namespace {

// Dotted-quad IPv4 as glibc's inet_pton(3) reads it: exactly four decimal
// parts of 0-255, no leading zeros ("01" is refused), nothing else. Written
// out because a config of 10,000 real servers parses 10,000 of them, and
// inet_pton costs several times this (a copy to terminate the string, then
// two passes).
std::optional<in_addr> parse_dotted_quad(std::string_view text) {
    uint8_t parts[4];
    size_t n = 0, i = 0;
    while (n < 4) {
        if (i >= text.size() || text[i] < '0' || text[i] > '9') return std::nullopt;
        unsigned v = 0;
        const size_t first = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (i > first && v == 0) return std::nullopt;  // leading zero
            v = v * 10 + static_cast<unsigned>(text[i] - '0');
            if (v > 255) return std::nullopt;
            ++i;
        }
        parts[n++] = static_cast<uint8_t>(v);
        if (n < 4) {
            if (i >= text.size() || text[i] != '.') return std::nullopt;
            ++i;
        }
    }
    if (i != text.size()) return std::nullopt;
    in_addr a;
    std::memcpy(&a, parts, 4);
    return a;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
    // Only an IPv6 address has a colon; IPv4 has none.
    if (text.find(':') == std::string_view::npos) {
        if (auto a4 = parse_dotted_quad(text)) return v4(*a4);
        return std::nullopt;
    }
    char buf[INET6_ADDRSTRLEN + 1];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in6_addr a6;
    if (inet_pton(AF_INET6, buf, &a6) == 1) return v6(a6);
    return std::nullopt;
}

in_addr IpAddress::to_in_addr() const {
    in_addr a{};
    std::memcpy(&a, bytes_.data(), 4);
    return a;
}

in6_addr IpAddress::to_in6_addr() const {
    in6_addr a{};
    std::memcpy(&a, bytes_.data(), 16);
    return a;
}

bool IpAddress::is_multicast() const {
    if (is_v4()) return (bytes_[0] & 0xf0) == 0xe0;
    if (is_v6()) return bytes_[0] == 0xff;
    return false;
}

bool IpAddress::is_link_local_v6() const {
    return is_v6() && bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

std::string IpAddress::str() const {
    char buf[INET6_ADDRSTRLEN];
    if (family_ == AF_UNSPEC) return "";
    if (family_ == AF_INET) {
        // By hand: inet_ntop formats IPv4 through sprintf, ten times the cost,
        // and a 10,000-server config prints an address per server and state line.
        char* p = buf;
        for (int i = 0; i < 4; ++i) {
            if (i) *p++ = '.';
            p = std::to_chars(p, buf + sizeof buf, bytes_[i]).ptr;
        }
        return std::string(buf, p);
    }
    inet_ntop(family_, bytes_.data(), buf, sizeof buf);
    return buf;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
    auto slash = text.find('/');
    auto addr = IpAddress::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    int max = addr->is_v4() ? 32 : 128;
    int len = max;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        if (digits.empty()) return std::nullopt;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
        if (ec != std::errc() || p != digits.data() + digits.size() || len < 0 || len > max)
            return std::nullopt;
    }
    return IpPrefix{*addr, len};
}

std::string IpPrefix::str() const { return addr.str() + "/" + std::to_string(len); }

}  // namespace vigil
