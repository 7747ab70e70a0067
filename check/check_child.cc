// placeholder check child (from core): logs its config, reports ready and runs
// until told to stop. The check engineer replaces this with the real child.
#include "daemon/child.h"
#include "daemon/child_loop.h"
#include "daemon/log.h"

namespace {
void log_check_summary(const vigil::config::Config& c) {
    size_t reals = 0;
    for (const auto& vs : c.virtual_servers) reals += vs.real_servers.size();
    VLOG_INFO("config: %zu virtual_server(s), %zu real_server(s)", c.virtual_servers.size(), reals);
}
}  // namespace

int vigil::check_child_main(ChildContext& ctx) {
    ev::Loop* loop = EV_DEFAULT;
    ChildLoop child(loop, ctx);
    child.on_reload = [&](std::shared_ptr<const config::Config> cfg) {
        log_check_summary(*cfg);
        child.send_reload_done("");
    };
    if (ctx.config) log_check_summary(*ctx.config);
    child.send_ready();
    ev_run(loop, 0);
    return 0;
}
