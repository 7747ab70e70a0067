// Config loader tests: every keyword into its model field, every error path
// (table-driven: text -> expected message with file:line), includes, the
// etc/ examples, dump round trips, and a parse-time measurement.
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>
#include <cstring>
#include <string>

#include "daemon/config/load.h"
#include "daemon/config/units.h"

// cmocka last: its fail() macro clashes with C++ stream headers.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
// cmocka.h has no extern "C" of its own.
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::config;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

std::string fixture(const char* name) { return std::string(CONFIG_FIXTURES) + "/" + name; }

std::string all_errors(const LoadResult& r) {
    std::string s;
    for (const auto& e : r.errors) s += e.str() + "\n";
    return s;
}

LoadResult must_load_file(const std::string& path) {
    auto r = load_file(path);
    if (!r.ok()) fail_msg("%s: unexpected errors:\n%s", path.c_str(), all_errors(r).c_str());
    return r;
}

LoadResult must_load_text(const std::string& text) {
    auto r = load_text(text, "t.conf");
    if (!r.ok()) fail_msg("unexpected errors:\n%s\nin:\n%s", all_errors(r).c_str(), text.c_str());
    return r;
}

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// The smallest valid instance, to embed in tests of other blocks.
const char* kMinimalInstance =
    "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1\n }\n}\n";

void test_every_keyword(void**) {
    auto r = must_load_file(fixture("full.conf"));
    const Config& c = *r.config;
    const auto& g = c.global;
    assert_string_equal(g.router_id.c_str(), "DIR_FULL");
    assert_int_equal(g.notification_email.size(), 3);
    assert_string_equal(g.notification_email[2].c_str(), "pager@example.com");
    assert_string_equal(g.notification_email_from.c_str(), "vigil@example.com");
    assert_true(g.smtp_server == ip("192.168.10.5"));
    assert_int_equal(g.smtp_port, 2525);
    assert_int_equal(g.smtp_connect_timeout.count(), 20);
    assert_string_equal(g.script_user.c_str(), "nobody");
    assert_string_equal(g.script_group.c_str(), "nogroup");
    assert_true(g.enable_script_security);
    assert_int_equal(g.vrrp_version, 3);
    assert_int_equal(g.vrrp_garp_master_delay.count(), 2000);
    assert_int_equal(g.vrrp_garp_master_repeat, 3);
    assert_int_equal(g.vrrp_garp_master_refresh.count(), 60000);
    assert_true(g.lvs_flush);
    assert_true(g.lvs_flush_on_stop);
    assert_int_equal(g.lvs_reconcile_interval.count(), 15000);

    assert_int_equal(c.vrrp_scripts.size(), 1);
    const auto& s = c.vrrp_scripts[0];
    assert_string_equal(s.name.c_str(), "chk_http");
    assert_string_equal(s.script.c_str(), "/usr/local/bin/check http");
    assert_int_equal(s.interval.count(), 2000);
    assert_int_equal(s.timeout.count(), 1500);
    assert_int_equal(s.weight, -20);
    assert_int_equal(s.rise, 2);
    assert_int_equal(s.fall, 3);
    assert_string_equal(s.user.c_str(), "nobody");

    assert_int_equal(c.sync_groups.size(), 1);
    const auto& sg = c.sync_groups[0];
    assert_int_equal(sg.members.size(), 2);
    assert_string_equal(sg.members[1].c_str(), "VI_6");
    assert_string_equal(sg.notify.c_str(), "/etc/vigil/sg.sh");
    assert_string_equal(sg.notify_master.c_str(), "/etc/vigil/sg.sh master");
    assert_string_equal(sg.notify_backup.c_str(), "/etc/vigil/sg-backup.sh");
    assert_string_equal(sg.notify_fault.c_str(), "/etc/vigil/sg-fault.sh");
    assert_string_equal(sg.notify_stop.c_str(), "/etc/vigil/sg-stop.sh");
    assert_true(sg.smtp_alert);

    assert_int_equal(c.vrrp_instances.size(), 2);
    const auto& in = c.vrrp_instances[0];
    assert_true(in.state == InitialState::Master);
    assert_string_equal(in.interface.c_str(), "lo");
    assert_int_equal(in.vrid, 51);
    assert_int_equal(in.priority, 150);
    assert_int_equal(in.version, 3);  // from global vrrp_version
    assert_int_equal(in.advert_int.count(), 50);
    assert_int_equal(in.family, AF_INET);
    assert_int_equal(in.vips.size(), 2);
    assert_string_equal(in.vips[0].addr.str().c_str(), "192.168.10.100/24");
    assert_string_equal(in.vips[0].dev.c_str(), "lo");
    assert_string_equal(in.vips[0].label.c_str(), "lo:vip");
    assert_string_equal(in.vips[0].scope.c_str(), "global");
    assert_true(in.vips[0].brd == ip("192.168.10.255"));
    assert_string_equal(in.vips[1].addr.str().c_str(), "192.168.10.101/32");
    assert_int_equal(in.vips_excluded.size(), 1);
    assert_int_equal(in.routes.size(), 3);
    assert_true(in.routes[0].via == ip("192.168.10.1"));
    assert_string_equal(in.routes[0].dev.c_str(), "lo");
    assert_true(in.routes[1].blackhole);
    assert_true(in.routes[2].src == ip("192.168.10.100"));
    assert_int_equal(*in.routes[2].table, 100);
    assert_int_equal(*in.routes[2].metric, 5);
    assert_true(in.unicast_src_ip == ip("192.168.10.2"));
    assert_int_equal(in.unicast_peers.size(), 2);
    assert_true(in.nopreempt);
    assert_int_equal(in.preempt_delay.count(), 30);
    assert_int_equal(in.track_interfaces.size(), 2);
    assert_int_equal(in.track_interfaces[0].weight, 0);
    assert_int_equal(in.track_interfaces[1].weight, -10);
    assert_int_equal(in.track_scripts.size(), 2);
    assert_false(in.track_scripts[0].weight.has_value());
    assert_int_equal(*in.track_scripts[1].weight, 5);
    assert_string_equal(in.notify.c_str(), "/etc/vigil/notify.sh");
    assert_string_equal(in.notify_master.c_str(), "/etc/vigil/master.sh");
    assert_string_equal(in.notify_backup.c_str(), "/etc/vigil/backup.sh");
    assert_string_equal(in.notify_fault.c_str(), "/etc/vigil/fault.sh");
    assert_string_equal(in.notify_stop.c_str(), "/etc/vigil/stop.sh");
    assert_int_equal(in.garp_master_delay.count(), 1000);
    assert_int_equal(in.garp_master_repeat, 2);
    assert_int_equal(in.garp_master_refresh.count(), 30000);
    assert_true(in.smtp_alert);
    const auto& in6 = c.vrrp_instances[1];
    assert_int_equal(in6.family, AF_INET6);
    assert_int_equal(in6.garp_master_delay.count(), 2000);  // from vrrp_garp_master_delay
    assert_int_equal(in6.garp_master_repeat, 3);
    assert_int_equal(in6.garp_master_refresh.count(), 60000);
    assert_int_equal(in6.advert_int.count(), 100);

    assert_int_equal(c.vs_groups.size(), 1);
    const auto& vsg = c.vs_groups[0];
    assert_int_equal(vsg.addresses.size(), 2);
    assert_true(vsg.addresses[0].first == ip("192.168.10.200"));
    assert_int_equal(vsg.addresses[0].count, 6);
    assert_int_equal(vsg.addresses[0].port, 80);
    assert_int_equal(vsg.addresses[1].count, 1);
    assert_int_equal(vsg.fwmarks.size(), 1);
    assert_int_equal(vsg.fwmarks[0], 7);

    assert_int_equal(c.virtual_servers.size(), 4);
    const auto& v6 = c.virtual_servers[3];
    assert_int_equal(v6.family, AF_INET6);
    assert_int_equal(*v6.persistence_granularity, 64);
    assert_int_equal(v6.persistence_timeout->count(), 360);
    assert_string_equal(v6.sched_flags.at(0).c_str(), "mh-port");
    assert_int_equal(*v6.real_servers[0].checkers[0].http->urls[0].status_code, 204);
    const auto& vs = c.virtual_servers[0];
    assert_true(vs.key == VirtualServerKey(IpPort{ip("192.168.10.100"), 80}));
    assert_int_equal(vs.delay_loop.count(), 10000);
    assert_string_equal(vs.scheduler.c_str(), "wrr");
    assert_true(vs.lb_kind == ForwardingMethod::Nat);
    assert_int_equal(vs.persistence_timeout->count(), 120);
    assert_int_equal(*vs.persistence_granularity, 24);
    assert_true(vs.protocol == Protocol::Tcp);
    assert_true(vs.sorry_server->addr == ip("192.168.10.99"));
    assert_int_equal(*vs.sorry_server->port, 8080);
    assert_true(vs.sorry_server_inhibit);
    assert_int_equal(vs.quorum, 2);
    assert_int_equal(vs.hysteresis, 1);
    assert_string_equal(vs.quorum_up.c_str(), "/etc/vigil/up.sh");
    assert_string_equal(vs.quorum_down.c_str(), "/etc/vigil/down.sh");
    assert_true(vs.alpha);
    assert_true(vs.omega);
    assert_true(vs.inhibit_on_failure);
    assert_int_equal(vs.sched_flags.size(), 1);
    assert_string_equal(vs.sched_flags[0].c_str(), "sh-port");
    assert_int_equal(vs.real_servers.size(), 2);
    const auto& rs = vs.real_servers[0];
    assert_int_equal(rs.weight, 5);
    assert_false(*rs.inhibit_on_failure);
    assert_int_equal(rs.uthreshold, 1000);
    assert_int_equal(rs.lthreshold, 10);
    assert_string_equal(rs.notify->up.c_str(), "/etc/vigil/rs-up.sh");
    assert_string_equal(rs.notify->down.c_str(), "/etc/vigil/rs-down.sh");
    assert_int_equal(rs.checkers.size(), 1);
    const auto& hc = rs.checkers[0];
    assert_true(hc.type == CheckerType::Http);
    assert_int_equal(hc.http->urls.size(), 2);
    assert_string_equal(hc.http->urls[0].path.c_str(), "/health");
    assert_int_equal(*hc.http->urls[0].status_code, 200);
    assert_string_equal(hc.http->urls[0].digest.c_str(), "9b3a0c85a887a256d6939da88aabd8cd");
    assert_false(hc.http->urls[1].status_code.has_value());
    assert_string_equal(hc.http->virtualhost.c_str(), "www.example.com");
    assert_true(hc.connect_ip == ip("192.168.10.21"));
    assert_int_equal(*hc.connect_port, 8081);
    assert_true(hc.bindto == ip("192.168.10.2"));
    assert_int_equal(hc.connect_timeout.count(), 2500);
    assert_int_equal(hc.retry, 4);
    assert_int_equal(hc.delay_before_retry.count(), 2000);
    assert_int_equal(hc.delay_loop->count(), 7000);
    assert_int_equal(hc.warmup->count(), 3000);
    const auto& rs2 = vs.real_servers[1];
    assert_true(rs2.lb_kind == ForwardingMethod::Dr);
    assert_int_equal(rs2.weight, 1);
    assert_int_equal(rs2.checkers.size(), 2);
    assert_true(rs2.checkers[0].type == CheckerType::Ssl);
    const auto& mc = rs2.checkers[1];
    assert_true(mc.type == CheckerType::Misc);
    assert_string_equal(mc.misc->path.c_str(), "/usr/local/bin/check rs2");
    assert_string_equal(mc.misc->user.c_str(), "nobody");
    assert_int_equal(mc.misc->timeout.count(), 4000);
    assert_true(mc.misc->dynamic);

    const auto& fw = c.virtual_servers[1];
    assert_true(fw.key == VirtualServerKey(Fwmark{7}));
    assert_string_equal(fw.scheduler.c_str(), "sh");
    assert_true(fw.lb_kind == ForwardingMethod::Tun);
    assert_true(fw.protocol == Protocol::Udp);
    assert_int_equal(*fw.persistence_granularity, 24);
    assert_int_equal(fw.persistence_timeout->count(), 360);  // default when only granularity is set
    assert_false(fw.real_servers[0].port.has_value());
    assert_int_equal(fw.family, AF_INET);
    const auto& grp = c.virtual_servers[2];
    assert_true(grp.key == VirtualServerKey(GroupRef{"VSG_1"}));
    assert_int_equal(grp.real_servers[0].weight, 0);
}

