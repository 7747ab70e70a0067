// The I/O side of a checker: one probe = one TCP connect, one HTTP(S)
// exchange (all url blocks in turn) or one script run. The scheduler only sees
// this interface, so unit tests drive it with a fake and no sockets.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "check/health.h"
#include "check/script.h"
#include "daemon/config/model.h"
#include "daemon/ev.h"
#include "daemon/ipaddr.h"

namespace vigil::check {

// Everything a probe needs, resolved from the config (defaults applied).
struct ProbeTarget {
    config::CheckerType type = config::CheckerType::Tcp;
    IpAddress addr;                       // connect_ip, else the real server
    uint16_t port = 0;                    // connect_port, else the real server's
    std::optional<IpAddress> bindto;
    std::chrono::milliseconds timeout{5000};  // connect_timeout: the whole exchange
    std::vector<config::HttpUrl> urls;
    std::string virtualhost;
    ScriptSpec script;                    // MISC_CHECK
    bool misc_dynamic = false;
};

// A probe in flight; destroying it cancels it (no callback afterwards).
class Probe {
public:
    virtual ~Probe() = default;
};

// `reason` explains a failure for the log ("connection refused", "timeout",
// "status 500, expected 200").
using ProbeDone = std::function<void(const ProbeResult& result, const std::string& reason)>;

class ProbeFactory {
public:
    virtual ~ProbeFactory() = default;
    // Never calls `done` from inside start(): results always arrive from the
    // loop, so the caller's state is consistent when they do.
    virtual std::unique_ptr<Probe> start(const ProbeTarget& target, ProbeDone done) = 0;
};

// The real probes: TCP connect, HTTP/HTTPS through libcurl's multi-socket API,
// scripts (started by `scripts`, which must outlive the factory). One per
// process; all on `loop`.
std::unique_ptr<ProbeFactory> make_real_probes(ev::Loop* loop, ScriptLauncher& scripts);

}  // namespace vigil::check
