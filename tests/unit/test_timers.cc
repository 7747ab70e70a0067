// vrrp/timers: Skew_Time and Master_Down_Interval against values worked out by
// hand from RFC 3768 6.1 (v2) and RFC 5798 6.1 (v3), plus properties over
// every priority.
#include <cstdio>

#include "vrrp/timers.h"

// cmocka last: its macros (fail, check_expected...) must not reach C++
// headers. Its header declares C functions without extern "C".
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil::vrrp;

namespace {

struct TimerCase {
    const char* description;
    int version;
    int priority;
    int interval_cs;
    long skew_us;
    long master_down_us;
};

// Worked by hand (truncation to the microsecond where the division is inexact).
const TimerCase kCases[] = {
    {"v2 prio 100, 1 s: skew 156/256 s", 2, 100, 100, 609375, 3609375},
    {"v2 prio 255 owner, 1 s: skew 1/256 s", 2, 255, 100, 3906, 3003906},
    {"v2 prio 1, 3 s: skew 255/256 s", 2, 1, 300, 996093, 9996093},
    {"v2 prio 200, 2 s: skew independent of interval", 2, 200, 200, 218750, 6218750},
    {"v2 prio 254, 255 s (max)", 2, 254, 25500, 7812, 765007812},
    {"v3 prio 100, 1 s", 3, 100, 100, 609375, 3609375},
    {"v3 prio 100, 0.05 s: skew scales with interval", 3, 100, 5, 30468, 180468},
    {"v3 prio 254, 0.01 s (min)", 3, 254, 1, 78, 30078},
    {"v3 prio 50, 40.95 s (max)", 3, 50, 4095, 32951953, 155801953},
    {"v3 prio 150, 0.5 s", 3, 150, 50, 207031, 1707031},
    {"clamp: prio 0 counts as 1", 3, 0, 100, 996093, 3996093},
    {"clamp: prio 300 counts as 255", 3, 300, 100, 3906, 3003906},
    {"clamp: interval 0 counts as 1 cs", 3, 100, 0, 6093, 36093},
};

void test_table(void**)
{
    for (const TimerCase& c : kCases) {
        const ProtocolTimers t = protocol_timers(c.version, c.priority, Centiseconds{c.interval_cs});
        if (t.skew_time.count() != c.skew_us || t.master_down_interval.count() != c.master_down_us) {
            fprintf(stderr, "%s: skew %ld master_down %ld\n", c.description,
                    static_cast<long>(t.skew_time.count()), static_cast<long>(t.master_down_interval.count()));
            fail();
        }
    }
}

// Over every priority and a spread of intervals: Master_Down_Interval is
// always 3 intervals + skew, skew shrinks as priority grows (the better
// Backup fires first), and v3 skew stays below one interval.
void test_properties(void**)
{
    const int intervals[] = {1, 2, 5, 10, 33, 100, 250, 1000, 4095};
    for (int version : {2, 3}) {
        for (int interval : intervals) {
            Duration previous_skew = Duration::max();
            for (int prio = 1; prio <= 255; ++prio) {
                const ProtocolTimers t = protocol_timers(version, prio, Centiseconds{interval});
                assert_true(t.advert_interval == Centiseconds{interval});
                assert_true(t.master_down_interval == 3 * t.advert_interval + t.skew_time);
                assert_true(t.skew_time > Duration::zero() || (version == 3 && interval == 1 && prio == 255));
                assert_true(t.skew_time <= previous_skew);
                if (prio > 1 && version == 2) assert_true(t.skew_time < previous_skew);
                if (version == 3) assert_true(t.skew_time < t.advert_interval);
                if (version == 2) assert_true(t.skew_time < std::chrono::seconds{1});
                previous_skew = t.skew_time;
            }
        }
    }
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_properties),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
