#include "daemon/core.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "daemon/config/load.h"
#include "daemon/privileges.h"
#include "daemon/systemd_notify.h"
#include "vrrp/advert.h"
#include "vrrp/netlink.h"
#include "vrrp/socket.h"

namespace vigil {

// ---- PidFile ---------------------------------------------------------------

std::optional<PidFile> PidFile::acquire(const std::string& runtime_dir, std::string* error) {
    if (mkdir(runtime_dir.c_str(), 0755) < 0 && errno != EEXIST) {
        *error = "cannot create runtime dir " + runtime_dir + ": " + strerror(errno);
        return std::nullopt;
    }
    std::string path = runtime_dir + "/vigild.pid";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        *error = "cannot open " + path + ": " + strerror(errno);
        return std::nullopt;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;
        char buf[32] = {};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, strcspn(buf, "\n")) : "?";
        close(fd);
        if (err == EWOULDBLOCK)
            *error = "another vigild (pid " + holder + ") is running with runtime dir " + runtime_dir;
        else
            *error = "cannot lock " + path + ": " + strerror(err);
        return std::nullopt;
    }
    return PidFile(std::move(path), fd);
}

bool PidFile::write_pid() {
    std::string text = std::to_string(getpid()) + "\n";
    if (ftruncate(fd_, 0) < 0) return false;
    return pwrite(fd_, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size());
}

PidFile::~PidFile() {
    if (fd_ < 0) return;
    // Unlinked while still locked, so a new instance cannot lock a file that
    // is about to disappear.
    unlink(path_.c_str());
    close(fd_);
}

// ---- Core ------------------------------------------------------------------

namespace {

uint64_t monotonic_usec() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

const char* state_name(uint8_t s) {
    switch (s) {
    case 0: return "INIT";
    case 1: return "BACKUP";
    case 2: return "MASTER";
    case 3: return "FAULT";
    }
    return "?";
}

constexpr uint8_t kStateMaster = 2;

// Whether a child has anything to do for this config; one that has not is not
// started (keepalived does the same), until a reload gives it something. The
// check child also runs for lvs_flush / lvs_flush_on_stop alone: flushing the
// whole IPVS table at start or stop is its job.
bool needs_child(const config::Config& c, const std::string& child) {
    if (child == "vrrp") return !c.vrrp_instances.empty();
    return !c.virtual_servers.empty() || c.global.lvs_flush || c.global.lvs_flush_on_stop;
}

const char* what_it_lacks(const std::string& child) {
    return child == "vrrp" ? "no vrrp_instance" : "no virtual_server (nor lvs_flush)";
}

}  // namespace

Core::Core(ev::Loop* loop, CoreOptions opts, std::shared_ptr<const config::Config> config, int pidfile_fd,
           int control_fd)
    : loop_(loop),
      opts_(std::move(opts)),
      config_(std::move(config)),
      supervisor_(loop, opts_.restart, opts_.log,
                  Supervisor::Hooks{
                      [this](const std::string& c) { return make_context(c); },
                      [this](const std::string& c, const ipc::Message& m) { on_message(c, m); },
                      [this](const std::string& c) { on_child_exit(c); },
                      [this](const std::string& c) {
                          if (c == "vrrp") resign_masters();
                      },
                      [this] {
                          sigterm_.stop();
                          sigint_.stop();
                          sighup_.stop();
                      },
                  }),
      sigterm_(loop, SIGTERM, [this] { shutdown("SIGTERM"); }),
      sigint_(loop, SIGINT, [this] { shutdown("SIGINT"); }),
      sighup_(loop, SIGHUP, [this] { reload("SIGHUP"); }),
      watchdog_(loop, [] { systemd::notify("WATCHDOG=1"); }),
      reload_timer_(loop, [this] {
          for (const auto& c : reload_waiting_) {
              VLOG_WARN("%s child did not confirm the reload in time", c.c_str());
              reload_problems_.push_back(c + " child did not confirm the reload in time");
          }
          reload_waiting_.clear();
          finish_reload_if_done();
      }),
      query_timer_(loop, [this] { expire_queries(); }) {
    if (pidfile_fd >= 0) supervisor_.close_in_children(pidfile_fd);
    if (control_fd >= 0) {
        supervisor_.close_in_children(control_fd);
        control_ = std::make_unique<control::ControlServer>(
            loop, control_fd, [this](control::ControlServer::ClientId id, control::Command c) { on_control(id, c); });
    }
    supervisor_.add({"vrrp", [](ChildContext& ctx) { return vrrp_child_main(ctx); }});
    supervisor_.add({"check", [](ChildContext& ctx) { return check_child_main(ctx); }});
}

