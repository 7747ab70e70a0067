#include "check/engine.h"

#include <algorithm>

#include "daemon/log.h"

namespace vigil::check {

using std::chrono::milliseconds;

const char* checker_type_name(config::CheckerType t) {
    switch (t) {
    case config::CheckerType::Tcp: return "TCP_CHECK";
    case config::CheckerType::Http: return "HTTP_GET";
    case config::CheckerType::Ssl: return "SSL_GET";
    case config::CheckerType::Misc: return "MISC_CHECK";
    }
    return "?";
}

struct CheckEngine::ServerRun {
    RealServerKey key;
    const config::VirtualServer* vs = nullptr;
    const config::RealServer* rs = nullptr;
    std::vector<CheckerRun*> checkers;
    bool up = true;
    std::optional<int> dynamic_weight;
};

struct CheckEngine::CheckerRun {
    CheckerRun(ev::Loop* loop, CheckerKey k, RetryPolicy policy, bool alpha)
        : key(std::move(k)), health(policy, alpha), timer(loop, [this] { engine->on_due(*this); }) {}
    CheckerKey key;
    CheckEngine* engine = nullptr;
    const config::Checker* cfg = nullptr;
    ServerRun* server = nullptr;
    CheckerHealth health;
    ev::Timer timer;
    std::unique_ptr<Probe> probe;
    double due = 0;  // ev time the timer is meant to fire
    // "[10.0.0.1:80] 10.0.1.1:80 TCP_CHECK", built only when logging (not
    // stored: 10,000 checkers would carry 10,000 strings for rare log lines).
    std::string label() const {
        return "[" + vs_name(*server->vs) + "] " + rs_name(*server->rs) + " " + checker_type_name(cfg->type);
    }
};

CheckEngine::CheckEngine(ev::Loop* loop, ProbeFactory& probes, HealthChanged on_health_changed,
                         milliseconds coalesce, milliseconds min_batch_interval)
    : loop_(loop),
      probes_(probes),
      on_health_changed_(std::move(on_health_changed)),
      coalesce_(coalesce),
      min_batch_interval_(min_batch_interval),
      batch_timer_(loop, [this] {
          ++stats_.batches;
          last_batch_ = ev_now(loop_);
          if (on_health_changed_) on_health_changed_();
      }),
      reaper_(loop, [this] { finished_probes_.clear(); }) {}

CheckEngine::~CheckEngine() = default;

static RetryPolicy policy_of(const config::VirtualServer& vs, const config::Checker& c) {
    return RetryPolicy{c.retry, c.delay_before_retry, c.delay_loop.value_or(vs.delay_loop)};
}

void CheckEngine::apply(std::shared_ptr<const config::Config> cfg) {
    std::map<CheckerKey, std::unique_ptr<CheckerRun>> checkers;
    std::map<RealServerKey, std::unique_ptr<ServerRun>> servers;
    size_t kept = 0, started = 0;
    for (const auto& vs : cfg->virtual_servers) {
        for (const auto& rs : vs.real_servers) {
            RealServerKey skey{vs.key, rs.addr, rs.port};
            if (servers.count(skey)) {
                VLOG_ERR("%s: real server %s listed twice in [%s]; checking the first only", rs.where.str().c_str(),
                         rs_name(rs).c_str(), vs_name(vs).c_str());
                continue;
            }
            auto server = std::make_unique<ServerRun>();
            server->key = skey;
            server->vs = &vs;
            server->rs = &rs;
            auto old_server = servers_.find(skey);
            for (size_t i = 0; i < rs.checkers.size(); ++i) {
                const config::Checker& c = rs.checkers[i];
                CheckerKey ckey{skey, static_cast<int>(i)};
                std::unique_ptr<CheckerRun> run;
                auto old = checkers_.find(ckey);
                if (old != checkers_.end() && *old->second->cfg == c) {
                    run = std::move(old->second);
                    run->health.set_policy(policy_of(vs, c));
                    ++kept;
                } else {
                    run = std::make_unique<CheckerRun>(loop_, ckey, policy_of(vs, c), vs.alpha);
                    run->engine = this;
                    milliseconds bound = c.warmup.value_or(c.delay_loop.value_or(vs.delay_loop));
                    run->cfg = &c;
                    schedule(*run, first_probe_delay(bound, jitter_seed_++));
                    ++started;
                }
                run->cfg = &c;
                run->server = server.get();
                server->checkers.push_back(run.get());
                checkers.emplace(ckey, std::move(run));
            }
            bool up = true;
            for (auto* run : server->checkers) up = up && run->health.health() == Health::Up;
            server->up = up;
            if (old_server != servers_.end() && old_server->second->up != up)
                VLOG_NOTICE("[%s] real server %s %s after reload", vs_name(vs).c_str(), rs_name(rs).c_str(),
                            up ? "UP" : "DOWN");
            for (auto* run : server->checkers)
                if (run->cfg->misc_dynamic && run->health.dynamic_weight()) server->dynamic_weight = run->health.dynamic_weight();
            servers.emplace(skey, std::move(server));
        }
    }
    size_t removed = checkers_.size() - kept;
    // Old runs not carried over are destroyed here: timers stop, probes cancel.
    checkers_ = std::move(checkers);
    servers_ = std::move(servers);
    by_config_.clear();
    by_config_.reserve(servers_.size());
    for (const auto& [key, server] : servers_) by_config_[server->rs] = server.get();
    cfg_ = std::move(cfg);
    VLOG_INFO("checkers: %zu kept, %zu started, %zu removed", kept, started, removed);
}

void CheckEngine::schedule(CheckerRun& run, milliseconds after) {
    run.due = ev_now(loop_) + std::chrono::duration<double>(after).count();
    run.timer.start(after);
}

ProbeTarget CheckEngine::target_of(const CheckerRun& run) const {
    const config::Checker& c = *run.cfg;
    const config::RealServer& rs = *run.server->rs;
    const config::VirtualServer& vs = *run.server->vs;
    ProbeTarget t;
    t.type = c.type;
    t.addr = c.connect_ip.value_or(rs.addr);
    uint16_t vs_port = 0;
    if (auto* ip = std::get_if<config::IpPort>(&vs.key)) vs_port = ip->port;
    t.port = c.connect_port.value_or(rs.port.value_or(vs_port));
    t.bindto = c.bindto;
    t.timeout = c.connect_timeout;
    t.urls = c.urls;
    t.virtualhost = c.virtualhost;
    t.script.command = c.misc_path;
    t.script.user = c.user.empty() ? cfg_->global.script_user : c.user;
    t.script.group = c.user.empty() ? cfg_->global.script_group : c.group;
    t.script.timeout = c.misc_timeout.count() > 0 ? c.misc_timeout : run.health.policy().delay_loop;
    t.misc_dynamic = c.misc_dynamic;
    return t;
}

void CheckEngine::on_due(CheckerRun& run) {
    double late = ev_time() - run.due;
    if (late > std::chrono::duration<double>(kLateThreshold).count()) ++stats_.probes_late;
    if (late > stats_.max_lateness_s) stats_.max_lateness_s = late;
    ++stats_.probes_started;
    CheckerRun* r = &run;
    run.probe = probes_.start(target_of(run), [this, r](const ProbeResult& result, const std::string& reason) {
        on_result(*r, result, reason);
    });
    if (!run.probe) on_result(run, ProbeResult::failure(), "probe could not start");
}

void CheckEngine::on_result(CheckerRun& run, const ProbeResult& result, const std::string& reason) {
    // We are inside the probe's own callback (its watcher's std::function is
    // on the stack): park it, and let the reaper free it from the loop.
    if (run.probe) {
        finished_probes_.push_back(std::move(run.probe));
        if (!reaper_.active()) reaper_.start(std::chrono::nanoseconds{0});
    }
    if (!result.ok) ++stats_.probes_failed;
    Verdict v = run.health.on_result(result);
    if (!result.ok && (v.retrying || v.changed)) {
        static log::RateLimit failures(200, std::chrono::seconds(10));
        if (v.retrying)
            failures.write(log::Level::Info, "%s failed: %s (retry %d of %d in %lld ms)", run.label().c_str(),
                           reason.c_str(), run.health.failures_in_row(), run.health.policy().retry,
                           static_cast<long long>(v.next_probe_in.count()));
        else
            failures.write(log::Level::Warning, "%s failed: %s", run.label().c_str(), reason.c_str());
    }
    if (v.changed) VLOG_NOTICE("%s: checker %s", run.label().c_str(), to_string(v.health));
    schedule(run, v.next_probe_in);
    if (v.changed || (result.ok && result.weight)) update_server(*run.server);
}

void CheckEngine::update_server(ServerRun& server) {
    bool up = true;
    std::optional<int> weight;
    for (auto* run : server.checkers) {
        up = up && run->health.health() == Health::Up;
        if (run->cfg->misc_dynamic && run->health.dynamic_weight()) weight = run->health.dynamic_weight();
    }
    bool weight_changed = weight != server.dynamic_weight;
    server.dynamic_weight = weight;
    if (up != server.up) {
        server.up = up;
        ++stats_.server_transitions;
        VLOG_NOTICE("[%s] real server %s %s", vs_name(*server.vs).c_str(), rs_name(*server.rs).c_str(),
                    up ? "UP" : "DOWN");
        if (on_server_changed) on_server_changed(*server.vs, *server.rs, up);
        mark_dirty();
    } else if (weight_changed) {
        VLOG_INFO("[%s] real server %s weight %d (misc_dynamic)", vs_name(*server.vs).c_str(),
                  rs_name(*server.rs).c_str(), weight.value_or(server.rs->weight));
        mark_dirty();
    }
}

void CheckEngine::mark_dirty() {
    if (batch_timer_.active()) return;
    double earliest = last_batch_ + std::chrono::duration<double>(min_batch_interval_).count() - ev_now(loop_);
    double coalesce = std::chrono::duration<double>(coalesce_).count();
    batch_timer_.start(std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(std::max(coalesce, earliest))));
}

RealServerHealth CheckEngine::health_of(const config::VirtualServer& vs, const config::RealServer& rs) const {
    auto fast = by_config_.find(&rs);
    if (fast != by_config_.end()) return {fast->second->up, fast->second->dynamic_weight};
    auto it = servers_.find(RealServerKey{vs.key, rs.addr, rs.port});
    if (it == servers_.end()) return {};
    return {it->second->up, it->second->dynamic_weight};
}

std::string CheckEngine::describe() const {
    std::string out;
    if (!cfg_) return out;
    for (const auto& vs : cfg_->virtual_servers)
        for (const auto& rs : vs.real_servers) {
            RealServerHealth h = health_of(vs, rs);
            out += vs_name(vs) + " " + rs_name(rs) + " " + (h.up ? "UP" : "DOWN") + "\n";
        }
    return out;
}

}  // namespace vigil::check
