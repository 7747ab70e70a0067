// systemd notify protocol: datagrams reach a path socket and an abstract
// ("@name") socket; no NOTIFY_SOCKET or a malformed one sends nothing; the
// watchdog period is read from WATCHDOG_USEC only when WATCHDOG_PID is unset
// or ours.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon/log.h"
#include "daemon/systemd_notify.h"

// cmocka last: it defines macros (fail, ...) that clash with C++ headers.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
// cmocka.h has no extern "C" of its own.
extern "C" {
#include <cmocka.h>
}

using namespace vigil;

namespace {

// A datagram socket bound to `name` (a path, or "@x" for abstract x).
int bound_socket(const std::string& name) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    assert_int_equal(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    return fd;
}

std::string receive(int fd) {
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

void path_socket(void**) {
    char dir[] = "/tmp/vigil-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    std::string path = std::string(dir) + "/notify";
    int fd = bound_socket(path);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    assert_true(systemd::notify("READY=1\nSTATUS=running"));
    assert_string_equal(receive(fd).c_str(), "READY=1\nSTATUS=running");
    close(fd);
    unlink(path.c_str());
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}

void abstract_socket(void**) {
    std::string name = "@vigil-test-notify-" + std::to_string(getpid());
    int fd = bound_socket(name);
    setenv("NOTIFY_SOCKET", name.c_str(), 1);
    assert_true(systemd::notify("STOPPING=1"));
    assert_string_equal(receive(fd).c_str(), "STOPPING=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

void no_or_bad_socket(void**) {
    unsetenv("NOTIFY_SOCKET");
    assert_false(systemd::notify("READY=1"));
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_false(systemd::notify("READY=1"));
    setenv("NOTIFY_SOCKET", "", 1);
    assert_false(systemd::notify("READY=1"));
    setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'x')).c_str(), 1);  // longer than sun_path
    assert_false(systemd::notify("READY=1"));
    setenv("NOTIFY_SOCKET", "/nonexistent/vigil/notify", 1);
    assert_false(systemd::notify("READY=1"));
    unsetenv("NOTIFY_SOCKET");
}

void watchdog(void**) {
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_false(systemd::watchdog_period().has_value());
    setenv("WATCHDOG_USEC", "2000000", 1);
    auto p = systemd::watchdog_period();
    assert_true(p.has_value());
    assert_int_equal(p->count(), 2000000);
    setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
    assert_true(systemd::watchdog_period().has_value());
    setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);  // meant for another process
    assert_false(systemd::watchdog_period().has_value());
    unsetenv("WATCHDOG_PID");
    for (const char* bad : {"0", "-5", "abc", "12x", ""}) {
        setenv("WATCHDOG_USEC", bad, 1);
        assert_false(systemd::watchdog_period().has_value());
    }
    // A value systemd would not write is said in the log, not dropped silently
    // (no pings while a real WatchdogSec= runs would get the service killed).
    log::init("core", log::Options{.to_console = true});
    FILE* captured = tmpfile();
    assert_non_null(captured);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(captured), STDERR_FILENO);
    setenv("WATCHDOG_USEC", "12x", 1);
    assert_false(systemd::watchdog_period().has_value());
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char text[512] = {};
    rewind(captured);
    size_t n = fread(text, 1, sizeof text - 1, captured);
    fclose(captured);
    assert_true(n > 0);
    assert_non_null(strstr(text, "ignoring WATCHDOG_USEC='12x'"));
    unsetenv("WATCHDOG_USEC");
}

}  // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(path_socket),
        cmocka_unit_test(abstract_socket),
        cmocka_unit_test(no_or_bad_socket),
        cmocka_unit_test(watchdog),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