int Core::run() {
    signal(SIGPIPE, SIG_IGN);
    if (auto period = systemd::watchdog_period()) {
        // Twice per period, as sd_watchdog_enabled(3) recommends.
        auto half = *period / 2;
        watchdog_.start(half, half);
    }
    for (const char* child : {"vrrp", "check"}) {
        if (!needs_child(*config_, child)) {
            VLOG_NOTICE("%s child not started: %s in the config", child, what_it_lacks(child));
            continue;
        }
        not_ready_.insert(child);
        supervisor_.start(child);
    }
    if (not_ready_.empty()) {
        started_ = true;
        notify_ready();
    }
    ev_run(loop_, 0);
    return exit_status_;
}

ChildContext Core::make_context(const std::string& child) {
    ChildContext ctx;
    ctx.config = config_;
    ctx.runtime_dir = opts_.runtime_dir;
    if (!opts_.keep_capabilities)
        ctx.capabilities = child == "vrrp" ? privileges::vrrp_child_capabilities() : privileges::check_child_capabilities();
    if (child == "vrrp") {
        // Instances that were MASTER when the last vrrp child died resume as
        // MASTER, before the peers' master_down timer runs out (DESIGN.md).
        for (const auto& [name, st] : instances_) {
            if (st.state != kStateMaster) continue;
            bool still_configured = false;
            for (const auto& vi : config_->vrrp_instances) still_configured |= vi.name == name;
            if (still_configured) ctx.resume_master.push_back(name);
        }
        if (!ctx.resume_master.empty())
            VLOG_NOTICE("vrrp child resumes %zu instance(s) as MASTER", ctx.resume_master.size());
    }
    return ctx;
}

void Core::on_message(const std::string& child, const ipc::Message& m) {
    switch (m.type) {
    case ipc::MsgType::ChildReady:
        VLOG_INFO("%s child ready", child.c_str());
        // A child started by a reload confirms it by being ready.
        if (reload_waiting_.erase(child)) finish_reload_if_done();
        not_ready_.erase(child);
        if (!started_ && not_ready_.empty()) {
            started_ = true;
            notify_ready();
        }
        return;
    case ipc::MsgType::InstanceState: {
        std::string name;
        uint8_t state = 0, priority = 0;
        if (!ipc::decode_instance_state(m.payload, &name, &state, &priority)) return;  // size-checked already
        auto& st = instances_[name];
        if (st.state != state || st.priority != priority)
            VLOG_INFO("%s: %s -> %s (priority %u)", name.c_str(), state_name(st.state), state_name(state),
                      static_cast<unsigned>(priority));
        st = {state, priority};
        return;
    }
    case ipc::MsgType::ReloadDone:
        if (m.payload.empty()) {
            VLOG_INFO("%s child applied the new config", child.c_str());
        } else {
            VLOG_ERR("%s child refused the new config: %s", child.c_str(), m.payload.c_str());
            reload_problems_.push_back(child + " child refused the new config: " + m.payload);
        }
        reload_waiting_.erase(child);
        finish_reload_if_done();
        return;
    case ipc::MsgType::QueryReply:
        on_query_reply(child, m);
        return;
    default: {
        static log::RateLimit unexpected;
        unexpected.write(log::Level::Warning, "ipc: unexpected %s message from the %s child", ipc::to_string(m.type),
                         child.c_str());
        return;
    }
    }
}

