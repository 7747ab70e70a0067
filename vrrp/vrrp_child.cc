// The vrrp child process: one runtime object per vrrp_instance, feeding the
// pure state machine (vrrp/instance.h) with events from sockets, timers, the
// netlink reflector and tracked scripts, and executing the actions it returns.
//
// Packet path (see the contract in vrrp/instance.h): socket -> split_ipv4 /
// parse (drop + count) -> VRID lookup (WrongVrid) -> Instance::screen (reject
// + count) -> handle(AdvertReceived). A dropped or rejected packet never
// reaches the state machine and so never changes a state or a timer.
//
// Counters: written to RUNTIME_DIR/vrrp.stats at most once a second when they
// changed, and at once on SIGUSR1 (one line per socket and per instance,
// `key=value` fields).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/child.h"
#include "daemon/child_loop.h"
#include "daemon/ev.h"
#include "daemon/log.h"
#include "daemon/smtp_alert.h"
#include "daemon/script_security.h"
#include "vrrp/advert.h"
#include "vrrp/garp.h"
#include "vrrp/instance.h"
#include "vrrp/netlink.h"
#include "vrrp/scripts.h"
#include "vrrp/socket.h"
#include "vrrp/sync_group.h"

namespace vigil::vrrp {
namespace {

using Clock = std::chrono::steady_clock;

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

const char* family_tag(int family) { return family == AF_INET6 ? "v6" : "v4"; }

// keepalived's weight rule, shared by track_interface and track_script: a
// positive weight is added while the item is up/succeeding, a negative one
// while it is down/failing; weight 0 means "down/failing -> FAULT".
void apply_tracked(bool good, int weight, TrackingChanged* t) {
    if (weight == 0) {
        if (!good) t->fault = true;
    } else if (weight > 0) {
        if (good) t->priority_delta += weight;
    } else if (!good) {
        t->priority_delta += weight;
    }
}

struct SocketKey {
    std::string ifname;
    int family = AF_INET;
    std::optional<IpAddress> source;
    std::vector<IpAddress> peers;
    bool operator==(const SocketKey&) const = default;
};

struct InstanceRuntime;

struct SocketEntry {
    SocketKey key;
    std::string label;  // "eth0/v4"
    std::unique_ptr<VrrpSocket> sock;
    std::unique_ptr<ev::Io> io;
    PacketCounters counters;  // parse drops and WrongVrid
    std::vector<InstanceRuntime*> members;
    log::RateLimit drop_log{10, std::chrono::seconds(60)};
};

struct GroupRuntime;

struct InstanceRuntime {
    InstanceRuntime(ev::Loop* loop, config::VrrpInstance c, const ScriptIdentity& who)
        : cfg(std::move(c)),
          adver_timer(loop, [this] { on_adver_timer(); }),
          master_down_timer(loop, [this] { on_master_down_timer(); }),
          garp_timer(loop, [this] { on_garp_timer(); }),
          notify(loop, who, cfg.name) {}

    // Set by the owner once the instance is active.
    std::function<void()> on_adver_timer = [] {};
    std::function<void()> on_master_down_timer = [] {};
    std::function<void()> on_garp_timer = [] {};

    config::VrrpInstance cfg;
    std::unique_ptr<Instance> sm;  // null while waiting for the interface / an address
    int ifindex = 0;
    bool if_up = false;
    IpAddress source;
    SocketEntry* socket = nullptr;
    ev::Timer adver_timer;
    ev::Timer master_down_timer;
    ev::Timer garp_timer;
    GarpPlan garp;
    NotifyQueue notify;
    PacketCounters counters;
    uint64_t adverts_sent = 0;
    uint64_t transitions = 0;
    uint64_t vip_restores = 0;
    bool vips_installed = false;
    bool resume = false;
    bool resume_added_vips = false;  // a reload added VIPs to this Master
    bool waiting_reported = false;
    TrackingChanged last_tracking;
    bool tracking_sent = false;
    GroupRuntime* group = nullptr;
    size_t member_index = 0;
    Transition last_transition;  // for the smtp_alert mail
    log::RateLimit reject_log{10, std::chrono::seconds(60)};
    log::RateLimit send_log{5, std::chrono::seconds(60)};
    std::string label() const { return sm ? sm->prefix() : cfg.name; }
};

struct GroupRuntime {
    GroupRuntime(ev::Loop* loop, config::SyncGroup c, const ScriptIdentity& who)
        : cfg(std::move(c)), notify(loop, who, "group " + cfg.name) {}
    config::SyncGroup cfg;
    // Built once every member has its state machine (an instance waiting for
    // its interface has none yet); until then members run independently.
    std::unique_ptr<SyncGroup> sg;
    std::vector<InstanceRuntime*> members;
    NotifyQueue notify;
    std::optional<State> notified;  // the group state last announced to scripts
};

class VrrpChild {
public:
    VrrpChild(ev::Loop* loop, ChildContext& ctx)
        : loop_(loop),
          ctx_(ctx),
          child_(loop, ctx),
          netlink_io_(loop, [this](int) { reflector_->process(); }),
          stats_timer_(loop, [this] { write_stats(false); }),
          stop_wait_(loop, [this] { finish_stop(); }),
          sigusr1_(loop, SIGUSR1, [this] { write_stats(true); }),
          mailer_(smtp::make_curl_transport(loop)) {}

    int run();

private:
    // setup / reload
    bool open_system(std::string* error);
    void apply(const config::Config& cfg, bool initial);
    void build_scripts(const config::Config& cfg);
    bool script_allowed(const std::string& command, const ScriptIdentity& who, const std::string& what);
    void try_activate(InstanceRuntime& ir);
    SocketEntry* socket_for(InstanceRuntime& ir, const LinkInfo& link);
    void retire(InstanceRuntime& ir);

