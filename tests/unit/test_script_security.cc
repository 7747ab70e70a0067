// enable_script_security's rule on a table-driven fake filesystem: the cases
// keepalived 2.2.7 was seen to accept and refuse, plus the symlink cases vigil
// is stricter about; then one check against the real filesystem.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <map>
#include <optional>
#include <string>

#include "daemon/script_security.h"

// cmocka last: its fail() macro clashes with the C++ library.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil::script_security;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kUsers = 100;

FileFacts dir(mode_t perm, uid_t uid = 0, gid_t gid = 0) { return {uid, gid, static_cast<mode_t>(S_IFDIR | perm)}; }
FileFacts file(mode_t perm, uid_t uid = 0, gid_t gid = 0) { return {uid, gid, static_cast<mode_t>(S_IFREG | perm)}; }
FileFacts symlink_entry() { return {0, 0, static_cast<mode_t>(S_IFLNK | 0777)}; }

struct FakeFs {
    std::map<std::string, FileFacts> entries;
    std::map<std::string, std::string> links;  // symlink path -> resolved path
    FileSystem fs() const {
        return FileSystem{
            [this](const std::string& p) -> std::optional<FileFacts> {
                auto it = entries.find(p);
                if (it == entries.end()) return std::nullopt;
                return it->second;
            },
            [this](const std::string& p) -> std::optional<std::string> {
                auto it = links.find(p);
                if (it != links.end()) return it->second;
                if (!entries.count(p)) return std::nullopt;
                return p;
            },
        };
    }
};

FakeFs sample() {
    FakeFs f;
    f.entries = {
        {"/", dir(0755)},
        {"/etc", dir(0755)},
        {"/etc/vigil", dir(0755)},
        {"/etc/vigil/ok.sh", file(0755)},
        {"/etc/vigil/grw-root.sh", file(0775)},            // group root may write: fine
        {"/etc/vigil/grw-users.sh", file(0775, 0, kUsers)},
        {"/etc/vigil/world.sh", file(0757)},
        {"/etc/vigil/nobody.sh", file(0755, kNobody)},
        {"/tmp", dir(01777)},                              // sticky: others cannot replace root's file
        {"/tmp/root.sh", file(0755)},
        {"/open", dir(0777)},                              // no sticky bit
        {"/open/x.sh", file(0755)},
        {"/open/link.sh", symlink_entry()},
        {"/grp", dir(0775, 0, kUsers)},
        {"/grp/x.sh", file(0755)},
        {"/grp-root", dir(0775)},
        {"/grp-root/x.sh", file(0755)},
        {"/owned", dir(0755, kNobody)},
        {"/owned/x.sh", file(0755)},
        {"/etc/vigil/link.sh", symlink_entry()},
    };
    f.links = {{"/open/link.sh", "/etc/vigil/ok.sh"}, {"/etc/vigil/link.sh", "/open/x.sh"}};
    return f;
}

void test_rule(void**) {
    FakeFs f = sample();
    FileSystem fs = f.fs();
    struct {
        const char* program;
        const char* why;  // nullptr: safe; else a part of the reason
    } cases[] = {
        {"/etc/vigil/ok.sh", nullptr},
        {"/etc/vigil/grw-root.sh", nullptr},
        {"/tmp/root.sh", nullptr},
        {"/grp-root/x.sh", nullptr},
        {"/etc/vigil/grw-users.sh", "'/etc/vigil/grw-users.sh' is writable by group 100"},
        {"/etc/vigil/world.sh", "'/etc/vigil/world.sh' is writable by others"},
        {"/etc/vigil/nobody.sh", "'/etc/vigil/nobody.sh' is owned by uid 65534"},
        {"/open/x.sh", "'/open' is writable by others"},
        {"/grp/x.sh", "'/grp' is writable by group 100"},
        {"/owned/x.sh", "'/owned' is owned by uid 65534"},
        // A link in a directory others may write to can be re-pointed.
        {"/open/link.sh", "'/open' is writable by others"},
        // A safe link to a file in an unsafe directory: the target decides.
        {"/etc/vigil/link.sh", "'/open' is writable by others"},
        {"/etc/vigil/missing.sh", "'/etc/vigil/missing.sh' does not exist"},
        {"check.sh", "'check.sh' is not an absolute path"},
        {"", "is not an absolute path"},
    };
    for (const auto& c : cases) {
        auto why = why_insecure(c.program, fs);
        if (!c.why) {
            if (why) print_message("%s: unexpected '%s'\n", c.program, why->c_str());
            assert_false(why.has_value());
        } else {
            if (!why) print_message("%s: expected unsafe\n", c.program);
            assert_true(why.has_value());
            if (why->find(c.why) == std::string::npos) print_message("%s: got '%s'\n", c.program, why->c_str());
            assert_true(why->find(c.why) != std::string::npos);
        }
    }
}

// The real filesystem: /bin/sh is root's on any sane build machine; a file
// made world-writable in a fresh directory is not safe.
void test_real_filesystem(void**) {
    if (geteuid() != 0) skip();
    assert_false(why_insecure("/bin/sh").has_value());
    char dir_template[] = "/tmp/vigil-sec.XXXXXX";
    char* d = mkdtemp(dir_template);
    assert_non_null(d);
    std::string path = std::string(d) + "/s.sh";
    FILE* f = fopen(path.c_str(), "w");
    assert_non_null(f);
    fclose(f);
    chmod(d, 0755);
    chmod(path.c_str(), 0755);
    assert_false(why_insecure(path).has_value());
    chmod(path.c_str(), 0757);
    auto why = why_insecure(path);
    assert_true(why.has_value() && why->find("writable by others") != std::string::npos);
    unlink(path.c_str());
    rmdir(d);
}

// What the children do with the rule: refuse with enable_script_security,
// run without; only runs as root are judged; each program once per config.
void test_verdicts(void**) {
    FakeFs f = sample();
    int lookups = 0;
    FileSystem counting = f.fs();
    auto lstat = counting.lstat;
    counting.lstat = [&lookups, lstat](const std::string& p) {
        ++lookups;
        return lstat(p);
    };

    Verdicts enforce(true, counting);
    assert_true(enforce.allowed("/etc/vigil/ok.sh", 0, "t"));
    assert_false(enforce.allowed("/etc/vigil/world.sh", 0, "t"));
    assert_true(enforce.allowed("/etc/vigil/world.sh", kNobody, "t"));  // not root: not judged
    assert_true(enforce.allowed("", 0, "t"));                           // nothing to run
    int after_first = lookups;
    assert_false(enforce.allowed("/etc/vigil/world.sh", 0, "t"));
    assert_true(enforce.allowed("/etc/vigil/ok.sh", 0, "t"));
    assert_int_equal(lookups, after_first);  // judged once for this config

    Verdicts warn(false, counting);
    assert_true(warn.allowed("/etc/vigil/world.sh", 0, "t"));  // runs, with a warning
    assert_true(warn.allowed("/open/x.sh", 0, "t"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule),
        cmocka_unit_test(test_real_filesystem),
        cmocka_unit_test(test_verdicts),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