void Core::on_child_exit(const std::string& child) {
    // A child that dies mid-reload gets the new config when it is restarted.
    if (reload_waiting_.erase(child)) finish_reload_if_done();
    // Nor will it answer a query.
    std::vector<uint32_t> done;
    for (auto& [id, q] : queries_)
        if (q.waiting.erase(child) && q.waiting.empty()) done.push_back(id);
    for (uint32_t id : done) finish_query(id);
}

// DESIGN.md: when the vrrp child cannot be kept running (crash loop), core
// itself gives up the instances that were MASTER, so the peer takes over at
// once and no VIP is left answering on a director without VRRP:
// - remove the VIPs and virtual routes the child had added;
// - send one advertisement with priority 0, "the current Master has stopped
//   participating in VRRP" (RFC 3768 5.3.4, RFC 5798 5.2.4): the backup then
//   waits only Skew_Time instead of Master_Down_Interval (RFC 5798 6.4.2).
void Core::resign_masters() {
    std::vector<const config::VrrpInstance*> masters;
    for (const auto& vi : config_->vrrp_instances) {
        auto it = instances_.find(vi.name);
        if (it != instances_.end() && it->second.state == kStateMaster) masters.push_back(&vi);
    }
    if (masters.empty()) return;
    std::string error;
    auto netlink = vrrp::NetlinkReflector::open(&error);
    if (!netlink) {
        VLOG_ERR("cannot resign the MASTER instances: netlink: %s", error.c_str());
        return;
    }
    for (const config::VrrpInstance* vi : masters) {
        auto link = netlink->link(vi->interface);
        if (!link) {
            VLOG_ERR("%s: cannot resign: interface %s not found", vi->name.c_str(), vi->interface.c_str());
            continue;
        }
        std::vector<IpAddress> vip_addrs;
        auto ifindex_of = [&](const std::string& dev) {
            if (dev.empty()) return link->ifindex;
            auto l = netlink->link(dev);
            return l ? l->ifindex : 0;
        };
        for (const auto* list : {&vi->vips, &vi->vips_excluded}) {
            for (const auto& vip : *list) {
                if (list == &vi->vips && vip.addr.addr.family() == vi->family) vip_addrs.push_back(vip.addr.addr);
                int ifindex = ifindex_of(vip.dev);
                if (ifindex && !netlink->del_address(vip, ifindex, &error))
                    VLOG_WARN("%s: removing %s: %s", vi->name.c_str(), vip.addr.str().c_str(), error.c_str());
            }
        }
        for (const auto& route : vi->routes)
            if (!netlink->del_route(route, link->ifindex, &error))
                VLOG_WARN("%s: removing route %s: %s", vi->name.c_str(), route.dst.str().c_str(), error.c_str());

        vrrp::Advert advert;
        advert.version = vi->version;
        advert.vrid = vi->vrid;
        advert.priority = vrrp::kPriorityStop;
        advert.advert_int = vi->advert_int;
        if (vi->version == 2 && vi->auth_type == config::AuthType::Pass) {
            advert.auth_type = vrrp::kAuthPass;
            for (size_t i = 0; i < vi->auth_pass.size() && i < advert.auth_data.size(); ++i)
                advert.auth_data[i] = vi->auth_pass[i];
        }
        advert.addresses = vip_addrs;
        auto source = vi->unicast_src_ip ? vi->unicast_src_ip
                                         : netlink->primary_address(link->ifindex, vi->family, vip_addrs);
        if (!source) {
            VLOG_ERR("%s: cannot send priority 0: no source address on %s", vi->name.c_str(), vi->interface.c_str());
            continue;
        }
        vrrp::SocketOptions so;
        so.family = vi->family;
        so.ifname = vi->interface;
        so.ifindex = link->ifindex;
        so.unicast_peers = vi->unicast_peers;
        so.source = source;
        auto sock = vrrp::VrrpSocket::open(so, &error);
        if (!sock) {
            VLOG_ERR("%s: cannot send priority 0: %s", vi->name.c_str(), error.c_str());
            continue;
        }
        // v3 checksums cover the destination, so each peer gets its own packet.
        std::vector<IpAddress> destinations = vi->unicast_peers;
        if (destinations.empty()) destinations.push_back(vrrp::vrrp_multicast_group(vi->family));
        bool sent = true;
        for (const auto& dst : destinations)
            sent = sock->send_to(vrrp::serialize(advert, *source, dst), dst, &error) && sent;
        if (sent)
            VLOG_NOTICE("%s: vrrp child is down for good: sent priority 0 and removed %zu VIP(s)",
                        vi->name.c_str(), vi->vips.size() + vi->vips_excluded.size());
        else
            VLOG_ERR("%s: sending priority 0: %s", vi->name.c_str(), error.c_str());
        instances_[vi->name] = {3, 0};  // as good as FAULT: nobody runs it any more
    }
}

