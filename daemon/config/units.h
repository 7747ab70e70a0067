// Text forms of config values shared by the loader and the dumper, so that
// what dump() writes is exactly what the loader reads back.
#pragma once

#include <chrono>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::config {

// keepalived <TIMER>: seconds with an optional fraction ("2.5" -> 2500 ms).
// keepalived keeps microseconds; vigil keeps milliseconds and rejects finer
// values rather than round them silently.
inline std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text) {
    if (text.empty()) return std::nullopt;
    auto dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    std::string_view frac = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (whole.empty() && frac.empty()) return std::nullopt;
    if (dot != std::string_view::npos && frac.empty()) return std::nullopt;
    int64_t s = 0;
    if (!whole.empty()) {
        auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), s);
        if (ec != std::errc() || p != whole.data() + whole.size() || s < 0 || s > 100'000'000) return std::nullopt;
    }
    int64_t ms = 0, scale = 100;
    for (char c : frac) {
        if (c < '0' || c > '9') return std::nullopt;
        if (scale == 0) {
            if (c != '0') return std::nullopt;
            continue;
        }
        ms += (c - '0') * scale;
        scale /= 10;
    }
    return std::chrono::milliseconds(s * 1000 + ms);
}

// The inverse: 2500 ms -> "2.5", 3000 ms -> "3".
inline std::string seconds_text(std::chrono::milliseconds ms) {
    auto v = ms.count();
    std::string out = std::to_string(v / 1000);
    if (v % 1000) {
        char buf[8];
        std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(v % 1000));
        std::string f = buf;
        while (f.back() == '0') f.pop_back();
        out += f;
    }
    return out;
}

}  // namespace vigil::config
