// ipvs_apply: drive the IPVS reconciler once, outside the daemon, for the
// kernel tests and the benchmark (not installed).
//
//   ipvs_apply apply CONF      load CONF, desired = every real server healthy,
//                              lvs_flush if the config says so, reconcile once
//   ipvs_apply stop CONF       what the check child does at stop: remove our
//                              services (or flush with lvs_flush_on_stop)
//   ipvs_apply reload OLD NEW  one reconciler, reconciled to OLD then to NEW,
//                              as the daemon does on SIGHUP (figures of NEW)
//   ipvs_apply write S D       the "minimal batched writer": S TCP services x
//                              D DR destinations, encoded and sent in batches,
//                              no dump, no diff (the kernel's own cost)
//   ipvs_apply dump            the whole table as the reconciler reads it
//
// Prints one line of figures, e.g.
//   ipvs_apply: parse_ms=12.3 netlink_ms=45.6 changes=10100 messages=10100 sendmsg=17 failures=0 rss_kb=5120
// and exits 0 when every change was accepted.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "daemon/config/load.h"
#include "daemon/log.h"
#include "ipvs/kernel.h"
#include "ipvs/model.h"
#include "ipvs/reconciler.h"

using namespace vigil;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

long rss_peak_kb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

void print_figures(double parse_ms, double netlink_ms, const ipvs::ReconcileStats& s) {
    std::printf("ipvs_apply: parse_ms=%.1f netlink_ms=%.1f changes=%zu messages=%zu sendmsg=%zu failures=%zu rss_kb=%ld\n",
                parse_ms, netlink_ms, s.changes, s.messages, s.sendmsg_calls, s.failures, rss_peak_kb());
}

std::shared_ptr<const config::Config> load(const char* path, double& parse_ms) {
    auto t0 = Clock::now();
    auto res = config::load_file(path);
    parse_ms = ms_since(t0);
    for (const auto& d : res.errors) std::fprintf(stderr, "%s\n", d.str().c_str());
    return res.config;
}

int usage() {
    std::fprintf(stderr, "usage: ipvs_apply apply CONF | stop CONF | reload OLD NEW | write SERVICES DESTS | dump\n");
    return 2;
}

int cmd_apply_or_stop(bool stop, const char* path) {
    double parse_ms = 0;
    auto cfg = load(path, parse_ms);
    if (!cfg) return 1;
    auto t0 = Clock::now();
    ipvs::IpvsReconciler rec(ipvs::IpvsReconciler::open_netlink());
    if (!rec.available()) return 1;
    rec.set_desired(stop ? ipvs::Table{} : ipvs::desired_all_healthy(*cfg), ipvs::owned_services(*cfg));
    ipvs::ReconcileStats s;
    if (stop) {
        s = rec.stop(cfg->global.lvs_flush_on_stop);
    } else {
        if (!rec.start(cfg->global.lvs_flush)) return 1;
        s = rec.reconcile();
    }
    print_figures(parse_ms, ms_since(t0), s);
    return s.failures || s.dump_failed ? 1 : 0;
}

int cmd_reload(const char* old_path, const char* new_path) {
    double parse_old = 0, parse_new = 0;
    auto old_cfg = load(old_path, parse_old);
    auto new_cfg = load(new_path, parse_new);
    if (!old_cfg || !new_cfg) return 1;
    ipvs::IpvsReconciler rec(ipvs::IpvsReconciler::open_netlink());
    if (!rec.available()) return 1;
    rec.set_desired(ipvs::desired_all_healthy(*old_cfg), ipvs::owned_services(*old_cfg));
    if (rec.reconcile().failures) return 1;
    auto t0 = Clock::now();
    rec.set_desired(ipvs::desired_all_healthy(*new_cfg), ipvs::owned_services(*new_cfg));
    auto s = rec.reconcile();
    print_figures(parse_new, ms_since(t0), s);
    return s.failures || s.dump_failed ? 1 : 0;
}

int cmd_write(int services, int dests) {
    auto t0 = Clock::now();
    std::string error;
    auto kernel = ipvs::NetlinkIpvsKernel::open(error);
    if (!kernel) {
        std::fprintf(stderr, "ipvs_apply: %s\n", error.c_str());
        return 1;
    }
    std::vector<ipvs::Change> changes;
    changes.reserve(static_cast<size_t>(services) * (static_cast<size_t>(dests) + 1));
    for (int s = 0; s < services; ++s) {
        in_addr vip{htonl(0x0a640000u + static_cast<uint32_t>(s))};  // 10.100.x.y
        ipvs::ServiceKey key = ipvs::ServiceKey::tcp(IpAddress::v4(vip), 80);
        changes.push_back({ipvs::ChangeKind::AddService, key, {}, {}, {}});
        for (int d = 0; d < dests; ++d) {
            in_addr rip{htonl(0x0ac80000u + static_cast<uint32_t>(s * dests + d))};  // 10.200.x.y
            ipvs::DestAttrs a;
            a.forward = ipvs::Forward::Dr;
            changes.push_back({ipvs::ChangeKind::AddDest, key, {}, {IpAddress::v4(rip), 80}, a});
        }
    }
    auto res = kernel->apply(changes);
    ipvs::ReconcileStats s;
    s.changes = changes.size();
    s.messages = res.messages;
    s.sendmsg_calls = res.sendmsg_calls;
    s.failures = res.failures.size();
    print_figures(0, ms_since(t0), s);
    for (size_t i = 0; i < res.failures.size() && i < 5; ++i)
        std::fprintf(stderr, "ipvs_apply: %s: %s\n", res.failures[i].change.str().c_str(), strerror(res.failures[i].error));
    return s.failures || res.resync_needed ? 1 : 0;
}

int cmd_dump() {
    std::string error;
    auto kernel = ipvs::NetlinkIpvsKernel::open(error);
    if (!kernel) {
        std::fprintf(stderr, "ipvs_apply: %s\n", error.c_str());
        return 1;
    }
    auto table = kernel->dump_all();
    if (!table) return 1;
    for (const auto& [key, svc] : *table) {
        std::printf("%s %s flags 0x%x timeout %u prefix %d\n", key.str().c_str(), svc.attrs.scheduler.c_str(),
                    svc.attrs.flags, svc.attrs.timeout_s, svc.attrs.prefix_for(key.family));
        for (const auto& [dk, da] : svc.dests)
            std::printf("  -> %s %s weight %d u %u l %u\n", dk.str().c_str(), ipvs::forward_name(da.forward),
                        da.weight, da.u_threshold, da.l_threshold);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    log::init("ipvs_apply", log::Options{true, false});
    if (argc < 2) return usage();
    std::string cmd = argv[1];
    if ((cmd == "apply" || cmd == "stop") && argc == 3) return cmd_apply_or_stop(cmd == "stop", argv[2]);
    if (cmd == "reload" && argc == 4) return cmd_reload(argv[2], argv[3]);
    if (cmd == "write" && argc == 4) return cmd_write(std::atoi(argv[2]), std::atoi(argv[3]));
    if (cmd == "dump" && argc == 2) return cmd_dump();
    return usage();
}
