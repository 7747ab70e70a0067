// CheckerHealth: the up/down decision under retry, delay_before_retry, alpha.

#include <algorithm>
#include <string>
#include <vector>

#include "check/health.h"

// cmocka last: its macros (fail, ...) clash with the C++ headers; its header
// declares C functions without extern "C".
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil::check;
using std::chrono::milliseconds;

namespace {

const RetryPolicy kPolicy{3, milliseconds{700}, milliseconds{5000}};

// Feeds "F"/"S" results; returns the health after each one as "U"/"D", and
// the delay chosen after each as 'r' (delay_before_retry) or 'l' (delay_loop).
struct Trace {
    std::string health;
    std::string delays;
    std::string changes;
};
Trace feed(CheckerHealth& h, const std::string& results) {
    Trace t;
    for (char c : results) {
        Verdict v = h.on_result(c == 'S' ? ProbeResult::success() : ProbeResult::failure());
        t.health += v.health == Health::Up ? 'U' : 'D';
        if (v.next_probe_in == h.policy().delay_before_retry && v.retrying)
            t.delays += 'r';
        else if (v.next_probe_in == h.policy().delay_loop && !v.retrying)
            t.delays += 'l';
        else
            t.delays += '?';
        t.changes += v.changed ? '*' : '.';
    }
    return t;
}

void test_down_only_after_retries_spent(void**) {
    for (int retry = 0; retry <= 4; ++retry) {
        CheckerHealth h({retry, milliseconds{700}, milliseconds{5000}}, /*alpha=*/false);
        assert_int_equal(h.health(), Health::Up);
        std::string fails(static_cast<size_t>(retry + 1), 'F');
        Trace t = feed(h, fails);
        // retry failures stay UP with a retry delay, the (retry+1)-th goes DOWN.
        assert_string_equal(t.health.c_str(), (std::string(static_cast<size_t>(retry), 'U') + "D").c_str());
        assert_string_equal(t.delays.c_str(), (std::string(static_cast<size_t>(retry), 'r') + "l").c_str());
        assert_string_equal(t.changes.c_str(), (std::string(static_cast<size_t>(retry), '.') + "*").c_str());
    }
}

void test_success_during_retries_resets(void**) {
    CheckerHealth h(kPolicy, false);
    Trace t = feed(h, "FFSFFF" "F");
    // Two failures, a success (count reset), then 3 retries and the 4th fails.
    assert_string_equal(t.health.c_str(), "UUUUUUD");
    assert_string_equal(t.delays.c_str(), "rrlrrrl");
    assert_int_equal(h.failures_in_row(), 0);
}

void test_up_on_first_success(void**) {
    CheckerHealth h(kPolicy, false);
    feed(h, "FFFF");
    assert_int_equal(h.health(), Health::Down);
    Trace t = feed(h, "S");
    assert_string_equal(t.health.c_str(), "U");
    assert_string_equal(t.changes.c_str(), "*");
    assert_string_equal(t.delays.c_str(), "l");
}

void test_down_stays_down_at_delay_loop(void**) {
    CheckerHealth h(kPolicy, false);
    feed(h, "FFFF");
    Trace t = feed(h, "FFF");
    assert_string_equal(t.health.c_str(), "DDD");
    assert_string_equal(t.delays.c_str(), "lll");
    assert_string_equal(t.changes.c_str(), "...");
}

void test_alpha_starts_down(void**) {
    for (int retry : {0, 1, 3}) {
        CheckerHealth h({retry, milliseconds{100}, milliseconds{1000}}, /*alpha=*/true);
        assert_int_equal(h.health(), Health::Down);
        Trace t = feed(h, "F");
        // Already down: no retry needed, no change.
        assert_string_equal(t.health.c_str(), "D");
        assert_string_equal(t.changes.c_str(), ".");
        assert_string_equal(t.delays.c_str(), "l");
        t = feed(h, "S");
        assert_string_equal(t.health.c_str(), "U");
        assert_string_equal(t.changes.c_str(), "*");
        // Once up, the retry rule applies as without alpha.
        t = feed(h, std::string(static_cast<size_t>(retry + 1), 'F'));
        assert_true(t.health.back() == 'D');
        assert_int_equal(std::count(t.changes.begin(), t.changes.end(), '*'), 1);
    }
}

void test_without_alpha_starts_up(void**) {
    CheckerHealth h(kPolicy, false);
    Trace t = feed(h, "S");
    assert_string_equal(t.changes.c_str(), ".");  // already up: no transition
}

void test_every_combination_bounded(void**) {
    // Exhaustive over all result sequences of length 8, retry 0..3, alpha on/off:
    // DOWN exactly when the checker was up and saw retry+1 failures in a row.
    for (int retry = 0; retry <= 3; ++retry)
        for (int alpha = 0; alpha <= 1; ++alpha)
            for (unsigned bits = 0; bits < 256; ++bits) {
                CheckerHealth h({retry, milliseconds{10}, milliseconds{100}}, alpha != 0);
                bool up = !alpha;
                int run = 0;
                for (int i = 0; i < 8; ++i) {
                    bool ok = bits & (1u << i);
                    Verdict v = h.on_result(ok ? ProbeResult::success() : ProbeResult::failure());
                    bool was_up = up;
                    if (ok) {
                        up = true;
                        run = 0;
                    } else if (up && ++run > retry) {
                        up = false;
                        run = 0;
                    }
                    assert_int_equal(v.health == Health::Up, up);
                    assert_int_equal(v.changed, was_up != up);
                    assert_int_equal(v.retrying, !ok && up);
                    assert_true(v.next_probe_in == (v.retrying ? milliseconds{10} : milliseconds{100}));
                }
            }
}

void test_misc_dynamic_weight_kept(void**) {
    CheckerHealth h(kPolicy, false);
    h.on_result({true, 7});
    assert_int_equal(*h.dynamic_weight(), 7);
    h.on_result(ProbeResult::success());
    assert_int_equal(*h.dynamic_weight(), 7);
    h.on_result({true, 0});
    assert_int_equal(*h.dynamic_weight(), 0);
}

void test_first_probe_delay_spread(void**) {
    const milliseconds bound{10000};
    std::vector<int> buckets(10, 0);
    for (uint64_t seed = 0; seed < 10000; ++seed) {
        milliseconds d = first_probe_delay(bound, seed);
        assert_true(d >= milliseconds{0} && d < bound);
        ++buckets[static_cast<size_t>(d.count() / 1000)];
    }
    // Roughly uniform: every tenth of the window gets 7-13% of the checks.
    for (int b : buckets) assert_true(b > 700 && b < 1300);
    assert_true(first_probe_delay(milliseconds{0}, 5) == milliseconds{0});
    assert_true(first_probe_delay(bound, 1) == first_probe_delay(bound, 1));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_down_only_after_retries_spent),
        cmocka_unit_test(test_success_during_retries_resets),
        cmocka_unit_test(test_up_on_first_success),
        cmocka_unit_test(test_down_stays_down_at_delay_loop),
        cmocka_unit_test(test_alpha_starts_down),
        cmocka_unit_test(test_without_alpha_starts_up),
        cmocka_unit_test(test_every_combination_bounded),
        cmocka_unit_test(test_misc_dynamic_weight_kept),
        cmocka_unit_test(test_first_probe_delay_spread),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
