// daemon/script_process: the one runner of external programs, with real
// fork/exec of /bin/sh on the default loop. What is asserted: how a run ended
// (exit status, signal, missing program), that every end (also a failed
// start) is reported from the loop and never from start(), that a timeout and
// the runner's destruction kill the whole process group and leave no zombie,
// what the script inherits (signal dispositions and mask, descriptors), and
// that it runs as the identity given (as root).

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/script_process.h"
#include "daemon/script_user.h"

// cmocka last: its fail() macro clashes with the C++ library.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace std::chrono_literals;
using Words = std::vector<std::string>;

namespace {

ScriptIdentity me() { return ScriptIdentity{geteuid(), getegid(), "self"}; }

// Runs the loop until `until()` holds, at most 5 s (a guard, not a timing).
template <typename F>
void run_until(F until) {
    ev::Loop* loop = EV_DEFAULT;
    ev::Timer tick(loop, [] {});
    double start = ev_time();
    while (!until() && ev_time() - start < 5.0) {
        tick.start(10ms);
        ev_run(loop, EVRUN_ONCE);
    }
}

struct Run {
    int calls = 0;
    ScriptExit exit;
};

Run run(const Words& argv, std::chrono::milliseconds timeout = 5000ms, const ScriptIdentity& who = me()) {
    Run r;
    ScriptProcess p(EV_DEFAULT, [&](const ScriptExit& e) {
        ++r.calls;
        r.exit = e;
    });
    p.start(argv, who, timeout);
    assert_int_equal(r.calls, 0);  // never from inside start()
    assert_true(p.running());
    run_until([&] { return r.calls > 0; });
    assert_int_equal(r.calls, 1);
    assert_false(p.running());
    return r;
}

Words sh(const std::string& command) { return {"/bin/sh", "-c", command}; }

std::string temp_dir() {
    char dir[] = "/tmp/vigil-script-process.XXXXXX";
    assert_non_null(mkdtemp(dir));
    return dir;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// A process that is gone, or a zombie (killed, waiting for whoever adopted
// it): in either case no longer running.
bool dead(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
}

pid_t pid_in(const std::string& path) {
    std::string text = read_file(path);
    return text.empty() ? -1 : static_cast<pid_t>(std::atoi(text.c_str()));
}

void test_exit_status(void**) {
    Run ok = run(sh("exit 0"));
    assert_true(ok.exit.started && !ok.exit.timed_out && ok.exit.succeeded());
    assert_int_equal(ok.exit.code(), 0);

    Run bad = run(sh("exit 3"));
    assert_false(bad.exit.succeeded());
    assert_true(WIFEXITED(bad.exit.wait_status));
    assert_int_equal(bad.exit.code(), 3);

    Run signalled = run(sh("kill -TERM $$"));
    assert_false(signalled.exit.succeeded());
    assert_true(WIFSIGNALED(signalled.exit.wait_status));
    assert_int_equal(signalled.exit.code(), 128 + SIGTERM);

    // execv without a PATH search: a missing program is the shell's 127.
    Run missing = run({"/nonexistent/program"});
    assert_true(missing.exit.started);
    assert_int_equal(missing.exit.code(), 127);

    // argv as given, no shell: the argument with blanks arrives as one word.
    Run words = run({"/bin/sh", "-c", "test \"$1\" = 'a b'", "sh", "a b"});
    assert_true(words.exit.succeeded());
}

// Nothing to run (and a failed fork, which takes the same path): reported
// from the loop, like any other end.
void test_spawn_failure_from_loop(void**) {
    Run r = run({});
    assert_false(r.exit.started);
    assert_false(r.exit.succeeded());
    assert_int_equal(r.exit.code(), -1);
}

void test_timeout_kills_group(void**) {
    std::string dir = temp_dir();
    std::string pidfile = dir + "/bg.pid";
    // The script's own child must die too: the whole group is killed.
    Run r = run(sh("sleep 30 & echo $! >" + pidfile + "; wait"), 200ms);
    assert_true(r.exit.started && r.exit.timed_out);
    assert_false(r.exit.succeeded());
    assert_int_equal(r.exit.code(), -1);
    pid_t bg = pid_in(pidfile);
    assert_true(bg > 0);
    run_until([&] { return dead(bg); });
    assert_true(dead(bg));
    unlink(pidfile.c_str());
    rmdir(dir.c_str());
}

void test_destruction_kills_and_reaps(void**) {
    std::string dir = temp_dir();
    std::string pidfile = dir + "/bg.pid";
    int calls = 0;
    pid_t script = -1;
    {
        ScriptProcess p(EV_DEFAULT, [&](const ScriptExit&) { ++calls; });
        p.start(sh("sleep 30 & echo $! >" + pidfile + "; wait"), me(), 0ms);
        script = p.pid();
        assert_true(script > 0);
        run_until([&] { return pid_in(pidfile) > 0; });
    }
    assert_int_equal(calls, 0);  // destroyed: no report
    // Reaped by the destructor: nothing left to wait for, no zombie.
    assert_int_equal(waitpid(script, nullptr, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    pid_t bg = pid_in(pidfile);
    assert_true(bg > 0);
    run_until([&] { return dead(bg); });
    assert_true(dead(bg));
    // The loop still works afterwards (its child watcher was stopped).
    assert_true(run(sh("exit 0")).exit.succeeded());
    unlink(pidfile.c_str());
    rmdir(dir.c_str());
}

// The notify queue's pattern: the next script starts from Done.
void test_restart_from_done(void**) {
    std::vector<int> codes;
    ScriptProcess* self = nullptr;
    ScriptProcess p(EV_DEFAULT, [&](const ScriptExit& e) {
        codes.push_back(e.code());
        if (codes.size() == 1) self->start(sh("exit 5"), me(), 5000ms);
    });
    self = &p;
    p.start(sh("exit 4"), me(), 5000ms);
    run_until([&] { return codes.size() == 2; });
    assert_int_equal(codes.size(), 2);
    assert_int_equal(codes[0], 4);
    assert_int_equal(codes[1], 5);
    assert_false(p.running());
}

// The children ignore SIGPIPE and SIGHUP and block signals at times; a script
// starts with every disposition default and nothing blocked, and none of our
// descriptors.
void test_clean_start(void**) {
    struct sigaction ign = {}, old_pipe = {}, old_hup = {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGHUP, &ign, &old_hup);
    sigset_t usr1, old_mask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old_mask);
    int fd = open("/dev/null", O_RDONLY);  // no O_CLOEXEC
    assert_true(fd > 2);

    std::string dir = temp_dir();
    std::string status = dir + "/status";
    // `test` is a builtin: the shell itself has no such descriptor.
    assert_true(run(sh("test ! -e /proc/$$/fd/" + std::to_string(fd))).exit.succeeded());
    // The shell replaced by grep reading its own status: what the script got
    // (exec keeps the mask and ignored signals). Reading the shell's status
    // from a child of it instead races with the shell waiting for that child,
    // which dash does with every signal blocked.
    Run r = run(sh("exec grep -E '^Sig(Ign|Blk):' /proc/self/status >" + status));
    assert_true(r.exit.succeeded());
    unsigned long long ignored = ~0ULL, blocked = ~0ULL;
    std::string text = read_file(status);
    assert_int_equal(sscanf(text.c_str(), "SigBlk: %llx SigIgn: %llx", &blocked, &ignored), 2);
    assert_true(blocked == 0);
    // Signals 1-31 (bit n-1 for signal n). glibc's own real-time signals
    // (32, 33) cannot be changed through sigaction; whatever started us
    // decides them, for keepalived's scripts too.
    assert_true((ignored & 0x7fffffffULL) == 0);
    unlink(status.c_str());
    rmdir(dir.c_str());

    close(fd);
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    sigaction(SIGPIPE, &old_pipe, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
}

// Privileges dropped in the child: user, group, and no supplementary group
// but the script's own (keepalived's rule).
void test_runs_as_given_identity(void**) {
    if (geteuid() != 0) skip();
    std::string error;
    auto nobody = resolve_script_identity("nobody", "", &error);
    if (!nobody) skip();
    std::string dir = temp_dir();
    chmod(dir.c_str(), 0777);
    std::string out = dir + "/id";
    Run r = run(sh("echo $(id -u) $(id -g) $(id -G) >" + out), 5000ms, *nobody);
    assert_true(r.exit.succeeded());
    std::string want = std::to_string(nobody->uid) + " " + std::to_string(nobody->gid) + " " +
                       std::to_string(nobody->gid) + "\n";
    assert_string_equal(read_file(out).c_str(), want.c_str());
    unlink(out.c_str());
    rmdir(dir.c_str());
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_spawn_failure_from_loop),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_destruction_kills_and_reaps),
        cmocka_unit_test(test_restart_from_done),
        cmocka_unit_test(test_clean_start),
        cmocka_unit_test(test_runs_as_given_identity),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
