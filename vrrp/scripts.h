// External programs run by the vrrp child: tracked `vrrp_script`s (health
// probes whose result changes priority or forces FAULT) and notify scripts
// (run on every transition). Both never block the event loop: a script is a
// forked process watched by libev, killed with its process group at timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/model.h"
#include "daemon/ev.h"
#include "daemon/script_user.h"

namespace vigil::vrrp {

// keepalived's word splitting for script lines: blanks separate words, single
// and double quotes group, backslash escapes the next character. Pure.
std::vector<std::string> split_command(const std::string& line);

using vigil::ScriptIdentity;
using vigil::resolve_script_identity;

enum class ScriptOutcome { Success, Failure, Timeout, SpawnError };
const char* to_string(ScriptOutcome o);

// One run of one command.
class ScriptProcess {
public:
    using Done = std::function<void(ScriptOutcome, int exit_code)>;
    ScriptProcess(ev::Loop* loop, Done done);
    ~ScriptProcess();  // kills a still-running process group
    ScriptProcess(const ScriptProcess&) = delete;
    ScriptProcess& operator=(const ScriptProcess&) = delete;

    // Starts argv[0] with argv (execv, no shell). `timeout` > 0 kills the
    // process group when it runs out. Completion (including spawn failure)
    // is always reported through Done, never from inside start().
    void start(const std::vector<std::string>& argv, const ScriptIdentity& who,
               std::chrono::milliseconds timeout);
    bool running() const { return pid_ > 0 || pending_failure_; }
    pid_t pid() const { return pid_; }

private:
    void finish(ScriptOutcome o, int code);
    Done done_;
    ev::Child child_;
    ev::Timer timeout_;
    ev::Timer deferred_;  // reports a spawn failure from the loop, not from start()
    pid_t pid_ = -1;
    bool timed_out_ = false;
    bool pending_failure_ = false;
};

// Pure: keepalived's rise/fall counting. The first result decides at once;
// after that `rise` consecutive successes are needed to become good and
// `fall` consecutive failures to become bad.
class RiseFall {
public:
    enum class Health { Unknown, Good, Bad };
    RiseFall(int rise, int fall) : rise_(rise < 1 ? 1 : rise), fall_(fall < 1 ? 1 : fall) {}
    // Returns true when health changed.
    bool feed(bool ok);
    Health health() const { return health_; }

private:
    int rise_, fall_;
    int ok_run_ = 0, bad_run_ = 0;
    Health health_ = Health::Unknown;
};

// A vrrp_script: run every `interval`, with `timeout`, health by rise/fall.
class TrackedScript {
public:
    using Changed = std::function<void(const std::string& name, bool good)>;
    TrackedScript(ev::Loop* loop, config::VrrpScript cfg, ScriptIdentity who, Changed changed);
    void start();  // first run at once
    const config::VrrpScript& config() const { return cfg_; }
    RiseFall::Health health() const { return rise_fall_.health(); }

private:
    void run();
    void completed(ScriptOutcome o, int code);
    config::VrrpScript cfg_;
    ScriptIdentity who_;
    Changed changed_;
    RiseFall rise_fall_;
    ScriptProcess proc_;
    ev::Timer interval_;
};

// The arguments keepalived passes to a `notify` script:
//   notify_script INSTANCE|GROUP name MASTER|BACKUP|FAULT|STOP priority
std::vector<std::string> notify_arguments(const std::string& script, bool group, const std::string& name,
                                          const std::string& state, int priority);

// Notify scripts of one instance (or group): run one at a time, in the order
// the transitions happened, each bounded by a timeout. keepalived gives no
// bound; vigil kills a notify script after kNotifyTimeout so a hung script
// cannot hold back the notifications of later transitions forever.
class NotifyQueue {
public:
    static constexpr std::chrono::milliseconds kNotifyTimeout{30000};
    NotifyQueue(ev::Loop* loop, ScriptIdentity who, std::string label);
    void push(std::vector<std::string> argv);
    size_t pending() const { return queue_.size(); }
    bool busy() const { return proc_.running(); }

private:
    void next();
    ScriptIdentity who_;
    std::string label_;
    std::deque<std::vector<std::string>> queue_;
    ScriptProcess proc_;
};

}  // namespace vigil::vrrp