void test_defaults(void**) {
    auto r = must_load_text(std::string(kMinimalInstance) +
                            "virtual_server 192.168.10.1 80 {\n"
                            " persistence_granularity 255.255.0.0\n"
                            " real_server 192.168.10.2 80 {\n  TCP_CHECK {\n  }\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n"
                            "  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\n");
    const Config& c = *r.config;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    assert_string_equal(c.global.router_id.c_str(), host);
    assert_int_equal(c.global.smtp_connect_timeout.count(), 30);
    assert_int_equal(c.global.lvs_reconcile_interval.count(), 60000);  // vigil: IPVS repaired every minute
    const auto& in = c.vrrp_instances[0];
    assert_true(in.state == InitialState::Backup);
    assert_int_equal(in.priority, 100);
    assert_int_equal(in.version, 2);
    assert_int_equal(in.advert_int.count(), 100);
    assert_int_equal(in.garp_master_delay.count(), 5000);
    assert_int_equal(in.garp_master_repeat, 5);
    const auto& vs = c.virtual_servers[0];
    assert_int_equal(vs.delay_loop.count(), 60000);
    assert_string_equal(vs.scheduler.c_str(), "wlc");
    assert_true(vs.lb_kind == ForwardingMethod::Nat);
    assert_int_equal(vs.persistence_timeout->count(), 360);
    assert_int_equal(*vs.persistence_granularity, 16);
    assert_int_equal(vs.quorum, 1);
    const auto& ck = vs.real_servers[0].checkers;
    assert_int_equal(ck[0].connect_timeout.count(), 5000);
    assert_int_equal(ck[0].retry, 1);
    assert_int_equal(ck[0].delay_before_retry.count(), 1000);
    assert_int_equal(ck[1].retry, 1);
    assert_int_equal(ck[1].delay_before_retry.count(), 3000);  // HTTP_GET: 3 s
    assert_int_equal(ck[2].retry, 0);                           // MISC_CHECK: 0
    assert_int_equal(ck[2].misc->timeout.count(), 0);            // 0 = delay_loop
}

// Each case: config text and a substring the error list must contain (with
// the file:line it must name).
struct ErrorCase {
    const char* text;
    const char* expect;
};

