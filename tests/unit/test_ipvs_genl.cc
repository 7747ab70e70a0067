// IPVS generic netlink encoding: encode a change to bytes, read the bytes back
// with libmnl's own attribute walker (independent of our parser) and with our
// parser, and compare.

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

#include <array>
#include <cstring>
#include <vector>

#include "ipvs/genl.h"

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

constexpr uint16_t kFamily = 0x1d;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// Finds attribute `type` directly inside `nest` (or the message top level),
// walking with libmnl's primitives (its for_each macros are C-only).
const nlattr* find_in_range(const void* start, int len, uint16_t type) {
    const nlattr* found = nullptr;
    for (auto* a = static_cast<const nlattr*>(start); mnl_attr_ok(a, len); a = mnl_attr_next(a)) {
        len -= static_cast<int>(MNL_ALIGN(a->nla_len));
        if (mnl_attr_get_type(a) == type) found = a;
    }
    return found;
}
const nlattr* find_in(const nlattr* nest, uint16_t type) {
    return find_in_range(mnl_attr_get_payload(nest), static_cast<int>(mnl_attr_get_payload_len(nest)), type);
}
const nlattr* find_top(const nlmsghdr* nlh, uint16_t type) {
    return find_in_range(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)),
                         static_cast<int>(mnl_nlmsg_get_payload_len(nlh) - sizeof(genlmsghdr)), type);
}

struct Buf {
    std::array<char, genl::kMaxChangeMessage> bytes{};
};

void add_service_bytes(void**) {
    Buf b;
    ServiceAttrs attrs;
    attrs.scheduler = "wrr";
    attrs.flags = IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED;  // HASHED must not be sent
    attrs.timeout_s = 300;
    attrs.netmask_prefix = 24;
    Change c{ChangeKind::AddService, ServiceKey::tcp(ip("192.0.2.10"), 80), attrs, {}, {}};
    nlmsghdr* nlh = genl::encode_change(b.bytes.data(), kFamily, 42, NLM_F_ACK, c);

    assert_int_equal(nlh->nlmsg_type, kFamily);
    assert_int_equal(nlh->nlmsg_seq, 42);
    assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
    const auto* g = static_cast<const genlmsghdr*>(mnl_nlmsg_get_payload(nlh));
    assert_int_equal(g->cmd, IPVS_CMD_NEW_SERVICE);
    assert_int_equal(g->version, IPVS_GENL_VERSION);

    const nlattr* svc = find_top(nlh, IPVS_CMD_ATTR_SERVICE);
    assert_non_null(svc);
    assert_int_equal(mnl_attr_get_u16(find_in(svc, IPVS_SVC_ATTR_AF)), AF_INET);
    assert_int_equal(mnl_attr_get_u16(find_in(svc, IPVS_SVC_ATTR_PROTOCOL)), IPPROTO_TCP);
    // Port in network order: 80 is bytes 00 50.
    const auto* port = static_cast<const uint8_t*>(mnl_attr_get_payload(find_in(svc, IPVS_SVC_ATTR_PORT)));
    assert_int_equal(port[0], 0x00);
    assert_int_equal(port[1], 0x50);
    // Address: 16 bytes (union nf_inet_addr), v4 in the first four.
    const nlattr* addr = find_in(svc, IPVS_SVC_ATTR_ADDR);
    assert_int_equal(mnl_attr_get_payload_len(addr), 16);
    const auto* a = static_cast<const uint8_t*>(mnl_attr_get_payload(addr));
    assert_int_equal(a[0], 192);
    assert_int_equal(a[3], 10);
    assert_int_equal(a[4], 0);
    assert_string_equal(mnl_attr_get_str(find_in(svc, IPVS_SVC_ATTR_SCHED_NAME)), "wrr");
    ip_vs_flags f;
    std::memcpy(&f, mnl_attr_get_payload(find_in(svc, IPVS_SVC_ATTR_FLAGS)), sizeof f);
    assert_int_equal(f.flags, IP_VS_SVC_F_PERSISTENT);
    assert_int_equal(f.mask & IP_VS_SVC_F_HASHED, 0);
    assert_int_equal(mnl_attr_get_u32(find_in(svc, IPVS_SVC_ATTR_TIMEOUT)), 300);
    // v4 netmask in network order: /24 is 255.255.255.0.
    assert_int_equal(mnl_attr_get_u32(find_in(svc, IPVS_SVC_ATTR_NETMASK)), htonl(0xffffff00u));
    // A delete carries only the key.
    Buf d;
    Change del{ChangeKind::DelService, c.service, {}, {}, {}};
    nlh = genl::encode_change(d.bytes.data(), kFamily, 43, 0, del);
    svc = find_top(nlh, IPVS_CMD_ATTR_SERVICE);
    assert_null(find_in(svc, IPVS_SVC_ATTR_SCHED_NAME));
    assert_null(find_top(nlh, IPVS_CMD_ATTR_DEST));
}

