// IPVS generic netlink encoding and parsing (see genl.h for the layout).
#include "ipvs/genl.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

#include <array>
#include <cstring>

namespace vigil::ipvs::genl {

namespace {

nlmsghdr* put_header(void* buf, uint16_t type, uint32_t seq, uint16_t flags, uint8_t cmd, uint8_t version) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    nlh->nlmsg_seq = seq;
    auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
    g->cmd = cmd;
    g->version = version;
    return nlh;
}

nlmsghdr* put_ipvs_header(void* buf, uint16_t family_id, uint32_t seq, uint16_t flags, uint8_t cmd) {
    return put_header(buf, family_id, seq, flags, cmd, IPVS_GENL_VERSION);
}

// The kernel copies addresses into a 16-byte union nf_inet_addr; send all 16.
void put_addr(nlmsghdr* nlh, uint16_t type, const IpAddress& a) {
    std::array<uint8_t, 16> raw{};
    std::memcpy(raw.data(), a.bytes(), a.size());
    mnl_attr_put(nlh, type, raw.size(), raw.data());
}

uint32_t v4_netmask_be(int prefix) {
    uint32_t host = prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
    return htonl(host);
}

int v4_prefix_from_be(uint32_t be) {
    uint32_t host = ntohl(be);
    int len = 0;
    while (len < 32 && (host & (0x80000000u >> len))) ++len;
    return len;
}

void put_service_nest(nlmsghdr* nlh, const ServiceKey& key, const ServiceAttrs* attrs) {
    nlattr* nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_SERVICE);
    mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_AF, static_cast<uint16_t>(key.family));
    if (key.is_fwmark()) {
        mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_FWMARK, key.fwmark);
    } else {
        mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PROTOCOL, key.protocol);
        put_addr(nlh, IPVS_SVC_ATTR_ADDR, key.addr);
        mnl_attr_put_u16(nlh, IPVS_SVC_ATTR_PORT, htons(key.port));
    }
    if (attrs) {
        mnl_attr_put_strz(nlh, IPVS_SVC_ATTR_SCHED_NAME, attrs->scheduler.c_str());
        if (!attrs->pe_name.empty()) mnl_attr_put_strz(nlh, IPVS_SVC_ATTR_PE_NAME, attrs->pe_name.c_str());
        // The mask says which bits we set: all the settable ones, so an edit
        // also clears a flag that is no longer configured.
        ip_vs_flags flags{attrs->flags & kSvcFlagsSettable, kSvcFlagsSettable};
        mnl_attr_put(nlh, IPVS_SVC_ATTR_FLAGS, sizeof(flags), &flags);
        mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_TIMEOUT, attrs->timeout_s);
        const int prefix = attrs->prefix_for(key.family);
        mnl_attr_put_u32(nlh, IPVS_SVC_ATTR_NETMASK,
                         key.family == AF_INET6 ? static_cast<uint32_t>(prefix) : v4_netmask_be(prefix));
    }
    mnl_attr_nest_end(nlh, nest);
}

void put_dest_nest(nlmsghdr* nlh, const DestKey& key, const DestAttrs* attrs) {
    nlattr* nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_DEST);
    put_addr(nlh, IPVS_DEST_ATTR_ADDR, key.addr);
    mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_PORT, htons(key.port));
    mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_ADDR_FAMILY, static_cast<uint16_t>(key.addr.family()));
    if (attrs) {
        mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_FWD_METHOD, static_cast<uint32_t>(attrs->forward));
        mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_WEIGHT, static_cast<uint32_t>(attrs->weight));
        mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_U_THRESH, attrs->u_threshold);
        mnl_attr_put_u32(nlh, IPVS_DEST_ATTR_L_THRESH, attrs->l_threshold);
        // Only tunnels have tunnel attributes; older kernels do not know them.
        if (attrs->forward == Forward::Tun) {
            mnl_attr_put_u8(nlh, IPVS_DEST_ATTR_TUN_TYPE, static_cast<uint8_t>(attrs->tun_type));
            mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_TUN_PORT, htons(attrs->tun_port));
            mnl_attr_put_u16(nlh, IPVS_DEST_ATTR_TUN_FLAGS, attrs->tun_flags);
        }
    }
    mnl_attr_nest_end(nlh, nest);
}

uint8_t command_of(ChangeKind k) {
    switch (k) {
        case ChangeKind::AddService: return IPVS_CMD_NEW_SERVICE;
        case ChangeKind::EditService: return IPVS_CMD_SET_SERVICE;
        case ChangeKind::DelService: return IPVS_CMD_DEL_SERVICE;
        case ChangeKind::AddDest: return IPVS_CMD_NEW_DEST;
        case ChangeKind::EditDest: return IPVS_CMD_SET_DEST;
        case ChangeKind::DelDest: return IPVS_CMD_DEL_DEST;
    }
    return IPVS_CMD_UNSPEC;
}

