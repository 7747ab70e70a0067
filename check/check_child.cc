// The check child: runs every checker on one loop, turns health into the
// desired IPVS table, and keeps the kernel in step with it.
//
//   ChildLoop (channel to core, stop, reload)
//     -> CheckEngine (checkers, probes, coalesced health changes)
//     -> DesiredState (inhibit, quorum, sorry server)
//     -> IpvsReconciler (ipvs/: diff, batched apply; a full pass that reads
//        our services back at start, reload and every lvs_reconcile_interval,
//        an incremental one without a read for each health batch)
//
// Health is also written to <runtime_dir>/check.state after every batch (one
// "rs <vs> <rs> UP|DOWN", "quorum <vs> UP|DOWN" and "dest <service> <dest>
// <weight>" line each), so it can be observed on a host without ip_vs.
// SIGUSR1 writes counters to <runtime_dir>/check.stats (probes started,
// failed, late by more than 10 ms, the worst lateness since the previous
// dump, batches, and the reconciler's totals).
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "check/desired.h"
#include "check/engine.h"
#include "check/probe.h"
#include "check/script.h"
#include "daemon/child.h"
#include "daemon/child_loop.h"
#include "daemon/log.h"
#include "ipvs/model.h"
#include "ipvs/reconciler.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;

// Bound on notify / quorum scripts (keepalived has none; a hung script must
// not pile up).
constexpr milliseconds kNotifyTimeout{30000};
// How long a stopping child waits for omega's down notifiers.
constexpr milliseconds kStopGrace{5000};

// Every probe in flight holds a socket. With thousands of checkers a burst
// (a slow reconcile delaying many probes, a black-holed subnet timing out
// together) needs more than the usual soft limit of 1,024 descriptors; the
// hard limit is ours to take (keepalived's checker raises it too).
void raise_fd_limit() {
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) VLOG_WARN("cannot raise the open file limit: %s", strerror(errno));
}

class CheckChild {
public:
    CheckChild(ev::Loop* loop, ChildContext& ctx)
        : loop_(loop),
          ctx_(ctx),
          child_(loop, ctx),
          scripts_(loop),
          probes_(check::make_real_probes(loop, scripts_)),
          notify_(loop, scripts_),
          reconciler_(ipvs::IpvsReconciler::open_netlink()),
          stop_timer_(loop, [this] { finish_stop(); }),
          sweep_timer_(loop, [this] { sweep(); }),
          sigusr1_(loop, SIGUSR1, [this] { write_stats(); }) {
        if (!reconciler_.available())
            VLOG_WARN("IPVS unavailable: checks run, the desired table is only written to %s", state_path().c_str());
        engine_ = std::make_unique<check::CheckEngine>(loop, *probes_,
                                                       [this] { reconcile("health change", Pass::Incremental); });
        engine_->on_server_changed = [this](const config::VirtualServer&, const config::RealServer& rs, bool up) {
            run_notify(up ? rs.notify->up : rs.notify->down);
        };
        child_.on_reload = [this](std::shared_ptr<const config::Config> cfg) {
            apply(std::move(cfg), "reload");
            child_.send_reload_done("");  // the old config is freed here
            release_free_memory();
        };
        child_.on_stop = [this] { stop(); };
        child_.on_query = [this](ipc::QueryKind kind) {
            return kind == ipc::QueryKind::Stats ? stats_text() : status_text();
        };
    }

    int run() {
        raise_fd_limit();
        apply(ctx_.config, "start");
        release_free_memory();
        child_.send_ready();
        ev_run(loop_, 0);
        return 0;
    }

private:
    std::string state_path() const {
        return (ctx_.runtime_dir.empty() ? std::string("/run/vigil") : ctx_.runtime_dir) + "/check.state";
    }

