// Linux has no setproctitle(): ps reads /proc/PID/cmdline, which is the
// memory the kernel placed argv in at exec. Overwriting it in place (after
// moving the environment strings that sit right behind it) changes what ps
// shows. PR_SET_NAME sets the separate 15-byte comm name.
#include "daemon/proctitle.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern char** environ;

namespace vigil::proctitle {
namespace {

char* g_area = nullptr;
size_t g_area_size = 0;

}  // namespace

void init(int argc, char** argv) {
    if (argc < 1 || !argv || !argv[0]) return;
    // The title area is argv[0] up to the end of the last string that is
    // contiguous with it: the rest of argv, then the environment.
    char* start = argv[0];
    char* end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; ++i)
        if (argv[i] == end) end = argv[i] + strlen(argv[i]) + 1;
    size_t env_count = 0;
    while (environ && environ[env_count]) ++env_count;
    for (size_t i = 0; i < env_count; ++i)
        if (environ[i] == end) end = environ[i] + strlen(environ[i]) + 1;
    // The environment strings inside the area are about to be overwritten.
    char** new_env = static_cast<char**>(calloc(env_count + 1, sizeof(char*)));
    if (!new_env) return;
    for (size_t i = 0; i < env_count; ++i) new_env[i] = strdup(environ[i]);
    environ = new_env;
    g_area = start;
    g_area_size = static_cast<size_t>(end - start);
}

void set(const char* title) {
    prctl(PR_SET_NAME, title, 0, 0, 0);
    if (!g_area || g_area_size == 0) return;
    size_t n = strnlen(title, g_area_size - 1);
    memcpy(g_area, title, n);
    // Zero the rest so no trace of the old arguments stays visible.
    memset(g_area + n, 0, g_area_size - n);
}

}  // namespace vigil::proctitle
