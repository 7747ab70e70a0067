#include "daemon/supervisor.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "daemon/proctitle.h"

namespace vigil {

using std::chrono::milliseconds;

// ---- RestartPolicy (pure) --------------------------------------------------

RestartPolicy::RestartPolicy(RestartPolicyOptions opts) : opts_(opts), next_backoff_(opts.initial_backoff) {}

RestartPolicy::Decision RestartPolicy::on_exit(Clock::time_point started, Clock::time_point now) {
    // A child that ran for a whole window was healthy: its death starts a
    // fresh backoff sequence instead of continuing an old one.
    if (now - started >= opts_.crash_window) next_backoff_ = opts_.initial_backoff;

    deaths_.push_back(now);
    while (!deaths_.empty() && now - deaths_.front() >= opts_.crash_window) deaths_.pop_front();

    Decision d;
    d.crashes_in_window = static_cast<int>(deaths_.size());
    if (d.crashes_in_window >= opts_.crash_limit) return d;  // crash loop: give up
    d.restart = true;
    d.delay = next_backoff_;
    next_backoff_ = std::min(next_backoff_ * 2, opts_.max_backoff);
    return d;
}

std::string describe_wait_status(int wait_status) {
    if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
    if (WIFSIGNALED(wait_status)) {
        int sig = WTERMSIG(wait_status);
        const char* name = sigdescr_np(sig);
        std::string s = "killed by signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
        if (WCOREDUMP(wait_status)) s += ", core dumped";
        return s;
    }
    return "wait status " + std::to_string(wait_status);
}

// ---- Supervisor (I/O) ------------------------------------------------------

enum class SlotState { NotStarted, Idle, Running, WaitingRestart, GivenUp };

struct Supervisor::Slot {
    Slot(ev::Loop* loop, Supervisor& sup, ChildSpec s, RestartPolicyOptions opts)
        : spec(std::move(s)),
          policy(opts),
          io(loop, [this, &sup](int revents) { sup.on_channel(*this, revents); }),
          child(loop, [this, &sup](int, int status) { sup.on_child_exit(*this, status); }),
          restart_timer(loop, [this, &sup] { sup.spawn(*this); }),
          kill_timer(loop, [this] {
              if (pid > 0) {
                  VLOG_WARN("%s child (pid %d) did not stop in time: SIGKILL", spec.name.c_str(), pid);
                  kill(pid, SIGKILL);
              }
          }) {}

