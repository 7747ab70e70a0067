// The check scheduler: every checker of every real server on one libev loop.
// Each checker is a CheckerHealth (pure decision) plus one timer and at most
// one probe in flight; probes come from a ProbeFactory (real I/O, or a fake in
// unit tests). Real-server health changes are coalesced: however many arrive
// in one loop iteration (or within `coalesce`), `on_health_changed` runs once,
// so the IPVS table is reconciled once per batch, not once per result. Batches
// are also at least `min_batch_interval` apart: with 10,000 real servers one
// batch costs tens of milliseconds, and a flapping pool must not turn that
// into a busy loop that makes every probe late.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "check/desired.h"
#include "check/health.h"
#include "check/probe.h"
#include "daemon/config/model.h"
#include "daemon/ev.h"

namespace vigil::check {

struct EngineStats {
    uint64_t probes_started = 0;
    uint64_t probes_failed = 0;
    uint64_t probes_late = 0;        // started more than kLateThreshold after due
    double max_lateness_s = 0;       // worst since start or reset_max_lateness()
    uint64_t server_transitions = 0;
    uint64_t batches = 0;            // on_health_changed calls
};

// Beyond this a probe is "late" (the benchmark's on-time criterion).
constexpr std::chrono::milliseconds kLateThreshold{10};

const char* checker_type_name(config::CheckerType t);

class CheckEngine {
public:
    using HealthChanged = std::function<void()>;
    using ServerChanged = std::function<void(const config::VirtualServer&, const config::RealServer&, bool up)>;

    CheckEngine(ev::Loop* loop, ProbeFactory& probes, HealthChanged on_health_changed,
                std::chrono::milliseconds coalesce = std::chrono::milliseconds{5},
                std::chrono::milliseconds min_batch_interval = std::chrono::milliseconds{100});
    ~CheckEngine();
    CheckEngine(const CheckEngine&) = delete;
    CheckEngine& operator=(const CheckEngine&) = delete;

    // Start (or, on reload, adjust) the checkers of `cfg`. A checker is known
    // across reloads by its real server (virtual server key, address, port)
    // and its position among that server's checkers; checkers whose identity
    // and configuration did not change keep their health, failure count and
    // timer; new ones start UP (DOWN with alpha) and probe after their warmup
    // jitter, counted from the next loop iteration (the caller's reconcile
    // after a start or reload may take seconds with 10,000 real servers, and
    // jitter counted from before it would fire as one burst); removed ones
    // are cancelled. Does not call on_health_changed: the caller reconciles
    // after applying.
    void apply(std::shared_ptr<const config::Config> cfg);

    // Called once per real-server transition (before the coalesced batch), for
    // logs and notify_up / notify_down.
    ServerChanged on_server_changed;

    RealServerHealth health_of(const config::VirtualServer& vs, const config::RealServer& rs) const;
    // The health every real server of `cfg` has right after the first
    // apply() (no checker to keep): UP, or DOWN when its virtual server has
    // alpha and the server has checkers (they start DOWN); a server listed
    // twice in one virtual server takes its first listing's. Needs no
    // engine, so the check child can program the kernel from it before it
    // builds the checkers (10,000 of them take a while). Valid while `cfg`
    // lives.
    static HealthOf initial_health(const config::Config& cfg);
    HealthOf health_fn() const {
        return [this](const config::VirtualServer& vs, const config::RealServer& rs) { return health_of(vs, rs); };
    }

    size_t checker_count() const { return checkers_.size(); }
    const EngineStats& stats() const { return stats_; }
    // max_lateness_s then covers the time since this call (stats dumps do it).
    void reset_max_lateness() { stats_.max_lateness_s = 0; }

private:
    struct ServerRun;
    struct CheckerRun;

    void start_new_checkers();
    void schedule(CheckerRun& run, std::chrono::milliseconds after);
    void on_due(CheckerRun& run);
    void on_result(CheckerRun& run, const ProbeResult& r, const std::string& reason);
    void update_server(ServerRun& server);
    void mark_dirty();
    ProbeTarget target_of(const CheckerRun& run) const;
    const ServerRun* find_server(const config::VirtualServer& vs, const config::RealServer& rs) const;

    ev::Loop* loop_;
    ProbeFactory& probes_;
    HealthChanged on_health_changed_;
    std::chrono::milliseconds coalesce_;
    std::chrono::milliseconds min_batch_interval_;
    double last_batch_ = -1e9;  // ev time of the last batch
    ev::Timer batch_timer_;
    std::vector<std::unique_ptr<Probe>> finished_probes_;
    ev::Timer reaper_;
    ev::Timer starter_;  // start_new_checkers() from the loop, after apply()
    std::shared_ptr<const config::Config> cfg_;
    // Per-checker state is what 10,000 real servers multiply, so it is kept
    // flat: no per-server or per-checker keys or maps (a reload matches old
    // and new by key in a temporary index instead). servers_ holds each
    // distinct real server of cfg_ in config order; checkers_ holds their
    // checkers, each server's as one contiguous range.
    std::vector<ServerRun> servers_;
    std::vector<std::unique_ptr<CheckerRun>> checkers_;
    // health_of() runs for every real server on every batch: the servers_
    // index of each real server of cfg_, found from its position in the
    // config (vs_first_[vs] + position of rs in vs.real_servers). A real
    // server listed twice in one virtual server maps to its first entry.
    std::vector<uint32_t> vs_first_;
    std::vector<uint32_t> server_of_;
    uint64_t jitter_seed_ = 0;
    EngineStats stats_;
};

}  // namespace vigil::check
