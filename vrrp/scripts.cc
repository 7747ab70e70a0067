#include "vrrp/scripts.h"

#include "daemon/log.h"

namespace vigil::vrrp {

std::vector<std::string> split_command(const std::string& line) {
    std::vector<std::string> words;
    std::string cur;
    bool in_word = false;
    char quote = 0;
    for (size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quote) {
            if (c == quote) {
                quote = 0;
            } else if (c == '\\' && quote == '"' && i + 1 < line.size()) {
                cur += line[++i];
            } else {
                cur += c;
            }
            continue;
        }
        if (c == ' ' || c == '\t') {
            if (in_word) words.push_back(cur), cur.clear(), in_word = false;
            continue;
        }
        in_word = true;
        if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '\\' && i + 1 < line.size()) {
            cur += line[++i];
        } else {
            cur += c;
        }
    }
    if (in_word) words.push_back(cur);
    return words;
}

const char* to_string(ScriptOutcome o) {
    switch (o) {
    case ScriptOutcome::Success: return "success";
    case ScriptOutcome::Failure: return "failure";
    case ScriptOutcome::Timeout: return "timeout";
    case ScriptOutcome::SpawnError: return "could not start";
    }
    return "?";
}

ScriptOutcome outcome_of(const ScriptExit& e) {
    if (!e.started) return ScriptOutcome::SpawnError;
    if (e.timed_out) return ScriptOutcome::Timeout;
    return e.succeeded() ? ScriptOutcome::Success : ScriptOutcome::Failure;
}

bool RiseFall::feed(bool ok) {
    if (ok) {
        ++ok_run_;
        bad_run_ = 0;
    } else {
        ++bad_run_;
        ok_run_ = 0;
    }
    Health next = health_;
    if (health_ == Health::Unknown)
        next = ok ? Health::Good : Health::Bad;
    else if (health_ == Health::Bad && ok_run_ >= rise_)
        next = Health::Good;
    else if (health_ == Health::Good && bad_run_ >= fall_)
        next = Health::Bad;
    bool changed = next != health_;
    health_ = next;
    return changed;
}

TrackedScript::TrackedScript(ev::Loop* loop, config::VrrpScript cfg, ScriptIdentity who, Changed changed)
    : cfg_(std::move(cfg)),
      who_(std::move(who)),
      changed_(std::move(changed)),
      rise_fall_(cfg_.rise, cfg_.fall),
      proc_(loop, [this](const ScriptExit& e) { completed(e); }),
      interval_(loop, [this] { run(); }) {}

void TrackedScript::start() { run(); }

void TrackedScript::run() {
    interval_.start(cfg_.interval);
    // A script still running from the previous interval is not started twice;
    // its timeout will end it.
    if (proc_.running()) return;
    auto timeout = cfg_.timeout.count() > 0 ? cfg_.timeout : cfg_.interval;
    proc_.start(split_command(cfg_.script), who_, timeout);
}

void TrackedScript::completed(const ScriptExit& e) {
    bool ok = e.succeeded();
    if (!ok) VLOG_DEBUG("vrrp_script %s: %s (exit %d)", cfg_.name.c_str(), to_string(outcome_of(e)), e.code());
    if (rise_fall_.feed(ok)) {
        VLOG_NOTICE("vrrp_script %s: now %s", cfg_.name.c_str(), ok ? "succeeding" : "failing");
        if (changed_) changed_(cfg_.name, ok);
    }
}

std::vector<std::string> notify_arguments(const std::string& script, bool group, const std::string& name,
                                          const std::string& state, int priority) {
    auto argv = split_command(script);
    argv.push_back(group ? "GROUP" : "INSTANCE");
    argv.push_back(name);
    argv.push_back(state);
    argv.push_back(std::to_string(priority));
    return argv;
}

NotifyQueue::NotifyQueue(ev::Loop* loop, ScriptIdentity who, std::string label)
    : who_(std::move(who)), label_(std::move(label)), proc_(loop, [this](const ScriptExit& e) {
          if (!e.succeeded())
              VLOG_WARN("%s: notify script %s (exit %d)", label_.c_str(), to_string(outcome_of(e)), e.code());
          next();
      }) {}

void NotifyQueue::push(std::vector<std::string> argv) {
    queue_.push_back(std::move(argv));
    if (!proc_.running()) next();
}

void NotifyQueue::next() {
    if (queue_.empty()) return;
    auto argv = std::move(queue_.front());
    queue_.pop_front();
    proc_.start(argv, who_, kNotifyTimeout);
}

}  // namespace vigil::vrrp
