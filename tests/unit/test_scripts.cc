// Script helpers of the vrrp child: keepalived's word splitting, rise/fall
// counting, the notify argument list, and how a run's end maps to an outcome.
// The runner itself is tested in test_script_process.

#include <signal.h>

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

// How the runner's report maps to what rise/fall and the logs see.
static void test_outcome_of(void**) {
    ScriptExit not_started;
    assert_true(outcome_of(not_started) == ScriptOutcome::SpawnError);
    ScriptExit ok{true, false, 0};  // exited 0
    assert_true(outcome_of(ok) == ScriptOutcome::Success);
    ScriptExit bad{true, false, 3 << 8};  // exited 3
    assert_true(outcome_of(bad) == ScriptOutcome::Failure);
    ScriptExit signalled{true, false, SIGTERM};
    assert_true(outcome_of(signalled) == ScriptOutcome::Failure);
    ScriptExit timed_out{true, true, SIGKILL};
    assert_true(outcome_of(timed_out) == ScriptOutcome::Timeout);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_rise_fall),
        cmocka_unit_test(test_rise_fall_first_failure),
        cmocka_unit_test(test_notify_arguments),
        cmocka_unit_test(test_outcome_of),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
