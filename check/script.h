// Running an external command from the check child without blocking the loop:
// MISC_CHECK scripts and notify_up/notify_down/quorum_up/quorum_down. Forked,
// run through /bin/sh -c (so quoting in the config works as it does in a shell),
// as the configured user, in its own process group; reaped by a libev child
// watcher; killed (the whole group, SIGKILL) when its timeout runs out.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/ev.h"

namespace vigil::check {

struct ScriptSpec {
    std::string command;
    std::string user;   // empty: keepalived_script if that user exists, else root
    std::string group;  // empty: the user's primary group
    std::chrono::milliseconds timeout{30000};
    // global enable_script_security: refuse to run the program as root when
    // someone else could change it (daemon/script_security); without it, run
    // it and warn.
    bool script_security = false;
};

// One running script. Destroying it before it ended kills it (and its group)
// and reaps it without calling `done`.
class RunningScript {
public:
    // wait_status: as from waitpid; timed_out: we killed it.
    using Done = std::function<void(int wait_status, bool timed_out)>;
    static std::unique_ptr<RunningScript> start(ev::Loop* loop, const ScriptSpec& spec, Done done);
    ~RunningScript();
    RunningScript(const RunningScript&) = delete;
    RunningScript& operator=(const RunningScript&) = delete;
    pid_t pid() const { return pid_; }

private:
    RunningScript(ev::Loop* loop, Done done);
    void on_exit(int wait_status);
    void on_timeout();

    Done done_;
    pid_t pid_ = -1;
    bool exited_ = false;
    bool timed_out_ = false;
    ev::Child child_;
    ev::Timer timer_;
};

// Fire-and-forget notify scripts with a bound on how many run at once (a
// flapping pool must not fork-bomb the director) and how long each may run.
class NotifyRunner {
public:
    explicit NotifyRunner(ev::Loop* loop, size_t max_running = 32)
        : loop_(loop), max_running_(max_running), reaper_(loop, [this] { finished_.clear(); }) {}
    // False (and logged) when too many are already running.
    bool run(const ScriptSpec& spec);
    size_t running() const { return running_.size(); }
    uint64_t dropped() const { return dropped_; }

private:
    ev::Loop* loop_;
    size_t max_running_;
    uint64_t next_id_ = 0;
    uint64_t dropped_ = 0;
    std::map<uint64_t, std::unique_ptr<RunningScript>> running_;
    // A script ends inside its own watcher's callback: freed from the loop later.
    std::vector<std::unique_ptr<RunningScript>> finished_;
    ev::Timer reaper_;
};

}  // namespace vigil::check