#define INST_HEAD "vrrp_instance VI_1 {\n interface lo\n"
#define INST_VIP " virtual_ipaddress {\n 192.168.10.1\n }\n"
const ErrorCase kErrorCases[] = {
    // grammar
    {"global_defs {\n router_id A\n", "t.conf:1: missing '}'"},
    {"}\n", "t.conf:1: unexpected '}'"},
    {"{\n}\n", "t.conf:1: '{' without a keyword"},
    {"global_defs {\n router_id \"abc\n}\n", "t.conf:2: unterminated quoted string"},
    {"global_defs\n", "t.conf:1: 'global_defs' needs a { } block"},
    {"include\n", "t.conf:1: include takes exactly one"},
    {"include /nonexistent/vigil-test.conf\n", "t.conf:1: cannot open included file"},
    // unknown / unsupported keywords, with the enclosing block
    {"foo_bar {\n}\n", "t.conf:1: unknown keyword 'foo_bar' in the top level"},
    {"global_defs {\n\n foo 1\n}\n", "t.conf:3: unknown keyword 'foo' in global_defs"},
    {"global_defs {\n vrrp_strict\n}\n", "t.conf:2: keyword 'vrrp_strict' is not supported by vigil (in global_defs)"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " use_vmac\n}\n", "t.conf:7: keyword 'use_vmac' is not supported by vigil (in vrrp_instance VI_1)"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " frobnicate 2\n}\n", "t.conf:7: unknown keyword 'frobnicate' in vrrp_instance VI_1\n"},
    {INST_HEAD " virtual_router 1\n" INST_VIP "}\n", "t.conf:3: unknown keyword 'virtual_router' in vrrp_instance VI_1 (did you mean 'virtual_router_id'?)"},
    {INST_HEAD " virtual_router_id 1\n priorty 5\n" INST_VIP "}\n", "t.conf:4: unknown keyword 'priorty' in vrrp_instance VI_1 (did you mean 'priority'?)"},
    {"vrrp_instanse VI_1 {\n}\n", "t.conf:1: unknown keyword 'vrrp_instanse' in the top level (did you mean 'vrrp_instance'?)"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n TCP_CHECK {\n conect_timeout 3\n }\n }\n}\n",
     "t.conf:4: unknown keyword 'conect_timeout' in TCP_CHECK of real_server 192.168.10.2 80 of virtual_server 192.168.10.1 80 (did you mean 'connect_timeout'?)"},
    {"virtual_server_group G {\n 192.168.10.1 80\n}\nvirtual_server group G {\n real_server 192.168.10.2 {\n }\n}\n",
     "t.conf:5: real_server 192.168.10.2 has no port, which NAT needs, in virtual_server group G"},
    {"static_ipaddress {\n 1.2.3.4\n}\n", "t.conf:1: keyword 'static_ipaddress' is not supported by vigil (in the top level)"},
    {INST_HEAD " virtual_router_id 1\n authentication {\n auth_type AH\n }\n" INST_VIP "}\n", "t.conf:5: auth_type AH is not supported"},
    {INST_HEAD " virtual_router_id 1\n authentication {\n auth_kind PASS\n }\n" INST_VIP "}\n", "t.conf:5: unknown keyword 'auth_kind' in authentication of vrrp_instance VI_1"},
    // global_defs values
    {"global_defs {\n vrrp_version 4\n}\n", "t.conf:2: vrrp_version 4 out of range (2-3) in global_defs"},
    {"global_defs {\n smtp_server mail.example.com\n}\n", "t.conf:2: smtp_server 'mail.example.com' is not a valid IP address"},
    {"global_defs {\n smtp_connect_timeout abc\n}\n", "t.conf:2: smtp_connect_timeout 'abc' is not an integer in global_defs"},
    {"global_defs {\n router_id\n}\n", "t.conf:2: 'router_id' takes 1 argument, got 0 in global_defs"},
    {"global_defs {\n lvs_flush maybe\n}\n", "t.conf:2: lvs_flush 'maybe' is not one of on|off"},
    {"global_defs {\n lvs_reconcile_interval 100000\n}\n", "t.conf:2: lvs_reconcile_interval 100000 out of range (0-86400 s)"},
    {"global_defs {\n vrrp_garp_master_delay -1\n}\n", "t.conf:2: vrrp_garp_master_delay '-1' is not a time"},
    // vrrp_instance values
    {INST_HEAD " virtual_router_id 300\n" INST_VIP "}\n", "t.conf:3: virtual_router_id 300 out of range (1-255) in vrrp_instance VI_1"},
    {INST_HEAD " virtual_router_id 0\n" INST_VIP "}\n", "t.conf:3: virtual_router_id 0 out of range (1-255)"},
    {INST_HEAD " virtual_router_id 1\n priority 256\n" INST_VIP "}\n", "t.conf:4: priority 256 out of range (1-255) in vrrp_instance VI_1"},
    {INST_HEAD " virtual_router_id 1\n priority 0\n" INST_VIP "}\n", "t.conf:4: priority 0 out of range (1-255)"},
    {INST_HEAD " virtual_router_id 1\n state PRIMARY\n" INST_VIP "}\n", "t.conf:4: state 'PRIMARY' is not MASTER or BACKUP"},
    {INST_HEAD " virtual_router_id 1\n advert_int 0.5\n" INST_VIP "}\n", "t.conf:4: advert_int 0.5 out of range (1-255 whole seconds for VRRP version 2)"},
    {INST_HEAD " virtual_router_id 1\n version 3\n advert_int 41\n" INST_VIP "}\n", "t.conf:5: advert_int 41 out of range (0.01-40.95"},
    {INST_HEAD " virtual_router_id 1\n version 3\n advert_int 0.005\n" INST_VIP "}\n", "t.conf:5: advert_int 0.005 out of range"},
    {INST_HEAD " virtual_router_id 1\n version 5\n" INST_VIP "}\n", "t.conf:4: version 5 out of range (2-3)"},
    {INST_HEAD " virtual_router_id 1\n preempt_delay 1001\n" INST_VIP "}\n", "t.conf:4: preempt_delay 1001 out of range (0-1000)"},
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.300\n }\n}\n", "t.conf:5: virtual address '192.168.10.300' is not a valid IP address"},
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1/33\n }\n}\n", "t.conf:5: virtual address '192.168.10.1/33'"},
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1 dev\n }\n}\n", "t.conf:5: virtual address option 'dev' needs a value"},
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1 scope galaxy\n }\n}\n", "t.conf:5: scope 'galaxy' is not one of"},
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1 label eth0:a-very-long-label\n }\n}\n", "t.conf:5: label 'eth0:a-very-long-label' is longer than 15 characters"},
    {"vrrp_instance VI_1 {\n interface a-very-long-ifname0\n virtual_router_id 1\n" INST_VIP "}\n", "t.conf:2: interface name 'a-very-long-ifname0' is longer than 15 characters"},
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1 no_track\n }\n}\n", "t.conf:5: virtual address option 'no_track' is not supported by vigil"},
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1 brd 2001:db8::1\n }\n}\n", "t.conf:5: brd '2001:db8::1'"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " virtual_routes {\n 10.0.0.0/8 via 2001:db8::1\n }\n}\n", "t.conf:8: virtual route via '2001:db8::1'"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " virtual_routes {\n 10.0.0.0/8 flux 1\n }\n}\n", "t.conf:8: virtual route option 'flux'"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " unicast_src_ip 10.0.0.256\n}\n", "t.conf:7: unicast_src_ip '10.0.0.256' is not a valid IP address"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " unicast_peer {\n 10.0.0.1 min_ttl 1\n }\n}\n", "t.conf:8: unicast_peer entries are one address per line"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " unicast_peer {\n bogus\n }\n}\n", "t.conf:8: unicast peer 'bogus' is not a valid IP address"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " track_interface {\n eth0 weight 300\n }\n}\n", "t.conf:8: weight 300 out of range (-253-253)"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " track_script {\n chk weight 10 reverse\n }\n}\n", "t.conf:8: track_script entry takes"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " track_script {\n chk_missing\n }\n}\n", "t.conf:8: track_script chk_missing in vrrp_instance VI_1 names no vrrp_script"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " notify_master /bin/x root\n}\n", "t.conf:7: 'notify_master': a user/group per script is not supported"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " garp_master_repeat 0\n}\n", "t.conf:7: garp_master_repeat 0 out of range (1-1000)"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " nopreempt yes\n}\n", "t.conf:7: 'nopreempt' takes no arguments, got 1"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " virtual_ipaddress 10.0.0.1\n}\n", "t.conf:7: 'virtual_ipaddress' needs a { } block in vrrp_instance VI_1"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " priority 100 {\n }\n}\n", "t.conf:7: 'priority' does not take a { } block"},
    {"vrrp_instance VI_1 {\n virtual_router_id 1\n" INST_VIP "}\n", "t.conf:1: vrrp_instance VI_1 has no interface"},
    {INST_HEAD INST_VIP "}\n", "t.conf:1: vrrp_instance VI_1 has no virtual_router_id"},
    {INST_HEAD " virtual_router_id 1\n}\n", "t.conf:1: vrrp_instance VI_1 has no virtual_ipaddress"},
    {"vrrp_instance {\n}\n", "t.conf:1: 'vrrp_instance' takes one name"},
    {INST_HEAD " virtual_router_id 1\n authentication {\n auth_type PASS\n }\n" INST_VIP "}\n", "t.conf:1: auth_type PASS without auth_pass"},
    // cross-checks
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1\n 2001:db8::1\n }\n}\n", "t.conf:1: vrrp_instance VI_1 mixes IPv4 and IPv6"},
    {INST_HEAD " virtual_router_id 1\n virtual_ipaddress {\n 2001:db8::1\n }\n}\n", "t.conf:1: vrrp_instance VI_1 has IPv6 virtual addresses, which need version 3"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP " unicast_peer {\n 2001:db8::2\n }\n}\n", "unicast peer 2001:db8::2 is not of the virtual addresses' family"},
    {INST_HEAD " virtual_router_id 7\n" INST_VIP "}\n"
     "vrrp_instance VI_2 {\n interface lo\n virtual_router_id 7\n" INST_VIP "}\n",
     "t.conf:8: virtual_router_id 7 on lo is used by both vrrp_instance VI_1 (t.conf:1) and vrrp_instance VI_2"},
    {INST_HEAD " virtual_router_id 1\n" INST_VIP "}\n"
     "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 2\n" INST_VIP "}\n", "t.conf:8: duplicate vrrp_instance VI_1 (first at t.conf:1)"},
    {"vrrp_sync_group SG {\n group {\n VI_1\n VI_9\n }\n}\n" INST_HEAD " virtual_router_id 1\n" INST_VIP "}\n",
     "t.conf:4: vrrp_sync_group SG names vrrp_instance VI_9, which does not exist"},
    {"vrrp_sync_group A {\n group {\n VI_1\n }\n}\nvrrp_sync_group B {\n group {\n VI_1\n }\n}\n" INST_HEAD " virtual_router_id 1\n" INST_VIP "}\n",
     "t.conf:8: vrrp_instance VI_1 is in both vrrp_sync_group A and B"},
    {"vrrp_sync_group SG {\n}\n", "t.conf:1: vrrp_sync_group SG has no group"},
    {"vrrp_script chk {\n interval 1\n}\n", "t.conf:1: vrrp_script chk has no script"},
    {"vrrp_script chk {\n script /bin/true\n weight 300\n}\n", "t.conf:3: weight 300 out of range (-253-253) in vrrp_script chk"},
    {"vrrp_script chk {\n script /bin/true\n fall 0\n}\n", "t.conf:3: fall 0 out of range (1-1000)"},
    {INST_HEAD " virtual_router_id 1\n priority 255\n nopreempt\n" INST_VIP "}\n", "t.conf:1: nopreempt cannot apply to priority 255"},
    // virtual_server
    {"virtual_server 192.168.10.1 80 {\n lb_kind DR\n real_server 192.168.10.2 8080 {\n }\n}\n",
     "t.conf:3: real_server 192.168.10.2 port 8080 differs from port 80 of virtual_server 192.168.10.1 80, which DR cannot translate"},
    {"virtual_server 192.168.10.1 {\n}\n", "t.conf:1: virtual_server takes 'ADDR PORT', 'fwmark N' or 'group NAME'"},
    {"virtual_server 192.168.10.1 70000 {\n}\n", "t.conf:1: virtual_server 70000 out of range (0-65535)"},
    {"virtual_server 192.168.10.999 80 {\n}\n", "t.conf:1: virtual_server '192.168.10.999' is not a valid IP address"},
    {"virtual_server fwmark 0 {\n}\n", "t.conf:1: virtual_server 0 out of range (1-4294967295)"},
    {"virtual_server group NOPE {\n}\n", "t.conf:1: virtual_server group NOPE names no virtual_server_group"},
    {"virtual_server 192.168.10.1 80 {\n lb_algo fastest\n}\n", "t.conf:2: lb_algo 'fastest' is not a known IPVS scheduler in virtual_server 192.168.10.1 80"},
    {"virtual_server 192.168.10.1 80 {\n lb_kind FULLNAT\n}\n", "t.conf:2: lb_kind 'FULLNAT' is not NAT, DR or TUN"},
    {"virtual_server 192.168.10.1 80 {\n lvs_method TUN type gue port 6080\n}\n", "t.conf:2: tunnel options ('type') are not supported by vigil"},
    {"virtual_server 192.168.10.1 80 {\n protocol ICMP\n}\n", "t.conf:2: protocol 'ICMP' is not TCP, UDP or SCTP"},
    {"virtual_server 192.168.10.1 80 {\n delay_loop 0\n}\n", "t.conf:2: delay_loop 0 out of range (0.001-86400 s)"},
    {"virtual_server 192.168.10.1 80 {\n persistence_granularity 255.0.255.0\n}\n", "t.conf:2: persistence_granularity '255.0.255.0' is not a contiguous netmask"},
    {"virtual_server 192.168.10.1 80 {\n persistence_granularity 64\n}\n", "t.conf:2: persistence_granularity /64 is longer than an address"},
    {"virtual_server 192.168.10.1 80 {\n quorum 0\n}\n", "t.conf:2: quorum 0 out of range"},
    {"virtual_server 192.168.10.1 80 {\n ha_suspend\n}\n", "t.conf:2: keyword 'ha_suspend' is not supported by vigil (in virtual_server 192.168.10.1 80)"},
    {"virtual_server 192.168.10.1 0 {\n}\n", "t.conf:1: virtual_server 192.168.10.1 0: port 0 (all ports) needs persistence_timeout"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 {\n }\n}\n", "t.conf:2: real_server 192.168.10.2 has no port, which NAT needs"},
    {"virtual_server 192.168.10.1 80 {\n lb_kind DR\n real_server 2001:db8::2 80 {\n }\n}\n", "t.conf:3: real_server 2001:db8::2 is not of the family"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n weight 70000\n }\n}\n", "t.conf:3: weight 70000 out of range (0-65535) in real_server 192.168.10.2 80 of virtual_server 192.168.10.1 80"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n DNS_CHECK {\n }\n }\n}\n", "t.conf:3: keyword 'DNS_CHECK' is not supported by vigil"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n TCP_CHECK {\n connect_port 0\n }\n }\n}\n", "t.conf:4: connect_port 0 out of range (1-65535) in TCP_CHECK of real_server 192.168.10.2 80"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n TCP_CHECK {\n connect_timeout 0\n }\n }\n}\n", "t.conf:4: connect_timeout 0 out of range"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n TCP_CHECK {\n nb_get_retry -1\n }\n }\n}\n", "t.conf:4: nb_get_retry -1 out of range (0-1000)"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n TCP_CHECK {\n url {\n path /\n }\n }\n }\n}\n", "t.conf:4: unknown keyword 'url' in TCP_CHECK"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n HTTP_GET {\n }\n }\n}\n", "t.conf:3: HTTP_GET without a url"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n HTTP_GET {\n url {\n status_code 200\n }\n }\n }\n}\n", "t.conf:4: url without a path"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n HTTP_GET {\n url {\n path /\n status_code 999\n }\n }\n }\n}\n", "t.conf:6: status_code 999 out of range (100-599)"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n HTTP_GET {\n url {\n path /\n digest xyz\n }\n }\n }\n}\n", "t.conf:6: digest 'xyz' is not an MD5 digest"},
    {"virtual_server 192.168.10.1 80 {\n real_server 192.168.10.2 80 {\n MISC_CHECK {\n misc_timeout 3\n }\n }\n}\n", "t.conf:3: MISC_CHECK without misc_path"},
    {"virtual_server_group G {\n 192.168.10.5-2 80\n}\n", "t.conf:2: virtual_server_group range '192.168.10.5-2'"},
    {"virtual_server_group G {\n 192.168.10.5\n}\n", "t.conf:2: virtual_server_group entry takes"},
    {"virtual_server_group G {\n}\n", "t.conf:1: virtual_server_group G is empty"},
    {"virtual_server 192.168.10.1 80 {\n}\nvirtual_server 192.168.10.1 80 {\n}\n", "t.conf:3: duplicate virtual_server 192.168.10.1 80 (first at t.conf:1)"},
};

