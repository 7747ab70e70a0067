// IpvsReconciler: keeps the kernel's IPVS table in step with the desired one.
// reconcile() = dump (only the services we own) -> diff -> apply, batched.
//
// Ownership (DESIGN.md: "nothing flushes what it does not own"): the services
// the config declares are ours; every other service in the kernel is left
// alone. After a reload, services the old config declared and the new one does
// not are still ours until they are deleted.
//
// Counting, for tests and operators: every reconcile logs
//   ipvs: reconcile: N changes, M messages in K sendmsg, F failed
// at info level, and totals() / stats_text() give the running sums (the check
// child prints stats_text() in its SIGUSR1 / stats dump).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ipvs/kernel.h"
#include "ipvs/model.h"

namespace vigil::ipvs {

struct ReconcileStats {
    size_t changes = 0;        // changes computed over all rounds
    size_t messages = 0;       // netlink messages written
    size_t sendmsg_calls = 0;
    size_t failures = 0;       // rules the kernel refused for good (not reconcilable)
    int rounds = 0;            // dump+diff+apply passes (more than 1 after a resync)
    bool dump_failed = false;
};

struct ReconcilerTotals {
    uint64_t reconciles = 0;
    uint64_t changes = 0;
    uint64_t messages = 0;
    uint64_t sendmsg_calls = 0;
    uint64_t failures = 0;
    uint64_t resyncs = 0;      // extra rounds forced by EEXIST/ENOENT/ENOBUFS/lost acks
    uint64_t table_reads = 0;  // dumps of our services (update() reads none when it can)
};

class IpvsReconciler {
public:
    // `kernel` may be null: IPVS is unavailable, everything is a no-op (said once).
    explicit IpvsReconciler(std::unique_ptr<IpvsKernel> kernel);

    // The real kernel, or null after logging why (VRRP keeps running without IPVS).
    static std::unique_ptr<IpvsKernel> open_netlink();

    bool available() const { return kernel_ != nullptr; }

    // The table we want and the services we own (usually owned_services(cfg)).
    void set_desired(Table desired, OwnedSet owned);
    const Table& desired() const { return desired_; }

    // lvs_flush: at start, flush the whole table (keepalived's meaning: every
    // service, not only ours). Without it, matching services are adopted.
    bool start(bool lvs_flush);
    // Full pass: dump our services, diff, apply. Restores anything changed by
    // hand. For start, reload and a periodic sweep.
    ReconcileStats reconcile();
    // Cheap pass for a health change: diff against the table as the last
    // successful pass left it, without reading the kernel (a dump of 10,000
    // destinations is 100+ round trips). Falls back to reconcile() when that
    // state is unknown: first pass, or any failure / resync since.
    ReconcileStats update();
    // At stop: lvs_flush_on_stop flushes the whole table; otherwise exactly
    // our services are deleted, in one batch.
    ReconcileStats stop(bool lvs_flush_on_stop);

    const ReconcilerTotals& totals() const { return totals_; }
    std::string stats_text() const;  // "ipvs_reconciles 3\nipvs_messages 10100\n..."

private:
    OwnedSet owned_all() const;
    void report(const char* what, const ReconcileStats& s);
    void known_matches_desired();  // after a clean pass
    void forget_known();           // unsure: the next update() reads the kernel

    std::unique_ptr<IpvsKernel> kernel_;
    Table desired_;
    OwnedSet owned_;
    OwnedSet previously_owned_;  // declared by an older config, not yet removed
    // Our services as the kernel holds them, when certain. Usually that is
    // exactly desired_ (after every clean pass), and then no copy is kept:
    // with 10,000 destinations a second table is 0.8 MB of the check child's
    // memory. set_desired() moves the previous desired table here when it
    // replaces one the kernel was known to hold, for update() to diff against.
    bool known_is_desired_ = false;
    std::optional<Table> known_;
    ReconcilerTotals totals_;
    bool said_unavailable_ = false;
};

}  // namespace vigil::ipvs
