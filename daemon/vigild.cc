// vigild: command line, config check, pid file, daemonising; then Core runs.
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon/config/load.h"
#include "daemon/control.h"
#include "daemon/core.h"
#include "daemon/log.h"
#include "daemon/proctitle.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

namespace {

using vigil::CoreOptions;

enum LongOnly {
    kRuntimeDir = 1000,
    kDumpConfig,
    kCrashLimit,
    kCrashWindow,
    kRestartDelay,
    kRestartDelayMax,
    kStatus,
    kCtl,
    kKeepCapabilities,
};

void usage(FILE* out) {
    fprintf(out,
            "Usage: vigild [OPTION]...\n"
            "High-availability daemon for LVS directors (VRRP, health checks, IPVS).\n"
            "\n"
            "  -f, --use-file FILE        config file (default " SYSCONFDIR "/vigil/vigil.conf)\n"
            "  -n, --dont-fork            stay in the foreground\n"
            "  -l, --log-console          log to stderr instead of syslog\n"
            "  -D, --log-detail           also log debug detail\n"
            "      --runtime-dir DIR      pid file and sockets (default /run/vigil)\n"
            "  -t, --config-test          check the config, print `configuration OK' or the errors\n"
            "      --dump-config          print the normalised config and exit\n"
            "      --crash-limit N        stop restarting a child after N deaths (default 5) ...\n"
            "      --crash-window SEC     ... within this many seconds (default 60)\n"
            "      --restart-delay MS     first restart delay, doubled on each death (default 100)\n"
            "      --restart-delay-max MS longest restart delay (default 10000)\n"
            "      --keep-capabilities    children keep core's capabilities (default: only what each needs)\n"
            "      --status               ask the running vigild (same --runtime-dir) for its status\n"
            "      --ctl CMD              send CMD (status, stats, reload) to the running vigild\n"
            "  -v, --version              print the version and exit\n"
            "  -h, --help                 this help\n");
}

bool parse_int(const char* text, long min, long max, long* out) {
    char* end = nullptr;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

struct CommandLine {
    CoreOptions core;
    bool dont_fork = false;
    bool config_test = false;
    bool dump_config = false;
    bool ctl = false;          // --status / --ctl: be a control client
    std::string ctl_command;
};

// Returns -1 to go on, else the exit status.
int parse_command_line(int argc, char** argv, CommandLine* cl) {
    static const option long_options[] = {
        {"use-file", required_argument, nullptr, 'f'},
        {"dont-fork", no_argument, nullptr, 'n'},
        {"log-console", no_argument, nullptr, 'l'},
        {"log-detail", no_argument, nullptr, 'D'},
        {"runtime-dir", required_argument, nullptr, kRuntimeDir},
        {"config-test", no_argument, nullptr, 't'},
        {"dump-config", no_argument, nullptr, kDumpConfig},
        {"crash-limit", required_argument, nullptr, kCrashLimit},
        {"crash-window", required_argument, nullptr, kCrashWindow},
        {"restart-delay", required_argument, nullptr, kRestartDelay},
        {"restart-delay-max", required_argument, nullptr, kRestartDelayMax},
        {"keep-capabilities", no_argument, nullptr, kKeepCapabilities},
        {"status", no_argument, nullptr, kStatus},
        {"ctl", required_argument, nullptr, kCtl},
        {"version", no_argument, nullptr, 'v'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    cl->core.config_path = SYSCONFDIR "/vigil/vigil.conf";
    cl->core.runtime_dir = "/run/vigil";
    long v = 0;
    auto bad_value = [](const char* opt, const char* value, const char* range) {
        fprintf(stderr, "vigild: --%s %s: expected an integer in %s\n", opt, value, range);
        return 2;
    };
    int c;
    while ((c = getopt_long(argc, argv, "f:nlDtvh", long_options, nullptr)) != -1) {
        switch (c) {
        case 'f': cl->core.config_path = optarg; break;
        case 'n': cl->dont_fork = true; break;
        case 'l': cl->core.log.to_console = true; break;
        case 'D': cl->core.log.detail = true; break;
        case 't': cl->config_test = true; break;
        case kDumpConfig: cl->dump_config = true; break;
        case kRuntimeDir:
            if (optarg[0] != '/') {
                fprintf(stderr, "vigild: --runtime-dir %s: must be an absolute path\n", optarg);
                return 2;
            }
            cl->core.runtime_dir = optarg;
            break;
        case kCrashLimit:
            if (!parse_int(optarg, 1, 1000, &v)) return bad_value("crash-limit", optarg, "1-1000");
            cl->core.restart.crash_limit = static_cast<int>(v);
            break;
        case kCrashWindow:
            if (!parse_int(optarg, 1, 86400, &v)) return bad_value("crash-window", optarg, "1-86400");
            cl->core.restart.crash_window = std::chrono::seconds(v);
            break;
        case kRestartDelay:
            if (!parse_int(optarg, 1, 600000, &v)) return bad_value("restart-delay", optarg, "1-600000");
            cl->core.restart.initial_backoff = std::chrono::milliseconds(v);
            break;
        case kRestartDelayMax:
            if (!parse_int(optarg, 1, 600000, &v)) return bad_value("restart-delay-max", optarg, "1-600000");
            cl->core.restart.max_backoff = std::chrono::milliseconds(v);
            break;
        case kKeepCapabilities: cl->core.keep_capabilities = true; break;
        case kStatus:
            cl->ctl = true;
            cl->ctl_command = "status";
            break;
        case kCtl:
            cl->ctl = true;
            cl->ctl_command = optarg;
            break;
        case 'v': printf("vigild %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigild: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (cl->core.restart.max_backoff < cl->core.restart.initial_backoff) {
        fprintf(stderr, "vigild: --restart-delay-max must not be below --restart-delay\n");
        return 2;
    }
    return -1;
}

// Reports a startup failure where the operator will see it: the log, and the
// terminal too when the log goes to syslog.
void startup_error(const CommandLine& cl, const std::string& text) {
    VLOG_ERR("%s", text.c_str());
    if (!cl.core.log.to_console) fprintf(stderr, "vigild: %s\n", text.c_str());
}

// Classic daemon start: the parent returns to the shell, the child leaves the
// session. The pid file lock, taken before, is shared with the child.
bool daemonise(bool keep_stderr) {
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid > 0) _exit(0);
    setsid();
    if (chdir("/") < 0) return false;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (!keep_stderr) dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) close(null);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    vigil::proctitle::init(argc, argv);
    CommandLine cl;
    int status = parse_command_line(argc, argv, &cl);
    if (status >= 0) return status;

    if (cl.ctl) {
        // A reload waits for the children to apply the config (core gives
        // them reload_timeout); everything else is answered in moments.
        auto timeout = cl.ctl_command == "reload" ? cl.core.reload_timeout + std::chrono::seconds(10)
                                                  : std::chrono::milliseconds(10000);
        return vigil::control::run_client(cl.core.runtime_dir, cl.ctl_command, timeout);
    }

    if (cl.config_test || cl.dump_config) {
        auto result = vigil::config::load_file(cl.core.config_path);
        for (const auto& w : result.warnings) fprintf(stderr, "warning: %s\n", w.str().c_str());
        for (const auto& e : result.errors) fprintf(stderr, "%s\n", e.str().c_str());
        if (!result.ok()) {
            fprintf(stderr, "%s: %zu error(s)\n", cl.core.config_path.c_str(), result.errors.size());
            return 1;
        }
        if (cl.dump_config)
            fputs(vigil::config::dump(*result.config).c_str(), stdout);
        else
            printf("configuration OK\n");
        return 0;
    }

    vigil::log::init("core", cl.core.log);
    VLOG_NOTICE("vigild %s starting, config %s, runtime dir %s", PACKAGE_VERSION, cl.core.config_path.c_str(),
                cl.core.runtime_dir.c_str());
    auto result = vigil::config::load_file(cl.core.config_path);
    for (const auto& w : result.warnings) VLOG_WARN("%s", w.str().c_str());
    if (!result.ok()) {
        for (const auto& e : result.errors) startup_error(cl, e.str());
        startup_error(cl, cl.core.config_path + ": " + std::to_string(result.errors.size()) +
                              " error(s); not starting");
        return 1;
    }
    // What parsing freed (the file text, about half the model's size again,
    // and the lexer's and reader's buffers) goes back to the kernel now, before
    // the children are forked: each would otherwise start with those pages in
    // its RSS, and its peak RSS would keep them after it trims them itself.
    malloc_trim(0);

    std::string error;
    auto pidfile = vigil::PidFile::acquire(cl.core.runtime_dir, &error);
    if (!pidfile) {
        startup_error(cl, error);
        return 1;
    }
    // Bound while we hold the pid file lock, which makes any socket file
    // already there a stale one; before daemonising, so errors reach the terminal.
    auto control_socket = vigil::control::ControlSocket::bind(cl.core.runtime_dir, &error);
    if (!control_socket) {
        startup_error(cl, error);
        return 1;
    }
    if (!cl.dont_fork && !daemonise(cl.core.log.to_console)) {
        startup_error(cl, std::string("cannot daemonise: ") + strerror(errno));
        return 1;
    }
    if (!pidfile->write_pid()) VLOG_WARN("cannot write the pid file: %s", strerror(errno));

    ev_default_loop(0);
    int exit_status;
    {
        vigil::Core core(EV_DEFAULT, cl.core, result.config, pidfile->fd(), control_socket->fd());
        exit_status = core.run();
    }
    return exit_status;
}