    // events
    void dispatch(InstanceRuntime& ir, Event ev);
    void execute(InstanceRuntime& ir, const Action& a);
    void on_readable(SocketEntry& se);
    void on_packet(SocketEntry& se, const ReceivedPacket& p);
    void on_link(const LinkInfo& link, bool removed);
    void on_address(const AddressEvent& ev);
    void on_script(const std::string& name, bool good);
    void refresh_tracking();
    TrackingChanged tracking_of(const InstanceRuntime& ir) const;
    void on_stop();
    void finish_stop();

    // actions
    void send_advert(InstanceRuntime& ir, int priority);
    void install_vips(InstanceRuntime& ir);
    void remove_vips(InstanceRuntime& ir);
    void remove_leftover_vips(InstanceRuntime& ir);
    void remove_dropped_vips(InstanceRuntime& ir, const config::VrrpInstance& next);
    int vip_ifindex(const InstanceRuntime& ir, const config::VirtualAddress& vip) const;
    void announce(InstanceRuntime& ir, int count);
    void arm_garp(InstanceRuntime& ir);
    void run_notify(InstanceRuntime& ir, State state);
    void group_notify(GroupRuntime& g);
    void mail_instance(InstanceRuntime& ir, State state);
    void report(InstanceRuntime& ir);

    void write_stats(bool forced);
    // What vrrp.stats holds; also the answer to core's stats query.
    std::string stats_text() const;

