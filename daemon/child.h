// What core hands a freshly forked child. The child entry points live with the
// code they run (vrrp/vrrp_child.cc, check/check_child.cc).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/model.h"
#include "daemon/ipc.h"

namespace vigil {

struct ChildContext {
    std::shared_ptr<const config::Config> config;  // parsed once by core, inherited across fork
    ipc::Channel* channel = nullptr;              // to core; its closing means "exit now"
    std::string runtime_dir;
    // VRRP instances that were MASTER when the previous vrrp child died: the new
    // child resumes advertising for them at once instead of starting in BACKUP.
    std::vector<std::string> resume_master;
    // The capabilities (CAP_* numbers) the child keeps once its setup is done
    // (ChildLoop::send_ready drops the rest). nullopt: keep all.
    std::optional<std::vector<int>> capabilities;
};

// Each returns the process exit status. They run their own libev loop
// (ev_default_loop is re-created after fork by the caller).
int vrrp_child_main(ChildContext& ctx);
int check_child_main(ChildContext& ctx);

}  // namespace vigil