    ChildSpec spec;
    RestartPolicy policy;
    SlotState state = SlotState::NotStarted;
    pid_t pid = -1;
    int starts = 0;
    RestartPolicy::Clock::time_point started{};
    std::unique_ptr<ipc::Channel> channel;
    ev::Io io;
    ev::Child child;
    ev::Timer restart_timer;
    ev::Timer kill_timer;
};

Supervisor::Supervisor(ev::Loop* loop, RestartPolicyOptions policy, log::Options log_opts, Hooks hooks)
    : loop_(loop), policy_opts_(policy), log_opts_(log_opts), hooks_(std::move(hooks)) {}

Supervisor::~Supervisor() = default;

void Supervisor::add(ChildSpec spec) {
    slots_.push_back(std::make_unique<Slot>(loop_, *this, std::move(spec), policy_opts_));
}

Supervisor::Slot* Supervisor::find(const std::string& name) const {
    for (auto& s : slots_)
        if (s->spec.name == name) return s.get();
    return nullptr;
}

bool Supervisor::start(const std::string& name) {
    Slot* s = find(name);
    return s && s->state == SlotState::NotStarted && spawn(*s);
}

bool Supervisor::started(const std::string& name) const {
    const Slot* s = find(name);
    return s && s->state != SlotState::NotStarted;
}

bool Supervisor::spawn(Slot& s) {
    if (stopping_) return false;
    auto pair = ipc::make_channel_pair();
    if (pair.core_end < 0) {
        VLOG_ERR("%s child: socketpair: %s", s.spec.name.c_str(), strerror(errno));
        return false;
    }
    // The child's context is built before fork so that it sees exactly what
    // core knew at this moment (config, instances to resume as MASTER).
    ChildContext ctx = hooks_.make_context ? hooks_.make_context(s.spec.name) : ChildContext{};
    pid_t pid = fork();
    if (pid < 0) {
        VLOG_ERR("%s child: fork: %s", s.spec.name.c_str(), strerror(errno));
        close(pair.core_end);
        close(pair.child_end);
        // Treat like a crash so the backoff and the crash-loop limit apply.
        s.started = RestartPolicy::Clock::now();
        on_child_exit(s, 0x7f00);
        return false;
    }
    if (pid == 0) {
        close(pair.core_end);
        run_in_child(s, pair.child_end, std::move(ctx));
    }
    close(pair.child_end);
    s.starts++;
    s.pid = pid;
    s.state = SlotState::Running;
    s.started = RestartPolicy::Clock::now();
    s.channel = std::make_unique<ipc::Channel>(pair.core_end);
    // Started before the loop runs again, so an immediate exit is not missed.
    s.child.start(pid);
    s.io.start(pair.core_end, EV_READ);
    VLOG_INFO("started %s child (pid %d)", s.spec.name.c_str(), pid);
    return true;
}

void Supervisor::run_in_child(Slot& s, int child_fd, ChildContext ctx) {
    // Core's signal dispositions and blocked set are not the child's.
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    // Watchers libev keeps outside the loop (signals, child pids) must be
    // stopped by their owners; the rest goes with the loop.
    if (hooks_.in_child) hooks_.in_child();
    for (auto& other : slots_) other->child.stop();
    // Throw away core's event loop with every watcher core registered; the
    // child starts a fresh default loop below. Core's C++ watcher objects are
    // never destroyed here: the child leaves with _exit().
    ev_loop_destroy(EV_DEFAULT);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2}) signal(sig, SIG_DFL);
    // Core handles SIGHUP (reload); a HUP sent to the whole process group must
    // not kill the children.
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    // Nothing of core's leaks into the child: other children's channels (which
    // would keep them from seeing core's end close), the pid file lock, ...
    closelog();
    for (int fd : fds_to_close_) close(fd);
    if (child_fd > 3) close_range(3, static_cast<unsigned>(child_fd) - 1, 0);
    close_range(static_cast<unsigned>(child_fd) + 1, ~0U, 0);

    // If core dies, the kernel tells us at once (SIGTERM -> orderly stop);
    // the channel closing is the second, independent signal.
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);  // core died before the line above

    // Only core speaks to systemd (NotifyAccess=main).
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");

    std::string title = "vigild: " + s.spec.name;
    proctitle::set(title.c_str());
    // Role names outlive this function: the spec lives until _exit.
    log::init(s.spec.name.c_str(), log_opts_);
    ev_default_loop(0);

    ipc::Channel channel(child_fd);
    ctx.channel = &channel;
    int status = 1;
    try {
        status = s.spec.entry(ctx);
    } catch (const std::exception& e) {
        VLOG_ERR("uncaught exception: %s", e.what());
    } catch (...) {
        VLOG_ERR("uncaught exception");
    }
    VLOG_INFO("exiting with status %d", status);
    _exit(status);
}

void Supervisor::on_channel(Slot& s, int revents) {
    if (!s.channel) return;
    if (revents & EV_WRITE) s.channel->flush();
    if (revents & EV_READ) {
        for (int i = 0; i < 256 && !s.channel->closed(); ++i) {
            auto m = s.channel->receive();
            if (!m) break;
            if (hooks_.on_message) hooks_.on_message(s.spec.name, *m);
            if (!s.channel) return;  // the hook stopped things
        }
    }
    if (s.channel->closed()) {
        // The child is exiting; its SIGCHLD tells us how.
        s.io.stop();
        return;
    }
    s.io.start(s.channel->fd(), EV_READ | (s.channel->want_write() ? EV_WRITE : 0));
}