void test_error_table(void**) {
    int failures = 0;
    for (const auto& c : kErrorCases) {
        auto r = load_text(c.text, "t.conf");
        std::string errs = all_errors(r);
        if (r.ok() || errs.find(c.expect) == std::string::npos) {
            fprintf(stderr, "case failed: expected error containing\n  %s\ngot:\n%s(config:\n%s)\n", c.expect,
                    errs.empty() ? "  (no errors)\n" : errs.c_str(), c.text);
            ++failures;
        }
    }
    fprintf(stderr, "%zu error cases\n", sizeof kErrorCases / sizeof kErrorCases[0]);
    assert_int_equal(failures, 0);
}

// parse_decimal accepts and refuses exactly what std::from_chars does when the
// number must be the whole text, with the same error kinds.
void test_parse_decimal_matches_from_chars(void**) {
    auto check = [](const std::string& t) {
        int64_t ours = 0, ref = 0;
        std::errc got = parse_decimal(t, ours);
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), ref);
        std::errc want = ec;
        if (ec == std::errc() && p != t.data() + t.size()) want = std::errc::invalid_argument;
        if (ec == std::errc::result_out_of_range && p != t.data() + t.size()) want = std::errc::invalid_argument;
        if (got != want || (got == std::errc() && ours != ref))
            fail_msg("'%s': parse_decimal %d/%lld, from_chars %d/%lld", t.c_str(), static_cast<int>(got),
                     static_cast<long long>(ours), static_cast<int>(want), static_cast<long long>(ref));
    };
    for (const char* t : {"", "-", "0", "-0", "007", "80", "65535", "+1", " 1", "1 ", "1x", "--1", "9223372036854775807",
                          "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616",
                          "99999999999999999999x"})
        check(t);
    const char alphabet[] = "0123456789012345678901234567890123456789-x ";
    std::mt19937 rng(20261201);
    std::uniform_int_distribution<size_t> len(0, 22), pick(0, sizeof alphabet - 2);
    for (int i = 0; i < 100000; ++i) {
        std::string t(len(rng), ' ');
        for (auto& c : t) c = alphabet[pick(rng)];
        check(t);
    }
}

