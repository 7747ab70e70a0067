// The IPVS table over generic netlink (libmnl).
//
// Batching: apply() packs up to batch_bytes_ of messages into one buffer and
// writes it with one sendmsg(). Only the last message of a batch asks for an
// ack (NLM_F_ACK); the kernel acks every failed message anyway
// (netlink_rcv_skb acks on error regardless of the flag), in order, so once
// the last ack is in, every failure of the batch has been reported, each
// naming its sequence number and so its exact rule.
#include "ipvs/kernel.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "daemon/log.h"
#include "ipvs/genl.h"

extern char** environ;

namespace vigil::ipvs {

namespace {

// Every reply wait is bounded: a kernel that does not answer within this is
// treated as a lost ack (re-read and re-diff), never as a hang.
constexpr int kReplyTimeoutMs = 5000;
// Room for the acks of a whole batch (error acks of up to ~1000 messages).
constexpr int kReceiveBufferBytes = 8 * 1024 * 1024;
constexpr size_t kReceiveChunk = 64 * 1024;

mnl_socket* open_socket(std::string& error) {
    mnl_socket* s = mnl_socket_open(NETLINK_GENERIC);
    if (!s) {
        error = std::string("netlink socket: ") + strerror(errno);
        return nullptr;
    }
    if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
        error = std::string("netlink bind: ") + strerror(errno);
        mnl_socket_close(s);
        return nullptr;
    }
    int fd = mnl_socket_get_fd(s);
    // Error acks then carry only the failed message's header, not the whole
    // request: a batch of failures stays small.
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    int rcv = kReceiveBufferBytes;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    timeval tv{kReplyTimeoutMs / 1000, (kReplyTimeoutMs % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

void run_modprobe_ip_vs() {
    const char* argv[] = {"modprobe", "-q", "ip_vs", nullptr};
    pid_t pid;
    if (posix_spawnp(&pid, "modprobe", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

// One request/reply round trip on a fresh-enough socket; used before the
// object exists (family resolution).
std::optional<uint16_t> resolve_family(mnl_socket* s, uint32_t seq, int& err) {
    std::vector<char> buf(kReceiveChunk);
    nlmsghdr* nlh = genl::encode_resolve_family(buf.data(), seq, IPVS_GENL_NAME);
    nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0) {
        err = errno;
        return std::nullopt;
    }
    std::optional<uint16_t> id;
    const unsigned portid = mnl_socket_get_portid(s);
    for (int round = 0; round < 16; ++round) {
        ssize_t n = mnl_socket_recvfrom(s, buf.data(), buf.size());
        if (n < 0) {
            err = errno;
            return std::nullopt;
        }
        int ret = mnl_cb_run(
            buf.data(), static_cast<size_t>(n), seq, portid,
            [](const nlmsghdr* m, void* data) {
                auto* out = static_cast<std::optional<uint16_t>*>(data);
                if (auto fid = genl::parse_family_id(m)) *out = fid;
                return MNL_CB_OK;
            },
            &id);
        if (ret < 0) {
            err = errno;
            return std::nullopt;
        }
        if (ret == MNL_CB_STOP) break;
    }
    if (!id) err = ENOENT;
    return id;
}

}  // namespace

bool is_reconcilable(const ApplyResult::Failure& f) {
    switch (f.change.kind) {
        case ChangeKind::AddService:
        case ChangeKind::AddDest: return f.error == EEXIST;
        // The kernel answers ESRCH for a missing service and ENOENT for a
        // missing destination.
        case ChangeKind::EditService:
        case ChangeKind::DelService:
        case ChangeKind::EditDest:
        case ChangeKind::DelDest: return f.error == ENOENT || f.error == ESRCH;
    }
    return false;
}

std::unique_ptr<NetlinkIpvsKernel> NetlinkIpvsKernel::open(std::string& error) {
    mnl_socket* s = open_socket(error);
    if (!s) return nullptr;
    uint32_t seq = static_cast<uint32_t>(time(nullptr));
    int err = 0;
    auto id = resolve_family(s, seq++, err);
    if (!id) {
        // The module is not loaded (the family appears when it is): try once.
        run_modprobe_ip_vs();
        err = 0;
        id = resolve_family(s, seq++, err);
    }
    if (!id) {
        error = std::string("generic netlink family \"" IPVS_GENL_NAME "\" not found (ip_vs module not loaded, "
                            "and `modprobe ip_vs` did not help): ") +
                strerror(err);
        mnl_socket_close(s);
        return nullptr;
    }
    std::unique_ptr<NetlinkIpvsKernel> k(new NetlinkIpvsKernel(s, *id));
    k->seq_ = seq;
    // GET_INFO: the version, and proof that the family answers.
    std::vector<char> req(genl::kMaxChangeMessage);
    uint32_t info_seq = k->seq_++;
    nlmsghdr* nlh = genl::encode_get_info(req.data(), k->family_id_, info_seq);
    nlh->nlmsg_flags |= NLM_F_ACK;
    std::string why;
    bool ok = k->request(nlh, nlh->nlmsg_len, info_seq,
                         [&](const nlmsghdr* m) {
                             if (auto p = genl::parse_message(m); p && p->info_version) k->version_ = *p->info_version;
                             return true;
                         },
                         why);
    if (!ok) {
        error = "IPVS GET_INFO failed: " + why;
        return nullptr;
    }
    VLOG_INFO("ipvs: generic netlink family %u, IPVS version %u.%u.%u", k->family_id_, (k->version_ >> 16) & 0xff,
              (k->version_ >> 8) & 0xff, k->version_ & 0xff);
    return k;
}

NetlinkIpvsKernel::NetlinkIpvsKernel(mnl_socket* sock, uint16_t family_id)
    : sock_(sock), family_id_(family_id), seq_(0), buf_(kReceiveChunk) {}

NetlinkIpvsKernel::~NetlinkIpvsKernel() { mnl_socket_close(sock_); }

void NetlinkIpvsKernel::drain() {
    // Late replies to an earlier request that timed out would otherwise be
    // read as replies to the next one (and fail its sequence check).
    const int fd = mnl_socket_get_fd(sock_);
    for (int i = 0; i < 1024; ++i)
        if (recv(fd, buf_.data(), buf_.size(), MSG_DONTWAIT) < 0 && errno != ENOBUFS) break;
}

bool NetlinkIpvsKernel::request(void* msg, size_t len, uint32_t seq,
                                const std::function<bool(const nlmsghdr*)>& on_reply, std::string& error) {
    drain();
    if (mnl_socket_sendto(sock_, msg, len) < 0) {
        error = std::string("send: ") + strerror(errno);
        return false;
    }
    struct Ctx {
        const std::function<bool(const nlmsghdr*)>* cb;
        bool parse_failed = false;
    } ctx{&on_reply};
    const unsigned portid = mnl_socket_get_portid(sock_);
    // A dump of 10,000 destinations is ~3 MB: bounded by a generous count of
    // receive rounds as well as by the per-receive timeout.
    for (int round = 0; round < 100000; ++round) {
        ssize_t n = mnl_socket_recvfrom(sock_, buf_.data(), buf_.size());
        if (n < 0) {
            error = errno == EAGAIN ? "no reply (timeout)" : std::string("receive: ") + strerror(errno);
            return false;
        }
        int ret = mnl_cb_run(
            buf_.data(), static_cast<size_t>(n), seq, portid,
            [](const nlmsghdr* m, void* data) {
                auto* c = static_cast<Ctx*>(data);
                if (!(*c->cb)(m)) c->parse_failed = true;
                return MNL_CB_OK;
            },
            &ctx);
        if (ret < 0) {
            error = strerror(errno);
            return false;
        }
        if (ret == MNL_CB_STOP) return true;
    }
    error = "reply too long";
    return false;
}

bool NetlinkIpvsKernel::dump_dests(const ServiceKey& key, Service& into) {
    std::vector<char> req(genl::kMaxChangeMessage);
    uint32_t seq = seq_++;
    nlmsghdr* nlh = genl::encode_dump_dests(req.data(), family_id_, seq, key);
    std::string error;
    long malformed = 0;
    bool ok = request(nlh, nlh->nlmsg_len, seq,
                      [&](const nlmsghdr* m) {
                          auto p = genl::parse_message(m, key.family);
                          if (!p || !p->dest) {
                              ++malformed;
                              return false;
                          }
                          into.dests[p->dest->first] = p->dest->second;
                          return true;
                      },
                      error);
    if (!ok) VLOG_ERR("ipvs: reading destinations of %s: %s", key.str().c_str(), error.c_str());
    if (malformed) VLOG_WARN("ipvs: %ld unreadable destination(s) in %s skipped", malformed, key.str().c_str());
    return ok;
}

std::optional<Table> NetlinkIpvsKernel::dump_services(const OwnedSet* only) {
    std::vector<char> req(genl::kMaxChangeMessage);
    uint32_t seq = seq_++;
    nlmsghdr* nlh = genl::encode_dump_services(req.data(), family_id_, seq);
    Table table;
    std::string error;
    long malformed = 0;
    bool ok = request(nlh, nlh->nlmsg_len, seq,
                      [&](const nlmsghdr* m) {
                          auto p = genl::parse_message(m);
                          if (!p || !p->service) {
                              ++malformed;
                              return false;
                          }
                          if (only && !only->count(p->service->first)) return true;
                          table[p->service->first].attrs = p->service->second;
                          return true;
                      },
                      error);
    if (!ok) {
        VLOG_ERR("ipvs: reading services: %s", error.c_str());
        return std::nullopt;
    }
    if (malformed) VLOG_WARN("ipvs: %ld unreadable service(s) in the dump skipped", malformed);
    // A dump cannot nest in another on one socket: destinations per service,
    // one round trip each, after the service dump is complete.
    for (auto& [key, svc] : table)
        if (!dump_dests(key, svc)) return std::nullopt;
    return table;
}

std::optional<Table> NetlinkIpvsKernel::dump(const OwnedSet& which) { return dump_services(&which); }
std::optional<Table> NetlinkIpvsKernel::dump_all() { return dump_services(nullptr); }

bool NetlinkIpvsKernel::flush() {
    std::vector<char> req(genl::kMaxChangeMessage);
    uint32_t seq = seq_++;
    nlmsghdr* nlh = genl::encode_flush(req.data(), family_id_, seq, NLM_F_ACK);
    std::string error;
    if (!request(nlh, nlh->nlmsg_len, seq, [](const nlmsghdr*) { return true; }, error)) {
        VLOG_ERR("ipvs: flush: %s", error.c_str());
        return false;
    }
    return true;
}

ApplyResult NetlinkIpvsKernel::apply(const std::vector<Change>& changes) {
    ApplyResult result;
    const size_t room = std::max(batch_bytes_, genl::kMaxChangeMessage);
    std::vector<char> batch(room);
    const unsigned portid = mnl_socket_get_portid(sock_);
    drain();

    size_t next = 0;
    while (next < changes.size()) {
        // Fill one batch.
        const size_t first_index = next;
        const uint32_t first_seq = seq_;
        size_t used = 0;
        nlmsghdr* last = nullptr;
        while (next < changes.size() && used + genl::kMaxChangeMessage <= room) {
            last = genl::encode_change(batch.data() + used, family_id_, seq_++, 0, changes[next]);
            used += NLMSG_ALIGN(last->nlmsg_len);
            ++next;
        }
        last->nlmsg_flags |= NLM_F_ACK;
        const uint32_t last_seq = last->nlmsg_seq;

        if (mnl_socket_sendto(sock_, batch.data(), used) < 0) {
            VLOG_ERR("ipvs: sending %zu changes: %s", next - first_index, strerror(errno));
            result.resync_needed = true;
            return result;
        }
        result.messages += next - first_index;
        ++result.sendmsg_calls;

        // Collect acks until the batch's last one.
        bool done = false;
        for (int round = 0; !done && round < 100000; ++round) {
            ssize_t n = mnl_socket_recvfrom(sock_, buf_.data(), buf_.size());
            if (n < 0) {
                if (errno == ENOBUFS) {
                    // Acks were dropped: we cannot know which rules failed.
                    VLOG_WARN("ipvs: ack overflow (ENOBUFS): will re-read the table");
                    result.resync_needed = true;
                    continue;
                }
                if (errno == EINTR) continue;
                VLOG_WARN("ipvs: no ack for changes %zu-%zu (%s): will re-read the table", first_index + 1, next,
                          errno == EAGAIN ? "timeout" : strerror(errno));
                result.resync_needed = true;
                return result;
            }
            int len = static_cast<int>(n);
            for (auto* m = reinterpret_cast<const nlmsghdr*>(buf_.data()); mnl_nlmsg_ok(m, len);
                 m = mnl_nlmsg_next(m, &len)) {
                if (m->nlmsg_pid != portid || m->nlmsg_type != NLMSG_ERROR) continue;
                const uint32_t seq = m->nlmsg_seq;
                if (seq - first_seq >= next - first_index) continue;  // not this batch's
                if (mnl_nlmsg_get_payload_len(m) < sizeof(nlmsgerr)) continue;
                const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m));
                if (e->error != 0)
                    result.failures.push_back({changes[first_index + (seq - first_seq)], -e->error});
                if (seq == last_seq) done = true;
            }
        }
        if (!done) {
            result.resync_needed = true;
            return result;
        }
    }
    return result;
}

}  // namespace vigil::ipvs