void Core::notify_ready() {
    systemd::notify("READY=1\nSTATUS=running: vrrp " + std::to_string(config_->vrrp_instances.size()) +
           " instance(s), " + std::to_string(config_->virtual_servers.size()) + " virtual server(s)");
    VLOG_NOTICE("running");
}

Core::ReloadResult Core::reload(const char* why) {
    ReloadResult r;
    if (stopping_) {
        r.error = "vigild is stopping";
        return r;
    }
    VLOG_NOTICE("%s: reloading %s", why, opts_.config_path.c_str());
    auto result = config::load_file(opts_.config_path);
    for (const auto& w : result.warnings) {
        VLOG_WARN("%s", w.str().c_str());
        r.lines.push_back("warning: " + w.str());
    }
    if (!result.ok()) {
        ++reload_failures_;
        r.lines.clear();
        for (const auto& e : result.errors) {
            VLOG_ERR("%s", e.str().c_str());
            r.lines.push_back(e.str());
        }
        VLOG_ERR("reload failed: %zu error(s); still running the previous config", result.errors.size());
        r.error = "reload failed: " + std::to_string(result.errors.size()) +
                  " error(s); still running the previous config";
        return r;
    }
    r.ok = true;
    reload_warnings_ = r.lines;
    ++reloads_;
    config_loaded_at_ = time(nullptr);
    reload_problems_.clear();
    systemd::notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
    auto previous = config_;
    config_ = result.config;
    // Each child gets the normalised text (not the file: includes are
    // expanded already and children never read the file system for config)
    // of the part it runs, so neither parses what it does not use. The check
    // child is left alone when its part is unchanged: with 10,000 real
    // servers a reload would otherwise parse them again and re-read the IPVS
    // table for nothing (its periodic pass keeps the kernel in step). The
    // vrrp child always gets its part: a reload also refreshes its tracking.
    bool ok = true;
    for (const auto& child : supervisor_.running()) {
        auto part = child == "vrrp" ? config::ConfigPart::Vrrp
                    : child == "check" ? config::ConfigPart::Check : config::ConfigPart::All;
        if (part == config::ConfigPart::Check && previous && config::same_part(*previous, *config_, part)) {
            VLOG_INFO("virtual servers unchanged: check child left as it is");
            continue;
        }
        std::string text = config::dump(*config_, part);
        auto chunks = ipc::split_text(text, ipc::kMaxPayload);
        bool sent = true;
        for (auto chunk : chunks) sent = supervisor_.send_to(child, ipc::MsgType::ConfigChunk, chunk) && sent;
        sent = supervisor_.send_to(child, ipc::MsgType::ConfigCommit) && sent;
        if (sent) reload_waiting_.insert(child);
        ok = ok && sent;
        VLOG_INFO("new config sent to the %s child in %zu chunk(s), %zu bytes", child.c_str(), chunks.size(),
                  text.size());
    }
    if (!ok) VLOG_WARN("reload: a child could not be sent the new config (it gets it when restarted)");
    // A child that had nothing to do starts with the new config, if that
    // gives it something. (One that runs stays running when the new config
    // leaves it nothing: it has removed what it ran, and idles.)
    for (const char* child : {"vrrp", "check"}) {
        if (supervisor_.started(child) || !needs_child(*config_, child)) continue;
        if (supervisor_.start(child)) reload_waiting_.insert(child);
        else VLOG_ERR("reload: the %s child could not be started", child);
    }
    // Both models and the dumped text were alive at once; with 10,000 real
    // servers that peak is ~10 MB the heap would otherwise keep for good.
    previous.reset();
    malloc_trim(0);
    reloading_ = true;
    reload_timer_.start(opts_.reload_timeout);
    finish_reload_if_done();
    return r;
}

