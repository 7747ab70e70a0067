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
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "check/desired.h"
#include "check/health.h"
#include "check/probe.h"
#include "daemon/config/model.h"
#include "daemon/ev.h"

namespace vigil::check {

// A real server's identity across reloads: its virtual server and address/port.
struct RealServerKey {
    config::VirtualServerKey vs;
    IpAddress addr;
    std::optional<uint16_t> port;
    friend auto operator<=>(const RealServerKey&, const RealServerKey&) = default;
    friend bool operator==(const RealServerKey&, const RealServerKey&) = default;
};

// A checker's identity: its real server and its position among that real
// server's checkers. A reload keeps a checker's state when this key and the
// checker's configuration are unchanged.
struct CheckerKey {
    RealServerKey server;
    int ordinal = 0;
    friend auto operator<=>(const CheckerKey&, const CheckerKey&) = default;
    friend bool operator==(const CheckerKey&, const CheckerKey&) = default;
};

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

    // Start (or, on reload, adjust) the checkers of `cfg`. Checkers whose key
    // and configuration did not change keep their health, failure count and
    // timer; new ones start UP (DOWN with alpha) and probe after their warmup
    // jitter; removed ones are cancelled. Does not call on_health_changed: the
    // caller reconciles after applying.
    void apply(std::shared_ptr<const config::Config> cfg);

    // Called once per real-server transition (before the coalesced batch), for
    // logs and notify_up / notify_down.
    ServerChanged on_server_changed;

    RealServerHealth health_of(const config::VirtualServer& vs, const config::RealServer& rs) const;
    HealthOf health_fn() const {
        return [this](const config::VirtualServer& vs, const config::RealServer& rs) { return health_of(vs, rs); };
    }

    size_t checker_count() const { return checkers_.size(); }
    const EngineStats& stats() const { return stats_; }
    // max_lateness_s then covers the time since this call (stats dumps do it).
    void reset_max_lateness() { stats_.max_lateness_s = 0; }
    // One line per real server: "<vs> <rs> UP|DOWN", in config order.
    std::string describe() const;

private:
    struct ServerRun;
    struct CheckerRun;

    void schedule(CheckerRun& run, std::chrono::milliseconds after);
    void on_due(CheckerRun& run);
    void on_result(CheckerRun& run, const ProbeResult& r, const std::string& reason);
    void update_server(ServerRun& server);
    void mark_dirty();
    ProbeTarget target_of(const CheckerRun& run) const;

    ev::Loop* loop_;
    ProbeFactory& probes_;
    HealthChanged on_health_changed_;
    std::chrono::milliseconds coalesce_;
    std::chrono::milliseconds min_batch_interval_;
    double last_batch_ = -1e9;  // ev time of the last batch
    ev::Timer batch_timer_;
    std::vector<std::unique_ptr<Probe>> finished_probes_;
    ev::Timer reaper_;
    std::shared_ptr<const config::Config> cfg_;
    std::map<CheckerKey, std::unique_ptr<CheckerRun>> checkers_;
    std::map<RealServerKey, std::unique_ptr<ServerRun>> servers_;
    // The same servers by their place in cfg_: health_of() runs for every real
    // server on every batch, and a pointer hash beats comparing keys.
    std::unordered_map<const config::RealServer*, const ServerRun*> by_config_;
    uint64_t jitter_seed_ = 0;
    EngineStats stats_;
};

}  // namespace vigil::check
