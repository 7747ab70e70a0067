// The control socket: RUNTIME_DIR/vigild.ctl, a unix stream socket served by
// core (DESIGN.md: "status + metrics endpoint").
//
// Protocol, one request per connection:
//   client: one line, "status", "stats" or "reload", ending in "\n" (or the
//           client shuts down its writing side); at most kMaxRequest bytes.
//   core:   "OK\n" or "ERROR <why>\n", then the body, then it closes the
//           connection (end of answer = end of stream).
// Only a peer with core's own uid is served (the socket is 0600 as well).
//
// The request parser is pure (bytes in, verdict out) so it is unit-tested;
// ControlServer is the thin non-blocking I/O around it, and run_client() is
// `vigild --status` / `vigild --ctl CMD`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/ev.h"

namespace vigil::control {

enum class Command { Status, Stats, Reload };
const char* to_string(Command c);

// Longest request line, newline included. Every command is far shorter; the
// bound keeps a client from making core buffer without limit.
constexpr size_t kMaxRequest = 64;

struct ParsedRequest {
    enum class Verdict { Incomplete, Ok, Error } verdict = Verdict::Incomplete;
    Command command = Command::Status;
    std::string error;  // Verdict::Error: why, for the ERROR line
};

// `received` is everything read so far; `eof` says the client has finished
// sending. Incomplete: read more. Anything after the first newline is ignored.
ParsedRequest parse_request(std::string_view received, bool eof);

// The first line of an answer and its body, as sent on the wire.
std::string format_answer(bool ok, std::string_view error, std::string_view body);

// Splits a received answer into its verdict and body. nullopt: not an answer
// (no first line starting with OK or ERROR).
struct Answer {
    bool ok = false;
    std::string error;  // the text after "ERROR "
    std::string body;
};
std::optional<Answer> parse_answer(std::string_view text);

// "RUNTIME_DIR/vigild.ctl"
std::string socket_path(const std::string& runtime_dir);

// The bound, listening socket file. Created before core daemonises, so a
// failure reaches the terminal; removed when this object goes away.
class ControlSocket {
public:
    // Call while holding the pid file lock: that lock proves no other vigild
    // uses this runtime dir, so a socket file left there is stale (a killed
    // vigild) and is replaced. Anything that is not a socket, or a socket
    // someone still answers on, is left alone and reported.
    static std::optional<ControlSocket> bind(const std::string& runtime_dir, std::string* error);
    ControlSocket(ControlSocket&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) { other.fd_ = -1; }
    ControlSocket& operator=(ControlSocket&&) = delete;
    ControlSocket(const ControlSocket&) = delete;
    ~ControlSocket();
    int fd() const { return fd_; }
    const std::string& path() const { return path_; }

private:
    ControlSocket(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    std::string path_;
    int fd_ = -1;
};

// Accepts clients on a ControlSocket, reads one request each and hands it to
// the handler; the answer comes back through answer(), at once or later.
// Never blocks: every socket is non-blocking, a client gets kRequestTimeout
// to send its request and kWriteTimeout to take the answer, and at most
// kMaxClients are served at a time (more are told "busy").
class ControlServer {
public:
    using ClientId = uint64_t;
    using Handler = std::function<void(ClientId, Command)>;
    static constexpr size_t kMaxClients = 16;
    static constexpr std::chrono::seconds kRequestTimeout{5};
    static constexpr std::chrono::seconds kWriteTimeout{10};

    struct Counters {
        uint64_t accepted = 0;
        uint64_t refused = 0;  // bad request, wrong uid, busy, timed out
    };

    ControlServer(ev::Loop* loop, int listen_fd, Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Sends the answer and closes the connection afterwards. A client that
    // has gone meanwhile is skipped.
    void answer(ClientId id, bool ok, std::string_view error, std::string_view body);
    const Counters& counters() const { return counters_; }

private:
    struct Client;
    void on_accept();
    void on_client(Client& c, int revents);
    void refuse(Client& c, const std::string& why);
    void close_client(ClientId id);

    ev::Loop* loop_;
    int listen_fd_;
    Handler handler_;
    ev::Io accept_io_;
    std::map<ClientId, std::unique_ptr<Client>> clients_;
    // Closed clients wait here for the next loop iteration: a client is often
    // closed from its own watcher's callback, which must not free it.
    std::vector<std::unique_ptr<Client>> closed_;
    ev::Timer reaper_;
    ClientId next_id_ = 1;
    Counters counters_;
};

// Connects to RUNTIME_DIR/vigild.ctl, sends `command`, waits at most
// `timeout` for the whole answer. Prints the body on stdout (OK) or the error
// and body on stderr; returns the exit status: 0 OK, 1 ERROR, 2 no answer.
int run_client(const std::string& runtime_dir, const std::string& command, std::chrono::milliseconds timeout);

}  // namespace vigil::control
