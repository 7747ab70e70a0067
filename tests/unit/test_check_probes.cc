// The real probes (TCP connect, libcurl HTTP, scripts) against a tiny HTTP
// server on the same libev loop, inside a private network namespace the test
// creates (so no traffic leaves it). Body handling: content-length, chunked,
// garbage, truncated, oversized, silent server. Skipped when not root.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/loopback_listener.h"
#include "check/evaluate.h"
#include "check/probe.h"

// cmocka last: its macros (fail, ...) clash with the C++ headers; its header
// declares C functions without extern "C".
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::check;
using std::chrono::milliseconds;

namespace {

constexpr uint16_t kHttpPort = 18080;
constexpr uint16_t kClosedPort = 18081;

// Canned responses by request path; "/silent" never answers.
std::map<std::string, std::string> g_responses;

class TinyServer {
public:
    explicit TinyServer(ev::Loop* loop) : loop_(loop), accept_io_(loop, [this](int) { on_accept(); }) {
        fd_ = listen_on_loopback(kHttpPort, 64);
        ok_ = fd_ >= 0;
        if (ok_) accept_io_.start(fd_, EV_READ);
    }
    ~TinyServer() {
        conns_.clear();
        graveyard_.clear();
        close(fd_);
    }
    bool ok() const { return ok_; }

private:
    struct Conn {
        int fd;
        std::string in, out;
        size_t off = 0;
        bool writing = false;
        std::unique_ptr<ev::Io> io;
        ~Conn() {
            if (fd >= 0) close(fd);
        }
    };
    // Called from the connection's own watcher: close now, free later.
    void drop(Conn* c) {
        c->io->stop();
        auto it = conns_.find(c->fd);
        graveyard_.push_back(std::move(it->second));
        conns_.erase(it);
        close(c->fd);  // the client may be waiting for EOF (HTTP/1.0 body)
        c->fd = -1;
    }
    void on_accept() {
        graveyard_.clear();
        int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) return;
        auto conn = std::make_unique<Conn>();
        conn->fd = c;
        Conn* raw = conn.get();
        conn->io = std::make_unique<ev::Io>(loop_, [this, raw](int) { raw->writing ? on_write(raw) : on_read(raw); });
        conn->io->start(c, EV_READ);
        conns_[c] = std::move(conn);
    }
    void on_read(Conn* c) {
        char buf[4096];
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n <= 0) {
            drop(c);
            return;
        }
        c->in.append(buf, static_cast<size_t>(n));
        if (c->in.find("\r\n\r\n") == std::string::npos) return;
        size_t sp1 = c->in.find(' '), sp2 = c->in.find(' ', sp1 + 1);
        std::string path = c->in.substr(sp1 + 1, sp2 - sp1 - 1);
        if (path == "/silent") {
            c->io->stop();
            return;  // keep the connection open, say nothing
        }
        c->out = g_responses.count(path) ? g_responses[path] : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        // Written as the client reads it (the client runs on this same loop).
        c->writing = true;
        c->io->start(c->fd, EV_WRITE);
    }
    void on_write(Conn* c) {
        ssize_t w = write(c->fd, c->out.data() + c->off, c->out.size() - c->off);
        if (w < 0 && errno == EAGAIN) return;
        if (w > 0) c->off += static_cast<size_t>(w);
        if (w <= 0 || c->off == c->out.size()) drop(c);
    }
    ev::Loop* loop_;
    int fd_ = -1;
    bool ok_ = false;
    ev::Io accept_io_;
    std::map<int, std::unique_ptr<Conn>> conns_;
    std::vector<std::unique_ptr<Conn>> graveyard_;
};

struct Outcome {
    bool done = false;
    ProbeResult result;
    std::string reason;
    double seconds = 0;
};

ev::Loop* g_loop = nullptr;
std::unique_ptr<ScriptLauncher> g_scripts;
std::unique_ptr<ProbeFactory> g_probes;
std::unique_ptr<TinyServer> g_server;

Outcome run_probe(const ProbeTarget& t, milliseconds limit = milliseconds{5000}) {
    Outcome o;
    double start = ev_time();
    auto probe = g_probes->start(t, [&](const ProbeResult& r, const std::string& why) {
        o.done = true;
        o.result = r;
        o.reason = why;
        o.seconds = ev_time() - start;
    });
    assert_false(o.done);  // never from inside start()
    ev::Timer tick(g_loop, [] {});
    while (!o.done && ev_time() - start < std::chrono::duration<double>(limit).count()) {
        tick.start(milliseconds{5});
        ev_run(g_loop, EVRUN_ONCE);
    }
    assert_true(o.done);
    return o;
}

