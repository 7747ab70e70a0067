// enable_script_security (keepalived.conf(5), SCRIPTS): a program run as
// root must not be changeable or replaceable by anyone but root. This module
// says whether a program path meets that (why_insecure), and what follows
// (Verdicts: refuse it with enable_script_security, warn without).
//
// The rule, as keepalived 2.2 applies it (checked against its behaviour):
// a path component is unsafe when
//   - it is owned by a user other than root (the owner can chmod or replace it);
//   - it is a file, or a directory without the sticky bit, that is writable by
//     others, or by a group other than root's.
// A sticky, world-writable directory (/tmp) is safe: others cannot rename or
// delete what root owns there.
// Both the path as written and the path it resolves to are checked: a
// symlink kept in a directory that others can write to can be re-pointed, so
// it is unsafe even when its target is not (keepalived checks only the
// resolved path).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace vigil::script_security {

struct FileFacts {
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t mode = 0;  // st_mode, including the file type bits
};

// The filesystem calls the rule needs, injected so tests can use a table.
struct FileSystem {
    // lstat(2): the facts of the path itself (a symlink is not followed);
    // nullopt when it does not exist or cannot be examined.
    std::function<std::optional<FileFacts>(const std::string&)> lstat;
    // realpath(3): the path with every symlink resolved.
    std::function<std::optional<std::string>(const std::string&)> realpath;
};
const FileSystem& real_filesystem();

// Why a user other than root could change what runs when `program` is
// executed, or nullopt when nobody but root can. A program that is not an
// absolute path, or that cannot be examined, is reported too (it cannot be
// shown to be safe).
std::optional<std::string> why_insecure(const std::string& program, const FileSystem& fs = real_filesystem());

// The rule applied to one config's scripts, by both children. With
// enable_script_security (`enforce`) a program run as root that someone else
// could change is refused (keepalived: "disabling" it); without, it runs and
// a warning says what is wrong. Each program is judged, and logged, once per
// config: a new config gets a new Verdicts (the files may have changed).
class Verdicts {
public:
    explicit Verdicts(bool enforce = false, const FileSystem& fs = real_filesystem()) : enforce_(enforce), fs_(&fs) {}
    // (`fs` must outlive it.) Whether `program` may run as `uid`: only runs
    // as root are judged; an empty program (nothing to run) is not. `what`
    // prefixes the log line ("vrrp_script chk", "VI_1", ...).
    bool allowed(const std::string& program, uid_t uid, const std::string& what);
    bool enforced() const { return enforce_; }

private:
    bool enforce_;
    const FileSystem* fs_;
    std::map<std::string, bool> known_;  // by program
};

}  // namespace vigil::script_security