void test_all_errors_collected(void**) {
    auto r = load_text("global_defs {\n vrrp_version 9\n foo 1\n}\n" INST_HEAD " virtual_router_id 300\n priority 0\n" INST_VIP "}\n",
                       "t.conf");
    assert_false(r.ok());
    assert_int_equal(r.errors.size(), 4);
    assert_string_equal(r.errors[0].str().c_str(), "t.conf:2: vrrp_version 9 out of range (2-3) in global_defs");
    assert_string_equal(r.errors[1].str().c_str(), "t.conf:3: unknown keyword 'foo' in global_defs");
    assert_int_equal(r.errors[2].where.line, 7);
    assert_int_equal(r.errors[3].where.line, 8);

    // Cross-check errors (found after parsing) still come out in line order.
    auto x = load_text(INST_HEAD " virtual_router_id 7\n" INST_VIP "}\n"
                       "vrrp_instance VI_2 {\n interface lo\n virtual_router_id 7\n" INST_VIP " priority 0\n}\n",
                       "t.conf");
    assert_int_equal(x.errors.size(), 2);
    assert_int_equal(x.errors[0].where.line, 8);   // duplicate VRID, at VI_2
    assert_int_equal(x.errors[1].where.line, 14);  // priority 0

    // A virtual server listed three times: each later copy is named once, with
    // the first; the same address under another protocol is another service.
    auto d = load_text("virtual_server 10.0.0.1 80 {\n}\nvirtual_server 10.0.0.1 80 {\n protocol UDP\n}\n"
                       "virtual_server 10.0.0.1 80 {\n}\nvirtual_server 10.0.0.1 80 {\n}\n",
                       "t.conf");
    assert_int_equal(d.errors.size(), 2);
    assert_string_equal(d.errors[0].str().c_str(), "t.conf:6: duplicate virtual_server 10.0.0.1 80 (first at t.conf:1)");
    assert_string_equal(d.errors[1].str().c_str(), "t.conf:8: duplicate virtual_server 10.0.0.1 80 (first at t.conf:1)");
}

void test_warnings(void**) {
    auto r = load_text("vrrp_instance VI_1 {\n interface vigil-nx0\n virtual_router_id 1\n" INST_VIP "}\n", "t.conf");
    assert_true(r.ok());
    assert_int_equal(r.warnings.size(), 1);
    assert_string_equal(r.warnings[0].str().c_str(),
                        "t.conf:2: interface vigil-nx0 does not exist on this machine (vrrp_instance VI_1 stays in FAULT until it appears)");

    auto empty = load_text("# nothing but a comment\n", "t.conf");
    assert_true(empty.ok());
    assert_int_equal(empty.warnings.size(), 1);
    assert_non_null(strstr(empty.warnings[0].message.c_str(), "configuration is empty"));

    auto q = load_text("virtual_server 192.168.10.1 80 {\n quorum 5\n real_server 192.168.10.2 80 {\n weight 2\n }\n}\n", "t.conf");
    assert_true(q.ok());
    assert_int_equal(q.warnings.size(), 1);
    assert_non_null(strstr(q.warnings[0].str().c_str(), "t.conf:1: quorum 5 exceeds the total weight 2"));

    auto sh = load_text("virtual_server 192.168.10.1 80 {\n lb_algo rr\n sh-port\n}\n", "t.conf");
    assert_true(sh.ok());
    assert_int_equal(sh.warnings.size(), 1);
    assert_string_equal(sh.warnings[0].str().c_str(),
                        "t.conf:1: sh-port only applies to the sh scheduler, not rr, in virtual_server 192.168.10.1 80");
    auto pass = load_text(INST_HEAD " virtual_router_id 1\n authentication {\n auth_type PASS\n auth_pass 123456789\n }\n" INST_VIP "}\n",
                          "t.conf");
    assert_true(pass.ok());
    assert_string_equal(pass.config->vrrp_instances[0].auth_pass.c_str(), "12345678");
    assert_int_equal(pass.warnings.size(), 1);
    assert_int_equal(pass.warnings[0].where.line, 6);
}