    void apply(std::shared_ptr<const config::Config> cfg, const char* why) {
        if (!cfg) return;
        auto previous = cfg_;  // keeps the old model alive while the engine compares against it
        // Script users and enable_script_security: decided again for this config.
        scripts_.configure(cfg->global.enable_script_security);
        if (!previous) {
            reconciler_.start(cfg->global.lvs_flush);
            // No checker has run yet, so every real server's health follows
            // from the config (up, down with alpha): the kernel is programmed
            // from that first and the checkers are built after it (their
            // first probes are jittered from the next loop iteration anyway).
            // 10,000 checkers take about 0.3 s in the ip_vs test guest, which
            // the last rule no longer waits for.
            cfg_ = std::move(cfg);
            VLOG_INFO("ipvs: first pass from the config; the checkers start after it");
            double started = ev_time();
            program_kernel(why, Pass::Full, check::CheckEngine::initial_health(*cfg_));
            engine_->apply(cfg_);
            finish_pass(why, started);
        } else {
            engine_->apply(cfg);
            cfg_ = std::move(cfg);
            reconcile(why, Pass::Full);
        }
        // The sweep counts from this full pass (lvs_reconcile_interval; 0: none).
        auto every = cfg_->global.lvs_reconcile_interval;
        if (every.count() > 0 && reconciler_.available()) sweep_timer_.start(every, every);
        else sweep_timer_.stop();
    }

    // Free heap pages go back to the kernel, after a start, reload or sweep:
    // what building the new state released (the old config and engine state,
    // temporary indexes, a dump of the kernel table) and, at start, core's
    // parsing leftovers inherited across fork. They would otherwise stay in
    // the RSS.
    static void release_free_memory() { malloc_trim(0); }

    // Full: read our services back from the kernel, diff, apply (start,
    // reload, sweep: whatever changed behind our back is repaired).
    // Incremental: diff against the table as the last pass left it, no read
    // (a dump of 10,000 destinations is 100+ netlink round trips, too much for
    // every health batch); the reconciler falls back to Full when unsure.
    enum class Pass { Full, Incremental };

    void reconcile(const char* why, Pass pass) {
        if (!cfg_ || stopping_) return;
        double started = ev_time();
        program_kernel(why, pass, engine_->health_fn());
        finish_pass(why, started);
    }

    // Health -> desired table (quorum transitions and their scripts) -> kernel.
    void program_kernel(const char* why, Pass pass, const check::HealthOf& health) {
        check::DesiredState::Result r = desired_.compute(*cfg_, health);
        for (const auto& e : r.quorum_events) {
            VLOG_NOTICE("[%s] quorum %s (live weight %ld, quorum %d, hysteresis %d)%s",
                        check::vs_name(*e.vs).c_str(), e.gained ? "gained" : "lost", e.live_weight, e.vs->quorum,
                        e.vs->hysteresis, e.vs->sorry_server ? ", sorry server in use" : "");
            run_notify(e.gained ? e.vs->quorum_up : e.vs->quorum_down);
        }
        // The reconciler remembers services a reload dropped and deletes them too.
        reconciler_.set_desired(std::move(r.table), ipvs::owned_services(*cfg_));
        if (reconciler_.available()) {
            ipvs::ReconcileStats st = pass == Pass::Full ? reconciler_.reconcile() : reconciler_.update();
            if (st.changes) VLOG_INFO("ipvs after %s: %zu changes", why, st.changes);
        }
    }

    void finish_pass(const char* why, double started) {
        // After the kernel, not before: the file is for observers, and with
        // 10,000 real servers formatting it costs about as much as the netlink
        // work, which would delay the first rule at start and every batch.
        write_state(reconciler_.desired());
        // A slow batch delays every probe due meanwhile: say so.
        double took_ms = (ev_time() - started) * 1000.0;
        if (took_ms > 50) {
            static log::RateLimit rl(5, std::chrono::seconds(60));
            rl.write(log::Level::Info, "reconcile after %s took %.0f ms", why, took_ms);
        }
    }

