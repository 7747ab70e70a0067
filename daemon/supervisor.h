// Child process supervision for core: fork the vrrp and check children, each
// with its own channel, restart them when they die, stop them in order.
//
// The restart policy is pure (times in, decision out) so it is unit-tested
// without processes; Supervisor is the thin I/O layer that applies it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/child.h"
#include "daemon/ev.h"
#include "daemon/ipc.h"
#include "daemon/log.h"

namespace vigil {

struct RestartPolicyOptions {
    std::chrono::milliseconds initial_backoff{100};  // delay before the first restart
    std::chrono::milliseconds max_backoff{10000};    // the doubling stops here
    int crash_limit = 5;                             // this many deaths within ...
    std::chrono::seconds crash_window{60};           // ... this window: give up
};

// Decides, each time a child dies, whether and when to start it again:
// exponential backoff (initial, doubling, capped), reset once a child has run
// for a whole crash window; and a crash-loop limit, so a child that cannot
// start does not burn CPU and flood the log forever.
class RestartPolicy {
public:
    using Clock = std::chrono::steady_clock;
    struct Decision {
        bool restart = false;
        std::chrono::milliseconds delay{0};
        int crashes_in_window = 0;
    };

    explicit RestartPolicy(RestartPolicyOptions opts = {});
    // The child started at `started` has died at `now`.
    Decision on_exit(Clock::time_point started, Clock::time_point now);
    const RestartPolicyOptions& options() const { return opts_; }

private:
    RestartPolicyOptions opts_;
    std::deque<Clock::time_point> deaths_;  // within the window, oldest first
    std::chrono::milliseconds next_backoff_;
};

// "exited with status 3", "killed by signal 11 (Segmentation fault), core dumped"
std::string describe_wait_status(int wait_status);

struct ChildSpec {
    std::string name;                          // "vrrp": log role and "vigild: vrrp" title
    std::function<int(ChildContext&)> entry;   // runs in the child; returns its exit status
};

class Supervisor {
public:
    struct Hooks {
        // Fills the context for a child about to be forked (config, resume_master...).
        std::function<ChildContext(const std::string& name)> make_context;
        std::function<void(const std::string& name, const ipc::Message&)> on_message;
        // The child died (for any reason, also while stopping).
        std::function<void(const std::string& name)> on_exit;
        // The child crashed too often; it will not be started again.
        std::function<void(const std::string& name)> on_give_up;
        // Runs in a freshly forked child before core's event loop is thrown
        // away: stop every ev::Signal watcher core owns (libev keeps those in
        // a process-wide list, so the child would otherwise run core's handlers).
        std::function<void()> in_child;
    };

    Supervisor(ev::Loop* loop, RestartPolicyOptions policy, log::Options log_opts, Hooks hooks);
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    // Children are started, and stopped, in the order they are added.
    void add(ChildSpec spec);
    // Descriptors the children must not inherit (e.g. the pid file lock).
    void close_in_children(int fd) { fds_to_close_.push_back(fd); }

    // Starts a child that has not been started yet (a child with nothing
    // to do is not); false if it was, or could not be.
    bool start(const std::string& name);
    bool started(const std::string& name) const;
    // Sends to every child that is running; false if one could not take it.
    bool send_all(ipc::MsgType type, std::string_view payload = {});
    // Names of the children currently running.
    std::vector<std::string> running() const;
    pid_t pid_of(const std::string& name) const;
    // Sends to one child if it is running; false otherwise.
    bool send_to(const std::string& name, ipc::MsgType type, std::string_view payload = {});

    struct ChildInfo {
        std::string name;
        pid_t pid = -1;           // -1 when not running
        const char* state = "";   // "running", "restarting", "given-up", "stopped", "not-started"
        int restarts = 0;         // starts after the first one
    };
    std::vector<ChildInfo> children() const;

    // SIGTERM each child in turn (the next once the previous has exited, or
    // after `grace` with SIGKILL), then calls done. Restarts stop for good.
    void stop_all(std::chrono::milliseconds grace, std::function<void()> done);

private:
    struct Slot;
    Slot* find(const std::string& name) const;  // the child named so, or null
    bool spawn(Slot& s);
    void on_child_exit(Slot& s, int wait_status);
    void on_channel(Slot& s, int revents);
    void stop_next();
    [[noreturn]] void run_in_child(Slot& s, int child_fd, ChildContext ctx);

    ev::Loop* loop_;
    RestartPolicyOptions policy_opts_;
    log::Options log_opts_;
    Hooks hooks_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::vector<int> fds_to_close_;
    bool stopping_ = false;
    std::chrono::milliseconds grace_{5000};
    std::function<void()> stopped_;
    size_t stop_index_ = 0;
};

}  // namespace vigil