void test_comments_quotes_continuation(void**) {
    auto r = must_load_text(
        "! a bang comment\n"
        "# a hash comment\n"
        "global_defs {   # trailing comment\n"
        "    router_id \"two words\"   ! trailing bang comment\n"
        "    notification_email_from 'single quoted # not a comment'\n"
        "    notification_email { a@example.com b@example.com }\n"
        "    smtp_server \\\n"
        "        192.168.10.5 \\\n"
        "        26\n"
        "    script_user \"tab\\there\" grp\n"
        "}\n"
        "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n"
        " authentication {\n  auth_type PASS\n  auth_pass pa!ss#1\n }\n"
        " virtual_ipaddress {\n 192.168.10.1\n }\n}\n");
    const auto& g = r.config->global;
    assert_string_equal(g.router_id.c_str(), "two words");
    assert_string_equal(g.notification_email_from.c_str(), "single quoted # not a comment");
    assert_int_equal(g.notification_email.size(), 2);
    assert_true(g.smtp_server == ip("192.168.10.5"));
    assert_int_equal(g.smtp_port, 26);
    assert_string_equal(g.script_user.c_str(), "tab\there");
    assert_string_equal(g.script_group.c_str(), "grp");
    // `!` and `#` inside a word do not start a comment.
    assert_string_equal(r.config->vrrp_instances[0].auth_pass.c_str(), "pa!ss#1");
    // Line numbers after a continuation still point at the right line.
    // A backslash stuck to the last word continues the line as well.
    auto glued = must_load_text("global_defs {\n smtp_server 192.168.10.5\\\n 27\n}\n");
    assert_true(glued.config->global.smtp_server == ip("192.168.10.5"));
    assert_int_equal(glued.config->global.smtp_port, 27);
    auto bad = load_text("global_defs {\n smtp_server \\\n 192.168.10.5 \\\n 26\n vrrp_version 7\n}\n", "t.conf");
    assert_false(bad.ok());
    assert_string_equal(bad.errors[0].str().c_str(), "t.conf:5: vrrp_version 7 out of range (2-3) in global_defs");
    // The end of the text: a last word with no newline after it, a last
    // backslash, and a NUL byte inside a word (part of the word, not its end).
    auto last_word = must_load_text("global_defs {\n router_id end\n}\nglobal_defs { router_id last }");
    assert_string_equal(last_word.config->global.router_id.c_str(), "last");
    auto last_backslash = load_text("global_defs {\n router_id x\n}\\", "t.conf");
    assert_true(last_backslash.ok());
    auto with_nul = must_load_text(std::string("global_defs {\n router_id a\0b\n}\n", 31));
    assert_int_equal(with_nul.config->global.router_id.size(), 3);
    assert_memory_equal(with_nul.config->global.router_id.data(), "a\0b", 3);
}

void test_includes(void**) {
    auto r = must_load_file(fixture("inc/main.conf"));
    const Config& c = *r.config;
    assert_string_equal(c.global.router_id.c_str(), "INC");
    assert_int_equal(c.vrrp_instances.size(), 2);  // from the glob, in sorted order
    assert_string_equal(c.vrrp_instances[0].name.c_str(), "VI_1");
    assert_string_equal(c.vrrp_instances[1].name.c_str(), "VI_2");
    assert_int_equal(c.vrrp_instances[1].vips.size(), 2);  // include inside a block, relative path
    assert_string_equal(c.vrrp_instances[1].where.file_name().c_str(), fixture("inc/conf.d/20-vi2.conf").c_str());
    assert_int_equal(c.vrrp_instances[1].where.line, 1);

    auto cyc = load_file(fixture("inc/cycle/a.conf"));
    assert_false(cyc.ok());
    assert_int_equal(cyc.errors.size(), 1);
    assert_non_null(strstr(cyc.errors[0].str().c_str(), "b.conf:1: include cycle: "));

    auto miss = load_file(fixture("inc/missing.conf"));
    assert_false(miss.ok());
    assert_non_null(strstr(miss.errors[0].str().c_str(), "missing.conf:1: cannot open included file"));

    auto none = load_file(fixture("does-not-exist.conf"));
    assert_false(none.ok());
    assert_string_equal(none.errors[0].str().c_str(),
                        (fixture("does-not-exist.conf") + ": cannot open '" + fixture("does-not-exist.conf") +
                         "': No such file or directory").c_str());

    auto dir = load_file(CONFIG_FIXTURES);
    assert_false(dir.ok());
    assert_non_null(strstr(dir.errors[0].str().c_str(), "it is a directory"));

    // Text loaded under a file's name that includes that same file.
    auto self = load_text("include a.conf\n", fixture("inc/cycle/a.conf"));
    assert_false(self.ok());
    assert_non_null(strstr(self.errors[0].str().c_str(), "include cycle: "));

    // load_text resolves relative includes against the name's directory.
    auto txt = load_text("include global.conf\n" + std::string(kMinimalInstance), fixture("inc/virtual.conf"));
    assert_true(txt.ok());
    assert_string_equal(txt.config->global.router_id.c_str(), "INC");
    // An include on the last line, with no newline after it.
    auto last = load_text(std::string(kMinimalInstance) + "include global.conf", fixture("inc/virtual.conf"));
    assert_true(last.ok());
    assert_string_equal(last.config->global.router_id.c_str(), "INC");
}

// Replaces every `from` in `text` with `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// The reader takes one top-level statement at a time from a lexer that runs
// a few hundred tokens ahead: the same statements make the same model however
// they are laid out (the next top-level keyword right after a '}' on the same
// line, each '{' on a line of its own), in a run of many small statements and
// in one statement of thousands of tokens; stray braces between statements
// are reported at their line.
void test_statement_layouts(void**) {
    std::string text;
    for (int i = 0; i < 300; ++i) text += "vrrp_script s" + std::to_string(i) + " {\n script \"/bin/true\"\n interval 2\n}\n";
    text += "virtual_server 192.168.10.1 80 {\n lb_algo rr\n";
    for (int i = 0; i < 400; ++i)
        text += " real_server 192.168." + std::to_string(11 + i / 200) + "." + std::to_string(i % 200 + 1) +
                " 80 {\n weight " + std::to_string(i % 7) + "\n TCP_CHECK {\n connect_timeout 3\n }\n }\n";
    text += "}\n" + std::string(kMinimalInstance);
    auto ref = must_load_text(text);
    assert_int_equal(ref.config->vrrp_scripts.size(), 300);
    assert_int_equal(ref.config->virtual_servers.at(0).real_servers.size(), 400);
    assert_int_equal(ref.config->virtual_servers[0].real_servers[399].weight, 399 % 7);
    std::string joined = text;
    for (const char* kw : {"vrrp_script", "virtual_server", "vrrp_instance"})
        joined = replace_all(joined, std::string("}\n") + kw, std::string("} ") + kw);
    assert_true(joined.find("} vrrp_script s299 {") != std::string::npos);
    std::string open_alone = replace_all(text, " {\n", "\n{\n");
    for (const std::string& variant : {joined, open_alone}) {
        auto r = must_load_text(variant);
        assert_true(*r.config == *ref.config);
    }

    auto stray = load_text("vrrp_script a {\n script /bin/true\n}\n}\nvrrp_script b {\n script /bin/true\n} } { x }\n", "t.conf");
    assert_false(stray.ok());
    assert_string_equal(all_errors(stray).c_str(),
                        "t.conf:4: unexpected '}' with no open block\n"
                        "t.conf:7: unexpected '}' with no open block\n"
                        "t.conf:7: '{' without a keyword before it\n");
}

