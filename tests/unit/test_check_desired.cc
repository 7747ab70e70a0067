// Desired IPVS table from config + health: removal, inhibit_on_failure,
// misc_dynamic weights, quorum with hysteresis, sorry server.

#include <map>
#include <string>

#include "check/desired.h"

// cmocka last: its macros (fail, ...) clash with the C++ headers; its header
// declares C functions without extern "C".
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::check;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

config::RealServer real(const char* addr, int weight) {
    config::RealServer rs;
    rs.addr = ip(addr);
    rs.port = 80;
    rs.weight = weight;
    return rs;
}

config::Config one_vs(int n, int weight) {
    config::Config cfg;
    config::VirtualServer vs;
    vs.key = config::IpPort{ip("10.0.0.1"), 80};
    vs.lb_kind = config::ForwardingMethod::Dr;
    for (int i = 1; i <= n; ++i) {
        std::string a = "10.0.1." + std::to_string(i);
        vs.real_servers.push_back(real(a.c_str(), weight));
    }
    cfg.virtual_servers.push_back(vs);
    return cfg;
}

// Health by real-server address; anything not listed is up.
struct FakeHealth {
    std::map<std::string, RealServerHealth> by_addr;
    HealthOf fn() {
        return [this](const config::VirtualServer&, const config::RealServer& rs) {
            auto it = by_addr.find(rs.addr.str());
            return it == by_addr.end() ? RealServerHealth{} : it->second;
        };
    }
};

const ipvs::ServiceKey kSvc = ipvs::ServiceKey::tcp(*IpAddress::parse("10.0.0.1"), 80);

// "10.0.1.1:80=1 10.0.1.2:80=0": the destinations of the one service.
std::string dests(const ipvs::Table& t) {
    std::string s;
    auto it = t.find(kSvc);
    if (it == t.end()) return "<no service>";
    for (const auto& [k, a] : it->second.dests) s += (s.empty() ? "" : " ") + k.str() + "=" + std::to_string(a.weight);
    return s;
}

void test_down_server_removed(void**) {
    config::Config cfg = one_vs(3, 2);
    FakeHealth h;
    DesiredState d;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "10.0.1.1:80=2 10.0.1.2:80=2 10.0.1.3:80=2");
    h.by_addr["10.0.1.2"].up = false;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "10.0.1.1:80=2 10.0.1.3:80=2");
}

void test_inhibit_on_failure_keeps_weight_zero(void**) {
    config::Config cfg = one_vs(2, 5);
    cfg.virtual_servers[0].inhibit_on_failure = true;
    FakeHealth h;
    h.by_addr["10.0.1.1"].up = false;
    DesiredState d;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "10.0.1.1:80=0 10.0.1.2:80=5");
    // The real server's own setting wins over the virtual server's.
    cfg.virtual_servers[0].real_servers[0].inhibit_on_failure = false;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "10.0.1.2:80=5");
}

void test_dynamic_weight(void**) {
    config::Config cfg = one_vs(2, 5);
    FakeHealth h;
    h.by_addr["10.0.1.2"] = {true, 42};
    DesiredState d;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "10.0.1.1:80=5 10.0.1.2:80=42");
}

void test_quorum_hysteresis(void**) {
    // 4 servers of weight 1, quorum 3, hysteresis 1: lost below 2, regained at 4.
    config::Config cfg = one_vs(4, 1);
    cfg.virtual_servers[0].quorum = 3;
    cfg.virtual_servers[0].hysteresis = 1;
    FakeHealth h;
    DesiredState d;
    auto r = d.compute(cfg, h.fn());
    assert_int_equal(r.quorum_events.size(), 0);
    assert_true(*d.quorum_up(cfg.virtual_servers[0].key));

    h.by_addr["10.0.1.1"].up = false;  // live 3
    h.by_addr["10.0.1.2"].up = false;  // live 2 = quorum - hysteresis: still up
    r = d.compute(cfg, h.fn());
    assert_int_equal(r.quorum_events.size(), 0);
    h.by_addr["10.0.1.3"].up = false;  // live 1 < 2: lost
    r = d.compute(cfg, h.fn());
    assert_int_equal(r.quorum_events.size(), 1);
    assert_false(r.quorum_events[0].gained);
    assert_int_equal(r.quorum_events[0].live_weight, 1);
    // Steady: no repeated event.
    assert_int_equal(d.compute(cfg, h.fn()).quorum_events.size(), 0);

    h.by_addr["10.0.1.3"].up = true;  // live 2: not yet
    h.by_addr["10.0.1.2"].up = true;  // live 3 < quorum + hysteresis = 4: not yet
    assert_int_equal(d.compute(cfg, h.fn()).quorum_events.size(), 0);
    assert_false(*d.quorum_up(cfg.virtual_servers[0].key));
    h.by_addr["10.0.1.1"].up = true;  // live 4: regained
    r = d.compute(cfg, h.fn());
    assert_int_equal(r.quorum_events.size(), 1);
    assert_true(r.quorum_events[0].gained);
}

