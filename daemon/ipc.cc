// Core <-> child messages over SOCK_SEQPACKET. SEQPACKET keeps datagram
// boundaries and is connection-oriented, so a read of 0 bytes means the peer
// has gone; that is how a child notices that core died.
#include "daemon/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "daemon/log.h"

namespace vigil::ipc {

const char* to_string(MsgType t) {
    switch (t) {
    case MsgType::ChildReady: return "ChildReady";
    case MsgType::InstanceState: return "InstanceState";
    case MsgType::ReloadDone: return "ReloadDone";
    case MsgType::ConfigChunk: return "ConfigChunk";
    case MsgType::ConfigCommit: return "ConfigCommit";
    case MsgType::QueryReply: return "QueryReply";
    case MsgType::Query: return "Query";
    }
    return "unknown";
}

const char* to_string(QueryKind k) {
    switch (k) {
    case QueryKind::Stats: return "stats";
    case QueryKind::Status: return "status";
    }
    return "unknown";
}

namespace {

// Size rule for each type, checked before anything reads the payload.
// Returns nullptr when `length` is acceptable for `type`, else why not.
const char* check_payload_size(uint16_t type, size_t length) {
    switch (static_cast<MsgType>(type)) {
    case MsgType::ChildReady:
    case MsgType::ConfigCommit:
        return length == 0 ? nullptr : "payload on a message that has none";
    case MsgType::InstanceState:
        return length >= sizeof(InstanceStatePayload) ? nullptr : "InstanceState payload too short";
    case MsgType::ReloadDone:
    case MsgType::ConfigChunk:
        return nullptr;  // text of any length up to kMaxPayload
    case MsgType::Query:
        return length == sizeof(QueryPayload) ? nullptr : "Query payload size wrong";
    case MsgType::QueryReply:
        return length >= sizeof(QueryReplyPayload) ? nullptr : "QueryReply payload too short";
    }
    return "unknown message type";
}

}  // namespace

std::string encode(MsgType type, std::string_view payload) {
    Header h{static_cast<uint16_t>(type), 0, static_cast<uint32_t>(payload.size())};
    std::string out(kHeaderSize + payload.size(), '\0');
    memcpy(out.data(), &h, sizeof h);
    if (!payload.empty()) memcpy(out.data() + kHeaderSize, payload.data(), payload.size());
    return out;
}

std::optional<Message> decode(std::string_view datagram, const char** why) {
    const char* unused;
    if (!why) why = &unused;
    if (datagram.size() < kHeaderSize) {
        *why = "shorter than the header";
        return std::nullopt;
    }
    if (datagram.size() > kHeaderSize + kMaxPayload) {
        *why = "larger than the maximum message";
        return std::nullopt;
    }
    Header h;
    memcpy(&h, datagram.data(), sizeof h);
    if (h.reserved != 0) {
        *why = "reserved header field not zero";
        return std::nullopt;
    }
    if (h.length != datagram.size() - kHeaderSize) {
        *why = "length field does not match the datagram size";
        return std::nullopt;
    }
    if (const char* bad = check_payload_size(h.type, h.length)) {
        *why = bad;
        return std::nullopt;
    }
    Message m{static_cast<MsgType>(h.type), std::string(datagram.substr(kHeaderSize))};
    if (m.type == MsgType::InstanceState && !decode_instance_state(m.payload, nullptr, nullptr, nullptr)) {
        *why = "InstanceState name length does not match the payload";
        return std::nullopt;
    }
    return m;
}

Channel::~Channel() {
    if (fd_ >= 0) close(fd_);
}

bool Channel::send(MsgType type, std::string_view payload) {
    if (closed_ || payload.size() > kMaxPayload) return false;
    outbox_.push_back(encode(type, payload));
    // Keep order: nothing overtakes what is already queued.
    return flush();
}

bool Channel::flush() {
    while (!outbox_.empty()) {
        const std::string& d = outbox_.front();
        ssize_t n = ::send(fd_, d.data(), d.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            outbox_.pop_front();
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;  // stays queued
        closed_ = true;  // EPIPE / ECONNRESET: the peer is gone
        outbox_.clear();
        return false;
    }
    return true;
}

std::optional<Message> Channel::receive() {
    static log::RateLimit malformed_log;
    // One byte more than the largest valid datagram, so an oversized one is
    // seen as such (MSG_TRUNC returns its real length) instead of as a cut one.
    static thread_local std::string buf(kHeaderSize + kMaxPayload + 1, '\0');
    while (!closed_) {
        ssize_t n = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
            closed_ = true;
            return std::nullopt;
        }
        if (n == 0) {  // orderly shutdown; we never send empty datagrams
            closed_ = true;
            return std::nullopt;
        }
        size_t len = std::min(static_cast<size_t>(n), buf.size());
        const char* why = nullptr;
        auto m = decode(std::string_view(buf.data(), len), &why);
        if (m) return m;
        ++malformed_;
        malformed_log.write(log::Level::Warning, "ipc: dropped malformed message (%zd bytes): %s", n, why);
    }
    return std::nullopt;
}

ChannelPair make_channel_pair() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return {};
    return {sv[0], sv[1]};
}

