#include "daemon/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "daemon/log.h"

namespace vigil::systemd {

bool notify(const std::string& state) {
    const char* path = getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@')) return false;
    size_t len = strlen(path);
    sockaddr_un addr{};
    if (len < 2 || len >= sizeof addr.sun_path) return false;
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
    // The address length counts the name only: an abstract name is not
    // NUL-terminated, and its trailing zeros would be part of it.
    auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ssize_t n;
    do {
        n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), addr_len);
    } while (n < 0 && errno == EINTR);
    close(fd);
    return n == static_cast<ssize_t>(state.size());
}

std::optional<std::chrono::microseconds> watchdog_period() {
    const char* usec = getenv("WATCHDOG_USEC");
    if (!usec || !*usec) return std::nullopt;
    if (const char* pid = getenv("WATCHDOG_PID"); pid && *pid) {
        char* end = nullptr;
        long long p = strtoll(pid, &end, 10);
        if (*end != '\0' || p != static_cast<long long>(getpid())) return std::nullopt;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long long v = strtoull(usec, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || usec[0] == '-') {
        // Not something systemd writes; said, because without pings a real
        // WatchdogSec= would have the service killed.
        VLOG_WARN("ignoring WATCHDOG_USEC='%s': not a positive number of microseconds; no watchdog pings", usec);
        return std::nullopt;
    }
    return std::chrono::microseconds(v);
}

}  // namespace vigil::systemd
