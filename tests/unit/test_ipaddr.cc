// IpAddress::parse: IPv4 is parsed by vigil's own dotted-quad reader, IPv6 by
// inet_pton. Both must accept exactly what inet_pton accepts: checked on a
// table of edge cases and on random strings, with inet_pton as the reference.

#include <arpa/inet.h>

#include <cstring>
#include <random>
#include <string>

#include "daemon/ipaddr.h"

// cmocka last (it defines a fail() macro that C++ headers trip over), and as
// C: this version of its header has no extern "C" of its own.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using vigil::IpAddress;

namespace {

// What inet_pton makes of `text`, as an IpAddress (AF_INET first, as vigil
// has always tried them).
std::optional<IpAddress> reference(const std::string& text) {
    in_addr a4;
    if (inet_pton(AF_INET, text.c_str(), &a4) == 1) return IpAddress::v4(a4);
    in6_addr a6;
    if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) return IpAddress::v6(a6);
    return std::nullopt;
}

void expect_same_as_inet_pton(const std::string& text) {
    auto ours = IpAddress::parse(text);
    auto ref = reference(text);
    if (ours.has_value() != ref.has_value() || (ours && !(*ours == *ref)))
        fail_msg("'%s': vigil says %s, inet_pton says %s", text.c_str(), ours ? ours->str().c_str() : "invalid",
                 ref ? ref->str().c_str() : "invalid");
}

void test_edge_cases(void**) {
    const char* cases[] = {
        "0.0.0.0", "255.255.255.255", "10.200.99.99", "1.2.3.4", "192.168.10.300", "256.1.1.1", "1.2.3",
        "1.2.3.4.", "1.2.3.4.5", ".1.2.3", "1..2.3", "01.2.3.4", "1.02.3.4", "1.2.3.00", "1.2.3.0",
        "1.2.3.4 ", " 1.2.3.4", "1.2.3.4x", "1.2.3.-4", "+1.2.3.4", "1.2.3.1000", "1.2.3.0255", "999",
        "", ".", "...", "0", "4294967295", "0x1.2.3.4", "1.2.3.4/24", "::", "::1", "fe80::1", "2001:db8::10",
        "::ffff:10.0.0.1", "::ffff:10.0.0.256", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1",
        "10.0.0.1:80", "[::1]", "fe80::1%eth0", "gggg::1",
    };
    for (const char* c : cases) expect_same_as_inet_pton(c);
    // The values, not only validity.
    auto a = IpAddress::parse("10.200.3.4");
    assert_true(a.has_value());
    assert_string_equal(a->str().c_str(), "10.200.3.4");
    assert_true(a->is_v4());
}

void test_random_strings(void**) {
    // Mostly digits and dots (near-misses of dotted quads), some colons and
    // hex letters (IPv6), and a few other bytes.
    const char alphabet[] = "0123456789012345678901234567890123456789....:::abcdef x-/";
    std::mt19937 rng(20261201);
    std::uniform_int_distribution<size_t> len(0, 20), pick(0, sizeof alphabet - 2);
    int valid = 0;
    for (int i = 0; i < 200000; ++i) {
        std::string s(len(rng), ' ');
        for (auto& c : s) c = alphabet[pick(rng)];
        expect_same_as_inet_pton(s);
        if (reference(s)) ++valid;
    }
    // Some of them must have been addresses, or the comparison says little.
    assert_true(valid > 100);
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_random_strings),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