void test_quorum_rule_table(void**) {
    struct Row {
        std::optional<bool> prev;
        long live;
        int quorum, hyst;
        bool expect;
    } rows[] = {
        {std::nullopt, 0, 1, 0, false}, {std::nullopt, 1, 1, 0, true},  {std::nullopt, 2, 3, 0, false},
        {true, 0, 0, 0, false},  // zero live weight is always a loss
        {true, 2, 3, 1, true},   {true, 1, 3, 1, false}, {false, 3, 3, 1, false},
        {false, 4, 3, 1, true},  {false, 0, 0, 0, false},
    };
    for (const auto& r : rows) assert_int_equal(next_quorum_state(r.prev, r.live, r.quorum, r.hyst), r.expect);
}

void test_sorry_server(void**) {
    config::Config cfg = one_vs(2, 1);
    auto& vs = cfg.virtual_servers[0];
    vs.quorum = 2;
    vs.sorry_server = real("10.0.9.9", 1);
    FakeHealth h;
    DesiredState d;
    // Quorum up: no sorry server.
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "10.0.1.1:80=1 10.0.1.2:80=1");
    // One down: quorum lost, the sorry server alone takes the traffic.
    h.by_addr["10.0.1.1"].up = false;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "10.0.9.9:80=1");
    // With inhibit_on_failure the real servers stay at weight 0 meanwhile.
    vs.inhibit_on_failure = true;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(),
                        "10.0.1.1:80=0 10.0.1.2:80=0 10.0.9.9:80=1");
    vs.inhibit_on_failure = false;
    // Recovery: the sorry server goes, the real servers return.
    h.by_addr["10.0.1.1"].up = true;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "10.0.1.1:80=1 10.0.1.2:80=1");
    // sorry_server_inhibit: present at weight 0 while quorum is up.
    vs.sorry_server_inhibit = true;
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(),
                        "10.0.1.1:80=1 10.0.1.2:80=1 10.0.9.9:80=0");
}

void test_no_sorry_server_keeps_live_servers(void**) {
    config::Config cfg = one_vs(3, 1);
    cfg.virtual_servers[0].quorum = 3;
    FakeHealth h;
    h.by_addr["10.0.1.3"].up = false;
    DesiredState d;
    auto r = d.compute(cfg, h.fn());
    assert_int_equal(r.quorum_events.size(), 1);  // starting below quorum reports the loss
    assert_string_equal(dests(r.table).c_str(), "10.0.1.1:80=1 10.0.1.2:80=1");
}

void test_alpha_all_down_service_stays(void**) {
    config::Config cfg = one_vs(2, 1);
    FakeHealth h;
    h.by_addr["10.0.1.1"].up = false;
    h.by_addr["10.0.1.2"].up = false;
    DesiredState d;
    // The service itself is always present; only destinations come and go.
    assert_string_equal(dests(d.compute(cfg, h.fn()).table).c_str(), "");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_down_server_removed),
        cmocka_unit_test(test_inhibit_on_failure_keeps_weight_zero),
        cmocka_unit_test(test_dynamic_weight),
        cmocka_unit_test(test_quorum_hysteresis),
        cmocka_unit_test(test_quorum_rule_table),
        cmocka_unit_test(test_sorry_server),
        cmocka_unit_test(test_no_sorry_server_keeps_live_servers),
        cmocka_unit_test(test_alpha_all_down_service_stays),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
