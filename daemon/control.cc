#include "daemon/control.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "daemon/log.h"

namespace vigil::control {

const char* to_string(Command c) {
    switch (c) {
    case Command::Status: return "status";
    case Command::Stats: return "stats";
    case Command::Reload: return "reload";
    }
    return "?";
}

// ---- protocol (pure) -------------------------------------------------------

ParsedRequest parse_request(std::string_view received, bool eof) {
    ParsedRequest r;
    size_t nl = received.find('\n');
    if (nl == std::string_view::npos) {
        if (received.size() >= kMaxRequest) {
            r.verdict = ParsedRequest::Verdict::Error;
            r.error = "request too long";
            return r;
        }
        if (!eof) return r;  // Incomplete
        nl = received.size();
    } else if (nl + 1 > kMaxRequest) {
        r.verdict = ParsedRequest::Verdict::Error;
        r.error = "request too long";
        return r;
    }
    std::string_view line = received.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    r.verdict = ParsedRequest::Verdict::Error;
    for (char ch : line) {
        if (ch < 0x21 || ch > 0x7e) {
            r.error = "malformed request";
            return r;
        }
    }
    if (line.empty()) {
        r.error = "empty request";
        return r;
    }
    for (Command c : {Command::Status, Command::Stats, Command::Reload}) {
        if (line == to_string(c)) {
            r.verdict = ParsedRequest::Verdict::Ok;
            r.command = c;
            return r;
        }
    }
    // The word is printable and short (checked above), so it is safe to echo.
    r.error = "unknown command '" + std::string(line) + "' (status, stats, reload)";
    return r;
}

std::string format_answer(bool ok, std::string_view error, std::string_view body) {
    std::string out = ok ? "OK\n" : "ERROR " + std::string(error) + "\n";
    out += body;
    if (!body.empty() && body.back() != '\n') out += '\n';
    return out;
}

std::optional<Answer> parse_answer(std::string_view text) {
    size_t nl = text.find('\n');
    std::string_view first = text.substr(0, nl);
    Answer a;
    if (first == "OK") {
        a.ok = true;
    } else if (first.starts_with("ERROR ")) {
        a.error = std::string(first.substr(6));
    } else {
        return std::nullopt;
    }
    if (nl != std::string_view::npos) a.body = std::string(text.substr(nl + 1));
    return a;
}

std::string socket_path(const std::string& runtime_dir) { return runtime_dir + "/vigild.ctl"; }

// ---- ControlSocket ---------------------------------------------------------

namespace {

bool make_address(const std::string& path, sockaddr_un* addr, std::string* error) {
    *addr = {};
    addr->sun_family = AF_UNIX;
    if (path.size() >= sizeof addr->sun_path) {
        *error = path + ": path too long for a unix socket (at most " + std::to_string(sizeof addr->sun_path - 1) +
                 " bytes)";
        return false;
    }
    memcpy(addr->sun_path, path.c_str(), path.size() + 1);
    return true;
}

}  // namespace

std::optional<ControlSocket> ControlSocket::bind(const std::string& runtime_dir, std::string* error) {
    std::string path = socket_path(runtime_dir);
    sockaddr_un addr;
    if (!make_address(path, &addr, error)) return std::nullopt;

    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *error = path + " exists and is not a socket; not replacing it";
            return std::nullopt;
        }
        // Our pid file lock says nobody else runs here; a socket that still
        // answers says otherwise (e.g. a vigild whose pid file was deleted).
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        if (probe >= 0) close(probe);
        if (live) {
            *error = path + " is answered by another process; not replacing it";
            return std::nullopt;
        }
        if (unlink(path.c_str()) < 0 && errno != ENOENT) {
            *error = "cannot remove the stale " + path + ": " + strerror(errno);
            return std::nullopt;
        }
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *error = std::string("socket: ") + strerror(errno);
        return std::nullopt;
    }
    // The file gets its mode at bind time from the umask: 0600 from the
    // start, never a moment with a wider one.
    mode_t old_umask = umask(0177);
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int bind_errno = errno;
    umask(old_umask);
    if (rc < 0) {
        *error = "cannot bind " + path + ": " + strerror(bind_errno);
        close(fd);
        return std::nullopt;
    }
    if (listen(fd, 16) < 0) {
        *error = "cannot listen on " + path + ": " + strerror(errno);
        close(fd);
        unlink(path.c_str());
        return std::nullopt;
    }
    return ControlSocket(std::move(path), fd);
}

