// From health to the IPVS table the kernel should hold. Pure: config + the
// health of every real server in, an ipvs::Table and the quorum transitions
// out. The reconciler (ipvs/) turns the table into netlink changes.
//
// Rules (keepalived.conf(5), virtual_server section):
//  - a real server is up when every one of its checkers is up (no checkers:
//    always up);
//  - an up real server is in the table with its configured weight, or the
//    weight its MISC_CHECK asked for (misc_dynamic);
//  - a down real server is removed, or kept with weight 0 when
//    inhibit_on_failure applies (real server's setting, else the virtual
//    server's);
//  - quorum: the sum of the weights of the live real servers. Quorum is lost
//    when that sum is 0 or drops below `quorum - hysteresis`, and regained only
//    when it reaches `quorum + hysteresis` again (the hysteresis dampens flaps);
//  - while quorum is lost the sorry_server is in the table and the live real
//    servers are taken out (as if down, so inhibit_on_failure leaves them at
//    weight 0); without a sorry_server the live ones stay. While quorum is up
//    the sorry server is absent, or present at weight 0 with
//    sorry_server_inhibit.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config/model.h"
#include "ipvs/model.h"

namespace vigil::check {

struct RealServerHealth {
    bool up = true;
    std::optional<int> dynamic_weight;  // from misc_dynamic; replaces the configured weight
};

using HealthOf = std::function<RealServerHealth(const config::VirtualServer&, const config::RealServer&)>;

struct QuorumEvent {
    const config::VirtualServer* vs = nullptr;
    bool gained = false;  // false: lost
    long live_weight = 0;
};

// "10.0.0.1:80", "fwmark 7", "group NAME": for log lines and state files.
std::string vs_name(const config::VirtualServer& vs);
// "10.0.1.1:80" / "[fd00::1]:80" / "10.0.1.1" (no port).
std::string rs_name(const config::RealServer& rs);

// Remembers each virtual server's quorum state between computations (the
// hysteresis needs the previous state). Keyed by the virtual server's key, so
// a reload keeps the state of virtual servers it does not remove.
class DesiredState {
public:
    struct Result {
        ipvs::Table table;
        std::vector<QuorumEvent> quorum_events;  // transitions made by this computation
    };

    Result compute(const config::Config& cfg, const HealthOf& health_of);

    // Current quorum state of a virtual server; nullopt before the first compute.
    std::optional<bool> quorum_up(const config::VirtualServerKey& key) const;

private:
    std::map<config::VirtualServerKey, bool> quorum_up_;
};

// Quorum state after a live-weight change (previous nullopt: first decision,
// no hysteresis yet).
bool next_quorum_state(std::optional<bool> previous, long live_weight, int quorum, int hysteresis);

}  // namespace vigil::check
