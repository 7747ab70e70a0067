#include "check/engine.h"

#include <algorithm>
#include <map>
#include <tuple>

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

namespace {

// A real server's identity across reloads: its virtual server (key and
// protocol: TCP and UDP services may share an address and port) and its
// address and port; `position` tells apart the entries of one list.
struct ServerIdentity {
    const config::VirtualServer* vs;
    const config::RealServer* rs;
    uint32_t position;
    auto tie() const { return std::tie(vs->key, vs->protocol, rs->addr, rs->port); }
};

// Identities sorted by identity, then position: first() finds the first
// listing of a real server. Built only while applying a config (a reload
// matches old and new servers with it), so it costs nothing at rest.
class ServerIndex {
public:
    explicit ServerIndex(std::vector<ServerIdentity> ids) : ids_(std::move(ids)) {
        std::sort(ids_.begin(), ids_.end(), [](const ServerIdentity& a, const ServerIdentity& b) {
            return std::tuple_cat(a.tie(), std::tie(a.position)) < std::tuple_cat(b.tie(), std::tie(b.position));
        });
    }
    std::optional<uint32_t> first(const ServerIdentity& id) const {
        auto it = std::lower_bound(ids_.begin(), ids_.end(), id,
                                   [](const ServerIdentity& a, const ServerIdentity& b) { return a.tie() < b.tie(); });
        if (it == ids_.end() || it->tie() != id.tie()) return std::nullopt;
        return it->position;
    }

private:
    std::vector<ServerIdentity> ids_;
};

// Position of *p in v, when p points into v.
template <class T>
std::optional<size_t> position_in(const std::vector<T>& v, const T* p) {
    std::less<const T*> before;
    if (v.empty() || before(p, v.data()) || !before(p, v.data() + v.size())) return std::nullopt;
    return static_cast<size_t>(p - v.data());
}

}  // namespace

struct CheckEngine::ServerRun {
    const config::VirtualServer* vs = nullptr;
    const config::RealServer* rs = nullptr;
    uint32_t first_checker = 0;  // its checkers: checkers_[first_checker, first_checker + checker_count)
    uint32_t checker_count = 0;
    bool up = true;
    std::optional<int> dynamic_weight;
};

struct CheckEngine::CheckerRun {
    CheckerRun(CheckEngine* engine, RetryPolicy policy, bool alpha) : engine(engine), health(policy, alpha) {
        ev_init(&timer, &CheckerRun::on_timer);
        timer.data = this;
    }
    ~CheckerRun() { ev_timer_stop(engine->loop_, &timer); }
    CheckerRun(const CheckerRun&) = delete;
    CheckerRun& operator=(const CheckerRun&) = delete;

    bool timer_active() const { return ev_is_active(&timer); }
    void start_timer(milliseconds after) {
        ev_timer_stop(engine->loop_, &timer);
        ev_timer_set(&timer, std::chrono::duration<double>(after).count(), 0.);
        ev_timer_start(engine->loop_, &timer);
    }
    static void on_timer(ev::Loop*, ev_timer* w, int) {
        auto* run = static_cast<CheckerRun*>(w->data);
        run->engine->on_due(*run);
    }

