// RestartPolicy: exponential backoff and the crash-loop limit, with a
// synthetic clock (no processes, no sleeping).
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <string>

#include "daemon/supervisor.h"

// cmocka last: it defines macros (fail, ...) that clash with C++ headers.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
// cmocka.h has no extern "C" of its own.
extern "C" {
#include <cmocka.h>
}

using vigil::RestartPolicy;
using vigil::RestartPolicyOptions;
using namespace std::chrono_literals;
using TimePoint = RestartPolicy::Clock::time_point;

namespace {

const TimePoint t0{};

RestartPolicyOptions opts(int limit = 5, std::chrono::seconds window = 60s) {
    RestartPolicyOptions o;
    o.initial_backoff = 100ms;
    o.max_backoff = 1000ms;
    o.crash_limit = limit;
    o.crash_window = window;
    return o;
}

void test_backoff_doubles_and_caps(void**) {
    // Deaths spaced 1 s apart, limit high enough never to give up here.
    RestartPolicy p(opts(100, 3600s));
    const long expected[] = {100, 200, 400, 800, 1000, 1000, 1000};
    TimePoint now = t0;
    for (long want : expected) {
        auto d = p.on_exit(now, now + 1s);
        now += 1s;
        assert_true(d.restart);
        assert_int_equal(d.delay.count(), want);
    }
}

void test_gives_up_at_limit_within_window(void**) {
    RestartPolicy p(opts(5, 60s));
    TimePoint now = t0;
    for (int i = 1; i <= 4; ++i) {
        auto d = p.on_exit(now, now + 100ms);
        now += 1s;
        assert_true(d.restart);
        assert_int_equal(d.crashes_in_window, i);
    }
    auto d = p.on_exit(now, now + 100ms);
    assert_false(d.restart);
    assert_int_equal(d.crashes_in_window, 5);
}

void test_old_deaths_leave_the_window(void**) {
    RestartPolicy p(opts(3, 10s));
    // Two quick deaths, then a long quiet period: the window forgets them.
    assert_true(p.on_exit(t0, t0 + 1s).restart);
    assert_true(p.on_exit(t0 + 1s, t0 + 2s).restart);
    auto d = p.on_exit(t0 + 2s, t0 + 2s + 10s);
    assert_true(d.restart);
    assert_int_equal(d.crashes_in_window, 1);
    // But three within the window still give up.
    assert_true(p.on_exit(t0 + 13s, t0 + 13s + 1s).restart);
    assert_false(p.on_exit(t0 + 15s, t0 + 15s + 1s).restart);
}

void test_long_run_resets_backoff(void**) {
    RestartPolicy p(opts(100, 30s));
    TimePoint now = t0;
    for (int i = 0; i < 4; ++i) {
        p.on_exit(now, now + 100ms);
        now += 1s;
    }
    // Ran for a whole window before dying: back to the initial delay.
    auto d = p.on_exit(now, now + 30s);
    assert_int_equal(d.delay.count(), 100);
    now += 31s;
    d = p.on_exit(now, now + 1s);
    assert_int_equal(d.delay.count(), 200);
}

void test_limit_one_never_restarts(void**) {
    RestartPolicy p(opts(1, 60s));
    assert_false(p.on_exit(t0, t0 + 1s).restart);
}

void test_describe_wait_status(void**) {
    assert_string_equal(vigil::describe_wait_status(3 << 8).c_str(), "exited with status 3");
    std::string s = vigil::describe_wait_status(SIGKILL);
    assert_non_null(strstr(s.c_str(), "killed by signal 9"));
    s = vigil::describe_wait_status(SIGSEGV | 0x80);
    assert_non_null(strstr(s.c_str(), "core dumped"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_and_caps),
        cmocka_unit_test(test_gives_up_at_limit_within_window),
        cmocka_unit_test(test_old_deaths_leave_the_window),
        cmocka_unit_test(test_long_run_resets_backoff),
        cmocka_unit_test(test_limit_one_never_restarts),
        cmocka_unit_test(test_describe_wait_status),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
