#include "daemon/child_loop.h"

#include <signal.h>
#include <unistd.h>

#include "daemon/config/load.h"
#include "daemon/log.h"
#include "daemon/privileges.h"

namespace vigil {

ChildLoop::ChildLoop(ev::Loop* loop, ChildContext& ctx)
    : loop_(loop),
      ctx_(ctx),
      io_(loop, [this](int revents) { on_channel(revents); }),
      sigterm_(loop, SIGTERM, [this] { request_stop("SIGTERM"); }),
      sigint_(loop, SIGINT, [this] { request_stop("SIGINT"); }) {
    if (!ctx_.channel) {
        VLOG_ERR("no channel to core");
        return;
    }
    update_io();
}

void ChildLoop::update_io() {
    if (!ctx_.channel || ctx_.channel->closed()) {
        io_.stop();
        return;
    }
    io_.start(ctx_.channel->fd(), EV_READ | (ctx_.channel->want_write() ? EV_WRITE : 0));
}

void ChildLoop::send_ready() {
    // DESIGN.md: each child keeps only the privileges it needs. Setup (the
    // IPVS socket, a modprobe, the first raw sockets) may need more; what
    // follows, including everything parsed from the network, does not.
    if (ctx_.capabilities && !privileges_dropped_) {
        std::string error, note;
        if (!privileges::keep_only(*ctx_.capabilities, &error, &note)) {
            VLOG_ERR("cannot drop capabilities, exiting: %s", error.c_str());
            _exit(1);
        }
        privileges_dropped_ = true;
        if (!note.empty()) VLOG_WARN("capabilities: %s", note.c_str());
        VLOG_DEBUG("capabilities now: %s", privileges::describe_current().c_str());
    }
    if (ctx_.channel) ctx_.channel->send(ipc::MsgType::ChildReady);
    update_io();
}

void ChildLoop::send_instance_state(std::string_view name, uint8_t state, uint8_t priority) {
    if (ctx_.channel)
        ctx_.channel->send(ipc::MsgType::InstanceState, ipc::encode_instance_state(name, state, priority));
    update_io();
}

void ChildLoop::send_reload_done(std::string_view error) {
    if (error.empty() && offered_) ctx_.config = offered_;
    offered_.reset();
    if (ctx_.channel) ctx_.channel->send(ipc::MsgType::ReloadDone, error);
    update_io();
}

void ChildLoop::break_loop() { ev_break(loop_, EVBREAK_ALL); }

void ChildLoop::request_stop(const char* why) {
    if (stopping_) return;
    stopping_ = true;
    VLOG_INFO("stopping (%s)", why);
    if (on_stop)
        on_stop();
    else
        break_loop();
}

void ChildLoop::on_channel(int revents) {
    ipc::Channel& ch = *ctx_.channel;
    if (revents & EV_WRITE) ch.flush();
    if (revents & EV_READ) {
        // Bounded per callback so a flood from core cannot starve timers.
        for (int i = 0; i < 256 && !ch.closed(); ++i) {
            auto m = ch.receive();
            if (!m) break;
            handle(*m);
        }
    }
    if (ch.closed()) {
        io_.stop();
        request_stop("core closed the channel");
        return;
    }
    update_io();
}

void ChildLoop::handle(const ipc::Message& m) {
    switch (m.type) {
    case ipc::MsgType::ConfigChunk:
        if (pending_config_.size() + m.payload.size() > kMaxConfigText)
            pending_too_large_ = true;
        else
            pending_config_ += m.payload;
        return;
    case ipc::MsgType::ConfigCommit: {
        std::string text = std::move(pending_config_);
        pending_config_.clear();
        bool too_large = pending_too_large_;
        pending_too_large_ = false;
        if (too_large) {
            VLOG_ERR("reload refused: config larger than %zu bytes", kMaxConfigText);
            send_reload_done("config too large");
            return;
        }
        // Core validated this text already; a failure here means the dump and
        // the parser disagree, which is a bug worth reporting precisely.
        auto result = config::load_text(text, "<config from core>");
        if (!result.ok()) {
            std::string why = result.errors.empty() ? "config did not parse" : result.errors.front().str();
            VLOG_ERR("reload refused: %s", why.c_str());
            send_reload_done(why);
            return;
        }
        offered_ = result.config;
        if (on_reload)
            on_reload(result.config);
        else
            send_reload_done("");
        return;
    }
    case ipc::MsgType::Query:
        answer_query(m);
        return;
    default: {
        static log::RateLimit unexpected;
        unexpected.write(log::Level::Warning, "ipc: unexpected %s message from core", ipc::to_string(m.type));
        return;
    }
    }
}

void ChildLoop::answer_query(const ipc::Message& m) {
    uint32_t id = 0;
    ipc::QueryKind kind{};
    if (!ipc::decode_query(m.payload, &id, &kind)) {
        static log::RateLimit bad;
        bad.write(log::Level::Warning, "ipc: query of an unknown kind from core");
        return;
    }
    std::string text = on_query ? on_query(kind) : std::string();
    auto slices = ipc::split_text(text, ipc::kMaxPayload - sizeof(ipc::QueryReplyPayload));
    if (slices.empty()) slices.emplace_back();
    for (size_t i = 0; i < slices.size() && ctx_.channel; ++i)
        ctx_.channel->send(ipc::MsgType::QueryReply, ipc::encode_query_reply(id, i + 1 == slices.size(), slices[i]));
    update_io();
}

}  // namespace vigil