    // Periodic full pass (keepalived has none: a rule deleted by hand stays
    // deleted until the next health change of that server, or for ever). The
    // desired table has not changed since the last batch; only the kernel's
    // side is re-read. Default every 60 s: repairs within a minute, and one
    // dump of 10,000 destinations a minute costs well under 1% of a core.
    void sweep() {
        if (!cfg_ || stopping_ || !reconciler_.available()) return;
        double started = ev_time();
        ipvs::ReconcileStats st = reconciler_.reconcile();
        release_free_memory();  // the dump of our services, freed again
        if (st.changes)
            VLOG_NOTICE("ipvs: periodic check repaired %zu rule(s) changed outside vigil", st.changes);
        double took_ms = (ev_time() - started) * 1000.0;
        if (took_ms > 50) {
            static log::RateLimit rl(5, std::chrono::seconds(600));
            rl.write(log::Level::Info, "periodic IPVS check took %.0f ms", took_ms);
        }
    }

    void write_state(const ipvs::Table& table) {
        std::string path = state_path(), tmp = path + ".tmp";
        std::ofstream f(tmp, std::ios::trunc);
        // Written in pieces: with 10,000 real servers the text is over 1 MB,
        // and building all of it in one string first was the check child's
        // memory peak (RSS that stays once touched).
        constexpr size_t kPiece = 64 * 1024;
        std::string out;
        out.reserve(kPiece + 512);
        auto flush_if_full = [&] {
            if (out.size() < kPiece) return;
            f << out;
            out.clear();
        };
        // "rs <vs> <rs> UP|DOWN", one line per real server in config order.
        for (const auto& vs : cfg_->virtual_servers) {
            const std::string vs_text = check::vs_name(vs);  // once per virtual server
            for (const auto& rs : vs.real_servers) {
                out.append("rs ").append(vs_text).append(" ").append(check::rs_name(rs));
                out.append(engine_->health_of(vs, rs).up ? " UP\n" : " DOWN\n");
                flush_if_full();
            }
        }
        for (const auto& vs : cfg_->virtual_servers) {
            auto q = desired_.quorum_up(vs.key);
            out.append("quorum ").append(check::vs_name(vs)).append(q.value_or(true) ? " UP\n" : " DOWN\n");
            flush_if_full();
        }
        for (const auto& [key, svc] : table) {
            const std::string service = "dest " + key.str() + " ";  // once per service, not per destination
            for (const auto& [dest, attrs] : svc.dests) {
                out.append(service).append(dest.str()).append(" ").append(std::to_string(attrs.weight)) += '\n';
                flush_if_full();
            }
        }
        f << out;
        f.close();
        if (!f) {
            static log::RateLimit rl(1, std::chrono::seconds(300));
            rl.write(log::Level::Warning, "cannot write %s", tmp.c_str());
            return;
        }
        std::rename(tmp.c_str(), path.c_str());
    }

    void write_stats() {
        std::string out = stats_text();
        std::string path = (ctx_.runtime_dir.empty() ? std::string("/run/vigil") : ctx_.runtime_dir) + "/check.stats";
        std::string tmp = path + ".tmp";
        std::ofstream f(tmp, std::ios::trunc);
        f << out;
        f.close();
        if (f) std::rename(tmp.c_str(), path.c_str());
    }

    // What check.stats holds; also the answer to core's stats query (which
    // restarts the worst-lateness window just as SIGUSR1 does).
    std::string stats_text() {
        std::string out;
        if (engine_) {
            const check::EngineStats& st = engine_->stats();
            char line[512];
            snprintf(line, sizeof(line),
                     "check_checkers %zu\ncheck_probes_started %llu\ncheck_probes_failed %llu\n"
                     "check_probes_late %llu\ncheck_max_lateness_ms %.3f\ncheck_server_transitions %llu\n"
                     "check_batches %llu\n",
                     engine_->checker_count(), static_cast<unsigned long long>(st.probes_started),
                     static_cast<unsigned long long>(st.probes_failed), static_cast<unsigned long long>(st.probes_late),
                     st.max_lateness_s * 1000.0, static_cast<unsigned long long>(st.server_transitions),
                     static_cast<unsigned long long>(st.batches));
            out += line;
            engine_->reset_max_lateness();
        }
        out += reconciler_.stats_text();
        return out;
    }