void Core::finish_reload_if_done() {
    if (!reloading_ || !reload_waiting_.empty()) return;
    reloading_ = false;
    reload_timer_.stop();
    VLOG_NOTICE("reload complete");
    if (started_) notify_ready();
    // Control clients that asked for this reload (or joined it) hear now.
    auto clients = std::move(reload_clients_);
    reload_clients_.clear();
    std::string body = reload_problems_.empty() ? "reload complete: " + opts_.config_path + "\n" : "";
    for (const auto& p : reload_problems_) body += p + "\n";
    for (const auto& w : reload_warnings_) body += w + "\n";
    for (auto id : clients) {
        if (!control_) break;
        control_->answer(id, reload_problems_.empty(), "reload incomplete", body);
    }
}

// ---- control socket --------------------------------------------------------

void Core::on_control(control::ControlServer::ClientId client, control::Command command) {
    if (command == control::Command::Reload) {
        ReloadResult r = reload("control socket");
        if (!r.ok) {
            std::string body;
            for (const auto& l : r.lines) body += l + "\n";
            control_->answer(client, false, r.error, body);
        } else if (reloading_) {
            reload_clients_.push_back(client);  // answered by finish_reload_if_done
        } else {
            // No child was running to confirm it: complete already.
            std::string body = "reload complete: " + opts_.config_path + "\n";
            for (const auto& w : r.lines) body += w + "\n";
            control_->answer(client, true, {}, body);
        }
        return;
    }
    // status and stats need the children's part: ask every running child and
    // answer once all have replied, died, or query_timeout has passed.
    uint32_t id = next_query_id_++;
    PendingQuery& q = queries_[id];
    q.client = client;
    q.command = command;
    q.deadline = std::chrono::steady_clock::now() + opts_.query_timeout;
    auto kind = command == control::Command::Stats ? ipc::QueryKind::Stats : ipc::QueryKind::Status;
    for (const auto& child : supervisor_.running())
        if (supervisor_.send_to(child, ipc::MsgType::Query, ipc::encode_query(id, kind))) q.waiting.insert(child);
    if (q.waiting.empty()) {
        finish_query(id);
        return;
    }
    if (!query_timer_.active()) query_timer_.start(std::chrono::milliseconds(100), std::chrono::milliseconds(100));
}

void Core::on_query_reply(const std::string& child, const ipc::Message& m) {
    uint32_t id = 0;
    bool last = false;
    std::string text;
    if (!ipc::decode_query_reply(m.payload, &id, &last, &text)) return;  // size-checked already
    auto it = queries_.find(id);
    if (it == queries_.end() || !it->second.waiting.count(child)) return;  // late: timed out already
    // A bound on what one child can make core hold for one client.
    constexpr size_t kMaxChildAnswer = 64u << 20;
    std::string& answer = it->second.answers[child];
    if (answer.size() + text.size() <= kMaxChildAnswer) answer += text;
    if (!last) return;
    it->second.waiting.erase(child);
    if (it->second.waiting.empty()) finish_query(id);
}

void Core::expire_queries() {
    auto now = std::chrono::steady_clock::now();
    std::vector<uint32_t> expired;
    for (const auto& [id, q] : queries_)
        if (now >= q.deadline) expired.push_back(id);
    for (uint32_t id : expired) {
        for (const auto& child : queries_[id].waiting)
            VLOG_WARN("%s child did not answer a control query in time", child.c_str());
        finish_query(id);
    }
    if (queries_.empty()) query_timer_.stop();
}

