// Logging for every vigil process: syslog or the console, one line per event,
// prefixed with the process role ("core", "vrrp", "check") and, where the caller
// gives one, an object prefix such as "VI_1/vrid 51/v4".
#pragma once

#include <chrono>
#include <cstdarg>
#include <string>

namespace vigil::log {

enum class Level { Error, Warning, Notice, Info, Debug };

struct Options {
    bool to_console = false;  // -l: stderr instead of syslog
    bool detail = false;      // -D: also log Debug
};

// Called once per process (and again in each child after fork with its role).
void init(const char* role, const Options& opts);
const char* role();

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vwrite(Level level, const char* fmt, va_list ap);

#define VLOG_ERR(...) ::vigil::log::write(::vigil::log::Level::Error, __VA_ARGS__)
#define VLOG_WARN(...) ::vigil::log::write(::vigil::log::Level::Warning, __VA_ARGS__)
#define VLOG_NOTICE(...) ::vigil::log::write(::vigil::log::Level::Notice, __VA_ARGS__)
#define VLOG_INFO(...) ::vigil::log::write(::vigil::log::Level::Info, __VA_ARGS__)
#define VLOG_DEBUG(...) ::vigil::log::write(::vigil::log::Level::Debug, __VA_ARGS__)

// Per-packet paths log through a RateLimit so a flood of bad packets cannot
// flood the log: at most `burst` lines per `period`, then one summary line
// saying how many were suppressed.
class RateLimit {
public:
    explicit RateLimit(int burst = 10, std::chrono::seconds period = std::chrono::seconds(60))
        : burst_(burst), period_(period) {}
    void write(Level level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

private:
    int burst_;
    std::chrono::seconds period_;
    std::chrono::steady_clock::time_point window_start_{};
    int in_window_ = 0;
    long suppressed_ = 0;
};

}  // namespace vigil::log
