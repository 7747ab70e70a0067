// Text forms of config values shared by the loader and the dumper, so that
// what dump() writes is exactly what the loader reads back.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>  // std::errc

namespace vigil::config {

// A whole decimal integer as std::from_chars reads one (an optional '-', then
// digits) that must be all of `text`: std::errc{} with `out` set,
// invalid_argument (no digits, or anything after them) or result_out_of_range.
// Written out because a config of 10,000 real servers has 30,000 numbers, and
// from_chars' any-base loop costs three times this for one or two digits.
inline std::errc parse_decimal(std::string_view text, int64_t& out) {
    size_t i = 0;
    const bool negative = !text.empty() && text[0] == '-';
    if (negative) ++i;
    if (i == text.size()) return std::errc::invalid_argument;
    for (size_t j = i; j < text.size(); ++j)
        if (text[j] < '0' || text[j] > '9') return std::errc::invalid_argument;
    uint64_t v = 0;
    for (; i < text.size(); ++i) {
        const auto digit = static_cast<uint64_t>(text[i] - '0');
        if (v > (UINT64_MAX - digit) / 10) return std::errc::result_out_of_range;
        v = v * 10 + digit;
    }
    const uint64_t limit = negative ? static_cast<uint64_t>(INT64_MAX) + 1 : static_cast<uint64_t>(INT64_MAX);
    if (v > limit) return std::errc::result_out_of_range;
    out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
    return {};
}

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
    if (!whole.empty() && (parse_decimal(whole, s) != std::errc() || s < 0 || s > 100'000'000)) return std::nullopt;
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
