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

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN + 1];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1) return v4(a4);
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
