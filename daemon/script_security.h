// enable_script_security (keepalived.conf(5), SCRIPTS): a program run as
// root must not be changeable or replaceable by anyone but root. This module
// says whether a program path meets that; the children decide what to do
// (refuse it with enable_script_security, warn without).
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

}  // namespace vigil::script_security
