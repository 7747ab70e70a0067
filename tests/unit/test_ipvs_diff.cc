// ipvs::diff and the config -> table building blocks.

#include <string>

#include "ipvs/model.h"

// cmocka last (it defines a fail() macro that C++ headers trip over), and as
// C: this version of its header has no extern "C" of its own.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::ipvs;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

ServiceKey web() { return ServiceKey::tcp(ip("192.0.2.10"), 80); }
ServiceKey dns() { return ServiceKey::udp(ip("192.0.2.10"), 53); }
ServiceKey foreign() { return ServiceKey::tcp(ip("192.0.2.99"), 443); }

DestAttrs dr(int32_t weight) {
    DestAttrs d;
    d.forward = Forward::Dr;
    d.weight = weight;
    return d;
}

// Two services, three real servers each.
Table sample() {
    Table t;
    Service s;
    s.attrs.scheduler = "wrr";
    for (int i = 1; i <= 3; ++i) s.dests[{ip(("10.0.1." + std::to_string(i)).c_str()), 80}] = dr(i);
    t[web()] = s;
    Service u;
    u.attrs.scheduler = "rr";
    u.dests[{ip("10.0.2.1"), 53}] = dr(1);
    t[dns()] = u;
    return t;
}

OwnedSet owned_sample() { return {web(), dns()}; }

void unchanged_table_gives_no_changes(void**) {
    assert_int_equal(diff(sample(), sample(), owned_sample()).size(), 0);
}

void weight_change_is_one_edit(void**) {
    Table want = sample();
    want[web()].dests[{ip("10.0.1.2"), 80}].weight = 50;
    auto changes = diff(want, sample(), owned_sample());
    assert_int_equal(changes.size(), 1);
    assert_int_equal(static_cast<int>(changes[0].kind), static_cast<int>(ChangeKind::EditDest));
    assert_true(changes[0].service == web());
    assert_true(changes[0].dest == (DestKey{ip("10.0.1.2"), 80}));
    assert_int_equal(changes[0].dest_attrs.weight, 50);
}

void forwarding_and_threshold_change_is_one_edit(void**) {
    Table want = sample();
    auto& d = want[web()].dests[{ip("10.0.1.1"), 80}];
    d.forward = Forward::Tun;
    d.u_threshold = 100;
    auto changes = diff(want, sample(), owned_sample());
    assert_int_equal(changes.size(), 1);
    assert_int_equal(static_cast<int>(changes[0].kind), static_cast<int>(ChangeKind::EditDest));
}

void local_destination_is_not_re_edited(void**) {
    // The kernel reports a real server on a local address as LOCALNODE.
    Table have = sample();
    have[web()].dests[{ip("10.0.1.1"), 80}].forward = Forward::Local;
    assert_int_equal(diff(sample(), have, owned_sample()).size(), 0);
    // A real difference on it still shows.
    have[web()].dests[{ip("10.0.1.1"), 80}].weight = 9;
    assert_int_equal(diff(sample(), have, owned_sample()).size(), 1);
}

void scheduler_change_is_one_service_edit(void**) {
    Table want = sample();
    want[web()].attrs.scheduler = "mh";
    want[web()].attrs.flags = kSvcFlagMhPort;
    auto changes = diff(want, sample(), owned_sample());
    assert_int_equal(changes.size(), 1);
    assert_int_equal(static_cast<int>(changes[0].kind), static_cast<int>(ChangeKind::EditService));
    assert_string_equal(changes[0].service_attrs->scheduler.c_str(), "mh");
}

void persistence_change_is_one_service_edit(void**) {
    Table want = sample();
    want[web()].attrs.flags |= IP_VS_SVC_F_PERSISTENT;
    want[web()].attrs.timeout_s = 300;
    want[web()].attrs.netmask_prefix = 24;
    auto changes = diff(want, sample(), owned_sample());
    assert_int_equal(changes.size(), 1);
    assert_int_equal(static_cast<int>(changes[0].kind), static_cast<int>(ChangeKind::EditService));
}

void kernel_bookkeeping_is_not_a_change(void**) {
    // The kernel reports HASHED on every service and may spell the full
    // netmask explicitly: neither is a difference.
    Table have = sample();
    have[web()].attrs.flags |= IP_VS_SVC_F_HASHED;
    have[web()].attrs.netmask_prefix = 32;
    assert_int_equal(diff(sample(), have, owned_sample()).size(), 0);
}

void foreign_services_are_never_touched(void**) {
    Table have = sample();
    have[foreign()].attrs.scheduler = "rr";
    have[foreign()].dests[{ip("10.9.9.9"), 443}] = dr(1);
    // Even if desired mentions it, a service outside `owned` is left alone.
    Table want = sample();
    want[foreign()].attrs.scheduler = "wlc";
    assert_int_equal(diff(want, have, owned_sample()).size(), 0);
    // And deleting everything we own leaves it too.
    auto changes = diff(Table{}, have, owned_sample());
    assert_int_equal(changes.size(), 2);
    for (const auto& c : changes) {
        assert_int_equal(static_cast<int>(c.kind), static_cast<int>(ChangeKind::DelService));
        assert_false(c.service == foreign());
    }
}