void Supervisor::on_child_exit(Slot& s, int wait_status) {
    s.kill_timer.stop();
    s.io.stop();
    s.channel.reset();
    pid_t old_pid = s.pid;
    s.pid = -1;
    auto now = RestartPolicy::Clock::now();
    if (stopping_) {
        VLOG_INFO("%s child (pid %d) stopped: %s", s.spec.name.c_str(), old_pid,
                  describe_wait_status(wait_status).c_str());
        s.state = SlotState::Idle;
        if (hooks_.on_exit) hooks_.on_exit(s.spec.name);
        stop_next();
        return;
    }
    auto ran = std::chrono::duration_cast<milliseconds>(now - s.started);
    VLOG_ERR("%s child (pid %d) died after %lld ms: %s", s.spec.name.c_str(), old_pid,
             static_cast<long long>(ran.count()), describe_wait_status(wait_status).c_str());
    if (hooks_.on_exit) hooks_.on_exit(s.spec.name);
    auto d = s.policy.on_exit(s.started, now);
    if (!d.restart) {
        s.state = SlotState::GivenUp;
        VLOG_ERR("%s child died %d times within %lld s: crash loop, not restarting it", s.spec.name.c_str(),
                 d.crashes_in_window, static_cast<long long>(policy_opts_.crash_window.count()));
        if (hooks_.on_give_up) hooks_.on_give_up(s.spec.name);
        return;
    }
    s.state = SlotState::WaitingRestart;
    VLOG_NOTICE("restarting %s child in %lld ms (%d death(s) within %lld s)", s.spec.name.c_str(),
                static_cast<long long>(d.delay.count()), d.crashes_in_window,
                static_cast<long long>(policy_opts_.crash_window.count()));
    s.restart_timer.start(d.delay);
}

bool Supervisor::send_all(ipc::MsgType type, std::string_view payload) {
    bool ok = true;
    for (auto& s : slots_) {
        if (s->state != SlotState::Running || !s->channel) continue;
        if (!s->channel->send(type, payload)) {
            ok = false;
            continue;
        }
        if (s->channel->want_write()) s->io.start(s->channel->fd(), EV_READ | EV_WRITE);
    }
    return ok;
}

std::vector<std::string> Supervisor::running() const {
    std::vector<std::string> names;
    for (auto& s : slots_)
        if (s->state == SlotState::Running) names.push_back(s->spec.name);
    return names;
}

pid_t Supervisor::pid_of(const std::string& name) const {
    const Slot* s = find(name);
    return s ? s->pid : -1;
}

bool Supervisor::send_to(const std::string& name, ipc::MsgType type, std::string_view payload) {
    Slot* s = find(name);
    if (!s || s->state != SlotState::Running || !s->channel || !s->channel->send(type, payload)) return false;
    if (s->channel->want_write()) s->io.start(s->channel->fd(), EV_READ | EV_WRITE);
    return true;
}

std::vector<Supervisor::ChildInfo> Supervisor::children() const {
    std::vector<ChildInfo> out;
    for (auto& s : slots_) {
        ChildInfo i;
        i.name = s->spec.name;
        i.pid = s->pid;
        switch (s->state) {
        case SlotState::Running: i.state = "running"; break;
        case SlotState::WaitingRestart: i.state = "restarting"; break;
        case SlotState::GivenUp: i.state = "given-up"; break;
        case SlotState::Idle: i.state = "stopped"; break;
        case SlotState::NotStarted: i.state = "not-started"; break;
        }
        i.restarts = std::max(0, s->starts - 1);
        out.push_back(std::move(i));
    }
    return out;
}

void Supervisor::stop_all(milliseconds grace, std::function<void()> done) {
    if (stopping_) return;
    stopping_ = true;
    grace_ = grace;
    stopped_ = std::move(done);
    stop_index_ = 0;
    for (auto& s : slots_) {
        s->restart_timer.stop();
        if (s->state == SlotState::WaitingRestart) s->state = SlotState::Idle;
    }
    stop_next();
}

void Supervisor::stop_next() {
    // One child at a time, in order: vrrp gives up the VIPs (priority 0)
    // before the checks that feed IPVS go away.
    while (stop_index_ < slots_.size()) {
        Slot& s = *slots_[stop_index_];
        if (s.pid > 0 && s.state == SlotState::Running) {
            if (s.kill_timer.active()) return;  // already signalled; wait for its exit
            VLOG_INFO("stopping %s child (pid %d)", s.spec.name.c_str(), s.pid);
            kill(s.pid, SIGTERM);
            s.kill_timer.start(grace_);
            return;
        }
        ++stop_index_;
    }
    if (stopped_) {
        auto done = std::move(stopped_);
        stopped_ = nullptr;
        done();
    }
}

}  // namespace vigil