ProbeTarget http(const std::string& path, const std::string& digest = "", std::optional<int> status = std::nullopt) {
    ProbeTarget t;
    t.type = config::CheckerType::Http;
    t.addr = *IpAddress::parse("127.0.0.1");
    t.port = kHttpPort;
    t.timeout = milliseconds{1000};
    t.urls.push_back({path, status, digest});
    return t;
}

const char* kHelloMd5 = "5d41402abc4b2a76b9719d911017c592";

int setup(void**) {
    if (getuid() != 0) return 0;
    if (enter_private_netns_with_lo() != 0) return -1;
    g_loop = ev_default_loop(0);
    g_scripts = std::make_unique<ScriptLauncher>(g_loop);
    g_probes = make_real_probes(g_loop, *g_scripts);
    g_server = std::make_unique<TinyServer>(g_loop);
    g_responses["/len"] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    g_responses["/chunked"] =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n";
    g_responses["/close"] = "HTTP/1.0 200 OK\r\n\r\nhello";  // body ends at close
    g_responses["/garbage"] = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
    g_responses["/err"] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nhello";
    g_responses["/short"] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello";
    g_responses["/redirect"] = "HTTP/1.1 302 Found\r\nLocation: /len\r\nContent-Length: 0\r\n\r\n";
    std::string big(kMaxHttpBodyBytes + 1000, 'x');
    g_responses["/big"] = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big;
    return g_server->ok() ? 0 : -1;
}

int teardown(void**) {
    g_server.reset();
    g_probes.reset();
    g_scripts.reset();
    return 0;
}

#define NEED_ROOT()                              \
    do {                                         \
        if (getuid() != 0) {                     \
            skip();                              \
        }                                        \
    } while (0)

void test_http_bodies(void**) {
    NEED_ROOT();
    Outcome o = run_probe(http("/len", kHelloMd5, 200));
    assert_true(o.result.ok);
    o = run_probe(http("/chunked", kHelloMd5));
    assert_true(o.result.ok);
    o = run_probe(http("/close", kHelloMd5));
    assert_true(o.result.ok);
    o = run_probe(http("/len", "00000000000000000000000000000000"));
    assert_false(o.result.ok);
    assert_non_null(strstr(o.reason.c_str(), "digest 5d41402abc4b2a76b9719d911017c592"));
}

void test_http_failures(void**) {
    NEED_ROOT();
    Outcome o = run_probe(http("/garbage"));
    assert_false(o.result.ok);
    o = run_probe(http("/err"));
    assert_false(o.result.ok);
    assert_non_null(strstr(o.reason.c_str(), "status 500"));
    o = run_probe(http("/short", kHelloMd5));  // connection closed before Content-Length
    assert_false(o.result.ok);
    o = run_probe(http("/redirect"));  // not followed: 302 is not 2xx
    assert_false(o.result.ok);
    o = run_probe(http("/redirect", "", 302));
    assert_true(o.result.ok);
    ProbeTarget closed = http("/len");
    closed.port = kClosedPort;
    o = run_probe(closed);
    assert_false(o.result.ok);
}

void test_http_timeout_covers_exchange(void**) {
    NEED_ROOT();
    ProbeTarget t = http("/silent");
    t.timeout = milliseconds{300};
    Outcome o = run_probe(t);
    assert_false(o.result.ok);
    assert_string_equal(o.reason.c_str(), "/silent: timeout");
    assert_true(o.seconds >= 0.29 && o.seconds < 1.0);
}

void test_http_size_bound(void**) {
    NEED_ROOT();
    Outcome o = run_probe(http("/big"));  // no digest: the status decides
    assert_true(o.result.ok);
    o = run_probe(http("/big", kHelloMd5));
    assert_false(o.result.ok);
    assert_non_null(strstr(o.reason.c_str(), "body larger than"));
}

void test_http_all_urls_must_pass(void**) {
    NEED_ROOT();
    ProbeTarget t = http("/len", kHelloMd5);
    t.urls.push_back({"/chunked", 200, kHelloMd5});
    assert_true(run_probe(t).result.ok);
    t.urls.push_back({"/err", std::nullopt, ""});
    Outcome o = run_probe(t);
    assert_false(o.result.ok);
    assert_non_null(strstr(o.reason.c_str(), "/err"));
}