void v6_netmask_is_a_prefix_length(void**) {
    Buf b;
    ServiceAttrs attrs;
    attrs.netmask_prefix = 64;
    Change c{ChangeKind::EditService, ServiceKey::udp(ip("2001:db8::1"), 53), attrs, {}, {}};
    nlmsghdr* nlh = genl::encode_change(b.bytes.data(), kFamily, 1, 0, c);
    const nlattr* svc = find_top(nlh, IPVS_CMD_ATTR_SERVICE);
    assert_int_equal(mnl_attr_get_u32(find_in(svc, IPVS_SVC_ATTR_NETMASK)), 64);
    // Unset granularity on v6 is /128, as ipvsadm sends.
    attrs.netmask_prefix = -1;
    c.service_attrs = attrs;
    nlh = genl::encode_change(b.bytes.data(), kFamily, 1, 0, c);
    svc = find_top(nlh, IPVS_CMD_ATTR_SERVICE);
    assert_int_equal(mnl_attr_get_u32(find_in(svc, IPVS_SVC_ATTR_NETMASK)), 128);
}

void dest_bytes(void**) {
    Buf b;
    DestAttrs d;
    d.forward = Forward::Dr;
    d.weight = 5;
    d.u_threshold = 1000;
    d.l_threshold = 10;
    Change c{ChangeKind::EditDest, ServiceKey::mark(7), {}, {ip("10.0.1.1"), 0}, d};
    nlmsghdr* nlh = genl::encode_change(b.bytes.data(), kFamily, 9, 0, c);
    const auto* g = static_cast<const genlmsghdr*>(mnl_nlmsg_get_payload(nlh));
    assert_int_equal(g->cmd, IPVS_CMD_SET_DEST);
    const nlattr* svc = find_top(nlh, IPVS_CMD_ATTR_SERVICE);
    assert_int_equal(mnl_attr_get_u32(find_in(svc, IPVS_SVC_ATTR_FWMARK)), 7);
    assert_null(find_in(svc, IPVS_SVC_ATTR_PORT));
    const nlattr* dest = find_top(nlh, IPVS_CMD_ATTR_DEST);
    assert_non_null(dest);
    assert_int_equal(mnl_attr_get_u32(find_in(dest, IPVS_DEST_ATTR_FWD_METHOD)), IP_VS_CONN_F_DROUTE);
    assert_int_equal(mnl_attr_get_u32(find_in(dest, IPVS_DEST_ATTR_WEIGHT)), 5);
    assert_int_equal(mnl_attr_get_u32(find_in(dest, IPVS_DEST_ATTR_U_THRESH)), 1000);
    assert_int_equal(mnl_attr_get_u32(find_in(dest, IPVS_DEST_ATTR_L_THRESH)), 10);
    assert_int_equal(mnl_attr_get_u16(find_in(dest, IPVS_DEST_ATTR_ADDR_FAMILY)), AF_INET);
    assert_null(find_in(dest, IPVS_DEST_ATTR_TUN_TYPE));  // not a tunnel
}