void new_service_is_added_with_its_dests(void**) {
    Table have = sample();
    have.erase(dns());
    auto changes = diff(sample(), have, owned_sample());
    assert_int_equal(changes.size(), 2);
    assert_int_equal(static_cast<int>(changes[0].kind), static_cast<int>(ChangeKind::AddService));
    assert_int_equal(static_cast<int>(changes[1].kind), static_cast<int>(ChangeKind::AddDest));
    assert_string_equal(changes[0].service_attrs->scheduler.c_str(), "rr");
}

void from_empty_is_one_message_per_rule(void**) {
    auto changes = diff(sample(), Table{}, owned_sample());
    assert_int_equal(changes.size(), 2 + 3 + 1);
    // Every service add comes before every destination add.
    size_t last_service = 0, first_dest = changes.size();
    for (size_t i = 0; i < changes.size(); ++i) {
        if (changes[i].kind == ChangeKind::AddService) last_service = i;
        if (changes[i].kind == ChangeKind::AddDest && first_dest == changes.size()) first_dest = i;
    }
    assert_true(last_service < first_dest);
}

void deletes_come_before_adds(void**) {
    // Real server 10.0.1.3 replaced by 10.0.1.4; a service re-keyed.
    Table want = sample();
    want[web()].dests.erase({ip("10.0.1.3"), 80});
    want[web()].dests[{ip("10.0.1.4"), 80}] = dr(1);
    Table have = sample();
    OwnedSet owned = owned_sample();
    ServiceKey old_dns = ServiceKey::udp(ip("192.0.2.11"), 53);
    have[old_dns] = have[dns()];
    have.erase(dns());
    owned.insert(old_dns);
    auto changes = diff(want, have, owned);
    assert_int_equal(changes.size(), 5);  // del dest, del service, add service, add dest x2
    assert_int_equal(static_cast<int>(changes[0].kind), static_cast<int>(ChangeKind::DelDest));
    assert_int_equal(static_cast<int>(changes[1].kind), static_cast<int>(ChangeKind::DelService));
    assert_true(changes[1].service == old_dns);
    assert_int_equal(static_cast<int>(changes[2].kind), static_cast<int>(ChangeKind::AddService));
    for (size_t i = 3; i < changes.size(); ++i)
        assert_int_equal(static_cast<int>(changes[i].kind), static_cast<int>(ChangeKind::AddDest));
}

void removed_service_is_one_delete(void**) {
    Table want = sample();
    want.erase(web());
    auto changes = diff(want, sample(), owned_sample());
    assert_int_equal(changes.size(), 1);  // the kernel drops its three dests with it
    assert_int_equal(static_cast<int>(changes[0].kind), static_cast<int>(ChangeKind::DelService));
}

void change_text_names_the_rule(void**) {
    Change c{ChangeKind::AddDest, ServiceKey::tcp(ip("2001:db8::1"), 443), {}, {ip("10.0.0.5"), 8443}, dr(7)};
    assert_string_equal(c.str().c_str(), "add dest TCP [2001:db8::1]:443 -> 10.0.0.5:8443 Route weight 7");
    assert_string_equal(ServiceKey::mark(7, AF_INET6).str().c_str(), "FWM 7 IPv6");
}

// --- building from the config model ---------------------------------------

config::RealServer rs(const char* addr, std::optional<uint16_t> port, int weight) {
    config::RealServer r;
    r.addr = ip(addr);
    r.port = port;
    r.weight = weight;
    return r;
}

void group_expands_ranges_and_fwmarks(void**) {
    config::VirtualServerGroup g;
    g.name = "G";
    g.addresses.push_back({ip("192.0.2.254"), 3, 80});  // crosses an octet boundary
    g.addresses.push_back({ip("2001:db8::ff"), 2, 443});
    g.fwmarks.push_back(9);
    config::VirtualServer vs;
    vs.key = config::GroupRef{"G"};
    vs.protocol = config::Protocol::Udp;
    auto keys = service_keys(vs, {g});
    assert_int_equal(keys.size(), 6);
    assert_string_equal(keys[0].str().c_str(), "UDP 192.0.2.254:80");
    assert_string_equal(keys[2].str().c_str(), "UDP 192.0.3.0:80");
    assert_string_equal(keys[4].str().c_str(), "UDP [2001:db8::100]:443");
    assert_true(keys[5] == ServiceKey::mark(9));
    // Unknown group: nothing (the loader rejects it before we get here).
    vs.key = config::GroupRef{"nope"};
    assert_int_equal(service_keys(vs, {g}).size(), 0);
}

