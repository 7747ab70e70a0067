#include "daemon/core.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "daemon/config/load.h"
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

// sd_notify is a no-op outside systemd (NOTIFY_SOCKET unset).
void notify(const std::string& text) { sd_notify(0, text.c_str()); }

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

// Splits text into chunks of at most `max` bytes, at line ends where it can,
// so each ConfigChunk fits one datagram.
std::vector<std::string_view> split_chunks(std::string_view text, size_t max) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        size_t n = std::min(max, text.size());
        if (n < text.size()) {
            size_t nl = text.rfind('\n', n - 1);
            if (nl != std::string_view::npos && nl > 0) n = nl + 1;
        }
        out.push_back(text.substr(0, n));
        text.remove_prefix(n);
    }
    return out;
}

}  // namespace

Core::Core(ev::Loop* loop, CoreOptions opts, std::shared_ptr<const config::Config> config, int pidfile_fd)
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
      sighup_(loop, SIGHUP, [this] { reload(); }),
      watchdog_(loop, [] { notify("WATCHDOG=1"); }),
      reload_timer_(loop, [this] {
          for (const auto& c : reload_waiting_) VLOG_WARN("%s child did not confirm the reload in time", c.c_str());
          reload_waiting_.clear();
          finish_reload_if_done();
      }) {
    if (pidfile_fd >= 0) supervisor_.close_in_children(pidfile_fd);
    supervisor_.add({"vrrp", [](ChildContext& ctx) { return vrrp_child_main(ctx); }});
    supervisor_.add({"check", [](ChildContext& ctx) { return check_child_main(ctx); }});
}

int Core::run() {
    signal(SIGPIPE, SIG_IGN);
    uint64_t watchdog_usec = 0;
    if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
        // Twice per period, as sd_watchdog_enabled(3) recommends.
        auto half = std::chrono::microseconds(watchdog_usec / 2);
        watchdog_.start(half, half);
    }
    not_ready_ = {"vrrp", "check"};
    supervisor_.start_all();
    ev_run(loop_, 0);
    return exit_status_;
}

ChildContext Core::make_context(const std::string& child) {
    ChildContext ctx;
    ctx.config = config_;
    ctx.runtime_dir = opts_.runtime_dir;
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
        if (m.payload.empty())
            VLOG_INFO("%s child applied the new config", child.c_str());
        else
            VLOG_ERR("%s child refused the new config: %s", child.c_str(), m.payload.c_str());
        reload_waiting_.erase(child);
        finish_reload_if_done();
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
    notify("READY=1\nSTATUS=running: vrrp " + std::to_string(config_->vrrp_instances.size()) +
           " instance(s), " + std::to_string(config_->virtual_servers.size()) + " virtual server(s)");
    VLOG_NOTICE("running");
}

void Core::reload() {
    if (stopping_) return;
    VLOG_NOTICE("SIGHUP: reloading %s", opts_.config_path.c_str());
    auto result = config::load_file(opts_.config_path);
    for (const auto& w : result.warnings) VLOG_WARN("%s", w.str().c_str());
    if (!result.ok()) {
        for (const auto& e : result.errors) VLOG_ERR("%s", e.str().c_str());
        VLOG_ERR("reload failed: %zu error(s); still running the previous config", result.errors.size());
        return;
    }
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
    config_ = result.config;
    // The children get the normalised text, not the file: includes are
    // expanded already and they never read the file system for config.
    std::string text = config::dump(*config_);
    auto chunks = split_chunks(text, ipc::kMaxPayload);
    auto running = supervisor_.running();
    reload_waiting_.insert(running.begin(), running.end());
    bool ok = true;
    for (auto chunk : chunks) ok = supervisor_.send_all(ipc::MsgType::ConfigChunk, chunk) && ok;
    ok = supervisor_.send_all(ipc::MsgType::ConfigCommit) && ok;
    if (!ok) VLOG_WARN("reload: a child could not be sent the new config (it gets it when restarted)");
    VLOG_INFO("new config sent to %zu child(ren) in %zu chunk(s), %zu bytes", running.size(), chunks.size(),
              text.size());
    reloading_ = true;
    reload_timer_.start(opts_.reload_timeout);
    finish_reload_if_done();
}

void Core::finish_reload_if_done() {
    if (!reloading_ || !reload_waiting_.empty()) return;
    reloading_ = false;
    reload_timer_.stop();
    VLOG_NOTICE("reload complete");
    if (started_) notify_ready();
}

void Core::shutdown(const char* why) {
    if (stopping_) return;
    stopping_ = true;
    VLOG_NOTICE("%s: stopping", why);
    notify("STOPPING=1");
    reload_timer_.stop();
    watchdog_.stop();
    supervisor_.stop_all(opts_.stop_grace, [this] {
        VLOG_NOTICE("stopped");
        ev_break(loop_, EVBREAK_ALL);
    });
}

}  // namespace vigil