    // The answer to core's status query: real servers up and down, in total
    // and per virtual server, and each virtual server's quorum.
    std::string status_text() const {
        if (!cfg_ || !engine_) return {};
        std::string lines;
        size_t total = 0, up = 0;
        for (const auto& vs : cfg_->virtual_servers) {
            size_t vs_up = 0;
            for (const auto& rs : vs.real_servers) vs_up += engine_->health_of(vs, rs).up ? 1 : 0;
            total += vs.real_servers.size();
            up += vs_up;
            auto q = desired_.quorum_up(vs.key);
            lines += "virtual_server " + check::vs_name(vs) + " real_servers=" + std::to_string(vs.real_servers.size()) +
                     " up=" + std::to_string(vs_up) + " down=" + std::to_string(vs.real_servers.size() - vs_up) +
                     " quorum=" + (q.value_or(true) ? "UP" : "DOWN") + "\n";
        }
        return "checks virtual_servers=" + std::to_string(cfg_->virtual_servers.size()) +
               " real_servers=" + std::to_string(total) + " up=" + std::to_string(up) +
               " down=" + std::to_string(total - up) + " ipvs=" + (reconciler_.available() ? "yes" : "no") + "\n" +
               lines;
    }

    void run_notify(const std::string& command) {
        if (command.empty()) return;
        check::ScriptSpec spec;
        spec.command = command;
        spec.user = cfg_->global.script_user;
        spec.group = cfg_->global.script_group;
        spec.timeout = kNotifyTimeout;
        notify_.run(spec);
    }

    void stop() {
        if (stopping_) return;
        // omega: the down notifiers run at shutdown too (keepalived.conf(5)).
        // (Not `cfg_ ? cfg_->virtual_servers : {}`: that copies every virtual server.)
        static const std::vector<config::VirtualServer> none;
        for (const auto& vs : cfg_ ? cfg_->virtual_servers : none) {
            if (!vs.omega) continue;
            for (const auto& rs : vs.real_servers)
                if (engine_->health_of(vs, rs).up) run_notify(rs.notify->down);
            if (desired_.quorum_up(vs.key).value_or(false)) run_notify(vs.quorum_down);
        }
        stopping_ = true;
        sweep_timer_.stop();
        engine_.reset();  // no more probes
        // Removes only what we configured (other owners' services stay), or
        // everything with lvs_flush_on_stop.
        if (cfg_) reconciler_.stop(cfg_->global.lvs_flush_on_stop);
        stop_deadline_ = ev_now(loop_) + std::chrono::duration<double>(kStopGrace).count();
        finish_stop();
    }

    void finish_stop() {
        if (notify_.running() == 0 || ev_now(loop_) >= stop_deadline_) {
            child_.break_loop();
            return;
        }
        stop_timer_.start(milliseconds{50});
    }

    ev::Loop* loop_;
    ChildContext& ctx_;
    ChildLoop child_;
    check::ScriptLauncher scripts_;  // before probes_ and notify_, which use it
    std::unique_ptr<check::ProbeFactory> probes_;
    check::NotifyRunner notify_;
    ipvs::IpvsReconciler reconciler_;
    std::unique_ptr<check::CheckEngine> engine_;
    check::DesiredState desired_;
    std::shared_ptr<const config::Config> cfg_;
    bool stopping_ = false;
    double stop_deadline_ = 0;
    ev::Timer stop_timer_;
    ev::Timer sweep_timer_;
    ev::Signal sigusr1_;
};

}  // namespace

int check_child_main(ChildContext& ctx) {
    // A fixed mmap threshold: a block of 256 kB or more (the change list of a
    // start or reload, the engine's arrays being rebuilt) is its own mapping,
    // given back to the kernel when freed. glibc's default threshold rises to the
    // size of the largest block freed so far, after which such blocks come
    // from the heap and stay in the RSS until the next malloc_trim.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    ev::Loop* loop = EV_DEFAULT;
    // Probes due within a few milliseconds of each other start in one loop
    // iteration: at 1,000 checks/s one epoll_wait serves several probes
    // instead of one each (syscalls are most of a TCP check's cost). Well
    // below the 10 ms after which a probe counts as late.
    ev_set_timeout_collect_interval(loop, 0.005);
    CheckChild child(loop, ctx);
    return child.run();
}

}  // namespace vigil
