// GarpPlan (keepalived's garp_master_delay / repeat / refresh) and the
// gratuitous ARP / unsolicited NA frame builders.

#include <chrono>

#include "vrrp/garp.h"

// cmocka last: its fail() macro clashes with the C++ library.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::vrrp;
using namespace std::chrono_literals;
using Clock = GarpPlan::Clock;

static void test_default_two_sets_then_nothing(void**) {
    GarpPlan plan(GarpSchedule{5000ms, 5, 0ms});
    auto t0 = Clock::time_point{} + 100s;
    assert_int_equal(plan.start(t0), 5);           // first set at once
    assert_true(plan.next_due().has_value());
    assert_true(*plan.next_due() == t0 + 5s);      // second set after the delay
    assert_int_equal(plan.fire(t0 + 4s), 0);       // early fire: nothing due
    assert_int_equal(plan.fire(t0 + 5s), 5);       // second set
    assert_false(plan.next_due().has_value());     // no refresh configured
    assert_int_equal(plan.fire(t0 + 60s), 0);
}

static void test_zero_delay_means_no_second_set(void**) {
    GarpPlan plan(GarpSchedule{0ms, 3, 0ms});
    assert_int_equal(plan.start(Clock::time_point{}), 3);
    assert_false(plan.active());
}

static void test_refresh_repeats_one_each_period(void**) {
    GarpPlan plan(GarpSchedule{2000ms, 2, 10000ms});
    auto t0 = Clock::time_point{} + 1s;
    assert_int_equal(plan.start(t0), 2);
    assert_int_equal(plan.fire(t0 + 2s), 2);
    assert_true(*plan.next_due() == t0 + 12s);
    assert_int_equal(plan.fire(t0 + 12s), 1);
    assert_true(*plan.next_due() == t0 + 22s);
}

static void test_refresh_without_second_set(void**) {
    GarpPlan plan(GarpSchedule{0ms, 1, 30000ms});
    auto t0 = Clock::time_point{} + 1s;
    assert_int_equal(plan.start(t0), 1);
    assert_true(*plan.next_due() == t0 + 30s);
}

static void test_stop_cancels(void**) {
    GarpPlan plan(GarpSchedule{5000ms, 5, 1000ms});
    auto t0 = Clock::time_point{} + 1s;
    plan.start(t0);
    plan.stop();
    assert_false(plan.active());
    assert_int_equal(plan.fire(t0 + 10s), 0);
    // A new mastership starts the whole sequence again.
    assert_int_equal(plan.start(t0 + 20s), 5);
    assert_int_equal(plan.fire(t0 + 25s), 5);
}

static void test_resume_keeps_refreshing_without_a_burst(void**) {
    GarpPlan plan(GarpSchedule{5000ms, 5, 10000ms});
    auto t0 = Clock::time_point{} + 1s;
    plan.resume(t0);
    assert_true(*plan.next_due() == t0 + 10s);  // no second set, only the refresh
    assert_int_equal(plan.fire(t0 + 5s), 0);
    assert_int_equal(plan.fire(t0 + 10s), 1);
    GarpPlan quiet(GarpSchedule{5000ms, 5, 0ms});
    quiet.resume(t0);
    assert_false(quiet.active());
}

static const std::array<uint8_t, 6> kMac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};

static void test_arp_frame(void**) {
    auto f = build_gratuitous_arp(kMac, *IpAddress::parse("10.77.0.100"));
    const uint8_t want[28] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,                 // Ethernet/IPv4, request
                              0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 10, 77, 0, 100,     // sender = us, VIP
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 77, 0, 100};    // target = VIP
    assert_int_equal(f.size(), 28);
    assert_memory_equal(f.data(), want, 28);
}

static void test_na_frame(void**) {
    auto vip = *IpAddress::parse("fd77::100");
    auto f = build_unsolicited_na(kMac, vip);
    assert_int_equal(f.size(), 32);
    assert_int_equal(f[0], 136);         // Neighbor Advertisement
    assert_int_equal(f[1], 0);
    assert_int_equal(f[4] & 0x20, 0x20); // Override
    assert_int_equal(f[4] & 0x40, 0);    // not Solicited (RFC 4861 7.2.6)
    assert_memory_equal(&f[8], vip.bytes(), 16);
    assert_int_equal(f[24], 2);          // target link-layer address option
    assert_int_equal(f[25], 1);
    assert_memory_equal(&f[26], kMac.data(), 6);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_two_sets_then_nothing),
        cmocka_unit_test(test_zero_delay_means_no_second_set),
        cmocka_unit_test(test_refresh_repeats_one_each_period),
        cmocka_unit_test(test_refresh_without_second_set),
        cmocka_unit_test(test_stop_cancels),
        cmocka_unit_test(test_resume_keeps_refreshing_without_a_burst),
        cmocka_unit_test(test_arp_frame),
        cmocka_unit_test(test_na_frame),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