ControlSocket::~ControlSocket() {
    if (fd_ < 0) return;
    unlink(path_.c_str());
    close(fd_);
}

// ---- ControlServer ---------------------------------------------------------

struct ControlServer::Client {
    Client(ev::Loop* loop, ControlServer& server, ClientId client_id, int client_fd)
        : id(client_id),
          fd(client_fd),
          io(loop, [this, &server](int revents) { server.on_client(*this, revents); }),
          timer(loop, [this, &server] {
              server.counters_.refused++;
              VLOG_INFO("control: client %llu timed out", static_cast<unsigned long long>(id));
              server.close_client(id);
          }) {}
    ~Client() { shut(); }
    void shut() {
        io.stop();
        timer.stop();
        if (fd >= 0) close(fd);
        fd = -1;
    }
    ClientId id;
    int fd;
    ev::Io io;
    ev::Timer timer;
    std::string in;
    std::string out;
    size_t written = 0;
    bool answered = false;  // reading is over; out is (being) sent
};

ControlServer::ControlServer(ev::Loop* loop, int listen_fd, Handler handler)
    : loop_(loop), listen_fd_(listen_fd), handler_(std::move(handler)),
      accept_io_(loop, [this](int) { on_accept(); }),
      reaper_(loop, [this] { closed_.clear(); }) {
    accept_io_.start(listen_fd_, EV_READ);
}

ControlServer::~ControlServer() = default;

void ControlServer::on_accept() {
    // Bounded per callback: a connect storm cannot hold the loop.
    for (int i = 0; i < 16; ++i) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
                static log::RateLimit rl(5, std::chrono::seconds(60));
                rl.write(log::Level::Warning, "control: accept: %s", strerror(errno));
            }
            return;
        }
        ClientId id = next_id_++;
        auto c = std::make_unique<Client>(loop_, *this, id, fd);
        Client& client = *c;
        clients_.emplace(id, std::move(c));
        counters_.accepted++;

        ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid()) {
            VLOG_WARN("control: refused a client with uid %d (pid %d)", static_cast<int>(cred.uid),
                      static_cast<int>(cred.pid));
            refuse(client, "permission denied");
            continue;
        }
        if (clients_.size() > kMaxClients) {
            refuse(client, "busy");
            continue;
        }
        client.timer.start(kRequestTimeout);
        client.io.start(fd, EV_READ);
    }
}

void ControlServer::refuse(Client& c, const std::string& why) {
    counters_.refused++;
    static log::RateLimit rl(10, std::chrono::seconds(60));
    rl.write(log::Level::Info, "control: request refused: %s", why.c_str());
    answer(c.id, false, why, {});
}