// Every kind, v4 and v6, round-trips through bytes to an equal Change.
void round_trip_every_kind(void**) {
    ServiceAttrs sa;
    sa.scheduler = "mh";
    sa.flags = kSvcFlagMhPort | kSvcFlagMhFallback | IP_VS_SVC_F_PERSISTENT;
    sa.timeout_s = 1800;
    sa.netmask_prefix = 16;
    DestAttrs tun;
    tun.forward = Forward::Tun;
    tun.weight = 100;
    tun.tun_type = TunnelType::Gue;
    tun.tun_port = 6080;
    tun.tun_flags = IP_VS_TUNNEL_ENCAP_FLAG_CSUM;
    DestAttrs nat;
    nat.weight = 0;
    const std::vector<Change> changes{
        {ChangeKind::AddService, ServiceKey::tcp(ip("192.0.2.1"), 443), sa, {}, {}},
        {ChangeKind::EditService, ServiceKey::sctp(ip("2001:db8::5"), 3868), sa, {}, {}},
        {ChangeKind::DelService, ServiceKey::mark(1234, AF_INET6), {}, {}, {}},
        {ChangeKind::AddDest, ServiceKey::tcp(ip("192.0.2.1"), 443), {}, {ip("10.1.1.1"), 443}, tun},
        {ChangeKind::AddDest, ServiceKey::tcp(ip("2001:db8::5"), 443), {}, {ip("10.1.1.2"), 443}, tun},
        {ChangeKind::EditDest, ServiceKey::udp(ip("2001:db8::5"), 53), {}, {ip("2001:db8:1::9"), 5353}, nat},
        {ChangeKind::DelDest, ServiceKey::mark(5), {}, {ip("10.1.1.3"), 0}, {}},
    };
    for (const auto& c : changes) {
        Buf b;
        nlmsghdr* nlh = genl::encode_change(b.bytes.data(), kFamily, 77, 0, c);
        assert_true(nlh->nlmsg_len <= genl::kMaxChangeMessage);
        auto back = genl::decode_change(nlh);
        assert_true(back.has_value());
        if (!(*back == c)) fail_msg("round trip changed: %s -> %s", c.str().c_str(), back->str().c_str());
    }
}

void biggest_message_fits(void**) {
    ServiceAttrs sa;
    sa.scheduler = std::string(IP_VS_SCHEDNAME_MAXLEN - 1, 'x');
    sa.pe_name = std::string(IP_VS_PENAME_MAXLEN - 1, 'y');
    Buf b;
    Change c{ChangeKind::AddService, ServiceKey::tcp(ip("2001:db8::1"), 1), sa, {}, {}};
    assert_true(genl::encode_change(b.bytes.data(), kFamily, 1, 0, c)->nlmsg_len <= genl::kMaxChangeMessage);
    DestAttrs tun;
    tun.forward = Forward::Tun;
    c = {ChangeKind::AddDest, ServiceKey::tcp(ip("2001:db8::1"), 1), {}, {ip("2001:db8::2"), 1}, tun};
    assert_true(genl::encode_change(b.bytes.data(), kFamily, 1, 0, c)->nlmsg_len <= genl::kMaxChangeMessage);
}

// Malformed input from the kernel is rejected, never read past its end.
void malformed_replies_are_rejected(void**) {
    Buf b;
    nlmsghdr* nlh = genl::encode_dump_services(b.bytes.data(), kFamily, 1);
    // A service nest with no AF.
    nlattr* nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_SERVICE);
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PROTOCOL, IPPROTO_TCP);
    mnl_attr_nest_end(nlh, nest);
    assert_false(genl::parse_message(nlh).has_value());

    // A v6 service whose address is only 4 bytes long.
    nlh = genl::encode_dump_services(b.bytes.data(), kFamily, 1);
    nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_SERVICE);
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_AF, AF_INET6);
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PROTOCOL, IPPROTO_TCP);
    mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_ADDR, 0x01020304);
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PORT, htons(80));
    mnl_attr_nest_end(nlh, nest);
    assert_false(genl::parse_message(nlh).has_value());

    // A nest whose length runs past the message: mnl refuses it.
    nlh = genl::encode_dump_services(b.bytes.data(), kFamily, 1);
    nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_SERVICE);
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_AF, AF_INET);
    mnl_attr_nest_end(nlh, nest);
    nest->nla_len = 200;
    assert_false(genl::parse_message(nlh).has_value());

    // A message too short for the genetlink header.
    nlmsghdr* tiny = mnl_nlmsg_put_header(b.bytes.data());
    assert_false(genl::parse_message(tiny).has_value());
}

