// IpvsReconciler: dump -> diff -> apply, with bounded re-reads.
#include "ipvs/reconciler.h"

#include <cstring>

#include "daemon/log.h"

namespace vigil::ipvs {

namespace {

// A re-read after EEXIST/ENOENT or a lost ack converges in one more round
// unless someone keeps changing the table; never loop for ever.
constexpr int kMaxRounds = 3;
// One reconcile logs at most this many refused rules, then a count: a config
// with 10,000 bad rules must not write 10,000 log lines per reconcile.
constexpr size_t kMaxFailureLines = 20;

}  // namespace

IpvsReconciler::IpvsReconciler(std::unique_ptr<IpvsKernel> kernel) : kernel_(std::move(kernel)) {}

std::unique_ptr<IpvsKernel> IpvsReconciler::open_netlink() {
    std::string error;
    auto k = NetlinkIpvsKernel::open(error);
    if (!k) {
        VLOG_ERR("ipvs: IPVS unavailable, virtual servers will not be programmed (VRRP is not affected): %s",
                 error.c_str());
        return nullptr;
    }
    return k;
}

void IpvsReconciler::set_desired(Table desired, OwnedSet owned) {
    // What we owned before and do not own now must still be removed.
    for (const auto& key : owned_)
        if (!owned.count(key)) previously_owned_.insert(key);
    for (const auto& key : owned) previously_owned_.erase(key);
    if (known_is_desired_) {
        known_ = std::move(desired_);  // what the kernel holds, until the next pass
        known_is_desired_ = false;
    }
    desired_ = std::move(desired);
    owned_ = std::move(owned);
}

OwnedSet IpvsReconciler::owned_all() const {
    OwnedSet all = owned_;
    all.insert(previously_owned_.begin(), previously_owned_.end());
    return all;
}

bool IpvsReconciler::start(bool lvs_flush) {
    if (!kernel_ || !lvs_flush) return kernel_ != nullptr;
    forget_known();
    VLOG_NOTICE("ipvs: lvs_flush: flushing the whole IPVS table");
    return kernel_->flush();
}

void IpvsReconciler::report(const char* what, const ReconcileStats& s) {
    // A pass that found nothing to do (every periodic check, normally) is
    // debug detail, not a line a minute in the log.
    if (s.changes == 0 && s.failures == 0 && s.rounds <= 1 && !s.dump_failed)
        VLOG_DEBUG("ipvs: %s: no changes", what);
    else
        VLOG_INFO("ipvs: %s: %zu changes, %zu messages in %zu sendmsg, %zu failed%s", what, s.changes, s.messages,
                  s.sendmsg_calls, s.failures, s.rounds > 1 ? " (table re-read)" : "");
    totals_.changes += s.changes;
    totals_.messages += s.messages;
    totals_.sendmsg_calls += s.sendmsg_calls;
    totals_.failures += s.failures;
    if (s.rounds > 1) totals_.resyncs += static_cast<uint64_t>(s.rounds - 1);
}

void IpvsReconciler::known_matches_desired() {
    known_.reset();
    known_is_desired_ = true;
}

void IpvsReconciler::forget_known() {
    known_.reset();
    known_is_desired_ = false;
}

ReconcileStats IpvsReconciler::reconcile() {
    ReconcileStats stats;
    if (!kernel_) {
        if (!said_unavailable_) VLOG_WARN("ipvs: reconcile skipped: IPVS unavailable");
        said_unavailable_ = true;
        return stats;
    }
    ++totals_.reconciles;
    const OwnedSet owned = owned_all();
    size_t failure_lines = 0;
    bool unsettled = true;  // until a round ends with nothing left to re-read
    for (int round = 0; round < kMaxRounds; ++round) {
        ++stats.rounds;
        ++totals_.table_reads;
        auto actual = kernel_->dump(owned);
        if (!actual) {
            stats.dump_failed = true;
            break;
        }
        auto changes = diff(desired_, *actual, owned);
        stats.changes += changes.size();
        if (changes.empty()) {
            unsettled = false;
            break;
        }
        ApplyResult res = kernel_->apply(changes);
        stats.messages += res.messages;
        stats.sendmsg_calls += res.sendmsg_calls;
        bool reread = res.resync_needed;
        for (const auto& f : res.failures) {
            if (is_reconcilable(f)) {
                VLOG_DEBUG("ipvs: %s: %s (table changed under us; re-reading)", f.change.str().c_str(),
                           strerror(f.error));
                reread = true;
                continue;
            }
            ++stats.failures;
            if (failure_lines++ < kMaxFailureLines)
                VLOG_ERR("ipvs: %s: %s", f.change.str().c_str(), strerror(f.error));
        }
        if (!reread) {
            unsettled = false;
            break;
        }
    }
    if (failure_lines > kMaxFailureLines)
        VLOG_ERR("ipvs: ... and %zu more refused rules", failure_lines - kMaxFailureLines);
    if (!stats.dump_failed && stats.failures == 0 && !unsettled) {
        // Whatever an old config declared is gone from the kernel now, and
        // the kernel holds exactly what we want.
        previously_owned_.clear();
        known_matches_desired();
    } else {
        forget_known();
    }
    report("reconcile", stats);
    return stats;
}

ReconcileStats IpvsReconciler::update() {
    if (!kernel_ || (!known_is_desired_ && !known_)) return reconcile();
    ReconcileStats stats;
    ++totals_.reconciles;
    stats.rounds = 1;
    auto changes = diff(desired_, known_is_desired_ ? desired_ : *known_, owned_all());
    stats.changes = changes.size();
    if (changes.empty()) return stats;  // nothing to say: no log line per no-op
    ApplyResult res = kernel_->apply(changes);
    stats.messages = res.messages;
    stats.sendmsg_calls = res.sendmsg_calls;
    if (res.resync_needed || !res.failures.empty()) {
        // Someone else changed the table, or the kernel refused something:
        // what we believed is wrong. Read it back and do it properly.
        VLOG_INFO("ipvs: update: %zu of %zu changes not applied cleanly; re-reading the table",
                  res.failures.size(), changes.size());
        forget_known();
        report("update", stats);
        ReconcileStats full = reconcile();
        full.messages += stats.messages;
        full.sendmsg_calls += stats.sendmsg_calls;
        full.rounds += 1;
        return full;
    }
    previously_owned_.clear();
    known_matches_desired();
    report("update", stats);
    return stats;
}

ReconcileStats IpvsReconciler::stop(bool lvs_flush_on_stop) {
    ReconcileStats stats;
    if (!kernel_) return stats;
    forget_known();
    if (lvs_flush_on_stop) {
        VLOG_NOTICE("ipvs: lvs_flush_on_stop: flushing the whole IPVS table");
        stats.rounds = 1;
        if (kernel_->flush()) stats.messages = stats.sendmsg_calls = 1;
        report("stop", stats);
        return stats;
    }
    // Exactly ours: the diff against an empty desired table deletes every
    // owned service present (one message each, the kernel drops its dests).
    const OwnedSet owned = owned_all();
    stats.rounds = 1;
    ++totals_.table_reads;
    auto actual = kernel_->dump(owned);
    if (!actual) {
        stats.dump_failed = true;
        return stats;
    }
    auto changes = diff(Table{}, *actual, owned);
    stats.changes = changes.size();
    if (!changes.empty()) {
        ApplyResult res = kernel_->apply(changes);
        stats.messages = res.messages;
        stats.sendmsg_calls = res.sendmsg_calls;
        for (const auto& f : res.failures) {
            if (is_reconcilable(f)) continue;  // already gone
            ++stats.failures;
            VLOG_ERR("ipvs: %s: %s", f.change.str().c_str(), strerror(f.error));
        }
    }
    report("stop", stats);
    return stats;
}

std::string IpvsReconciler::stats_text() const {
    std::string s;
    auto line = [&](const char* name, uint64_t v) { s += std::string(name) + " " + std::to_string(v) + "\n"; };
    line("ipvs_available", kernel_ ? 1 : 0);
    line("ipvs_reconciles", totals_.reconciles);
    line("ipvs_changes", totals_.changes);
    line("ipvs_messages", totals_.messages);
    line("ipvs_sendmsg_calls", totals_.sendmsg_calls);
    line("ipvs_failures", totals_.failures);
    line("ipvs_resyncs", totals_.resyncs);
    line("ipvs_table_reads", totals_.table_reads);
    return s;
}

}  // namespace vigil::ipvs
