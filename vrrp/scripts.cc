#include "vrrp/scripts.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

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

ScriptProcess::ScriptProcess(ev::Loop* loop, Done done)
    : done_(std::move(done)),
      child_(loop,
             [this](int, int status) {
                 pid_ = -1;
                 timeout_.stop();
                 if (timed_out_)
                     finish(ScriptOutcome::Timeout, -1);
                 else if (WIFEXITED(status))
                     finish(WEXITSTATUS(status) == 0 ? ScriptOutcome::Success : ScriptOutcome::Failure,
                            WEXITSTATUS(status));
                 else
                     finish(ScriptOutcome::Failure, 128 + WTERMSIG(status));
             }),
      timeout_(loop,
               [this] {
                   if (pid_ > 0) {
                       timed_out_ = true;
                       kill(-pid_, SIGKILL);
                   }
               }),
      deferred_(loop, [this] {
          pending_failure_ = false;
          finish(ScriptOutcome::SpawnError, -1);
      }) {}

ScriptProcess::~ScriptProcess() {
    if (pid_ > 0) {
        kill(-pid_, SIGKILL);
        // Reap it now: the watcher dies with this object.
        waitpid(pid_, nullptr, 0);
    }
}

void ScriptProcess::finish(ScriptOutcome o, int code) {
    if (done_) done_(o, code);
}

void ScriptProcess::start(const std::vector<std::string>& argv, const ScriptIdentity& who,
                          std::chrono::milliseconds timeout) {
    timed_out_ = false;
    if (argv.empty()) {
        pending_failure_ = true;
        deferred_.start(std::chrono::nanoseconds(0));
        return;
    }
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    // Everything the child needs is computed before fork: after fork only
    // async-signal-safe calls.
    bool change_identity = geteuid() == 0 && (who.uid != 0 || who.gid != 0);
    pid_t pid = fork();
    if (pid < 0) {
        VLOG_ERR("cannot fork for %s: %s", argv[0].c_str(), std::strerror(errno));
        pending_failure_ = true;
        deferred_.start(std::chrono::nanoseconds(0));
        return;
    }
    if (pid == 0) {
        // Own process group, so a timeout kills the script and its children.
        setpgid(0, 0);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, nullptr);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            if (devnull > 2) close(devnull);
        }
        close_range(3, ~0U, 0);
        if (change_identity) {
            if (setgid(who.gid) != 0 || initgroups(who.user.c_str(), who.gid) != 0 || setuid(who.uid) != 0) _exit(126);
        }
        execv(cargv[0], cargv.data());
        _exit(127);
    }
    setpgid(pid, pid);  // also from the parent: no race with a timeout kill
    pid_ = pid;
    child_.start(pid);
    if (timeout.count() > 0) timeout_.start(timeout);
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
      proc_(loop, [this](ScriptOutcome o, int code) { completed(o, code); }),
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

void TrackedScript::completed(ScriptOutcome o, int code) {
    bool ok = o == ScriptOutcome::Success;
    if (!ok) VLOG_DEBUG("vrrp_script %s: %s (exit %d)", cfg_.name.c_str(), to_string(o), code);
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
    : who_(std::move(who)), label_(std::move(label)), proc_(loop, [this](ScriptOutcome o, int code) {
          if (o != ScriptOutcome::Success)
              VLOG_WARN("%s: notify script %s (exit %d)", label_.c_str(), to_string(o), code);
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
