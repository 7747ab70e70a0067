// Telling systemd how the daemon stands (Type=notify, WatchdogSec=), without
// libsystemd. The protocol is sd_notify(3)'s, which systemd documents as
// stable and meant to be reimplemented: one datagram of "KEY=VALUE\n..." to
// the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
// abstract namespace); the watchdog period comes from $WATCHDOG_USEC, meant
// for us when $WATCHDOG_PID is unset or our pid. Linking libsystemd for this
// loaded six shared libraries (its compression and crypto ones) at every start.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vigil::systemd {

// Sends `state` ("READY=1", "STOPPING=1", ...). False when there is no
// $NOTIFY_SOCKET (not under systemd: nothing to do) or the send failed.
bool notify(const std::string& state);

// The watchdog period systemd expects pings within, if it set one for us.
std::optional<std::chrono::microseconds> watchdog_period();

}  // namespace vigil::systemd
