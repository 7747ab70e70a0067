// Script helpers: keepalived's word splitting, rise/fall counting, the notify
// argument list, and the non-blocking runner (real fork/exec of /bin/sh, the
// loop keeps running, a timeout kills the process group).

#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "vrrp/scripts.h"

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
using Words = std::vector<std::string>;

static void test_split(void**) {
    struct {
        const char* line;
        Words want;
    } cases[] = {
        {"/bin/check", {"/bin/check"}},
        {"  /bin/check  -a\tb ", {"/bin/check", "-a", "b"}},
        {"/bin/sh -c 'test -f /tmp/x'", {"/bin/sh", "-c", "test -f /tmp/x"}},
        {"/bin/echo \"a \\\"b\\\" c\"", {"/bin/echo", "a \"b\" c"}},
        {"/bin/echo a\\ b", {"/bin/echo", "a b"}},
        {"/bin/echo ''", {"/bin/echo", ""}},
        {"", {}},
    };
    for (const auto& c : cases) {
        auto got = split_command(c.line);
        assert_int_equal(got.size(), c.want.size());
        for (size_t i = 0; i < got.size(); ++i) assert_string_equal(got[i].c_str(), c.want[i].c_str());
    }
}

static void test_rise_fall(void**) {
    using H = RiseFall::Health;
    RiseFall rf(2, 3);
    assert_true(rf.health() == H::Unknown);
    assert_true(rf.feed(true));            // first result decides at once
    assert_true(rf.health() == H::Good);
    assert_false(rf.feed(false));          // 1 of 3 failures
    assert_false(rf.feed(false));          // 2 of 3
    assert_false(rf.feed(true));           // run broken
    assert_false(rf.feed(false));
    assert_false(rf.feed(false));
    assert_true(rf.feed(false));           // 3 in a row
    assert_true(rf.health() == H::Bad);
    assert_false(rf.feed(true));           // 1 of 2
    assert_true(rf.feed(true));            // 2 in a row
    assert_true(rf.health() == H::Good);
}

static void test_rise_fall_first_failure(void**) {
    RiseFall rf(5, 5);
    assert_true(rf.feed(false));
    assert_true(rf.health() == RiseFall::Health::Bad);
}

static void test_notify_arguments(void**) {
    auto a = notify_arguments("/etc/vigil/notify.sh --flag", false, "VI_1", "MASTER", 150);
    Words want{"/etc/vigil/notify.sh", "--flag", "INSTANCE", "VI_1", "MASTER", "150"};
    assert_int_equal(a.size(), want.size());
    for (size_t i = 0; i < a.size(); ++i) assert_string_equal(a[i].c_str(), want[i].c_str());
    auto g = notify_arguments("/n", true, "G", "BACKUP", 0);
    assert_string_equal(g[1].c_str(), "GROUP");
}

struct RunResult {
    bool done = false;
    ScriptOutcome outcome = ScriptOutcome::SpawnError;
    int code = -2;
};

static RunResult run(const Words& argv, std::chrono::milliseconds timeout, double* elapsed) {
    ev::Loop* loop = EV_DEFAULT;
    RunResult r;
    ScriptProcess p(loop, [&](ScriptOutcome o, int code) {
        r = {true, o, code};
        ev_break(loop, EVBREAK_ALL);
    });
    ScriptIdentity me{getuid(), getgid(), "self"};
    ev::Timer guard(loop, [&] { ev_break(loop, EVBREAK_ALL); });
    guard.start(5s);
    double t0 = ev_time();
    p.start(argv, me, timeout);
    assert_true(p.running());  // start() returns at once; the loop sees the end
    ev_run(loop, 0);
    *elapsed = ev_time() - t0;
    return r;
}

static void test_runner_outcomes(void**) {
    double t;
    auto ok = run({"/bin/sh", "-c", "exit 0"}, 2000ms, &t);
    assert_true(ok.done && ok.outcome == ScriptOutcome::Success);
    auto bad = run({"/bin/sh", "-c", "exit 3"}, 2000ms, &t);
    assert_true(bad.done && bad.outcome == ScriptOutcome::Failure);
    assert_int_equal(bad.code, 3);
    auto missing = run({"/nonexistent/script"}, 2000ms, &t);
    assert_true(missing.done && missing.outcome == ScriptOutcome::Failure);
    assert_int_equal(missing.code, 127);
    auto empty = run({}, 2000ms, &t);
    assert_true(empty.done && empty.outcome == ScriptOutcome::SpawnError);
}

static void test_runner_timeout_kills_group(void**) {
    double t;
    // The child of the script must die too: the whole group is killed.
    auto r = run({"/bin/sh", "-c", "sleep 10 & sleep 10"}, 200ms, &t);
    assert_true(r.done && r.outcome == ScriptOutcome::Timeout);
    assert_true(t < 2.0);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_rise_fall),
        cmocka_unit_test(test_rise_fall_first_failure),
        cmocka_unit_test(test_notify_arguments),
        cmocka_unit_test(test_runner_outcomes),
        cmocka_unit_test(test_runner_timeout_kills_group),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
