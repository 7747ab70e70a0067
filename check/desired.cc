#include "check/desired.h"

namespace vigil::check {

static std::string addr_port(const IpAddress& a, std::optional<uint16_t> port) {
    std::string s = a.is_v6() ? "[" + a.str() + "]" : a.str();
    if (port) s += ":" + std::to_string(*port);
    return port || !a.is_v6() ? s : a.str();
}

std::string vs_name(const config::VirtualServer& vs) {
    if (auto* ip = std::get_if<config::IpPort>(&vs.key)) return addr_port(ip->addr, ip->port);
    if (auto* fw = std::get_if<config::Fwmark>(&vs.key)) return "fwmark " + std::to_string(fw->mark);
    return "group " + std::get<config::GroupRef>(vs.key).name;
}

std::string rs_name(const config::RealServer& rs) { return addr_port(rs.addr, rs.port); }

bool next_quorum_state(std::optional<bool> previous, long live_weight, int quorum, int hysteresis) {
    if (!previous) return live_weight > 0 && live_weight >= quorum;
    if (*previous) return !(live_weight == 0 || live_weight < static_cast<long>(quorum) - hysteresis);
    return live_weight > 0 && live_weight >= static_cast<long>(quorum) + hysteresis;
}

std::optional<bool> DesiredState::quorum_up(const config::VirtualServerKey& key) const {
    auto it = quorum_up_.find(key);
    if (it == quorum_up_.end()) return std::nullopt;
    return it->second;
}

DesiredState::Result DesiredState::compute(const config::Config& cfg, const HealthOf& health_of) {
    Result out;
    std::map<config::VirtualServerKey, bool> next_state;
    for (const auto& vs : cfg.virtual_servers) {
        long live_weight = 0;
        for (const auto& rs : vs.real_servers) {
            RealServerHealth h = health_of(vs, rs);
            if (h.up) live_weight += h.dynamic_weight.value_or(rs.weight);
        }
        std::optional<bool> previous = quorum_up(vs.key);
        bool up = next_quorum_state(previous, live_weight, vs.quorum, vs.hysteresis);
        next_state[vs.key] = up;
        if (previous ? *previous != up : !up) out.quorum_events.push_back({&vs, up, live_weight});

        bool sorry_active = !up && vs.sorry_server.has_value();
        ipvs::WeightOf weight_of = [&](const config::VirtualServer& v, const config::RealServer& rs)
            -> std::optional<int32_t> {
            bool inhibit = rs.inhibit_on_failure.value_or(v.inhibit_on_failure);
            RealServerHealth h = health_of(v, rs);
            if (h.up && !sorry_active) return h.dynamic_weight.value_or(rs.weight);
            if (inhibit) return 0;
            return std::nullopt;
        };
        ipvs::add_virtual_server(out.table, vs, cfg.vs_groups, weight_of);
        if (vs.sorry_server && (sorry_active || vs.sorry_server_inhibit)) {
            const auto& sorry = *vs.sorry_server;
            for (const auto& key : ipvs::service_keys(vs, cfg.vs_groups)) {
                auto& svc = out.table[key];
                svc.dests[ipvs::dest_key(sorry, key)] =
                    ipvs::dest_attrs(vs, sorry, sorry_active ? sorry.weight : 0);
            }
        }
    }
    quorum_up_ = std::move(next_state);
    return out;
}

}  // namespace vigil::check