void test_etc_examples(void**) {
    for (int n = 1; n <= 2; ++n) {
        std::string path = std::string(ETC_DIR) + "/lvs-dr-director" + std::to_string(n) + ".conf";
        auto r = must_load_file(path);
        const Config& c = *r.config;
        for (const auto& w : r.warnings) assert_non_null(strstr(w.message.c_str(), "interface ens33 does not exist"));
        assert_string_equal(c.global.router_id.c_str(), n == 1 ? "LVS_01" : "LVS_02");
        assert_true(c.global.smtp_server == ip("127.0.0.1"));
        assert_int_equal(c.global.smtp_connect_timeout.count(), 30);
        const auto& in = c.vrrp_instances.at(0);
        assert_true(in.state == (n == 1 ? InitialState::Master : InitialState::Backup));
        assert_int_equal(in.priority, n == 1 ? 100 : 99);
        assert_string_equal(in.interface.c_str(), "ens33");
        assert_int_equal(in.vrid, 51);
        assert_true(in.auth_type == AuthType::Pass);
        assert_string_equal(in.auth_pass.c_str(), "1111");
        const auto& vs = c.virtual_servers.at(0);
        assert_int_equal(vs.delay_loop.count(), 6000);
        assert_string_equal(vs.scheduler.c_str(), "rr");
        assert_true(vs.lb_kind == ForwardingMethod::Dr);
        assert_int_equal(vs.persistence_timeout->count(), 50);
        assert_int_equal(vs.real_servers.size(), 2);
        for (const auto& rs : vs.real_servers) {
            assert_int_equal(rs.weight, 1);
            const auto& k = rs.checkers.at(0);
            assert_true(k.type == CheckerType::Tcp);
            assert_int_equal(*k.connect_port, 80);
            assert_int_equal(k.connect_timeout.count(), 3000);
            assert_int_equal(k.retry, 3);  // nb_get_retry
            assert_int_equal(k.delay_before_retry.count(), 3000);
        }
    }
}

void test_dump_round_trip(void**) {
    const std::string files[] = {fixture("full.conf"), fixture("basic.conf"), fixture("inc/main.conf"),
                                 std::string(ETC_DIR) + "/lvs-dr-director1.conf", std::string(ETC_DIR) + "/lvs-dr-director2.conf"};
    for (const auto& f : files) {
        auto r = must_load_file(f);
        std::string text = dump(*r.config);
        auto again = load_text(text, "dump.conf");
        if (!again.ok()) fail_msg("%s: dump does not re-parse:\n%s\n%s", f.c_str(), all_errors(again).c_str(), text.c_str());
        assert_true(*again.config == *r.config);
        // Normalised: dumping again gives the same text.
        assert_string_equal(dump(*again.config).c_str(), text.c_str());
    }
    // A model differing in one field must not compare equal after the trip.
    auto a = must_load_file(fixture("full.conf"));
    Config changed = *a.config;
    changed.virtual_servers[0].real_servers[0].checkers[0].retry = 9;
    auto b = load_text(dump(changed), "dump.conf");
    assert_true(b.ok());
    assert_false(*b.config == *a.config);
    assert_true(*b.config == changed);
}

// HTTP_GET / MISC_CHECK settings live out of line (OutOfLine): a copied model
// is still a deep, independent copy, and equality still compares the values.
void test_checker_settings_value_semantics(void**) {
    auto r = load_text("virtual_server 192.168.10.1 80 {\n"
                       " real_server 192.168.10.2 80 {\n"
                       "  HTTP_GET {\n   url {\n    path /health\n   }\n   virtualhost www.example.com\n  }\n"
                       "  MISC_CHECK {\n   misc_path /bin/true\n   misc_dynamic\n  }\n"
                       "  TCP_CHECK {\n  }\n"
                       " }\n}\n",
                       "t.conf");
    assert_true(r.ok());
    Config copy = *r.config;
    assert_true(copy == *r.config);
    auto& ck = copy.virtual_servers[0].real_servers[0].checkers;
    const auto& orig = r.config->virtual_servers[0].real_servers[0].checkers;
    assert_ptr_not_equal(&*ck[0].http, &*orig[0].http);  // not shared
    ck[1].misc.edit().path = "/bin/false";
    assert_string_equal(orig[1].misc->path.c_str(), "/bin/true");
    assert_false(copy == *r.config);
    ck[1].misc.edit().path = "/bin/true";
    assert_true(copy == *r.config);
    ck[0].http.edit().urls[0].path = "/other";
    assert_false(copy == *r.config);
    // Unset reads as the defaults, and equals settings written back to them.
    assert_true(orig[2].http->urls.empty());
    assert_false(orig[2].misc->dynamic);
    Checker tcp = orig[2];
    tcp.misc.edit().dynamic = false;
    assert_true(tcp == orig[2]);
    tcp.misc.edit().dynamic = true;
    assert_false(tcp == orig[2]);
}

// Core sends each child its part on reload: the part re-parses to the model
// with the other part's sections empty, and same_part tells the parts apart.
void test_dump_parts(void**) {
    auto full = must_load_file(fixture("full.conf"));
    const Config& c = *full.config;
    assert_true(!c.vrrp_instances.empty() && !c.virtual_servers.empty() && !c.vs_groups.empty());
    Config vrrp_only = c, check_only = c;
    vrrp_only.vs_groups.clear();
    vrrp_only.virtual_servers.clear();
    check_only.vrrp_scripts.clear();
    check_only.sync_groups.clear();
    check_only.vrrp_instances.clear();
    auto v = load_text(dump(c, ConfigPart::Vrrp), "vrrp.conf");
    auto k = load_text(dump(c, ConfigPart::Check), "check.conf");
    if (!v.ok() || !k.ok()) fail_msg("a part does not re-parse:\n%s%s", all_errors(v).c_str(), all_errors(k).c_str());
    assert_true(*v.config == vrrp_only);
    assert_true(*k.config == check_only);

    Config weight = c;
    weight.virtual_servers[0].real_servers[0].weight += 1;
    assert_true(same_part(c, weight, ConfigPart::Vrrp));
    assert_false(same_part(c, weight, ConfigPart::Check));
    assert_false(same_part(c, weight, ConfigPart::All));
    Config priority = c;
    priority.vrrp_instances[0].priority -= 1;
    assert_false(same_part(c, priority, ConfigPart::Vrrp));
    assert_true(same_part(c, priority, ConfigPart::Check));
    Config global = c;
    global.global.lvs_reconcile_interval += std::chrono::seconds(1);
    assert_false(same_part(c, global, ConfigPart::Check));
    assert_false(same_part(c, global, ConfigPart::Vrrp));
    assert_true(same_part(c, c, ConfigPart::All));
}

// Malformed input never crashes and never yields a config together with
// errors: truncations and byte mutations of a full config (fixed seed, a
// bounded number of cases), plus hand-picked edge cases.
void test_malformed_input(void**) {
    FILE* f = fopen(fixture("full.conf").c_str(), "rb");
    assert_non_null(f);
    std::string base;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) base.append(chunk, n);
    fclose(f);
    const char* edge[] = {"", "{", "}", "\\", "\"", "'", "a \\", "global_defs {\\", "include", "include \"\"\n",
                          "vrrp_instance", "vrrp_instance X {", "virtual_server", "virtual_server fwmark {\n}\n",
                          "global_defs { router_id \"\\x\" }", "global_defs { router_id \"\\c\" }", "\"\\777\"",
                          "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n HTTP_GET {\n url {\n"};
    for (const char* e : edge) {
        auto r = load_text(e, "edge.conf");
        assert_true(r.ok() != !r.errors.empty());
    }
    uint32_t seed = 12345;
    auto rnd = [&](uint32_t mod) {
        seed = seed * 1103515245u + 12345u;
        return (seed >> 8) % mod;
    };
    const char noise[] = "{}\"'\\#!/ \n0a.-:";
    int ok = 0, failed = 0;
    for (int i = 0; i < 400; ++i) {
        std::string t = base;
        if (i % 4 == 0) {
            t.resize(rnd(static_cast<uint32_t>(t.size())));
        } else {
            for (int m = 0; m < 1 + i % 5; ++m) {
                size_t pos = rnd(static_cast<uint32_t>(t.size()));
                switch (rnd(3)) {
                case 0: t.erase(pos, 1 + rnd(8)); break;
                case 1: t.insert(pos, 1, noise[rnd(sizeof noise - 1)]); break;
                default: t[pos] = noise[rnd(sizeof noise - 1)];
                }
            }
        }
        auto r = load_text(t, "mutated.conf");
        assert_true(r.ok() != !r.errors.empty());
        if (r.ok()) {
            // Whatever loads must also survive its own dump.
            auto again = load_text(dump(*r.config), "dump.conf");
            assert_true(again.ok());
            assert_true(*again.config == *r.config);
            ++ok;
        } else {
            for (const auto& e : r.errors) assert_true(e.where.line >= 0 && !e.message.empty());
            ++failed;
        }
    }
    fprintf(stderr, "mutations: %d loaded, %d rejected\n", ok, failed);
    assert_true(failed > 0);
}