std::string encode_instance_state(std::string_view name, uint8_t state, uint8_t priority) {
    InstanceStatePayload p{state, priority, static_cast<uint16_t>(name.size())};
    std::string out(sizeof p + name.size(), '\0');
    memcpy(out.data(), &p, sizeof p);
    memcpy(out.data() + sizeof p, name.data(), name.size());
    return out;
}

bool decode_instance_state(std::string_view payload, std::string* name, uint8_t* state, uint8_t* priority) {
    InstanceStatePayload p;
    if (payload.size() < sizeof p) return false;
    memcpy(&p, payload.data(), sizeof p);
    if (payload.size() != sizeof p + p.name_len) return false;
    if (name) name->assign(payload.substr(sizeof p));
    if (state) *state = p.state;
    if (priority) *priority = p.priority;
    return true;
}

std::string encode_query(uint32_t id, QueryKind kind) {
    QueryPayload p{id, static_cast<uint8_t>(kind), {}};
    return std::string(reinterpret_cast<const char*>(&p), sizeof p);
}

bool decode_query(std::string_view payload, uint32_t* id, QueryKind* kind) {
    QueryPayload p;
    if (payload.size() != sizeof p) return false;
    memcpy(&p, payload.data(), sizeof p);
    auto k = static_cast<QueryKind>(p.kind);
    if (k != QueryKind::Stats && k != QueryKind::Status) return false;
    *id = p.id;
    *kind = k;
    return true;
}

std::string encode_query_reply(uint32_t id, bool last, std::string_view text) {
    QueryReplyPayload p{id, static_cast<uint8_t>(last ? 1 : 0), {}};
    std::string out(sizeof p + text.size(), '\0');
    memcpy(out.data(), &p, sizeof p);
    if (!text.empty()) memcpy(out.data() + sizeof p, text.data(), text.size());
    return out;
}

bool decode_query_reply(std::string_view payload, uint32_t* id, bool* last, std::string* text) {
    QueryReplyPayload p;
    if (payload.size() < sizeof p) return false;
    memcpy(&p, payload.data(), sizeof p);
    *id = p.id;
    *last = p.last != 0;
    text->assign(payload.substr(sizeof p));
    return true;
}

std::vector<std::string_view> split_text(std::string_view text, size_t max) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        size_t n = std::min(max, text.size());
        if (n < text.size()) {
            size_t nl = text.rfind('\n', n - 1);
            if (nl != std::string_view::npos && nl > 0) n = nl + 1;
        }
        out.push_back(text.substr(0, n));
        text.remove_prefix(n);
    }
    return out;
}

}  // namespace vigil::ipc
