#include "daemon/script_user.h"

#include <grp.h>
#include <pwd.h>

namespace vigil {

std::optional<ScriptIdentity> resolve_script_identity(const std::string& user, const std::string& group,
                                                      std::string* error) {
    ScriptIdentity id;
    std::string name = user;
    if (name.empty()) name = getpwnam("keepalived_script") ? "keepalived_script" : "root";
    passwd* pw = getpwnam(name.c_str());
    if (!pw) {
        if (error) *error = "script user " + name + " does not exist";
        return std::nullopt;
    }
    id.uid = pw->pw_uid;
    id.gid = pw->pw_gid;
    id.user = name;
    if (!group.empty()) {
        struct group* gr = getgrnam(group.c_str());
        if (!gr) {
            if (error) *error = "script group " + group + " does not exist";
            return std::nullopt;
        }
        id.gid = gr->gr_gid;
    }
    return id;
}

}  // namespace vigil