// 100 virtual servers x 100 real servers with HTTP checks (~1.2 MB). Prints
// the time; never asserts it (machine load varies).
void test_large_config_time(void**) {
    std::string text = "global_defs {\n    router_id BIG\n}\n";
    text.reserve(1'400'000);
    char buf[512];
    for (int v = 0; v < 100; ++v) {
        snprintf(buf, sizeof buf,
                 "virtual_server 192.168.%d.%d 80 {\n    delay_loop 6\n    lb_algo wrr\n    lb_kind NAT\n"
                 "    persistence_timeout 50\n    protocol TCP\n",
                 v / 200, v % 200 + 1);
        text += buf;
        for (int r = 0; r < 100; ++r) {
            snprintf(buf, sizeof buf,
                     "    real_server 10.%d.%d.%d 8080 {\n        weight %d\n        TCP_CHECK {\n"
                     "            connect_port 8080\n            connect_timeout 3\n        }\n    }\n",
                     v, r / 250, r % 250 + 1, r % 10 + 1);
            text += buf;
        }
        text += "}\n";
    }
    // CPU time as well as wall time: the machine running the suite is often
    // shared, and wall time then mostly measures the neighbours.
    auto cpu_ms = [] {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
    };
    double c0 = cpu_ms();
    auto t0 = std::chrono::steady_clock::now();
    auto r = load_text(text, "big.conf");
    auto t1 = std::chrono::steady_clock::now();
    double c1 = cpu_ms();
    assert_true(r.ok());
    assert_int_equal(r.config->virtual_servers.size(), 100);
    assert_int_equal(r.config->virtual_servers[99].real_servers.size(), 100);
    auto t2 = std::chrono::steady_clock::now();
    std::string d = dump(*r.config);
    auto t3 = std::chrono::steady_clock::now();
    fprintf(stderr, "large config: %.2f MB, 100 x 100 servers: load %.1f ms wall (%.1f ms CPU), dump %.1f ms\n",
            text.size() / 1e6, std::chrono::duration<double, std::milli>(t1 - t0).count(), c1 - c0,
            std::chrono::duration<double, std::milli>(t3 - t2).count());
}

// smtp_alert in vrrp_instance / vrrp_sync_group defaults to global_defs'
// smtp_alert_vrrp, else smtp_alert, else off (keepalived.conf(5)); an
// explicit value in the block wins. Alerts that cannot be sent say so.
void test_smtp_alert_defaults(void**) {
    const std::string mail = " notification_email {\n ops@example.com\n }\n smtp_server 192.168.10.25\n";
    const std::string group = "vrrp_sync_group VG_1 {\n group {\n VI_1\n VI_2\n }\n}\n";
    const std::string two =
        "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n virtual_ipaddress {\n 192.168.10.1\n }\n}\n"
        "vrrp_instance VI_2 {\n interface lo\n virtual_router_id 2\n smtp_alert no\n"
        " virtual_ipaddress {\n 192.168.10.2\n }\n}\n";
    auto off = must_load_text("global_defs {\n" + mail + "}\n" + group + two);
    assert_false(off.config->vrrp_instances[0].smtp_alert);
    assert_false(off.config->sync_groups[0].smtp_alert);
    assert_int_equal(off.warnings.size(), 0);

    auto on = must_load_text(group + two + "global_defs {\n" + mail + " smtp_alert\n}\n");  // order does not matter
    assert_true(on.config->vrrp_instances[0].smtp_alert);
    assert_false(on.config->vrrp_instances[1].smtp_alert);  // explicit "no" wins
    assert_true(on.config->sync_groups[0].smtp_alert);
    assert_int_equal(on.warnings.size(), 0);

    auto vrrp_wins = must_load_text("global_defs {\n" + mail + " smtp_alert yes\n smtp_alert_vrrp no\n}\n" + group + two);
    assert_false(vrrp_wins.config->vrrp_instances[0].smtp_alert);
    assert_false(vrrp_wins.config->sync_groups[0].smtp_alert);
    auto group_explicit = must_load_text("global_defs {\n" + mail + " smtp_alert_vrrp\n}\n" +
                                         "vrrp_sync_group VG_1 {\n group {\n VI_1\n VI_2\n }\n smtp_alert off\n}\n" + two);
    assert_true(group_explicit.config->vrrp_instances[0].smtp_alert);
    assert_false(group_explicit.config->sync_groups[0].smtp_alert);

    // helo name and no_email_faults are read, and everything survives a dump.
    auto full = must_load_text("global_defs {\n" + mail +
                               " smtp_helo_name lvs1.example.com\n smtp_alert\n smtp_alert_vrrp yes\n no_email_faults\n}\n" +
                               group + two);
    const auto& g = full.config->global;
    assert_string_equal(g.smtp_helo_name.c_str(), "lvs1.example.com");
    assert_true(g.no_email_faults);
    assert_true(g.smtp_alert.value_or(false) && g.smtp_alert_vrrp.value_or(false));
    auto again = must_load_text(dump(*full.config));
    assert_true(*again.config == *full.config);
    assert_true(*must_load_text(dump(*on.config)).config == *on.config);

    // On, but nowhere to send: one warning at the first block that has it.
    auto nowhere = load_text("global_defs {\n smtp_alert\n}\n" + group + two, "t.conf");
    assert_true(nowhere.ok());
    assert_int_equal(nowhere.warnings.size(), 1);
    assert_string_equal(nowhere.warnings[0].str().c_str(),
                        "t.conf:10: smtp_alert is on in vrrp_instance VI_1 (and 1 more), but no mail is sent without "
                        "notification_email in global_defs");
    auto no_relay = load_text("global_defs {\n notification_email {\n ops@example.com\n }\n}\n" + two, "t.conf");
    assert_int_equal(no_relay.warnings.size(), 0);  // nobody asked for mail
    auto no_relay_on = load_text("global_defs {\n notification_email {\n ops@example.com\n }\n}\n" +
                                 std::string("vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n smtp_alert\n"
                                             " virtual_ipaddress {\n 192.168.10.1\n }\n}\n"),
                                 "t.conf");
    assert_int_equal(no_relay_on.warnings.size(), 1);
    assert_non_null(strstr(no_relay_on.warnings[0].message.c_str(), "without smtp_server in global_defs"));
    // Checker alerts stay unsupported: an error, not a silently ignored line.
    auto checker = load_text("global_defs {\n smtp_alert_checker\n}\n" + two, "t.conf");
    assert_false(checker.ok());
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_keyword),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_parse_decimal_matches_from_chars),
        cmocka_unit_test(test_all_errors_collected),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_comments_quotes_continuation),
        cmocka_unit_test(test_includes),
        cmocka_unit_test(test_statement_layouts),
        cmocka_unit_test(test_etc_examples),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_checker_settings_value_semantics),
        cmocka_unit_test(test_dump_parts),
        cmocka_unit_test(test_malformed_input),
        cmocka_unit_test(test_large_config_time),
        cmocka_unit_test(test_smtp_alert_defaults),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