void virtual_server_attrs_and_dests(void**) {
    config::VirtualServer vs;
    vs.key = config::IpPort{ip("192.0.2.10"), 80};
    vs.scheduler = "sh";
    vs.sched_flags = {"sh-port", "sh-fallback"};
    vs.persistence_timeout = std::chrono::seconds(600);
    vs.persistence_granularity = 24;
    vs.lb_kind = config::ForwardingMethod::Dr;
    vs.real_servers.push_back(rs("10.0.1.1", 8080, 3));
    vs.real_servers.push_back(rs("10.0.1.2", std::nullopt, 0));
    vs.real_servers.back().lb_kind = config::ForwardingMethod::Tun;
    vs.real_servers.back().uthreshold = 100;

    ServiceAttrs a = service_attrs(vs);
    assert_string_equal(a.scheduler.c_str(), "sh");
    assert_int_equal(a.flags, IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_SCHED_SH_PORT | IP_VS_SVC_F_SCHED_SH_FALLBACK);
    assert_int_equal(a.timeout_s, 600);
    assert_int_equal(a.netmask_prefix, 24);

    config::Config cfg;
    cfg.virtual_servers.push_back(vs);
    Table t = desired_all_healthy(cfg);
    assert_int_equal(t.size(), 1);
    const Service& s = t.begin()->second;
    assert_int_equal(s.dests.size(), 2);
    auto d1 = s.dests.at({ip("10.0.1.1"), 8080});
    assert_int_equal(d1.weight, 3);
    assert_int_equal(static_cast<int>(d1.forward), IP_VS_CONN_F_DROUTE);
    auto d2 = s.dests.at({ip("10.0.1.2"), 80});  // no port: the service's
    assert_int_equal(static_cast<int>(d2.forward), IP_VS_CONN_F_TUNNEL);
    assert_int_equal(d2.u_threshold, 100);
    assert_int_equal(owned_services(cfg).size(), 1);

    // weight_of decides membership: a failed server without inhibit is absent.
    Table partial;
    add_virtual_server(partial, vs, {}, [](const config::VirtualServer&, const config::RealServer& r) {
        return r.weight == 3 ? std::optional<int32_t>{} : std::optional<int32_t>{0};
    });
    assert_int_equal(partial.begin()->second.dests.size(), 1);
}

// Real servers in any order, one listed twice: every one is in the table,
// and the last listing of a duplicate decides its weight.
void dests_in_any_order_last_listing_wins(void**) {
    config::VirtualServer vs;
    vs.key = config::IpPort{ip("192.0.2.10"), 80};
    for (auto [addr, weight] : {std::pair{"10.0.1.5", 1}, {"10.0.1.2", 2}, {"10.0.1.9", 3}, {"10.0.1.2", 4}, {"10.0.1.1", 5}})
        vs.real_servers.push_back(rs(addr, 80, weight));
    config::Config cfg;
    cfg.virtual_servers.push_back(vs);
    Table t = desired_all_healthy(cfg);
    const Service& s = t.begin()->second;
    assert_int_equal(s.dests.size(), 4);
    assert_int_equal(s.dests.at({ip("10.0.1.5"), 80}).weight, 1);
    assert_int_equal(s.dests.at({ip("10.0.1.2"), 80}).weight, 4);
    assert_int_equal(s.dests.at({ip("10.0.1.9"), 80}).weight, 3);
    assert_int_equal(s.dests.at({ip("10.0.1.1"), 80}).weight, 5);
}

void sched_flags_and_schedulers(void**) {
    assert_int_equal(*parse_sched_flag("ops"), IP_VS_SVC_F_ONEPACKET);
    assert_int_equal(*parse_sched_flag("mh-fallback"), IP_VS_SVC_F_SCHED1);
    assert_int_equal(*parse_sched_flag("mh-port"), IP_VS_SVC_F_SCHED2);
    assert_int_equal(*parse_sched_flag("flag-3"), IP_VS_SVC_F_SCHED3);
    assert_false(parse_sched_flag("sh_port").has_value());
    for (const char* s : {"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"})
        assert_true(is_known_scheduler(s));
    assert_false(is_known_scheduler("random"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unchanged_table_gives_no_changes),
        cmocka_unit_test(weight_change_is_one_edit),
        cmocka_unit_test(forwarding_and_threshold_change_is_one_edit),
        cmocka_unit_test(local_destination_is_not_re_edited),
        cmocka_unit_test(scheduler_change_is_one_service_edit),
        cmocka_unit_test(persistence_change_is_one_service_edit),
        cmocka_unit_test(kernel_bookkeeping_is_not_a_change),
        cmocka_unit_test(foreign_services_are_never_touched),
        cmocka_unit_test(new_service_is_added_with_its_dests),
        cmocka_unit_test(from_empty_is_one_message_per_rule),
        cmocka_unit_test(deletes_come_before_adds),
        cmocka_unit_test(removed_service_is_one_delete),
        cmocka_unit_test(change_text_names_the_rule),
        cmocka_unit_test(group_expands_ranges_and_fwmarks),
        cmocka_unit_test(virtual_server_attrs_and_dests),
        cmocka_unit_test(dests_in_any_order_last_listing_wins),
        cmocka_unit_test(sched_flags_and_schedulers),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
