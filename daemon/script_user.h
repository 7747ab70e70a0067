// Who runs a script (vrrp_script, notify scripts, MISC_CHECK): one rule for
// both children, so the same config line runs as the same user everywhere.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace vigil {

struct ScriptIdentity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;   // for initgroups and messages
};

// `user`/`group` as configured (per script, else global script_user). Empty
// user: keepalived's rule (keepalived.conf(5), script_user), the user
// keepalived_script if it exists, else root. Empty group: the user's primary
// group. nullopt, with *error set, when the user or group does not exist.
// Call it before fork(): getpwnam is not async-signal-safe.
std::optional<ScriptIdentity> resolve_script_identity(const std::string& user, const std::string& group,
                                                      std::string* error);

}  // namespace vigil