    CheckEngine* engine;
    const config::Checker* cfg = nullptr;
    ServerRun* server = nullptr;
    CheckerHealth health;
    // A bare libev timer rather than an ev::Timer: its loop pointer and
    // std::function would add 40 bytes to each of 10,000 checkers.
    ev_timer timer;
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
      reaper_(loop, [this] { finished_probes_.clear(); }),
      starter_(loop, [this] { start_new_checkers(); }) {}

CheckEngine::~CheckEngine() = default;

static RetryPolicy policy_of(const config::VirtualServer& vs, const config::Checker& c) {
    return RetryPolicy{c.retry, c.delay_before_retry, c.delay_loop.value_or(vs.delay_loop)};
}

void CheckEngine::apply(std::shared_ptr<const config::Config> cfg) {
    // The running servers by identity (their config, cfg_, lives until the end).
    std::vector<ServerIdentity> running;
    running.reserve(servers_.size());
    for (uint32_t i = 0; i < servers_.size(); ++i) running.push_back({servers_[i].vs, servers_[i].rs, i});
    const ServerIndex old_index(std::move(running));

    std::vector<ServerIdentity> listed;  // every real server entry of cfg, in config order
    std::vector<uint32_t> vs_first;
    for (const auto& vs : cfg->virtual_servers) {
        vs_first.push_back(static_cast<uint32_t>(listed.size()));
        for (const auto& rs : vs.real_servers) listed.push_back({&vs, &rs, static_cast<uint32_t>(listed.size())});
    }
    const ServerIndex new_index(listed);

    std::vector<ServerRun> servers;
    servers.reserve(listed.size());  // checkers point into it: it must not reallocate
    std::vector<std::unique_ptr<CheckerRun>> checkers;
    size_t listed_checkers = 0;  // an upper bound (a duplicate listing gets none): no doubling slack
    for (const ServerIdentity& entry : listed) listed_checkers += entry.rs->checkers.size();
    checkers.reserve(listed_checkers);
    std::vector<uint32_t> server_of(listed.size());
    size_t kept = 0, started = 0;
    for (const ServerIdentity& entry : listed) {
        const config::VirtualServer& vs = *entry.vs;
        const config::RealServer& rs = *entry.rs;
        uint32_t first = *new_index.first(entry);
        if (first != entry.position) {
            VLOG_ERR("%s: real server %s listed twice in [%s]; checking the first only", rs.where.str().c_str(),
                     rs_name(rs).c_str(), vs_name(vs).c_str());
            server_of[entry.position] = server_of[first];
            continue;
        }
        server_of[entry.position] = static_cast<uint32_t>(servers.size());
        ServerRun& server = servers.emplace_back();
        server.vs = &vs;
        server.rs = &rs;
        server.first_checker = static_cast<uint32_t>(checkers.size());
        server.checker_count = static_cast<uint32_t>(rs.checkers.size());
        std::optional<uint32_t> old_pos = old_index.first(entry);
        const ServerRun* old = old_pos ? &servers_[*old_pos] : nullptr;
        for (size_t i = 0; i < rs.checkers.size(); ++i) {
            const config::Checker& c = rs.checkers[i];
            std::unique_ptr<CheckerRun> run;
            if (old && i < old->checker_count && *checkers_[old->first_checker + i]->cfg == c) {
                run = std::move(checkers_[old->first_checker + i]);
                run->health.set_policy(policy_of(vs, c));
                ++kept;
            } else {
                run = std::make_unique<CheckerRun>(this, policy_of(vs, c), vs.alpha);
                ++started;  // its first probe is scheduled by start_new_checkers()
            }
            run->cfg = &c;
            run->server = &server;
            checkers.push_back(std::move(run));
        }
        bool up = true;
        for (uint32_t i = 0; i < server.checker_count; ++i) {
            const CheckerRun& run = *checkers[server.first_checker + i];
            up = up && run.health.health() == Health::Up;
            if (run.cfg->misc->dynamic && run.health.dynamic_weight()) server.dynamic_weight = run.health.dynamic_weight();
        }
        server.up = up;
        if (old && old->up != up)
            VLOG_NOTICE("[%s] real server %s %s after reload", vs_name(vs).c_str(), rs_name(rs).c_str(),
                        up ? "UP" : "DOWN");
    }
    size_t removed = checkers_.size() - kept;
    // Old runs not carried over are destroyed here: timers stop, probes cancel.
    checkers_ = std::move(checkers);
    servers_ = std::move(servers);
    vs_first_ = std::move(vs_first);
    server_of_ = std::move(server_of);
    cfg_ = std::move(cfg);
    if (started) starter_.start(std::chrono::nanoseconds{0});
    VLOG_INFO("checkers: %zu kept, %zu started, %zu removed", kept, started, removed);
}

void CheckEngine::start_new_checkers() {
    // A running checker always has its timer armed or a probe in flight; one
    // with neither is new.
    for (auto& run : checkers_) {
        if (run->timer_active() || run->probe) continue;
        const config::Checker& c = *run->cfg;
        milliseconds bound = c.warmup.value_or(c.delay_loop.value_or(run->server->vs->delay_loop));
        schedule(*run, first_probe_delay(bound, jitter_seed_++));
    }
}

void CheckEngine::schedule(CheckerRun& run, milliseconds after) {
    run.due = ev_now(loop_) + std::chrono::duration<double>(after).count();
    run.start_timer(after);
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
    t.urls = c.http->urls;
    t.virtualhost = c.http->virtualhost;
    const config::MiscCheckSettings& misc = *c.misc;
    t.script.command = misc.path;
    t.script.user = misc.user.empty() ? cfg_->global.script_user : misc.user;
    t.script.group = misc.user.empty() ? cfg_->global.script_group : misc.group;
    t.script.timeout = misc.timeout.count() > 0 ? misc.timeout : run.health.policy().delay_loop;
    t.misc_dynamic = misc.dynamic;
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
    for (uint32_t i = 0; i < server.checker_count; ++i) {
        const CheckerRun& run = *checkers_[server.first_checker + i];
        up = up && run.health.health() == Health::Up;
        if (run.cfg->misc->dynamic && run.health.dynamic_weight()) weight = run.health.dynamic_weight();
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

const CheckEngine::ServerRun* CheckEngine::find_server(const config::VirtualServer& vs,
                                                        const config::RealServer& rs) const {
    if (!cfg_) return nullptr;
    if (auto v = position_in(cfg_->virtual_servers, &vs))
        if (auto r = position_in(vs.real_servers, &rs)) return &servers_[server_of_[vs_first_[*v] + *r]];
    // Not part of the applied config (a caller holding another copy): by identity.
    ServerIdentity wanted{&vs, &rs, 0};
    for (const ServerRun& s : servers_)
        if (ServerIdentity{s.vs, s.rs, 0}.tie() == wanted.tie()) return &s;
    return nullptr;
}

RealServerHealth CheckEngine::health_of(const config::VirtualServer& vs, const config::RealServer& rs) const {
    const ServerRun* s = find_server(vs, rs);
    if (!s) return {};
    return {s->up, s->dynamic_weight};
}

HealthOf CheckEngine::initial_health(const config::Config& cfg) {
    // Only an alpha virtual server whose real servers differ in having
    // checkers needs its first listings looked up (a duplicate takes the
    // first listing's health, as apply() does); every other answer follows
    // from the entry itself.
    using Listing = std::pair<IpAddress, std::optional<uint16_t>>;
    auto first_has_checkers =
        std::make_shared<std::map<const config::VirtualServer*, std::map<Listing, bool>>>();
    for (const auto& vs : cfg.virtual_servers) {
        if (!vs.alpha) continue;
        auto with = [](const config::RealServer& rs) { return !rs.checkers.empty(); };
        if (std::all_of(vs.real_servers.begin(), vs.real_servers.end(), with) ||
            std::none_of(vs.real_servers.begin(), vs.real_servers.end(), with))
            continue;
        auto& firsts = (*first_has_checkers)[&vs];
        for (const auto& rs : vs.real_servers) firsts.emplace(Listing{rs.addr, rs.port}, with(rs));
    }
    return [first_has_checkers](const config::VirtualServer& vs, const config::RealServer& rs) {
        RealServerHealth h;
        if (!vs.alpha) return h;
        bool has_checkers = !rs.checkers.empty();
        if (auto v = first_has_checkers->find(&vs); v != first_has_checkers->end())
            if (auto first = v->second.find(Listing{rs.addr, rs.port}); first != v->second.end())
                has_checkers = first->second;
        h.up = !has_checkers;
        return h;
    };
}

}  // namespace vigil::check