    ev::Loop* loop_;
    ChildContext& ctx_;
    ChildLoop child_;
    std::unique_ptr<NetlinkReflector> reflector_;
    std::unique_ptr<GarpSender> garp_;
    ev::Io netlink_io_;
    ev::Timer stats_timer_;
    ev::Timer stop_wait_;
    ev::Signal sigusr1_;
    smtp::Mailer mailer_;
    uint64_t mail_events_written_ = 0;  // mail counters in the last vrrp.stats
    ScriptIdentity script_identity_;
    std::shared_ptr<const config::Config> config_;
    std::vector<std::unique_ptr<SocketEntry>> sockets_;
    std::vector<std::unique_ptr<InstanceRuntime>> instances_;
    std::vector<std::unique_ptr<GroupRuntime>> groups_;
    std::map<std::string, std::unique_ptr<TrackedScript>> scripts_;
    // enable_script_security's verdicts for this config (apply() renews them).
    script_security::Verdicts script_verdicts_;
    std::deque<std::pair<InstanceRuntime*, Event>> pending_;
    bool dispatching_ = false;
    bool stats_dirty_ = true;
    Clock::time_point stop_deadline_{};
};

// ---------------------------------------------------------------- setup

bool VrrpChild::open_system(std::string* error) {
    reflector_ = NetlinkReflector::open(error);
    if (!reflector_) return false;
    garp_ = GarpSender::open(error);
    if (!garp_) return false;
    reflector_->on_link_change([this](const LinkInfo& l, bool removed) { on_link(l, removed); });
    reflector_->on_address_change([this](const AddressEvent& ev) { on_address(ev); });
    netlink_io_.start(reflector_->fd(), EV_READ);
    return true;
}

// keepalived.conf(5) SCRIPTS: a script run as root must not be changeable by
// anyone else. With enable_script_security such a script is refused (a
// tracked one is then ignored by the instances tracking it, a notify script
// is not run: keepalived's "disabling"); without, it runs and a warning says
// what is wrong. Judged once per program and config (apply() renews the
// verdicts), by the rule the check child applies too (script_security::Verdicts).
bool VrrpChild::script_allowed(const std::string& command, const ScriptIdentity& who, const std::string& what) {
    auto argv = split_command(command);
    return script_verdicts_.allowed(argv.empty() ? std::string() : argv[0], who.uid, what);
}

void VrrpChild::build_scripts(const config::Config& cfg) {
    std::map<std::string, std::unique_ptr<TrackedScript>> next;
    for (const auto& s : cfg.vrrp_scripts) {
        std::string err;
        auto who = s.user.empty() ? std::optional<ScriptIdentity>(script_identity_)
                                  : resolve_script_identity(s.user, s.group, &err);
        if (!who) {
            VLOG_ERR("vrrp_script %s: %s; the script will not run", s.name.c_str(), err.c_str());
            continue;
        }
        // Checked again on every reload: the files may have changed.
        if (!script_allowed(s.script, *who, "vrrp_script " + s.name)) continue;
        auto old = scripts_.find(s.name);
        if (old != scripts_.end() && old->second->config() == s) {
            next[s.name] = std::move(old->second);
            continue;
        }
        auto ts = std::make_unique<TrackedScript>(loop_, s, *who,
                                                  [this](const std::string& n, bool good) { on_script(n, good); });
        next[s.name] = std::move(ts);
    }
    scripts_ = std::move(next);
    for (auto& [name, ts] : scripts_)
        if (ts->health() == RiseFall::Health::Unknown) ts->start();
}

void VrrpChild::apply(const config::Config& cfg, bool initial) {
    std::string err;
    auto who = resolve_script_identity(cfg.global.script_user, cfg.global.script_group, &err);
    if (!who) {
        VLOG_ERR("%s; scripts run as root", err.c_str());
        who = ScriptIdentity{};
        who->user = "root";
    }
    script_identity_ = *who;
    script_verdicts_ = script_security::Verdicts(cfg.global.enable_script_security);
    // Before instances are retired below: their "Stopping" mails use the new settings.
    mailer_.configure(smtp::settings_from(cfg.global, smtp::local_host_name()));

    // Which instances survive: same config, and (if grouped) a group whose
    // config and members are all unchanged.
    auto find_new = [&](const std::string& name) -> const config::VrrpInstance* {
        for (const auto& i : cfg.vrrp_instances)
            if (i.name == name) return &i;
        return nullptr;
    };
    auto group_of = [](const config::Config& c, const std::string& inst) -> const config::SyncGroup* {
        for (const auto& g : c.sync_groups)
            for (const auto& m : g.members)
                if (m == inst) return &g;
        return nullptr;
    };
    std::vector<std::string> keep;
    if (!initial) {
        for (auto& ir : instances_) {
            const auto* n = find_new(ir->cfg.name);
            if (!n || !(*n == ir->cfg)) continue;
            const auto* og = group_of(*config_, ir->cfg.name);
            const auto* ng = group_of(cfg, ir->cfg.name);
            if ((og == nullptr) != (ng == nullptr)) continue;
            if (og && !(*og == *ng)) continue;
            keep.push_back(ir->cfg.name);
        }
        // A group survives only if all its members do.
        for (const auto& g : cfg.sync_groups) {
            bool all = std::all_of(g.members.begin(), g.members.end(), [&](const std::string& m) {
                return std::find(keep.begin(), keep.end(), m) != keep.end();
            });
            if (!all)
                for (const auto& m : g.members) std::erase(keep, m);
        }
    }
    auto kept = [&](const std::string& n) { return std::find(keep.begin(), keep.end(), n) != keep.end(); };

    // Groups that changed dissolve first, so retiring their members below
    // sends no group commands to instances that are going away.
    std::erase_if(groups_, [&](const std::unique_ptr<GroupRuntime>& g) {
        bool dissolve = g->members.empty() || !kept(g->members.front()->cfg.name);
        if (dissolve)
            for (auto* m : g->members) m->group = nullptr;
        return dissolve;
    });
    // Retire what changed or disappeared: priority 0 and VIPs removed, as on
    // shutdown. Except a Master whose change keeps the same virtual router
    // (interface, VRID, family, version): like keepalived, it keeps its
    // mastership across the reload. Its VIPs that the new config dropped are
    // removed, and the new instance resumes as Master at once: no priority 0
    // advert, no Backup wait, no VIP movement for what stayed.
    std::vector<std::string> resume_after_reload, resume_with_new_vips;
    std::vector<std::unique_ptr<InstanceRuntime>> survivors;
    for (auto& ir : instances_) {
        if (kept(ir->cfg.name)) {
            survivors.push_back(std::move(ir));
            continue;
        }
        const auto* n = find_new(ir->cfg.name);
        bool same_router = n && n->interface == ir->cfg.interface && n->vrid == ir->cfg.vrid &&
                           n->family == ir->cfg.family && n->version == ir->cfg.version;
        if (same_router && ir->sm && ir->sm->state() == State::Master) {
            VLOG_INFO("%s: changed by reload; keeps mastership", ir->label().c_str());
            remove_dropped_vips(*ir, *n);
            auto is_new = [&](const config::VirtualAddress& v) {
                return std::find(ir->cfg.vips.begin(), ir->cfg.vips.end(), v) == ir->cfg.vips.end() &&
                       std::find(ir->cfg.vips_excluded.begin(), ir->cfg.vips_excluded.end(), v) ==
                           ir->cfg.vips_excluded.end();
            };
            if (std::any_of(n->vips.begin(), n->vips.end(), is_new) ||
                std::any_of(n->vips_excluded.begin(), n->vips_excluded.end(), is_new))
                resume_with_new_vips.push_back(ir->cfg.name);
            ir->adver_timer.stop();
            ir->master_down_timer.stop();
            ir->garp_timer.stop();
            resume_after_reload.push_back(ir->cfg.name);
        } else {
            VLOG_INFO("%s: %s by reload", ir->label().c_str(), n ? "changed" : "removed");
            retire(*ir);
        }
    }
    instances_ = std::move(survivors);
    for (auto& se : sockets_)
        std::erase_if(se->members, [&](InstanceRuntime* m) {
            return std::none_of(instances_.begin(), instances_.end(), [&](auto& ir) { return ir.get() == m; });
        });
    std::erase_if(sockets_, [](const std::unique_ptr<SocketEntry>& se) { return se->members.empty(); });

    build_scripts(cfg);
    // Notify scripts are judged now too, so a refusal is logged at start or
    // reload rather than at the first transition.
    for (const auto& ic : cfg.vrrp_instances)
        for (const auto* cmd : {&ic.notify, &ic.notify_master, &ic.notify_backup, &ic.notify_fault, &ic.notify_stop})
            if (!cmd->empty()) script_allowed(*cmd, script_identity_, ic.name);
    for (const auto& gc : cfg.sync_groups)
        for (const auto* cmd : {&gc.notify, &gc.notify_master, &gc.notify_backup, &gc.notify_fault, &gc.notify_stop})
            if (!cmd->empty()) script_allowed(*cmd, script_identity_, "group " + gc.name);

    std::vector<InstanceRuntime*> fresh;
    for (const auto& ic : cfg.vrrp_instances) {
        if (kept(ic.name)) continue;
        auto ir = std::make_unique<InstanceRuntime>(loop_, ic, script_identity_);
        InstanceRuntime* p = ir.get();
        instances_.push_back(std::move(ir));
        fresh.push_back(p);
        auto listed = [&](const std::vector<std::string>& names) {
            return std::find(names.begin(), names.end(), ic.name) != names.end();
        };
        p->resume = (initial && listed(ctx_.resume_master)) || listed(resume_after_reload);
        p->resume_added_vips = listed(resume_with_new_vips);
    }
    for (const auto& gc : cfg.sync_groups) {
        if (!gc.members.empty() && kept(gc.members.front())) continue;
        auto g = std::make_unique<GroupRuntime>(loop_, gc, script_identity_);
        for (size_t i = 0; i < gc.members.size(); ++i) {
            for (auto& ir : instances_) {
                if (ir->cfg.name != gc.members[i]) continue;
                ir->group = g.get();
                ir->member_index = i;
                g->members.push_back(ir.get());
            }
        }
        if (g->members.size() != gc.members.size()) {
            VLOG_ERR("vrrp_sync_group %s: a member is not a vrrp_instance; group ignored", gc.name.c_str());
            for (auto* m : g->members) m->group = nullptr;
            continue;
        }
        groups_.push_back(std::move(g));
    }
    for (auto* p : fresh) try_activate(*p);
    // Kept instances may track scripts that changed or went away.
    if (!initial) refresh_tracking();
    stats_dirty_ = true;
}

void VrrpChild::retire(InstanceRuntime& ir) {
    if (ir.sm) dispatch(ir, Shutdown{});
    ir.adver_timer.stop();
    ir.master_down_timer.stop();
    ir.garp_timer.stop();
    ir.garp.stop();
}

SocketEntry* VrrpChild::socket_for(InstanceRuntime& ir, const LinkInfo& link) {
    SocketKey key{ir.cfg.interface, ir.cfg.family, ir.cfg.unicast_src_ip, ir.cfg.unicast_peers};
    for (auto& se : sockets_)
        if (se->key == key) return se.get();
    SocketOptions opts;
    opts.family = ir.cfg.family;
    opts.ifname = ir.cfg.interface;
    opts.ifindex = link.ifindex;
    opts.unicast_peers = ir.cfg.unicast_peers;
    opts.source = ir.cfg.unicast_src_ip;
    std::string err;
    auto sock = VrrpSocket::open(opts, &err);
    if (!sock) {
        VLOG_ERR("%s: cannot open VRRP socket on %s: %s", ir.cfg.name.c_str(), ir.cfg.interface.c_str(), err.c_str());
        return nullptr;
    }
    auto se = std::make_unique<SocketEntry>();
    se->key = key;
    se->label = ir.cfg.interface + "/" + family_tag(ir.cfg.family) + (ir.cfg.unicast_peers.empty() ? "" : "/unicast");
    se->sock = std::move(sock);
    SocketEntry* p = se.get();
    se->io = std::make_unique<ev::Io>(loop_, [this, p](int) { on_readable(*p); });
    se->io->start(se->sock->fd(), EV_READ);
    sockets_.push_back(std::move(se));
    return p;
}

void VrrpChild::try_activate(InstanceRuntime& ir) {
    if (ir.sm) return;
    auto link = reflector_->link(ir.cfg.interface);
    std::optional<IpAddress> source = ir.cfg.unicast_src_ip;
    if (link && !source) {
        std::vector<IpAddress> vips;
        for (const auto& v : ir.cfg.vips) vips.push_back(v.addr.addr);
        for (const auto& v : ir.cfg.vips_excluded) vips.push_back(v.addr.addr);
        source = reflector_->primary_address(link->ifindex, ir.cfg.family, vips);
    }
    if (!link || !source) {
        // RFC 5798 has no state for this; keepalived's FAULT is what operators expect.
        if (!ir.waiting_reported) {
            VLOG_WARN("%s: interface %s %s; waiting in FAULT", ir.cfg.name.c_str(), ir.cfg.interface.c_str(),
                      !link ? "does not exist" : "has no usable address of the family");
            child_.send_instance_state(ir.cfg.name, static_cast<uint8_t>(State::Fault),
                                       static_cast<uint8_t>(ir.cfg.priority));
            ir.waiting_reported = true;
        }
        return;
    }
    SocketEntry* se = socket_for(ir, *link);
    if (!se) return;
    ir.socket = se;
    se->members.push_back(&ir);
    ir.ifindex = link->ifindex;
    ir.if_up = link->up;
    ir.source = *source;
    ir.garp.set_schedule({ir.cfg.garp_master_delay, ir.cfg.garp_master_repeat, ir.cfg.garp_master_refresh});
    ir.sm = std::make_unique<Instance>(InstanceParams::from_config(ir.cfg, *source));
    InstanceRuntime* p = &ir;
    ir.on_adver_timer = [this, p] { dispatch(*p, AdverTimerFired{}); };
    ir.on_master_down_timer = [this, p] {
        // A Master's advert may be waiting in the socket: when this process
        // was not scheduled for a while (a loaded machine), the timer and the
        // socket become ready in the same loop iteration and libev runs the
        // timer first. The advert arrived in time; read it before deciding
        // the Master is down (RFC 5798 6.4.2: an advert resets the timer).
        // Processing it re-arms the timer, or leaves it stopped (e.g. a
        // lower-priority advert, which is discarded) and the takeover goes on.
        if (p->socket) on_readable(*p->socket);
        if (p->master_down_timer.active()) return;
        dispatch(*p, MasterDownTimerFired{});
    };
    ir.on_garp_timer = [this, p] {
        announce(*p, p->garp.fire(Clock::now()));
        arm_garp(*p);
    };
    VLOG_INFO("%s: on %s (ifindex %d), source %s, %s", ir.sm->prefix().c_str(), ir.cfg.interface.c_str(),
              ir.ifindex, ir.source.str().c_str(), se->label.c_str());
    if (!ir.if_up) dispatch(ir, InterfaceDown{});
    ir.last_tracking = tracking_of(ir);
    ir.tracking_sent = true;
    if (ir.last_tracking.fault || ir.last_tracking.priority_delta != 0) dispatch(ir, ir.last_tracking);
    if (ir.group && !ir.group->sg) {
        GroupRuntime& g = *ir.group;
        std::vector<const Instance*> members;
        for (auto* m : g.members)
            if (m->sm) members.push_back(m->sm.get());
        if (members.size() == g.members.size()) g.sg = std::make_unique<SyncGroup>(g.cfg.name, members);
    }
    if (ir.resume) {
        VLOG_NOTICE("%s: resuming as Master (core restarted the vrrp child)", ir.sm->prefix().c_str());
        dispatch(ir, ResumeAsMaster{.added_vips = ir.resume_added_vips});
    } else {
        dispatch(ir, Startup{});
    }
}

// ---------------------------------------------------------------- events

void VrrpChild::dispatch(InstanceRuntime& ir, Event ev) {
    pending_.emplace_back(&ir, std::move(ev));
    if (dispatching_) return;
    dispatching_ = true;
    // Timers are armed relative to the loop's notion of now: refresh it so a
    // slow callback does not shorten them.
    ev_now_update(loop_);
    while (!pending_.empty()) {
        auto [target, event] = std::move(pending_.front());
        pending_.pop_front();
        if (!target->sm) continue;
        auto actions = target->sm->handle(event, Clock::now());
        for (const auto& a : actions) execute(*target, a);
        if (GroupRuntime* g = target->group; g && g->sg) {
            for (auto& cmd : g->sg->after_event(target->member_index, actions))
                if (cmd.member < g->members.size()) pending_.emplace_back(g->members[cmd.member], std::move(cmd.event));
        }
    }
    dispatching_ = false;
    stats_dirty_ = true;
}

void VrrpChild::execute(InstanceRuntime& ir, const Action& action) {
    std::visit(Overloaded{
                   [&](const SendAdvert& a) { send_advert(ir, a.priority); },
                   [&](const SendAdvertPriorityZero&) { send_advert(ir, kPriorityStop); },
                   [&](const ArmAdverTimer& a) { ir.adver_timer.start(a.after); },
                   [&](const ArmMasterDownTimer& a) { ir.master_down_timer.start(a.after); },
                   [&](const CancelTimers&) {
                       ir.adver_timer.stop();
                       ir.master_down_timer.stop();
                   },
                   [&](const AddVips&) { install_vips(ir); },
                   [&](const RemoveVips&) { remove_vips(ir); },
                   [&](const RemoveLeftoverVips&) { remove_leftover_vips(ir); },
                   [&](const SendGratuitous&) {
                       announce(ir, ir.garp.start(Clock::now()));
                       arm_garp(ir);
                   },
                   [&](const RunNotify& a) { run_notify(ir, a.state); },
                   [&](const Transition& t) {
                       ++ir.transitions;
                       ir.last_transition = t;
                       VLOG_NOTICE("%s: %s -> %s (%s)", ir.sm->prefix().c_str(), to_string(t.from), to_string(t.to),
                                   to_string(t.reason));
                       if (t.from == State::Master) {
                           ir.garp.stop();
                           ir.garp_timer.stop();
                       }
                       // Resumed: garp_master_refresh goes on (a SendGratuitous
                       // that follows restarts the whole schedule instead).
                       if (t.to == State::Master && t.reason == Reason::ResumedByCore) {
                           ir.garp.resume(Clock::now());
                           arm_garp(ir);
                       }
                       report(ir);
                       if (ir.group) group_notify(*ir.group);
                   },
               },
               action);
}

void VrrpChild::report(InstanceRuntime& ir) {
    child_.send_instance_state(ir.cfg.name, static_cast<uint8_t>(ir.sm->state()),
                               static_cast<uint8_t>(std::clamp(ir.sm->effective_priority(), 0, 255)));
}

void VrrpChild::on_readable(SocketEntry& se) {
    // Bounded per callback so a flood cannot starve the timers.
    for (int i = 0; i < 64; ++i) {
        auto p = se.sock->receive();
        if (!p) break;
        on_packet(se, *p);
    }
}

void VrrpChild::on_packet(SocketEntry& se, const ReceivedPacket& p) {
    stats_dirty_ = true;
    ++se.counters.received;
    std::span<const uint8_t> bytes(p.bytes);
    PacketMeta meta;
    if (se.key.family == AF_INET) {
        auto split = split_ipv4(bytes);
        if (auto* d = std::get_if<DropReason>(&split)) {
            se.counters.count(*d);
            se.drop_log.write(log::Level::Warning, "%s: dropped packet from %s: %s", se.label.c_str(),
                              p.src.str().c_str(), to_string(*d));
            return;
        }
        auto& s = std::get<Ipv4Split>(split);
        bytes = s.vrrp;
        meta = s.meta;
    } else {
        meta.family = AF_INET6;
        meta.source = p.src;
        meta.destination = p.dst;
        meta.ttl = p.hop_limit;
    }
    auto parsed = parse(bytes, meta);
    if (auto* d = std::get_if<DropReason>(&parsed)) {
        se.counters.count(*d);
        se.drop_log.write(log::Level::Warning, "%s: dropped packet from %s: %s", se.label.c_str(),
                          meta.source.str().c_str(), to_string(*d));
        return;
    }
    const Advert& adv = std::get<Advert>(parsed);
    InstanceRuntime* target = nullptr;
    for (auto* m : se.members) {
        if (!m->sm || m->sm->params().vrid != adv.vrid) continue;
        // Same VRID in both versions on one link (a migration): prefer the match.
        if (!target || m->sm->params().version == adv.version) target = m;
    }
    if (!target) {
        se.counters.count(RejectReason::WrongVrid);
        se.drop_log.write(log::Level::Debug, "%s: packet from %s for VRID %d: no such instance here",
                          se.label.c_str(), meta.source.str().c_str(), adv.vrid);
        return;
    }
    InstanceRuntime& ir = *target;
    ++ir.counters.received;
    if (auto r = ir.sm->screen(adv)) {
        ir.counters.count(*r);
        if (*r != RejectReason::OwnAddress)
            ir.reject_log.write(log::Level::Warning, "%s: rejected advert from %s: %s", ir.sm->prefix().c_str(),
                                meta.source.str().c_str(), to_string(*r));
        return;
    }
    if (ir.sm->addresses_differ(adv)) {
        // RFC 5798 7.1: log, count, and still accept.
        ir.counters.count(RejectReason::AddressListMismatch);
        ir.reject_log.write(log::Level::Warning, "%s: advert from %s lists other addresses than ours",
                            ir.sm->prefix().c_str(), meta.source.str().c_str());
    }
    ++ir.counters.accepted;
    dispatch(ir, AdvertReceived{adv});
}

TrackingChanged VrrpChild::tracking_of(const InstanceRuntime& ir) const {
    TrackingChanged t;
    for (const auto& ti : ir.cfg.track_interfaces) {
        auto l = reflector_->link(ti.name);
        apply_tracked(l && l->up, ti.weight, &t);
    }
    for (const auto& ts : ir.cfg.track_scripts) {
        auto it = scripts_.find(ts.name);
        if (it == scripts_.end()) continue;
        auto h = it->second->health();
        // Until the first result the script neither helps nor hurts.
        if (h == RiseFall::Health::Unknown) continue;
        apply_tracked(h == RiseFall::Health::Good, ts.weight.value_or(it->second->config().weight), &t);
    }
    return t;
}

void VrrpChild::refresh_tracking() {
    for (auto& ir : instances_) {
        if (!ir->sm) continue;
        TrackingChanged t = tracking_of(*ir);
        if (ir->tracking_sent && t.fault == ir->last_tracking.fault &&
            t.priority_delta == ir->last_tracking.priority_delta)
            continue;
        ir->last_tracking = t;
        ir->tracking_sent = true;
        VLOG_INFO("%s: tracking now %s, priority %+d", ir->sm->prefix().c_str(), t.fault ? "FAULT" : "ok",
                  t.priority_delta);
        dispatch(*ir, t);
    }
}

void VrrpChild::on_script(const std::string&, bool) { refresh_tracking(); }

void VrrpChild::on_link(const LinkInfo& link, bool removed) {
    for (auto& ir : instances_) {
        if (ir->cfg.interface != link.name) continue;
        if (!ir->sm) {
            if (!removed) try_activate(*ir);
            continue;
        }
        if (!removed && link.ifindex != ir->ifindex) {
            // The interface was deleted and created again: new index, memberships gone.
            ir->ifindex = link.ifindex;
            std::string err;
            if (!ir->socket->sock->rejoin(link.ifindex, &err))
                VLOG_ERR("%s: %s", ir->sm->prefix().c_str(), err.c_str());
        }
        bool up = !removed && link.up;
        if (up == ir->if_up) continue;
        ir->if_up = up;
        VLOG_NOTICE("%s: interface %s is %s", ir->sm->prefix().c_str(), link.name.c_str(), up ? "up" : "down");
        if (up) dispatch(*ir, InterfaceUp{});
        else dispatch(*ir, InterfaceDown{});
    }
    refresh_tracking();
}

void VrrpChild::on_address(const AddressEvent& ev) {
    for (auto& ir : instances_)
        if (!ir->sm && ev.added) try_activate(*ir);
    if (ev.added) return;
    for (auto& ir : instances_) {
        if (!ir->sm || ir->sm->state() != State::Master || !ir->vips_installed) continue;
        auto restore = [&](const config::VirtualAddress& v) {
            if (v.addr.addr != ev.prefix.addr || vip_ifindex(*ir, v) != ev.ifindex) return;
            // Someone removed a VIP we hold as Master: the service would be
            // unreachable while we keep advertising. Put it back.
            ++ir->vip_restores;
            VLOG_WARN("%s: VIP %s was removed behind our back; adding it again", ir->sm->prefix().c_str(),
                      v.addr.str().c_str());
            std::string err;
            if (!reflector_->add_address(v, ev.ifindex, &err))
                VLOG_ERR("%s: %s", ir->sm->prefix().c_str(), err.c_str());
            else
                announce(*ir, 1);
        };
        for (const auto& v : ir->cfg.vips) restore(v);
        for (const auto& v : ir->cfg.vips_excluded) restore(v);
    }
}

void VrrpChild::on_stop() {
    for (auto& ir : instances_)
        if (ir->sm) dispatch(*ir, Shutdown{});
    stop_deadline_ = Clock::now() + std::chrono::seconds(2);
    finish_stop();
}

void VrrpChild::finish_stop() {
    // Give notify_stop scripts a moment to run; never more than 2 s.
    bool busy = std::any_of(instances_.begin(), instances_.end(), [](auto& ir) { return ir->notify.busy(); }) ||
                std::any_of(groups_.begin(), groups_.end(), [](auto& g) { return g->notify.busy(); }) ||
                mailer_.busy();  // the "Stopping" mails, within the same bound
    if (busy && Clock::now() < stop_deadline_) {
        stop_wait_.start(std::chrono::milliseconds(20));
        return;
    }
    write_stats(true);
    child_.break_loop();
}

// ---------------------------------------------------------------- actions

void VrrpChild::send_advert(InstanceRuntime& ir, int priority) {
    Advert adv = ir.sm->make_advert(priority);
    auto send_one = [&](const IpAddress& dst) {
        auto bytes = serialize(adv, ir.source, dst);
        std::string err;
        if (ir.socket->sock->send_to(bytes, dst, &err))
            ++ir.adverts_sent;
        else
            ir.send_log.write(log::Level::Warning, "%s: %s", ir.sm->prefix().c_str(), err.c_str());
    };
    if (ir.cfg.unicast_peers.empty())
        send_one(vrrp_multicast_group(ir.cfg.family));
    else
        for (const auto& peer : ir.cfg.unicast_peers) send_one(peer);
}

int VrrpChild::vip_ifindex(const InstanceRuntime& ir, const config::VirtualAddress& vip) const {
    if (vip.dev.empty() || vip.dev == ir.cfg.interface) return ir.ifindex;
    auto l = reflector_->link(vip.dev);
    return l ? l->ifindex : 0;
}

void VrrpChild::install_vips(InstanceRuntime& ir) {
    std::string err;
    auto add = [&](const config::VirtualAddress& v) {
        int idx = vip_ifindex(ir, v);
        if (idx == 0) {
            VLOG_ERR("%s: VIP %s: no interface %s", ir.sm->prefix().c_str(), v.addr.str().c_str(), v.dev.c_str());
        } else if (!reflector_->add_address(v, idx, &err)) {
            VLOG_ERR("%s: %s", ir.sm->prefix().c_str(), err.c_str());
        }
    };
    for (const auto& v : ir.cfg.vips) add(v);
    for (const auto& v : ir.cfg.vips_excluded) add(v);
    for (const auto& r : ir.cfg.routes)
        if (!reflector_->add_route(r, ir.ifindex, &err)) VLOG_ERR("%s: %s", ir.sm->prefix().c_str(), err.c_str());
    ir.vips_installed = true;
}

void VrrpChild::remove_vips(InstanceRuntime& ir) {
    std::string err;
    // Routes first: a route may use a VIP as its source address.
    for (const auto& r : ir.cfg.routes)
        if (!reflector_->del_route(r, ir.ifindex, &err)) VLOG_WARN("%s: %s", ir.sm->prefix().c_str(), err.c_str());
    auto del = [&](const config::VirtualAddress& v) {
        int idx = vip_ifindex(ir, v);
        if (idx != 0 && !reflector_->del_address(v, idx, &err))
            VLOG_WARN("%s: %s", ir.sm->prefix().c_str(), err.c_str());
    };
    for (const auto& v : ir.cfg.vips) del(v);
    for (const auto& v : ir.cfg.vips_excluded) del(v);
    ir.vips_installed = false;
}

void VrrpChild::remove_leftover_vips(InstanceRuntime& ir) {
    bool found = false;
    auto leftover = [&](const config::VirtualAddress& v) {
        int idx = vip_ifindex(ir, v);
        if (idx == 0 || !reflector_->has_address(idx, v.addr.addr)) return;
        found = true;
        auto link = reflector_->link(idx);
        VLOG_NOTICE("%s: VIP %s is on %s but this instance is not Master (left by a run that did not stop "
                    "cleanly); removing it",
                    ir.sm->prefix().c_str(), v.addr.str().c_str(), link ? link->name.c_str() : "?");
    };
    for (const auto& v : ir.cfg.vips) leftover(v);
    for (const auto& v : ir.cfg.vips_excluded) leftover(v);
    // Routes are not in the reflector's caches: deleting an absent route is
    // not an error (del_route), so they are removed unconditionally.
    if (found || !ir.cfg.routes.empty()) remove_vips(ir);
    ir.vips_installed = false;
}

void VrrpChild::remove_dropped_vips(InstanceRuntime& ir, const config::VrrpInstance& next) {
    std::string err;
    for (const auto& r : ir.cfg.routes)
        if (std::find(next.routes.begin(), next.routes.end(), r) == next.routes.end() &&
            !reflector_->del_route(r, ir.ifindex, &err))
            VLOG_WARN("%s: %s", ir.label().c_str(), err.c_str());
    auto kept_in_next = [&](const config::VirtualAddress& v) {
        return std::find(next.vips.begin(), next.vips.end(), v) != next.vips.end() ||
               std::find(next.vips_excluded.begin(), next.vips_excluded.end(), v) != next.vips_excluded.end();
    };
    auto drop = [&](const config::VirtualAddress& v) {
        if (kept_in_next(v)) return;
        int idx = vip_ifindex(ir, v);
        if (idx != 0 && !reflector_->del_address(v, idx, &err)) VLOG_WARN("%s: %s", ir.label().c_str(), err.c_str());
    };
    for (const auto& v : ir.cfg.vips) drop(v);
    for (const auto& v : ir.cfg.vips_excluded) drop(v);
}

void VrrpChild::announce(InstanceRuntime& ir, int count) {
    if (count <= 0) return;
    auto one = [&](const config::VirtualAddress& v) {
        int idx = vip_ifindex(ir, v);
        auto link = idx ? reflector_->link(idx) : std::nullopt;
        if (!link || !link->has_mac) return;
        for (int i = 0; i < count; ++i) {
            std::string err;
            if (!garp_->announce(idx, link->mac, v.addr.addr, &err))
                ir.send_log.write(log::Level::Warning, "%s: %s", ir.sm->prefix().c_str(), err.c_str());
        }
    };
    for (const auto& v : ir.cfg.vips) one(v);
    for (const auto& v : ir.cfg.vips_excluded) one(v);
}

void VrrpChild::arm_garp(InstanceRuntime& ir) {
    auto due = ir.garp.next_due();
    if (!due) {
        ir.garp_timer.stop();
        return;
    }
    auto after = *due - Clock::now();
    ir.garp_timer.start(after.count() > 0 ? after : Clock::duration(0));
}

void VrrpChild::run_notify(InstanceRuntime& ir, State state) {
    const std::string* specific = nullptr;
    switch (state) {
    case State::Master: specific = &ir.cfg.notify_master; break;
    case State::Backup: specific = &ir.cfg.notify_backup; break;
    case State::Fault: specific = &ir.cfg.notify_fault; break;
    case State::Initialize: specific = &ir.cfg.notify_stop; break;
    }
    if (specific && !specific->empty() && script_allowed(*specific, script_identity_, ir.cfg.name))
        ir.notify.push(split_command(*specific));
    if (!ir.cfg.notify.empty() && script_allowed(ir.cfg.notify, script_identity_, ir.cfg.name))
        ir.notify.push(notify_arguments(ir.cfg.notify, false, ir.cfg.name, to_notify_string(state),
                                        ir.sm->effective_priority()));
    if (ir.cfg.smtp_alert) mail_instance(ir, state);
}

smtp::AlertState alert_state(State s) {
    switch (s) {
    case State::Master: return smtp::AlertState::Master;
    case State::Backup: return smtp::AlertState::Backup;
    case State::Fault: return smtp::AlertState::Fault;
    case State::Initialize: return smtp::AlertState::Stop;
    }
    return smtp::AlertState::Stop;
}

// smtp_alert: the same transitions as the notify scripts (keepalived mails
// where it runs notify_master/backup/fault/stop).
void VrrpChild::mail_instance(InstanceRuntime& ir, State state) {
    std::vector<std::string> details;
    const Transition& t = ir.last_transition;
    details.push_back(std::string("transition: ") + to_string(t.from) + " -> " + to_string(t.to) + " (" +
                      to_string(t.reason) + ")");
    details.push_back("virtual router " + std::to_string(ir.cfg.vrid) + " on " + ir.cfg.interface + ", priority " +
                      std::to_string(ir.sm ? ir.sm->effective_priority() : ir.cfg.priority));
    std::string vips;
    for (const auto& v : ir.cfg.vips) vips += (vips.empty() ? "" : ", ") + v.addr.str();
    if (!vips.empty()) details.push_back("virtual addresses: " + vips);
    mailer_.alert({smtp::AlertScope::Instance, ir.cfg.name, alert_state(state), std::move(details)});
}

void VrrpChild::group_notify(GroupRuntime& g) {
    // The group is in a state when all its members are (keepalived announces
    // group transitions once the members have moved).
    if (g.members.empty()) return;
    State s = g.members.front()->sm ? g.members.front()->sm->state() : State::Fault;
    for (auto* m : g.members)
        if (!m->sm || m->sm->state() != s) return;
    if (g.notified == s) return;
    g.notified = s;
    VLOG_NOTICE("group %s: all members %s", g.cfg.name.c_str(), to_string(s));
    const std::string* specific = nullptr;
    switch (s) {
    case State::Master: specific = &g.cfg.notify_master; break;
    case State::Backup: specific = &g.cfg.notify_backup; break;
    case State::Fault: specific = &g.cfg.notify_fault; break;
    case State::Initialize: specific = &g.cfg.notify_stop; break;
    }
    if (specific && !specific->empty() && script_allowed(*specific, script_identity_, "group " + g.cfg.name))
        g.notify.push(split_command(*specific));
    if (!g.cfg.notify.empty() && script_allowed(g.cfg.notify, script_identity_, "group " + g.cfg.name))
        g.notify.push(notify_arguments(g.cfg.notify, true, g.cfg.name, to_notify_string(s), 0));
    if (g.cfg.smtp_alert) {
        std::string members;
        for (const auto& name : g.cfg.members) members += (members.empty() ? "" : ", ") + name;
        mailer_.alert({smtp::AlertScope::Group, g.cfg.name, alert_state(s), {"members: " + members}});
    }
}

void VrrpChild::write_stats(bool forced) {
    stats_timer_.start(std::chrono::seconds(1));
    const auto& mc = mailer_.counters();
    uint64_t mail_events = mc.queued + mc.sent + mc.failed + mc.dropped;
    if (mail_events != mail_events_written_) stats_dirty_ = true;
    mail_events_written_ = mail_events;
    if (!forced && !stats_dirty_) return;
    stats_dirty_ = false;
    if (ctx_.runtime_dir.empty()) return;
    std::string text = stats_text();
    std::string path = ctx_.runtime_dir + "/vrrp.stats";
    std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return;
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
    if (forced) VLOG_INFO("counters written to %s", path.c_str());
}

std::string VrrpChild::stats_text() const {
    std::string text;
    auto counters = [&](const PacketCounters& c) {
        std::string s = " received=" + std::to_string(c.received) + " accepted=" + std::to_string(c.accepted);
        for (size_t i = 0; i < kDropReasonCount; ++i)
            s += std::string(" dropped.") + to_string(static_cast<DropReason>(i)) + "=" + std::to_string(c.dropped[i]);
        for (size_t i = 0; i < kRejectReasonCount; ++i)
            s += std::string(" rejected.") + to_string(static_cast<RejectReason>(i)) + "=" +
                 std::to_string(c.rejected[i]);
        return s;
    };
    for (const auto& se : sockets_) text += "socket " + se->label + counters(se->counters) + "\n";
    for (const auto& ir : instances_) {
        text += "instance " + ir->cfg.name;
        text += std::string(" state=") + (ir->sm ? to_string(ir->sm->state()) : "Waiting");
        text += " priority=" + std::to_string(ir->sm ? ir->sm->effective_priority() : ir->cfg.priority);
        text += counters(ir->counters);
        text += " adverts_sent=" + std::to_string(ir->adverts_sent) + " transitions=" + std::to_string(ir->transitions) +
                " vip_restores=" + std::to_string(ir->vip_restores) + "\n";
    }
    if (smtp::can_send(mailer_.settings())) text += mailer_.stats_line() + "\n";
    return text;
}

int VrrpChild::run() {
    std::string err;
    if (!open_system(&err)) {
        VLOG_ERR("cannot start: %s", err.c_str());
        return 1;
    }
    child_.on_stop = [this] { on_stop(); };
    child_.on_query = [this](ipc::QueryKind kind) {
        // Status: core knows every instance's state from our reports already.
        return kind == ipc::QueryKind::Stats ? stats_text() : std::string();
    };
    child_.on_reload = [this](std::shared_ptr<const config::Config> cfg) {
        apply(*cfg, false);
        config_ = cfg;
        child_.send_reload_done("");
    };
    if (ctx_.config) {
        apply(*ctx_.config, true);
        config_ = ctx_.config;
    }
    child_.send_ready();
    write_stats(true);
    ev_run(loop_, 0);
    return 0;
}

}  // namespace
}  // namespace vigil::vrrp

int vigil::vrrp_child_main(ChildContext& ctx) {
    // Ignore SIGPIPE: a closed channel is noticed by ChildLoop, not by a signal.
    signal(SIGPIPE, SIG_IGN);
    vrrp::VrrpChild child(EV_DEFAULT, ctx);
    return child.run();
}
