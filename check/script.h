// The check child's external commands: MISC_CHECK scripts and
// notify_up/notify_down/quorum_up/quorum_down. keepalived runs these through
// `/bin/sh -c`, so shell syntax in the config works as it does in a shell;
// vigil does the same. The process itself is daemon/script_process (own
// process group, killed at timeout, reaped by the loop).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/ev.h"
#include "daemon/script_process.h"
#include "daemon/script_security.h"
#include "daemon/script_user.h"

namespace vigil::check {

struct ScriptSpec {
    std::string command;
    std::string user;   // empty: keepalived_script if that user exists, else root
    std::string group;  // empty: the user's primary group
    std::chrono::milliseconds timeout{30000};
};

// Starts the check child's scripts. Who runs a command and whether
// enable_script_security lets it run as root are decided once per config,
// as in the vrrp child: configure() forgets the earlier decisions.
class ScriptLauncher {
public:
    explicit ScriptLauncher(ev::Loop* loop) : loop_(loop) {}
    // A new config: global enable_script_security.
    void configure(bool script_security);
    // The script, running (its end reported through `done` from the loop), or
    // nullptr (logged once per config) when its user or group does not
    // exist or enable_script_security refuses it. `what` names the script in
    // that log line.
    std::unique_ptr<ScriptProcess> start(const ScriptSpec& spec, const std::string& what, ScriptProcess::Done done);

private:
    std::optional<ScriptIdentity> identity(const ScriptSpec& spec);

    ev::Loop* loop_;
    script_security::Verdicts verdicts_;
    // resolve_script_identity() by (user, group), for this config.
    std::map<std::pair<std::string, std::string>, std::optional<ScriptIdentity>> identities_;
};

// Fire-and-forget notify scripts with a bound on how many run at once (a
// flapping pool must not fork-bomb the director) and how long each may run.
class NotifyRunner {
public:
    NotifyRunner(ev::Loop* loop, ScriptLauncher& launcher, size_t max_running = 32)
        : launcher_(launcher), max_running_(max_running), reaper_(loop, [this] { finished_.clear(); }) {}
    // False (and logged) when too many are already running, or the script
    // may not run (see ScriptLauncher::start).
    bool run(const ScriptSpec& spec);
    size_t running() const { return running_.size(); }
    uint64_t dropped() const { return dropped_; }

private:
    ScriptLauncher& launcher_;
    size_t max_running_;
    uint64_t next_id_ = 0;
    uint64_t dropped_ = 0;
    std::map<uint64_t, std::unique_ptr<ScriptProcess>> running_;
    // A script ends inside its own watcher's callback: freed from the loop later.
    std::vector<std::unique_ptr<ScriptProcess>> finished_;
    ev::Timer reaper_;
};

}  // namespace vigil::check
