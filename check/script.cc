#include "check/script.h"

#include "daemon/log.h"

namespace vigil::check {

void ScriptLauncher::configure(bool script_security) {
    verdicts_ = script_security::Verdicts(script_security);
    identities_.clear();
}

// Resolved before fork (getpwnam is not async-signal-safe), by the rule the
// vrrp child uses too (daemon/script_user), once per (user, group) and config.
std::optional<ScriptIdentity> ScriptLauncher::identity(const ScriptSpec& spec) {
    auto key = std::make_pair(spec.user, spec.group);
    auto known = identities_.find(key);
    if (known != identities_.end()) return known->second;
    std::string error;
    auto who = resolve_script_identity(spec.user, spec.group, &error);
    if (!who) VLOG_ERR("%s; its scripts do not run (first: %s)", error.c_str(), spec.command.c_str());
    identities_.emplace(key, who);
    return who;
}

std::unique_ptr<ScriptProcess> ScriptLauncher::start(const ScriptSpec& spec, const std::string& what,
                                                     ScriptProcess::Done done) {
    auto who = identity(spec);
    if (!who) return nullptr;
    // The program is the command's first word (the rest is for the shell).
    std::string program = spec.command.substr(0, spec.command.find_first_of(" \t"));
    if (!verdicts_.allowed(program, who->uid, what)) return nullptr;
    auto script = std::make_unique<ScriptProcess>(loop_, std::move(done));
    script->start({"/bin/sh", "-c", spec.command}, *who, spec.timeout);
    return script;
}

bool NotifyRunner::run(const ScriptSpec& spec) {
    if (running_.size() >= max_running_) {
        ++dropped_;
        static log::RateLimit rl;
        rl.write(log::Level::Warning, "%zu notify scripts already running; not running '%s'", running_.size(),
                 spec.command.c_str());
        return false;
    }
    uint64_t id = next_id_++;
    auto script = launcher_.start(spec, "notify script", [this, id, cmd = spec.command](const ScriptExit& e) {
        if (!e.started)
            VLOG_WARN("notify script '%s' could not start", cmd.c_str());
        else if (e.timed_out)
            VLOG_WARN("notify script '%s' killed after its timeout", cmd.c_str());
        else if (!e.succeeded())
            VLOG_INFO("notify script '%s' ended with status %d", cmd.c_str(), e.code());
        auto it = running_.find(id);
        if (it == running_.end()) return;
        finished_.push_back(std::move(it->second));
        running_.erase(it);
        if (!reaper_.active()) reaper_.start(std::chrono::nanoseconds{0});
    });
    if (!script) return false;
    running_.emplace(id, std::move(script));
    return true;
}

}  // namespace vigil::check
