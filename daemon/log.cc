#include "daemon/log.h"

#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace vigil::log {
namespace {

Options g_opts;
const char* g_role = "core";
bool g_syslog_open = false;

int to_syslog_priority(Level level) {
    switch (level) {
    case Level::Error: return LOG_ERR;
    case Level::Warning: return LOG_WARNING;
    case Level::Notice: return LOG_NOTICE;
    case Level::Info: return LOG_INFO;
    case Level::Debug: return LOG_DEBUG;
    }
    return LOG_INFO;
}

const char* level_name(Level level) {
    switch (level) {
    case Level::Error: return "error";
    case Level::Warning: return "warning";
    case Level::Notice: return "notice";
    case Level::Info: return "info";
    case Level::Debug: return "debug";
    }
    return "info";
}

}  // namespace

void init(const char* role_name, const Options& opts) {
    g_role = role_name;
    g_opts = opts;
    if (!opts.to_console) {
        if (g_syslog_open) closelog();
        openlog("vigild", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        g_syslog_open = true;
    }
}

const char* role() { return g_role; }

void vwrite(Level level, const char* fmt, va_list ap) {
    if (level == Level::Debug && !g_opts.detail) return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (g_opts.to_console) {
        timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tm tmv;
        localtime_r(&ts.tv_sec, &tmv);
        char when[32];
        strftime(when, sizeof when, "%H:%M:%S", &tmv);
        // One fprintf per line so lines from the three processes don't interleave.
        fprintf(stderr, "%s.%03ld vigild[%d] %s: %s%s%s\n", when, ts.tv_nsec / 1000000L,
                static_cast<int>(getpid()), g_role,
                level <= Level::Warning ? level_name(level) : "", level <= Level::Warning ? ": " : "",
                msg);
    } else {
        syslog(to_syslog_priority(level), "%s: %s", g_role, msg);
    }
}

void write(Level level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, fmt, ap);
    va_end(ap);
}

void RateLimit::write(Level level, const char* fmt, ...) {
    auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= period_) {
        if (suppressed_ > 0)
            vigil::log::write(level, "(%ld similar messages suppressed)", suppressed_);
        window_start_ = now;
        in_window_ = 0;
        suppressed_ = 0;
    }
    if (in_window_ >= burst_) {
        ++suppressed_;
        return;
    }
    ++in_window_;
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, fmt, ap);
    va_end(ap);
}

}  // namespace vigil::log