void ControlServer::on_client(Client& c, int revents) {
    ClientId id = c.id;
    if (!c.answered && (revents & EV_READ)) {
        char buf[kMaxRequest];
        bool eof = false;
        ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
            // Never more than kMaxRequest kept: parse_request says "too long" first.
            c.in.append(buf, static_cast<size_t>(std::min(static_cast<size_t>(n), kMaxRequest - c.in.size())));
        } else if (n == 0) {
            eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_client(id);
            return;
        }
        ParsedRequest r = parse_request(c.in, eof);
        if (r.verdict == ParsedRequest::Verdict::Incomplete) {
            if (eof) close_client(id);  // cannot happen: eof always decides
            return;
        }
        if (r.verdict == ParsedRequest::Verdict::Error) {
            refuse(c, r.error);
            return;
        }
        // Core works on it; the client gets no more reading and no timeout
        // until the answer is there (core bounds its own waiting).
        c.answered = true;
        c.timer.stop();
        c.io.stop();
        VLOG_DEBUG("control: %s", to_string(r.command));
        handler_(id, r.command);  // may answer (and so close) at once
        return;
    }
    if (revents & EV_WRITE) {
        while (c.written < c.out.size()) {
            ssize_t n = send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
            if (n > 0) {
                c.written += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n < 0 && errno == EINTR) continue;
            close_client(id);  // the client went away
            return;
        }
        close_client(id);
    }
}

void ControlServer::answer(ClientId id, bool ok, std::string_view error, std::string_view body) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    Client& c = *it->second;
    c.answered = true;
    c.out = format_answer(ok, error, body);
    c.written = 0;
    c.timer.start(kWriteTimeout);
    c.io.start(c.fd, EV_WRITE);
}

void ControlServer::close_client(ClientId id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    it->second->shut();
    closed_.push_back(std::move(it->second));
    clients_.erase(it);
    reaper_.start(std::chrono::seconds(0));
}

// ---- client ----------------------------------------------------------------

namespace {

int64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Waits until fd is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        int rc = poll(&p, 1, static_cast<int>(left));
        if (rc > 0) return true;
        if (rc < 0 && errno != EINTR) return false;
    }
}

}  // namespace

int run_client(const std::string& runtime_dir, const std::string& command, std::chrono::milliseconds timeout) {
    std::string path = socket_path(runtime_dir);
    if (command.find('\n') != std::string::npos) {
        fprintf(stderr, "vigild: a control command is one line\n");
        return 2;
    }
    std::string error;
    sockaddr_un addr;
    if (!make_address(path, &addr, &error)) {
        fprintf(stderr, "vigild: %s\n", error.c_str());
        return 2;
    }
    int64_t deadline = now_ms() + timeout.count();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "vigild: socket: %s\n", strerror(errno));
        return 2;
    }
    auto give_up = [&](const char* what) {
        fprintf(stderr, "vigild: %s %s: %s\n", what, path.c_str(), errno ? strerror(errno) : "timed out");
        close(fd);
        return 2;
    };
    // A unix connect() does not wait for accept(); EAGAIN means core's
    // backlog is full: try again until the deadline.
    while (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        if (errno != EAGAIN && errno != EINTR) return give_up("cannot connect to");
        if (now_ms() >= deadline) {
            errno = 0;
            return give_up("cannot connect to");
        }
        usleep(10000);
    }
    std::string request = command + "\n";
    size_t sent = 0;
    while (sent < request.size()) {
        errno = 0;
        if (!wait_for(fd, POLLOUT, deadline)) return give_up("no answer from");
        ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) return give_up("cannot send to");
        if (n > 0) sent += static_cast<size_t>(n);
    }
    // The whole answer, up to a bound no real answer comes near.
    constexpr size_t kMaxAnswer = 256u << 20;
    std::string text;
    char buf[65536];
    for (;;) {
        errno = 0;
        if (!wait_for(fd, POLLIN, deadline)) return give_up("no (complete) answer from");
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return give_up("cannot read from");
        }
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > kMaxAnswer) {
            errno = EMSGSIZE;
            return give_up("answer too large from");
        }
    }
    close(fd);
    auto answer = parse_answer(text);
    if (!answer) {
        fprintf(stderr, "vigild: not an answer from %s\n", path.c_str());
        return 2;
    }
    if (answer->ok) {
        fputs(answer->body.c_str(), stdout);
        return 0;
    }
    fprintf(stderr, "vigild: %s\n", answer->error.c_str());
    fputs(answer->body.c_str(), stderr);
    return 1;
}

}  // namespace vigil::control
