// RAII owners for libev watchers: a watcher starts in start() and stops in its
// destructor, so an object that owns watchers can never leave one firing into
// freed memory. The callback is a std::function; the C trampoline finds the
// owner through w->data.
#pragma once

#include <ev.h>

#include <chrono>
#include <functional>
#include <utility>

namespace vigil::ev {

using Loop = struct ev_loop;

inline double to_seconds(std::chrono::nanoseconds d) {
    return std::chrono::duration<double>(d).count();
}

class Io {
public:
    using Callback = std::function<void(int revents)>;
    Io(Loop* loop, Callback cb) : loop_(loop), cb_(std::move(cb)) {
        ev_init(&w_, &Io::trampoline);
        w_.data = this;
    }
    ~Io() { stop(); }
    Io(const Io&) = delete;
    Io& operator=(const Io&) = delete;

    void start(int fd, int events) {
        stop();
        ev_io_set(&w_, fd, events);
        ev_io_start(loop_, &w_);
    }
    void stop() { ev_io_stop(loop_, &w_); }
    bool active() const { return ev_is_active(&w_); }
    int fd() const { return w_.fd; }

private:
    static void trampoline(Loop*, ev_io* w, int revents) { static_cast<Io*>(w->data)->cb_(revents); }
    Loop* loop_;
    Callback cb_;
    ev_io w_;
};

// A one-shot (or repeating) timer. start() re-arms from now.
class Timer {
public:
    using Callback = std::function<void()>;
    Timer(Loop* loop, Callback cb) : loop_(loop), cb_(std::move(cb)) {
        ev_init(&w_, &Timer::trampoline);
        w_.data = this;
    }
    ~Timer() { stop(); }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void start(std::chrono::nanoseconds after, std::chrono::nanoseconds repeat = {}) {
        stop();
        ev_timer_set(&w_, to_seconds(after), to_seconds(repeat));
        ev_timer_start(loop_, &w_);
    }
    void stop() { ev_timer_stop(loop_, &w_); }
    bool active() const { return ev_is_active(&w_); }
    // Seconds until it fires (0 when inactive).
    double remaining() const { return active() ? ev_timer_remaining(loop_, const_cast<ev_timer*>(&w_)) : 0.0; }

private:
    static void trampoline(Loop*, ev_timer* w, int) { static_cast<Timer*>(w->data)->cb_(); }
    Loop* loop_;
    Callback cb_;
    ev_timer w_;
};

class Signal {
public:
    using Callback = std::function<void()>;
    Signal(Loop* loop, int signum, Callback cb) : loop_(loop), cb_(std::move(cb)) {
        ev_signal_init(&w_, &Signal::trampoline, signum);
        w_.data = this;
        ev_signal_start(loop_, &w_);
    }
    ~Signal() { stop(); }
    Signal(const Signal&) = delete;
    Signal& operator=(const Signal&) = delete;

    // libev keeps signal watchers in a process-wide list that survives
    // ev_loop_destroy(); a forked child stops the parent's before starting its own.
    void stop() { ev_signal_stop(loop_, &w_); }

private:
    static void trampoline(Loop*, ev_signal* w, int) { static_cast<Signal*>(w->data)->cb_(); }
    Loop* loop_;
    Callback cb_;
    ev_signal w_;
};

// Watches one child pid (only works in the default loop).
class Child {
public:
    using Callback = std::function<void(int pid, int wait_status)>;
    Child(Loop* loop, Callback cb) : loop_(loop), cb_(std::move(cb)) {
        ev_init(&w_, &Child::trampoline);
        w_.data = this;
    }
    ~Child() { stop(); }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    void start(int pid) {
        stop();
        ev_child_set(&w_, pid, 0);
        ev_child_start(loop_, &w_);
    }
    void stop() { ev_child_stop(loop_, &w_); }

private:
    static void trampoline(Loop*, ev_child* w, int) {
        auto* self = static_cast<Child*>(w->data);
        self->stop();
        self->cb_(w->rpid, w->rstatus);
    }
    Loop* loop_;
    Callback cb_;
    ev_child w_;
};

}  // namespace vigil::ev
