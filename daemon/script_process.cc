#include "daemon/script_process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/log.h"

namespace vigil {

bool ScriptExit::succeeded() const {
    return started && !timed_out && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

int ScriptExit::code() const {
    if (!started || timed_out) return -1;
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return -1;
}

ScriptProcess::ScriptProcess(ev::Loop* loop, Done done)
    : done_(std::move(done)),
      child_(loop, [this](int, int status) { on_exit(status); }),
      timeout_(loop, [this] { on_timeout(); }),
      spawn_failure_(loop, [this] {
          spawn_failed_ = false;
          report(ScriptExit{});
      }) {}

ScriptProcess::~ScriptProcess() { kill_and_reap(); }

void ScriptProcess::kill_and_reap() {
    spawn_failure_.stop();
    spawn_failed_ = false;
    timeout_.stop();
    if (pid_ <= 0) return;
    child_.stop();
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);  // in case it is not (yet) its group's leader
    // Reaped here: nobody watches it any more. SIGKILL makes this quick.
    // ECHILD: the loop had already reaped it (its report was pending).
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

void ScriptProcess::report(const ScriptExit& e) {
    if (done_) done_(e);  // may start() again: nothing after this line
}

void ScriptProcess::on_exit(int wait_status) {
    pid_ = -1;
    timeout_.stop();
    ScriptExit e;
    e.started = true;
    e.timed_out = timed_out_;
    e.wait_status = wait_status;
    report(e);
}

void ScriptProcess::on_timeout() {
    if (pid_ <= 0) return;
    timed_out_ = true;
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    // on_exit follows when the child watcher reaps it.
}

void ScriptProcess::start(const std::vector<std::string>& argv, const ScriptIdentity& who,
                          std::chrono::milliseconds timeout) {
    kill_and_reap();
    timed_out_ = false;
    if (argv.empty()) {
        spawn_failed_ = true;
        spawn_failure_.start(std::chrono::nanoseconds{0});
        return;
    }
    // Everything the child needs is computed before fork(): after it, only
    // async-signal-safe calls (no allocation, no getpwnam, no logging).
    std::vector<char*> cargv;
    cargv.reserve(argv.size() + 1);
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    // Only what differs is changed: a child not running as root can still run
    // scripts as itself, and root running them as root keeps its groups.
    bool change_identity = who.uid != geteuid() || who.gid != getegid();
    gid_t gid = who.gid;
    uid_t uid = who.uid;

    // No signal is delivered between fork() and the reset below: a handler of
    // ours (libev's) must never run in the child.
    sigset_t all, saved;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0) {
        // Own process group: a timeout kills the script and what it started.
        setpgid(0, 0);
        // The script starts as from a shell: every disposition default (the
        // children ignore SIGPIPE and SIGHUP, and an ignored signal stays
        // ignored across exec), nothing blocked.
        struct sigaction dfl;
        std::memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; ++sig)
            if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        // Nothing to read; its output is not our log (keepalived, daemonized,
        // sends both to /dev/null); its errors reach ours on stderr.
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        // None of our descriptors (sockets, the channel to core) leak into it.
        close_range(3, ~0U, 0);
        // Groups before the user: after setuid() we may no longer change them.
        // Supplementary groups: just the script's group, as keepalived does
        // (initgroups() would read /etc/group, not async-signal-safe).
        if (change_identity && (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
        execv(cargv[0], cargv.data());
        _exit(127);
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &saved, nullptr);
    if (pid < 0) {
        VLOG_ERR("cannot fork for %s: %s", argv[0].c_str(), std::strerror(fork_errno));
        spawn_failed_ = true;
        spawn_failure_.start(std::chrono::nanoseconds{0});
        return;
    }
    setpgid(pid, pid);  // also from the parent: a kill at timeout finds the group
    pid_ = pid;
    child_.start(pid);
    if (timeout.count() > 0) timeout_.start(timeout);
}

}  // namespace vigil
