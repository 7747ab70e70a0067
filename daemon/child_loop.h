// Child-side plumbing shared by every child process (vrrp, check): the
// channel to core, the stop signals, and reassembly of a reloaded config.
//
// Usage in a child entry point:
//     ev::Loop* loop = EV_DEFAULT;          // core re-created it after fork
//     ChildLoop child(loop, ctx);
//     child.on_reload = [&](auto cfg) { apply(*cfg); child.send_reload_done(""); };
//     child.on_stop = [&] { clean_up(); child.break_loop(); };
//     ... apply ctx.config ...
//     child.send_ready();
//     ev_run(loop, 0);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/child.h"
#include "daemon/config/model.h"
#include "daemon/ev.h"

namespace vigil {

class ChildLoop {
public:
    ChildLoop(ev::Loop* loop, ChildContext& ctx);
    ChildLoop(const ChildLoop&) = delete;
    ChildLoop& operator=(const ChildLoop&) = delete;

    // A new config arrived (ConfigChunk... ConfigCommit) and parsed cleanly.
    // The handler applies it and then calls send_reload_done("") (which makes
    // it ctx.config) or send_reload_done("why not"). It may reply later, from
    // another callback. Unset: the config is accepted as is.
    // A config that does not parse is refused here; the handler never sees it.
    std::function<void(std::shared_ptr<const config::Config>)> on_reload;

    // SIGTERM, SIGINT, or core's end of the channel closed. Called once. The
    // child cleans up (VRRP: priority 0 + remove VIPs) and then calls
    // break_loop(), possibly later. Unset: break_loop() at once.
    std::function<void()> on_stop;

    // Core asks on behalf of a control socket client (`vigild --ctl stats`):
    // the handler returns the text, ChildLoop sends it back in QueryReply
    // slices. Unset: an empty answer.
    std::function<std::string(ipc::QueryKind)> on_query;

    // Setup is done: drops every capability but ctx.capabilities (the child
    // exits if it cannot), then tells core the child is ready.
    void send_ready();
    // state: 0 Init, 1 Backup, 2 Master, 3 Fault (see ipc::InstanceStatePayload).
    void send_instance_state(std::string_view name, uint8_t state, uint8_t priority);
    // "" = the config offered by on_reload is now in effect.
    void send_reload_done(std::string_view error);

    void break_loop();
    bool stopping() const { return stopping_; }
    ev::Loop* loop() const { return loop_; }
    ChildContext& context() { return ctx_; }

private:
    void on_channel(int revents);
    void handle(const ipc::Message& m);
    void answer_query(const ipc::Message& m);
    void request_stop(const char* why);
    void update_io();

    ev::Loop* loop_;
    ChildContext& ctx_;
    ev::Io io_;
    ev::Signal sigterm_;
    ev::Signal sigint_;
    std::string pending_config_;               // ConfigChunks since the last commit
    bool pending_too_large_ = false;
    std::shared_ptr<const config::Config> offered_;  // parsed, not yet confirmed
    bool stopping_ = false;
    bool privileges_dropped_ = false;
};

// Largest reassembled config a child accepts (a DoS guard, not a real limit).
constexpr size_t kMaxConfigText = 64 * 1024 * 1024;

}  // namespace vigil
