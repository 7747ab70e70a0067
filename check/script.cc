#include "check/script.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/log.h"
#include "daemon/script_security.h"
#include "daemon/script_user.h"

namespace vigil::check {

// keepalived.conf(5) SCRIPTS, as the vrrp child applies it to its scripts:
// a program run as root must not be changeable by anyone else. The program
// is the first word of the command (it runs under sh -c).
static bool program_allowed(const ScriptSpec& spec) {
    std::string program = spec.command.substr(0, spec.command.find_first_of(" \t"));
    auto why = script_security::why_insecure(program);
    if (!why) return true;
    static log::RateLimit rl;
    if (spec.script_security) {
        rl.write(log::Level::Error, "not running %s as root: %s (enable_script_security)", program.c_str(),
                 why->c_str());
        return false;
    }
    rl.write(log::Level::Warning, "%s runs as root although %s; enable_script_security would refuse it",
             program.c_str(), why->c_str());
    return true;
}

RunningScript::RunningScript(ev::Loop* loop, Done done)
    : done_(std::move(done)),
      child_(loop, [this](int, int status) { on_exit(status); }),
      timer_(loop, [this] { on_timeout(); }) {}

std::unique_ptr<RunningScript> RunningScript::start(ev::Loop* loop, const ScriptSpec& spec, Done done) {
    // Resolved before fork (getpwnam is not async-signal-safe), by the rule
    // the vrrp child uses too: empty user is keepalived_script, else root.
    std::string error;
    auto who = resolve_script_identity(spec.user, spec.group, &error);
    if (!who) {
        static log::RateLimit rl;
        rl.write(log::Level::Error, "%s; not running %s", error.c_str(), spec.command.c_str());
        return nullptr;
    }
    if (who->uid == 0 && !program_allowed(spec)) return nullptr;
    bool change_user = who->uid != geteuid() || who->gid != getegid();
    uid_t uid = who->uid;
    gid_t gid = who->gid;
    std::unique_ptr<RunningScript> self(new RunningScript(loop, std::move(done)));
    pid_t pid = fork();
    if (pid < 0) {
        VLOG_ERR("fork for '%s' failed: %s", spec.command.c_str(), strerror(errno));
        return nullptr;
    }
    if (pid == 0) {
        // Child: own process group so a timeout kills whatever the script spawned.
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            if (devnull > STDERR_FILENO) close(devnull);
        }
        if (change_user) {
            if (setgroups(0, nullptr) != 0 && errno != EPERM) _exit(126);
            if (setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
        }
        execl("/bin/sh", "sh", "-c", spec.command.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    setpgid(pid, pid);  // also in the parent: no race with the kill below
    self->pid_ = pid;
    self->child_.start(pid);
    self->timer_.start(spec.timeout);
    return self;
}

void RunningScript::on_exit(int wait_status) {
    exited_ = true;
    timer_.stop();
    if (done_) {
        Done done = std::move(done_);
        done_ = nullptr;
        done(wait_status, timed_out_);  // may destroy *this: nothing after this line
    }
}

void RunningScript::on_timeout() {
    timed_out_ = true;
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    // on_exit follows when the child watcher reaps it.
}

RunningScript::~RunningScript() {
    if (pid_ > 0 && !exited_) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        // Reap now: the watcher is going away with us. SIGKILL makes this quick.
        int status;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
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
    auto script = RunningScript::start(loop_, spec, [this, id, cmd = spec.command](int status, bool timed_out) {
        if (timed_out)
            VLOG_WARN("notify script '%s' killed after its timeout", cmd.c_str());
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            VLOG_INFO("notify script '%s' ended with status %d", cmd.c_str(),
                      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
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