void Core::finish_query(uint32_t id) {
    auto it = queries_.find(id);
    if (it == queries_.end()) return;
    const PendingQuery& q = it->second;
    std::string body = q.command == control::Command::Stats ? stats_text(q) : status_text(q);
    if (control_) control_->answer(q.client, true, {}, body);
    queries_.erase(it);
}

namespace {

// What a child contributed to a query, or why there is nothing.
std::string child_part(const std::string& child, const std::map<std::string, std::string>& answers,
                       const std::set<std::string>& waiting) {
    if (waiting.count(child)) return "# " + child + ": no answer in time\n";
    auto it = answers.find(child);
    if (it == answers.end()) return "# " + child + ": not running\n";
    std::string text = it->second;
    if (!text.empty() && text.back() != '\n') text += '\n';
    return text;
}

std::string iso_time(time_t t) {
    char buf[64];
    tm tmv;
    gmtime_r(&t, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    return buf;
}

}  // namespace

// One line per fact, `what name key=value...`, like the children's .stats
// files, so scripts can pick lines with grep and fields with a split.
std::string Core::status_text(const PendingQuery& q) const {
    std::string out;
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_at_);
    out += "core pid=" + std::to_string(getpid()) + " version=" PACKAGE_VERSION " uptime=" +
           std::to_string(uptime.count()) + "s runtime_dir=" + opts_.runtime_dir +
           " state=" + (stopping_ ? "stopping" : reloading_ ? "reloading" : started_ ? "running" : "starting") + "\n";
    out += "config file=" + opts_.config_path + " loaded=" + iso_time(config_loaded_at_) +
           " reloads=" + std::to_string(reloads_) + " reload_failures=" + std::to_string(reload_failures_) + "\n";
    for (const auto& c : supervisor_.children())
        out += "child " + c.name + " pid=" + std::to_string(c.pid) + " state=" + c.state +
               " restarts=" + std::to_string(c.restarts) + "\n";
    for (const auto& vi : config_->vrrp_instances) {
        auto it = instances_.find(vi.name);
        if (it == instances_.end())
            out += "instance " + vi.name + " state=UNKNOWN priority=" + std::to_string(vi.priority) + "\n";
        else
            out += "instance " + vi.name + " state=" + state_name(it->second.state) +
                   " priority=" + std::to_string(it->second.priority) + "\n";
    }
    // The check child's summary (health per virtual server); the vrrp child
    // has nothing to add to what it reported already.
    if (!config_->virtual_servers.empty()) out += child_part("check", q.answers, q.waiting);
    return out;
}

std::string Core::stats_text(const PendingQuery& q) const {
    std::string out;
    for (const char* child : {"vrrp", "check"}) {
        out += std::string("# ") + child + "\n";
        out += child_part(child, q.answers, q.waiting);
    }
    out += "# core\n";
    uint64_t restarts = 0;
    for (const auto& c : supervisor_.children()) restarts += static_cast<uint64_t>(c.restarts);
    const auto& cc = control_->counters();
    out += "core child_restarts=" + std::to_string(restarts) + " reloads=" + std::to_string(reloads_) +
           " reload_failures=" + std::to_string(reload_failures_) +
           " control_clients=" + std::to_string(cc.accepted) + " control_refused=" + std::to_string(cc.refused) + "\n";
    return out;
}

void Core::shutdown(const char* why) {
    if (stopping_) return;
    stopping_ = true;
    VLOG_NOTICE("%s: stopping", why);
    systemd::notify("STOPPING=1");
    reload_timer_.stop();
    watchdog_.stop();
    for (auto id : reload_clients_)
        if (control_) control_->answer(id, false, "vigild is stopping", {});
    reload_clients_.clear();
    supervisor_.stop_all(opts_.stop_grace, [this] {
        VLOG_NOTICE("stopped");
        ev_break(loop_, EVBREAK_ALL);
    });
}

}  // namespace vigil
