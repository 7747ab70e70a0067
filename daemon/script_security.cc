#include "daemon/script_security.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <vector>

#include "daemon/log.h"

namespace vigil::script_security {
namespace {

// "/a/b/c" -> "/", "/a", "/a/b", "/a/b/c".
std::vector<std::string> prefixes(const std::string& path) {
    std::vector<std::string> out{"/"};
    for (size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            std::string p = path.substr(0, i);
            if (p.size() > 1 && p.back() != '/' && p != out.back()) out.push_back(p);
        }
    }
    return out;
}

std::optional<std::string> unsafe_component(const std::string& path, const FileFacts& f) {
    if (f.uid != 0) return "'" + path + "' is owned by uid " + std::to_string(f.uid) + ", not root";
    // A symlink's own mode means nothing; who may replace it is decided by
    // its directory, checked as the previous component.
    if (S_ISLNK(f.mode)) return std::nullopt;
    bool guarded_dir = S_ISDIR(f.mode) && (f.mode & S_ISVTX);
    if (guarded_dir) return std::nullopt;
    if (f.mode & S_IWOTH) return "'" + path + "' is writable by others";
    if (f.gid != 0 && (f.mode & S_IWGRP))
        return "'" + path + "' is writable by group " + std::to_string(f.gid) + ", not root's";
    return std::nullopt;
}

std::optional<std::string> check_chain(const std::string& path, const FileSystem& fs) {
    for (const auto& p : prefixes(path)) {
        auto facts = fs.lstat(p);
        if (!facts) return "'" + p + "' does not exist or cannot be examined";
        if (auto why = unsafe_component(p, *facts)) return why;
    }
    return std::nullopt;
}

}  // namespace

const FileSystem& real_filesystem() {
    static const FileSystem fs{
        [](const std::string& p) -> std::optional<FileFacts> {
            struct stat st;
            if (::lstat(p.c_str(), &st) != 0) return std::nullopt;
            return FileFacts{st.st_uid, st.st_gid, st.st_mode};
        },
        [](const std::string& p) -> std::optional<std::string> {
            char buf[PATH_MAX];
            if (!::realpath(p.c_str(), buf)) return std::nullopt;
            return std::string(buf);
        },
    };
    return fs;
}

std::optional<std::string> why_insecure(const std::string& program, const FileSystem& fs) {
    if (program.empty() || program.front() != '/') return "'" + program + "' is not an absolute path";
    if (auto why = check_chain(program, fs)) return why;
    auto resolved = fs.realpath(program);
    if (!resolved) return "'" + program + "' cannot be resolved";
    if (*resolved != program) return check_chain(*resolved, fs);
    return std::nullopt;
}

bool Verdicts::allowed(const std::string& program, uid_t uid, const std::string& what) {
    if (uid != 0 || program.empty()) return true;
    auto known = known_.find(program);
    if (known != known_.end()) return known->second;
    auto why = why_insecure(program, *fs_);
    bool allowed = !why || !enforce_;
    if (why && enforce_)
        VLOG_ERR("%s: not running %s as root: %s (enable_script_security)", what.c_str(), program.c_str(),
                 why->c_str());
    else if (why)
        VLOG_WARN("%s: %s runs as root although %s; enable_script_security would refuse it", what.c_str(),
                  program.c_str(), why->c_str());
    known_.emplace(program, allowed);
    return allowed;
}

}  // namespace vigil::script_security
