// Access to the kernel's IPVS table, behind a small interface so the reconciler
// can be tested with a fake. The real one speaks generic netlink through libmnl.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipvs/model.h"

struct mnl_socket;

namespace vigil::ipvs {

// What became of one batch of changes.
struct ApplyResult {
    struct Failure {
        Change change;
        int error = 0;  // positive errno
    };
    size_t messages = 0;        // netlink messages written (one per change)
    size_t sendmsg_calls = 0;   // how many sendmsg() those took
    std::vector<Failure> failures;
    // The kernel's view can no longer be trusted to match what we think we
    // sent (ENOBUFS on the socket, an ack that never came, a send error):
    // the caller must re-read the table and diff again.
    bool resync_needed = false;
};

// EEXIST on an add and ENOENT/ESRCH on an edit or delete mean someone else
// changed the table under us: re-read and re-diff, nothing is wrong with the rule.
bool is_reconcilable(const ApplyResult::Failure& f);

class IpvsKernel {
public:
    virtual ~IpvsKernel() = default;
    // The services in `which` that exist, with their destinations. nullopt when
    // the dump failed (logged).
    virtual std::optional<Table> dump(const OwnedSet& which) = 0;
    // Every service in the kernel, with destinations (for tests and `flush`).
    virtual std::optional<Table> dump_all() = 0;
    virtual ApplyResult apply(const std::vector<Change>& changes) = 0;
    // IPVS_CMD_FLUSH: removes every service, ours or not (lvs_flush).
    virtual bool flush() = 0;
};

// The kernel over generic netlink.
class NetlinkIpvsKernel final : public IpvsKernel {
public:
    // Resolves the "IPVS" family; if that fails, runs `modprobe ip_vs` once and
    // tries again. nullptr with `error` set when IPVS is unavailable.
    static std::unique_ptr<NetlinkIpvsKernel> open(std::string& error);
    ~NetlinkIpvsKernel() override;

    std::optional<Table> dump(const OwnedSet& which) override;
    std::optional<Table> dump_all() override;
    ApplyResult apply(const std::vector<Change>& changes) override;
    bool flush() override;

    // IPVS version from GET_INFO (e.g. 0x010201 for 1.2.1).
    uint32_t version() const { return version_; }
    // Size of one sendmsg() batch; tests shrink it to force several.
    void set_batch_bytes(size_t bytes) { batch_bytes_ = bytes; }

private:
    NetlinkIpvsKernel(mnl_socket* sock, uint16_t family_id);
    // One request, replies until DONE / the ack; each reply goes to `on_reply`.
    bool request(void* msg, size_t len, uint32_t seq, const std::function<bool(const nlmsghdr*)>& on_reply,
                 std::string& error);
    void drain();
    bool dump_dests(const ServiceKey& key, Service& into);
    std::optional<Table> dump_services(const OwnedSet* only);

    mnl_socket* sock_;
    uint16_t family_id_;
    uint32_t version_ = 0;
    uint32_t seq_;
    size_t batch_bytes_ = 64 * 1024;
    std::vector<char> buf_;
};

}  // namespace vigil::ipvs