// Attributes of one level, one slot per type up to N; unknown (newer) types
// are ignored, as the kernel's policy would. fill() walks with libmnl's
// bounds checks and fails when bytes are left over that do not form a whole
// attribute (a length running past its container): such input is malformed,
// not merely shorter.
template <size_t N>
struct AttrTable {
    std::array<const nlattr*, N + 1> at{};
    bool fill(const void* start, size_t size) {
        int len = static_cast<int>(size);
        const auto* a = static_cast<const nlattr*>(start);
        for (; mnl_attr_ok(a, len); a = mnl_attr_next(a)) {
            len -= static_cast<int>(MNL_ALIGN(a->nla_len));
            uint16_t type = mnl_attr_get_type(a);
            if (type <= N) at[type] = a;
        }
        return len < static_cast<int>(sizeof(nlattr));
    }
    bool fill_nested(const nlattr* nest) { return fill(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest)); }
    bool fill_message(const nlmsghdr* nlh) {
        return fill(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)),
                    mnl_nlmsg_get_payload_len(nlh) - sizeof(genlmsghdr));
    }
    const nlattr* operator[](size_t i) const { return at[i]; }
};

bool valid(const nlattr* a, mnl_attr_data_type type) { return a && mnl_attr_validate(a, type) >= 0; }
bool valid_len(const nlattr* a, size_t min_len) { return a && mnl_attr_get_payload_len(a) >= min_len; }

std::optional<IpAddress> get_addr(const nlattr* a, int family) {
    if (family == AF_INET && valid_len(a, 4)) {
        in_addr v4;
        std::memcpy(&v4, mnl_attr_get_payload(a), 4);
        return IpAddress::v4(v4);
    }
    if (family == AF_INET6 && valid_len(a, 16)) {
        in6_addr v6;
        std::memcpy(&v6, mnl_attr_get_payload(a), 16);
        return IpAddress::v6(v6);
    }
    return std::nullopt;
}

// A NUL-terminated or bare string attribute, bounded by its payload.
std::string get_string(const nlattr* a) {
    const char* p = static_cast<const char*>(mnl_attr_get_payload(a));
    size_t len = mnl_attr_get_payload_len(a);
    return std::string(p, strnlen(p, len));
}

}  // namespace

nlmsghdr* encode_change(void* buf, uint16_t family_id, uint32_t seq, uint16_t flags, const Change& change) {
    nlmsghdr* nlh = put_ipvs_header(buf, family_id, seq, flags, command_of(change.kind));
    switch (change.kind) {
        case ChangeKind::AddService:
        case ChangeKind::EditService: put_service_nest(nlh, change.service, &*change.service_attrs); break;
        case ChangeKind::DelService: put_service_nest(nlh, change.service, nullptr); break;
        case ChangeKind::AddDest:
        case ChangeKind::EditDest:
            put_service_nest(nlh, change.service, nullptr);
            put_dest_nest(nlh, change.dest, &change.dest_attrs);
            break;
        case ChangeKind::DelDest:
            put_service_nest(nlh, change.service, nullptr);
            put_dest_nest(nlh, change.dest, nullptr);
            break;
    }
    return nlh;
}

nlmsghdr* encode_dump_services(void* buf, uint16_t family_id, uint32_t seq) {
    return put_ipvs_header(buf, family_id, seq, NLM_F_DUMP, IPVS_CMD_GET_SERVICE);
}

nlmsghdr* encode_dump_dests(void* buf, uint16_t family_id, uint32_t seq, const ServiceKey& service) {
    nlmsghdr* nlh = put_ipvs_header(buf, family_id, seq, NLM_F_DUMP, IPVS_CMD_GET_DEST);
    put_service_nest(nlh, service, nullptr);
    return nlh;
}

nlmsghdr* encode_get_info(void* buf, uint16_t family_id, uint32_t seq) {
    return put_ipvs_header(buf, family_id, seq, 0, IPVS_CMD_GET_INFO);
}

nlmsghdr* encode_flush(void* buf, uint16_t family_id, uint32_t seq, uint16_t flags) {
    return put_ipvs_header(buf, family_id, seq, flags, IPVS_CMD_FLUSH);
}

nlmsghdr* encode_resolve_family(void* buf, uint32_t seq, const char* name) {
    nlmsghdr* nlh = put_header(buf, GENL_ID_CTRL, seq, 0, CTRL_CMD_GETFAMILY, 1);
    mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, name);
    return nlh;
}

