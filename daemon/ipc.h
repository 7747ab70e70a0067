// Typed messages between core and its children over socketpair(SOCK_SEQPACKET).
// One message = one datagram: a fixed header, then a payload whose size is
// checked against the type before anything reads it (relayd's imsg, simplified).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::ipc {

enum class MsgType : uint16_t {
    // child -> core
    ChildReady = 1,        // empty: the child has applied its config
    InstanceState = 2,     // InstanceStatePayload: every VRRP transition
    ReloadDone = 3,        // text: "" on success, else why the child refused it
    QueryReply = 4,        // QueryReplyPayload + text: one slice of the answer to a Query
    // core -> child
    ConfigChunk = 100,     // text: a slice of the normalised config (dump format)
    ConfigCommit = 101,    // empty: the chunks so far form the new config; apply it
    Query = 102,           // QueryPayload: answer with QueryReply datagrams (control socket)
};

// What core asks a child for on behalf of a control socket client.
enum class QueryKind : uint8_t {
    Stats = 1,   // the counters, as the child writes them to its .stats file
    Status = 2,  // a short summary of the child's state (check: health per virtual server)
};
const char* to_string(QueryKind k);

const char* to_string(MsgType t);

// InstanceState payload: fixed part followed by the instance name.
struct InstanceStatePayload {
    uint8_t state;      // vrrp::State as integer (0 Init, 1 Backup, 2 Master, 3 Fault)
    uint8_t priority;   // effective priority at the transition
    uint16_t name_len;
    // char name[name_len]
};

struct QueryPayload {
    uint32_t id;       // chosen by core, echoed in every QueryReply
    uint8_t kind;      // QueryKind
    uint8_t reserved[3];
};

// QueryReply payload: fixed part followed by text. A long answer is split at
// line ends into several replies; the last one has `last` set.
struct QueryReplyPayload {
    uint32_t id;
    uint8_t last;
    uint8_t reserved[3];
};

struct Message {
    MsgType type;
    std::string payload;
};

constexpr size_t kHeaderSize = 8;
// Stays well below the default SOCK_SEQPACKET send buffer.
constexpr size_t kMaxPayload = 60 * 1024;

// Wraps one end of the socketpair. Non-blocking; the owner polls fd() with libev.
class Channel {
public:
    explicit Channel(int fd) : fd_(fd) {}
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    int fd() const { return fd_; }
    // False if the peer is gone or the payload is too large. A datagram the
    // socket cannot take right now is queued: the owner then watches fd() for
    // writability while want_write() and calls flush().
    bool send(MsgType type, std::string_view payload = {});
    // Sends what send() queued; false if the peer is gone.
    bool flush();
    bool want_write() const { return !outbox_.empty(); }
    // Reads one datagram. nullopt: nothing pending (EAGAIN). Sets closed() when
    // the peer has gone; a malformed datagram is logged, counted and skipped.
    std::optional<Message> receive();
    bool closed() const { return closed_; }
    uint64_t malformed() const { return malformed_; }

private:
    int fd_;
    bool closed_ = false;
    uint64_t malformed_ = 0;
    std::deque<std::string> outbox_;  // whole datagrams, header included
};

// The two ends of a new SOCK_SEQPACKET socketpair, non-blocking and
// close-on-exec; {-1, -1} on failure (errno set).
struct ChannelPair {
    int core_end = -1;
    int child_end = -1;
};
ChannelPair make_channel_pair();

// Wire format of the header (host byte order: both ends are the same binary
// on the same machine): type, reserved (0), payload length.
struct Header {
    uint16_t type;
    uint16_t reserved;
    uint32_t length;
};
static_assert(sizeof(Header) == kHeaderSize);

// Whole-datagram codec, pure so it can be tested without sockets.
std::string encode(MsgType type, std::string_view payload);
// nullopt when the datagram is malformed; *why says what was wrong.
std::optional<Message> decode(std::string_view datagram, const char** why);

// Helpers for the typed payloads.
std::string encode_instance_state(std::string_view name, uint8_t state, uint8_t priority);
bool decode_instance_state(std::string_view payload, std::string* name, uint8_t* state, uint8_t* priority);
std::string encode_query(uint32_t id, QueryKind kind);
// False for an unknown kind (the size was checked by decode()).
bool decode_query(std::string_view payload, uint32_t* id, QueryKind* kind);
std::string encode_query_reply(uint32_t id, bool last, std::string_view text);
bool decode_query_reply(std::string_view payload, uint32_t* id, bool* last, std::string* text);

// Splits text into slices of at most `max` bytes, at line ends where it can,
// so that each fits one datagram.
std::vector<std::string_view> split_text(std::string_view text, size_t max);

}  // namespace vigil::ipc
