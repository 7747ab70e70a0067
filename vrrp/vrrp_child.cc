// placeholder vrrp child (from core): logs its config, reports ready and runs
// until told to stop. The vrrp engineer replaces this with the real child.
#include "daemon/child.h"
#include "daemon/child_loop.h"
#include "daemon/log.h"

namespace {
void log_vrrp_summary(const vigil::config::Config& c) {
    VLOG_INFO("config: %zu vrrp_instance(s), %zu vrrp_sync_group(s), %zu vrrp_script(s)",
              c.vrrp_instances.size(), c.sync_groups.size(), c.vrrp_scripts.size());
}
}  // namespace

int vigil::vrrp_child_main(ChildContext& ctx) {
    ev::Loop* loop = EV_DEFAULT;
    ChildLoop child(loop, ctx);
    child.on_reload = [&](std::shared_ptr<const config::Config> cfg) {
        log_vrrp_summary(*cfg);
        child.send_reload_done("");
    };
    if (ctx.config) log_vrrp_summary(*ctx.config);
    child.send_ready();
    ev_run(loop, 0);
    return 0;
}