std::optional<uint16_t> parse_family_id(const nlmsghdr* nlh) {
    if (nlh->nlmsg_type != GENL_ID_CTRL || mnl_nlmsg_get_payload_len(nlh) < sizeof(genlmsghdr))
        return std::nullopt;
    AttrTable<CTRL_ATTR_MAX> tb;
    if (!tb.fill_message(nlh)) return std::nullopt;
    if (!valid(tb[CTRL_ATTR_FAMILY_ID], MNL_TYPE_U16)) return std::nullopt;
    return mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
}

std::optional<std::pair<ServiceKey, ServiceAttrs>> parse_service(const nlattr* nest) {
    AttrTable<IPVS_SVC_ATTR_MAX> tb;
    if (!tb.fill_nested(nest)) return std::nullopt;
    if (!valid(tb[IPVS_SVC_ATTR_AF], MNL_TYPE_U16)) return std::nullopt;
    ServiceKey key;
    key.family = mnl_attr_get_u16(tb[IPVS_SVC_ATTR_AF]);
    if (key.family != AF_INET && key.family != AF_INET6) return std::nullopt;
    if (valid(tb[IPVS_SVC_ATTR_FWMARK], MNL_TYPE_U32) && mnl_attr_get_u32(tb[IPVS_SVC_ATTR_FWMARK]) != 0) {
        key.fwmark = mnl_attr_get_u32(tb[IPVS_SVC_ATTR_FWMARK]);
    } else {
        if (!valid(tb[IPVS_SVC_ATTR_PROTOCOL], MNL_TYPE_U16) || !valid(tb[IPVS_SVC_ATTR_PORT], MNL_TYPE_U16))
            return std::nullopt;
        auto addr = get_addr(tb[IPVS_SVC_ATTR_ADDR], key.family);
        if (!addr) return std::nullopt;
        key.protocol = mnl_attr_get_u16(tb[IPVS_SVC_ATTR_PROTOCOL]);
        key.addr = *addr;
        key.port = ntohs(mnl_attr_get_u16(tb[IPVS_SVC_ATTR_PORT]));
    }
    ServiceAttrs attrs;
    if (tb[IPVS_SVC_ATTR_SCHED_NAME]) attrs.scheduler = get_string(tb[IPVS_SVC_ATTR_SCHED_NAME]);
    if (tb[IPVS_SVC_ATTR_PE_NAME]) attrs.pe_name = get_string(tb[IPVS_SVC_ATTR_PE_NAME]);
    if (valid_len(tb[IPVS_SVC_ATTR_FLAGS], sizeof(ip_vs_flags))) {
        ip_vs_flags f;
        std::memcpy(&f, mnl_attr_get_payload(tb[IPVS_SVC_ATTR_FLAGS]), sizeof f);
        attrs.flags = f.flags & kSvcFlagsSettable;
    }
    if (valid(tb[IPVS_SVC_ATTR_TIMEOUT], MNL_TYPE_U32)) attrs.timeout_s = mnl_attr_get_u32(tb[IPVS_SVC_ATTR_TIMEOUT]);
    if (valid(tb[IPVS_SVC_ATTR_NETMASK], MNL_TYPE_U32)) {
        uint32_t raw = mnl_attr_get_u32(tb[IPVS_SVC_ATTR_NETMASK]);
        attrs.netmask_prefix = key.family == AF_INET6 ? static_cast<int>(raw) : v4_prefix_from_be(raw);
        // Normalise the full length to "unset" so both spellings compare equal.
        if (attrs.netmask_prefix == (key.family == AF_INET6 ? 128 : 32)) attrs.netmask_prefix = -1;
    }
    return std::make_pair(key, attrs);
}