// The kernel's dump spelling: flags with HASHED, full netmask, stats nests we
// ignore, tunnel attributes on non-tunnel destinations.
void dump_reply_is_normalised(void**) {
    Buf b;
    nlmsghdr* nlh = genl::encode_dump_services(b.bytes.data(), kFamily, 1);
    nlattr* nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_SERVICE);
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_AF, AF_INET);
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PROTOCOL, IPPROTO_TCP);
    std::array<uint8_t, 16> addr{10, 0, 0, 1};
    mnl_attr_put(nlh, IPVS_SVC_ATTR_ADDR, addr.size(), addr.data());
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PORT, htons(80));
    mnl_attr_put_strz(nlh, IPVS_SVC_ATTR_SCHED_NAME, "wlc");
    ip_vs_flags f{IP_VS_SVC_F_HASHED, ~0u};
    mnl_attr_put(nlh, IPVS_SVC_ATTR_FLAGS, sizeof f, &f);
    mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_TIMEOUT, 0);
    mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_NETMASK, 0xffffffffu);
    nlattr* stats = mnl_attr_nest_start(nlh, IPVS_SVC_ATTR_STATS);
    mnl_attr_put_u32(nlh, IPVS_STATS_ATTR_CONNS, 12);
    mnl_attr_nest_end(nlh, stats);
    mnl_attr_nest_end(nlh, nest);
    auto m = genl::parse_message(nlh);
    assert_true(m && m->service);
    assert_true(m->service->first == ServiceKey::tcp(ip("10.0.0.1"), 80));
    assert_true(m->service->second == ServiceAttrs{});  // wlc, no flags, default netmask

    nlh = genl::encode_dump_services(b.bytes.data(), kFamily, 1);
    nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_DEST);
    std::array<uint8_t, 16> daddr{10, 0, 1, 1};
    mnl_attr_put(nlh, IPVS_DEST_ATTR_ADDR, daddr.size(), daddr.data());
    mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_PORT, htons(8080));
    mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_DROUTE);
    mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_WEIGHT, 3);
    mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_U_THRESH, 0);
    mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_L_THRESH, 0);
    mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_ACTIVE_CONNS, 5);
    mnl_attr_put_u8(nlh, IPVS_DEST_ATTR_TUN_TYPE, 2);
    mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_TUN_PORT, htons(1));
    mnl_attr_nest_end(nlh, nest);
    m = genl::parse_message(nlh, AF_INET);
    assert_true(m && m->dest);
    assert_true(m->dest->first == (DestKey{ip("10.0.1.1"), 8080}));
    DestAttrs want;
    want.forward = Forward::Dr;
    want.weight = 3;
    assert_true(m->dest->second == want);
}

void family_resolution(void**) {
    Buf b;
    nlmsghdr* nlh = genl::encode_resolve_family(b.bytes.data(), 5, IPVS_GENL_NAME);
    assert_int_equal(nlh->nlmsg_type, GENL_ID_CTRL);
    assert_string_equal(mnl_attr_get_str(find_top(nlh, CTRL_ATTR_FAMILY_NAME)), "IPVS");
    // A controller reply carrying the id.
    Buf r;
    nlmsghdr* reply = mnl_nlmsg_put_header(r.bytes.data());
    reply->nlmsg_type = GENL_ID_CTRL;
    auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(reply, sizeof(genlmsghdr)));
    g->cmd = CTRL_CMD_NEWFAMILY;
    mnl_attr_put_strz(reply, CTRL_ATTR_FAMILY_NAME, "IPVS");
    mnl_attr_put_u16(reply, CTRL_ATTR_FAMILY_ID, 33);
    auto id = genl::parse_family_id(reply);
    assert_true(id.has_value());
    assert_int_equal(*id, 33);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_service_bytes),
        cmocka_unit_test(v6_netmask_is_a_prefix_length),
        cmocka_unit_test(dest_bytes),
        cmocka_unit_test(round_trip_every_kind),
        cmocka_unit_test(biggest_message_fits),
        cmocka_unit_test(malformed_replies_are_rejected),
        cmocka_unit_test(dump_reply_is_normalised),
        cmocka_unit_test(family_resolution),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
