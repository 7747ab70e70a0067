// The one way vigil runs an external program: vrrp_script and notify scripts
// in the vrrp child, MISC_CHECK and notify_up/down/quorum_up/down in the
// check child. The callers decide what argv is (the vrrp child splits the
// line into words like keepalived, the check child runs it through
// `/bin/sh -c`), who runs it and whether it may run at all; this runs it
// without blocking the loop:
//   - forked, in its own process group, so a timeout (or the owner going
//     away) kills whatever the script started too;
//   - as the given identity (privileges dropped in the child, before exec);
//   - reaped by a libev child watcher, never left a zombie;
//   - its end always reported from the loop, never from inside start().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "daemon/ev.h"
#include "daemon/script_user.h"

namespace vigil {

// How one run ended.
struct ScriptExit {
    bool started = false;    // false: nothing to run, or fork() failed
    bool timed_out = false;  // killed (SIGKILL to its group) when its timeout ran out
    int wait_status = 0;     // as from waitpid(), when started

    bool succeeded() const;  // started, not timed out, exit status 0
    // The exit status, or 128 + the signal that ended it (as a shell says);
    // -1 when it did not start or was killed at its timeout.
    int code() const;
};

// One program at a time; reusable (start() again after it ended).
class ScriptProcess {
public:
    using Done = std::function<void(const ScriptExit&)>;
    ScriptProcess(ev::Loop* loop, Done done);
    // A program still running is killed with its group and reaped here,
    // without calling Done.
    ~ScriptProcess();
    ScriptProcess(const ScriptProcess&) = delete;
    ScriptProcess& operator=(const ScriptProcess&) = delete;

    // Runs argv[0] with argv (execv: no PATH search, no shell) as `who`;
    // `timeout` > 0 kills the process group when it runs out. Done follows
    // from the loop, also when argv is empty or fork() fails. Done may call
    // start() again but must not destroy this object (its watcher is on the
    // stack): free it from the loop afterwards. A run still in progress is
    // killed first, without Done.
    void start(const std::vector<std::string>& argv, const ScriptIdentity& who,
               std::chrono::milliseconds timeout);
    // From start() until Done.
    bool running() const { return pid_ > 0 || spawn_failed_; }
    pid_t pid() const { return pid_; }

private:
    void on_exit(int wait_status);
    void on_timeout();
    void kill_and_reap();
    void report(const ScriptExit& e);

    Done done_;
    ev::Child child_;
    ev::Timer timeout_;
    ev::Timer spawn_failure_;  // reports a failed start from the loop
    pid_t pid_ = -1;
    bool timed_out_ = false;
    bool spawn_failed_ = false;
};

}  // namespace vigil