void test_tcp(void**) {
    NEED_ROOT();
    ProbeTarget t;
    t.type = config::CheckerType::Tcp;
    t.addr = *IpAddress::parse("127.0.0.1");
    t.port = kHttpPort;
    t.timeout = milliseconds{500};
    assert_true(run_probe(t).result.ok);
    t.port = kClosedPort;
    Outcome o = run_probe(t);
    assert_false(o.result.ok);
    assert_string_equal(o.reason.c_str(), "Connection refused");
    // No route at all (nothing but lo here): fails fast, without waiting the timeout.
    t.addr = *IpAddress::parse("10.255.0.1");
    o = run_probe(t);
    assert_false(o.result.ok);
    assert_true(o.seconds < 0.4);
}

void test_misc(void**) {
    NEED_ROOT();
    ProbeTarget t;
    t.type = config::CheckerType::Misc;
    t.script.timeout = milliseconds{2000};
    t.script.command = "exit 0";
    assert_true(run_probe(t).result.ok);
    t.script.command = "exit 7";
    assert_false(run_probe(t).result.ok);
    t.misc_dynamic = true;
    Outcome o = run_probe(t);
    assert_true(o.result.ok);
    assert_int_equal(*o.result.weight, 5);
    t.script.command = "sleep 10";
    t.script.timeout = milliseconds{200};
    o = run_probe(t);
    assert_false(o.result.ok);
    assert_string_equal(o.reason.c_str(), "script timeout");
    assert_true(o.seconds < 1.0);
    // Run through /bin/sh -c: shell syntax works.
    t.script.command = "test \"$(echo a b)\" = 'a b' && exit 0";
    t.script.timeout = milliseconds{2000};
    t.misc_dynamic = false;
    assert_true(run_probe(t).result.ok);
    t.script.user = "no-such-user-vigil";
    t.script.command = "exit 0";
    o = run_probe(t);
    assert_false(o.result.ok);
    assert_string_equal(o.reason.c_str(), "could not start script");
}

// enable_script_security: a program that another user could replace does not
// run as root with it (the check fails), and runs (with a warning) without.
// Decided once per config, as in the vrrp child: a change on disk counts from
// the next config on.
void test_misc_script_security(void**) {
    NEED_ROOT();
    char dir[] = "/tmp/vigil-misc-sec.XXXXXX";
    assert_non_null(mkdtemp(dir));  // 0700, root's: safe
    std::string script = std::string(dir) + "/ok.sh";
    FILE* f = fopen(script.c_str(), "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    chmod(script.c_str(), 0755);
    ProbeTarget t;
    t.type = config::CheckerType::Misc;
    t.script.timeout = milliseconds{2000};
    t.script.user = "root";
    t.script.command = script + " arg";
    g_scripts->configure(true);
    assert_true(run_probe(t).result.ok);  // nobody else can change it

    chmod(dir, 0777);  // now anyone can replace ok.sh
    assert_true(run_probe(t).result.ok);  // judged with this config already
    g_scripts->configure(true);           // a reload: judged again
    Outcome o = run_probe(t);
    assert_false(o.result.ok);
    assert_string_equal(o.reason.c_str(), "could not start script");
    g_scripts->configure(false);
    assert_true(run_probe(t).result.ok);  // runs, with a warning

    unlink(script.c_str());
    rmdir(dir);
}

void test_notify_runner_bounded(void**) {
    ev::Loop* loop = ev_default_loop(0);
    ScriptLauncher scripts(loop);
    NotifyRunner runner(loop, scripts, 2);
    ScriptSpec slow{"sleep 0.2", "", "", milliseconds{5000}};
    assert_true(runner.run(slow));
    assert_true(runner.run(slow));
    assert_false(runner.run(slow));  // a third would exceed the bound
    assert_int_equal(runner.dropped(), 1);
    ScriptSpec hung{"sleep 30", "", "", milliseconds{100}};
    ev::Timer tick(loop, [] {});
    double start = ev_time();
    while (runner.running() > 0 && ev_time() - start < 3.0) {
        tick.start(milliseconds{5});
        ev_run(loop, EVRUN_ONCE);
    }
    assert_int_equal(runner.running(), 0);
    // A hung notify script is killed at its timeout.
    assert_true(runner.run(hung));
    start = ev_time();
    while (runner.running() > 0 && ev_time() - start < 3.0) {
        tick.start(milliseconds{5});
        ev_run(loop, EVRUN_ONCE);
    }
    assert_int_equal(runner.running(), 0);
    assert_true(ev_time() - start < 1.0);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_bodies),
        cmocka_unit_test(test_http_failures),
        cmocka_unit_test(test_http_timeout_covers_exchange),
        cmocka_unit_test(test_http_size_bound),
        cmocka_unit_test(test_http_all_urls_must_pass),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_misc),
        cmocka_unit_test(test_misc_script_security),
        cmocka_unit_test(test_notify_runner_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