std::optional<std::pair<DestKey, DestAttrs>> parse_dest(const nlattr* nest, int service_family) {
    AttrTable<IPVS_DEST_ATTR_MAX> tb;
    if (!tb.fill_nested(nest)) return std::nullopt;
    int family = service_family;
    if (valid(tb[IPVS_DEST_ATTR_ADDR_FAMILY], MNL_TYPE_U16)) family = mnl_attr_get_u16(tb[IPVS_DEST_ATTR_ADDR_FAMILY]);
    auto addr = get_addr(tb[IPVS_DEST_ATTR_ADDR], family);
    if (!addr || !valid(tb[IPVS_DEST_ATTR_PORT], MNL_TYPE_U16)) return std::nullopt;
    DestKey key{*addr, ntohs(mnl_attr_get_u16(tb[IPVS_DEST_ATTR_PORT]))};
    DestAttrs attrs;
    if (valid(tb[IPVS_DEST_ATTR_FWD_METHOD], MNL_TYPE_U32))
        attrs.forward = static_cast<Forward>(mnl_attr_get_u32(tb[IPVS_DEST_ATTR_FWD_METHOD]) & IP_VS_CONN_F_FWD_MASK);
    if (valid(tb[IPVS_DEST_ATTR_WEIGHT], MNL_TYPE_U32))
        attrs.weight = static_cast<int32_t>(mnl_attr_get_u32(tb[IPVS_DEST_ATTR_WEIGHT]));
    if (valid(tb[IPVS_DEST_ATTR_U_THRESH], MNL_TYPE_U32)) attrs.u_threshold = mnl_attr_get_u32(tb[IPVS_DEST_ATTR_U_THRESH]);
    if (valid(tb[IPVS_DEST_ATTR_L_THRESH], MNL_TYPE_U32)) attrs.l_threshold = mnl_attr_get_u32(tb[IPVS_DEST_ATTR_L_THRESH]);
    // The kernel reports tunnel attributes for every destination; they only
    // mean something for tunnels, so keep the others at their defaults.
    if (attrs.forward == Forward::Tun) {
        if (valid(tb[IPVS_DEST_ATTR_TUN_TYPE], MNL_TYPE_U8))
            attrs.tun_type = static_cast<TunnelType>(mnl_attr_get_u8(tb[IPVS_DEST_ATTR_TUN_TYPE]));
        if (valid(tb[IPVS_DEST_ATTR_TUN_PORT], MNL_TYPE_U16)) attrs.tun_port = ntohs(mnl_attr_get_u16(tb[IPVS_DEST_ATTR_TUN_PORT]));
        if (valid(tb[IPVS_DEST_ATTR_TUN_FLAGS], MNL_TYPE_U16)) attrs.tun_flags = mnl_attr_get_u16(tb[IPVS_DEST_ATTR_TUN_FLAGS]);
    }
    return std::make_pair(key, attrs);
}

std::optional<ParsedMessage> parse_message(const nlmsghdr* nlh, int dest_family) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(genlmsghdr)) return std::nullopt;
    const auto* g = static_cast<const genlmsghdr*>(mnl_nlmsg_get_payload(nlh));
    ParsedMessage out;
    out.cmd = g->cmd;
    AttrTable<IPVS_CMD_ATTR_MAX> tb;
    if (out.cmd == IPVS_CMD_SET_INFO || out.cmd == IPVS_CMD_GET_INFO) {
        AttrTable<IPVS_INFO_ATTR_MAX> info;
        if (!info.fill_message(nlh)) return std::nullopt;
        if (valid(info[IPVS_INFO_ATTR_VERSION], MNL_TYPE_U32))
            out.info_version = mnl_attr_get_u32(info[IPVS_INFO_ATTR_VERSION]);
        return out;
    }
    if (!tb.fill_message(nlh)) return std::nullopt;
    if (tb[IPVS_CMD_ATTR_SERVICE]) {
        out.service = parse_service(tb[IPVS_CMD_ATTR_SERVICE]);
        if (!out.service) return std::nullopt;
    }
    if (tb[IPVS_CMD_ATTR_DEST]) {
        out.dest = parse_dest(tb[IPVS_CMD_ATTR_DEST], out.service ? out.service->first.family : dest_family);
        if (!out.dest) return std::nullopt;
    }
    return out;
}

std::optional<Change> decode_change(const nlmsghdr* nlh) {
    auto m = parse_message(nlh);
    if (!m || !m->service) return std::nullopt;
    Change c{};
    c.service = m->service->first;
    switch (m->cmd) {
        case IPVS_CMD_NEW_SERVICE: c.kind = ChangeKind::AddService; break;
        case IPVS_CMD_SET_SERVICE: c.kind = ChangeKind::EditService; break;
        case IPVS_CMD_DEL_SERVICE: c.kind = ChangeKind::DelService; break;
        case IPVS_CMD_NEW_DEST: c.kind = ChangeKind::AddDest; break;
        case IPVS_CMD_SET_DEST: c.kind = ChangeKind::EditDest; break;
        case IPVS_CMD_DEL_DEST: c.kind = ChangeKind::DelDest; break;
        default: return std::nullopt;
    }
    if (c.kind == ChangeKind::AddService || c.kind == ChangeKind::EditService) c.service_attrs = m->service->second;
    const bool is_dest = c.kind == ChangeKind::AddDest || c.kind == ChangeKind::EditDest || c.kind == ChangeKind::DelDest;
    if (is_dest) {
        if (!m->dest) return std::nullopt;
        c.dest = m->dest->first;
        if (c.kind != ChangeKind::DelDest) c.dest_attrs = m->dest->second;
    }
    return c;
}

}  // namespace vigil::ipvs::genl
