// Control socket: the request parser (table: bytes received so far -> verdict),
// the answer format both ways, ControlSocket's handling of what it finds at
// its path, and ControlServer end to end on a real socket and libev loop
// (answered request, refused garbage, a slow answer that does not block).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon/control.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil::control;
using Verdict = ParsedRequest::Verdict;

namespace {

void test_parse_table(void**) {
    struct Case {
        const char* description;
        std::string received;
        bool eof;
        Verdict verdict;
        Command command;           // when Ok
        const char* error_contains;  // when Error
    };
    const std::string long_line(kMaxRequest, 's');
    const Case cases[] = {
        {"status", "status\n", false, Verdict::Ok, Command::Status, nullptr},
        {"stats", "stats\n", false, Verdict::Ok, Command::Stats, nullptr},
        {"reload", "reload\n", false, Verdict::Ok, Command::Reload, nullptr},
        {"CRLF accepted", "reload\r\n", false, Verdict::Ok, Command::Reload, nullptr},
        {"end of input ends the line", "stats", true, Verdict::Ok, Command::Stats, nullptr},
        {"bytes after the newline are ignored", "status\ngarbage\x01", false, Verdict::Ok, Command::Status, nullptr},
        {"partial line: read more", "sta", false, Verdict::Incomplete, Command::Status, nullptr},
        {"nothing yet", "", false, Verdict::Incomplete, Command::Status, nullptr},
        {"empty line", "\n", false, Verdict::Error, Command::Status, "empty request"},
        {"nothing, then end of input", "", true, Verdict::Error, Command::Status, "empty request"},
        {"unknown command echoed", "shutdown\n", false, Verdict::Error, Command::Status, "unknown command 'shutdown'"},
        {"case matters", "STATUS\n", false, Verdict::Error, Command::Status, "unknown command"},
        {"argument not accepted", "status now\n", false, Verdict::Error, Command::Status, "malformed request"},
        {"control byte", "sta\x01tus\n", false, Verdict::Error, Command::Status, "malformed request"},
        {"high byte", "st\xff" "atus\n", false, Verdict::Error, Command::Status, "malformed request"},
        {"NUL byte", std::string("stat\0s\n", 7), false, Verdict::Error, Command::Status, "malformed request"},
        {"no newline within the limit", long_line, false, Verdict::Error, Command::Status, "request too long"},
        {"newline just past the limit", long_line + "\n", false, Verdict::Error, Command::Status, "request too long"},
    };
    for (const auto& c : cases) {
        ParsedRequest r = parse_request(c.received, c.eof);
        if (r.verdict != c.verdict) fail_msg("%s: verdict %d, expected %d", c.description, int(r.verdict), int(c.verdict));
        if (c.verdict == Verdict::Ok && r.command != c.command) fail_msg("%s: wrong command", c.description);
        if (c.error_contains && r.error.find(c.error_contains) == std::string::npos)
            fail_msg("%s: error '%s' lacks '%s'", c.description, r.error.c_str(), c.error_contains);
    }
}

void test_longest_line_is_judged(void**) {
    // kMaxRequest - 1 characters plus the newline: exactly at the bound, so
    // it is parsed (and here refused as unknown), not called too long.
    std::string line(kMaxRequest - 1, 'x');
    ParsedRequest r = parse_request(line + "\n", false);
    assert_int_equal(static_cast<int>(r.verdict), static_cast<int>(Verdict::Error));
    assert_non_null(strstr(r.error.c_str(), "unknown command"));
}

void test_answer_roundtrip(void**) {
    std::string ok = format_answer(true, {}, "core pid=1\nchild vrrp pid=2");
    assert_string_equal(ok.c_str(), "OK\ncore pid=1\nchild vrrp pid=2\n");
    auto a = parse_answer(ok);
    assert_true(a.has_value());
    assert_true(a->ok);
    assert_string_equal(a->body.c_str(), "core pid=1\nchild vrrp pid=2\n");

    std::string err = format_answer(false, "reload failed: 2 error(s)", "/etc/v.conf:3: x\n/etc/v.conf:9: y\n");
    a = parse_answer(err);
    assert_true(a.has_value());
    assert_false(a->ok);
    assert_string_equal(a->error.c_str(), "reload failed: 2 error(s)");
    assert_string_equal(a->body.c_str(), "/etc/v.conf:3: x\n/etc/v.conf:9: y\n");

    assert_string_equal(format_answer(true, {}, {}).c_str(), "OK\n");
    assert_false(parse_answer("HELLO\n").has_value());
    assert_false(parse_answer("").has_value());
    assert_false(parse_answer("OKAY\n").has_value());
}

// ---- ControlSocket ---------------------------------------------------------

std::string make_tmpdir() {
    char tmpl[] = "/tmp/vigil-test-control.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return tmpl;
}

void remove_tmpdir(const std::string& dir) {
    unlink(socket_path(dir).c_str());
    rmdir(dir.c_str());
}

// Binds a plain listening socket at `path`, as a crashed vigild leaves it
// (closed: stale) or a live one (left open).
int listen_at(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path.c_str());
    assert_int_equal(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    return fd;
}

void test_socket_mode_and_removal(void**) {
    std::string dir = make_tmpdir();
    std::string error;
    {
        auto s = ControlSocket::bind(dir, &error);
        assert_true(s.has_value());
        struct stat st;
        assert_int_equal(lstat(socket_path(dir).c_str(), &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    struct stat st;
    assert_int_equal(lstat(socket_path(dir).c_str(), &st), -1);  // removed with the object
    remove_tmpdir(dir);
}

void test_stale_socket_replaced(void**) {
    std::string dir = make_tmpdir();
    close(listen_at(socket_path(dir)));  // nobody listens any more
    std::string error;
    auto s = ControlSocket::bind(dir, &error);
    assert_true(s.has_value());
    s.reset();
    remove_tmpdir(dir);
}

void test_live_socket_kept(void**) {
    std::string dir = make_tmpdir();
    int live = listen_at(socket_path(dir));
    std::string error;
    auto s = ControlSocket::bind(dir, &error);
    assert_false(s.has_value());
    assert_non_null(strstr(error.c_str(), "answered by another process"));
    struct stat st;
    assert_int_equal(lstat(socket_path(dir).c_str(), &st), 0);  // still there
    close(live);
    remove_tmpdir(dir);
}

void test_non_socket_kept(void**) {
    std::string dir = make_tmpdir();
    FILE* f = fopen(socket_path(dir).c_str(), "w");
    fputs("keep", f);
    fclose(f);
    std::string error;
    assert_false(ControlSocket::bind(dir, &error).has_value());
    assert_non_null(strstr(error.c_str(), "is not a socket"));
    struct stat st;
    assert_int_equal(lstat(socket_path(dir).c_str(), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    remove_tmpdir(dir);
}

void test_path_too_long(void**) {
    std::string error;
    assert_false(ControlSocket::bind("/tmp/" + std::string(120, 'x'), &error).has_value());
    assert_non_null(strstr(error.c_str(), "too long"));
}

// ---- ControlServer on a real loop --------------------------------------------

int connect_to(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path.c_str());
    assert_int_equal(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
}

// Runs the loop until fd has the whole answer (the server closed) or 2 s passed.
std::string read_answer(vigil::ev::Loop* loop, int fd) {
    std::string out;
    for (int i = 0; i < 200; ++i) {
        ev_run(loop, EVRUN_NOWAIT);
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) return out;
        if (n > 0) out.append(buf, static_cast<size_t>(n));
        else usleep(10000);
    }
    return out + "<timeout>";
}

void test_server_end_to_end(void**) {
    std::string dir = make_tmpdir();
    std::string error;
    auto sock = ControlSocket::bind(dir, &error);
    assert_true(sock.has_value());
    vigil::ev::Loop* loop = ev_loop_new(0);
    {
        ControlServer* server = nullptr;
        ControlServer::ClientId held = 0;
        ControlServer srv(loop, sock->fd(), [&](ControlServer::ClientId id, Command c) {
            if (c == Command::Status) server->answer(id, true, {}, "core pid=1\n");
            if (c == Command::Reload) held = id;  // answered later
        });
        server = &srv;

        // A reload that core has not answered yet must not hold up a status.
        int slow = connect_to(socket_path(dir));
        assert_int_equal(send(slow, "reload\n", 7, 0), 7);
        for (int i = 0; i < 50 && !held; ++i) {
            ev_run(loop, EVRUN_NOWAIT);
            usleep(2000);
        }
        assert_true(held != 0);

        int fast = connect_to(socket_path(dir));
        assert_int_equal(send(fast, "status\n", 7, 0), 7);
        assert_string_equal(read_answer(loop, fast).c_str(), "OK\ncore pid=1\n");
        close(fast);

        int bad = connect_to(socket_path(dir));
        assert_int_equal(send(bad, "\x01\n", 2, 0), 2);
        assert_string_equal(read_answer(loop, bad).c_str(), "ERROR malformed request\n");
        close(bad);

        server->answer(held, false, "reload failed: 1 error(s)", "f.conf:2: bad\n");
        assert_string_equal(read_answer(loop, slow).c_str(), "ERROR reload failed: 1 error(s)\nf.conf:2: bad\n");
        close(slow);
        // An answer for a client that has gone is dropped quietly.
        server->answer(held, true, {}, "late\n");

        assert_int_equal(srv.counters().accepted, 3);
        assert_int_equal(srv.counters().refused, 1);
        ev_run(loop, EVRUN_NOWAIT);
    }
    ev_loop_destroy(loop);
    sock.reset();
    remove_tmpdir(dir);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_longest_line_is_judged),
        cmocka_unit_test(test_answer_roundtrip),
        cmocka_unit_test(test_socket_mode_and_removal),
        cmocka_unit_test(test_stale_socket_replaced),
        cmocka_unit_test(test_live_socket_kept),
        cmocka_unit_test(test_non_socket_kept),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_server_end_to_end),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
