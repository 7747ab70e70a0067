// External programs run by the vrrp child: tracked `vrrp_script`s (health
// probes whose result changes priority or forces FAULT) and notify scripts
// (run on every transition). They run through daemon/script_process (never
// blocking the loop, killed with their process group at timeout), without a
// shell: the line is split into words as keepalived does.
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
#include "daemon/script_process.h"
#include "daemon/script_user.h"

namespace vigil::vrrp {

// keepalived's word splitting for script lines: blanks separate words, single
// and double quotes group, backslash escapes the next character. Pure.
std::vector<std::string> split_command(const std::string& line);

using vigil::ScriptIdentity;
using vigil::resolve_script_identity;

using vigil::ScriptExit;
using vigil::ScriptProcess;

enum class ScriptOutcome { Success, Failure, Timeout, SpawnError };
const char* to_string(ScriptOutcome o);
ScriptOutcome outcome_of(const ScriptExit& e);

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
    void completed(const ScriptExit& e);
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
