// IPVS generic netlink messages (IPVS_GENL_NAME "IPVS", version IPVS_GENL_VERSION):
// encoding a Change into one message and parsing the kernel's service and
// destination attributes back into the model. Pure byte work on caller
// buffers, with libmnl; the socket lives in kernel.h.
//
// Attribute layout is the kernel's (net/netfilter/ipvs/ip_vs_ctl.c,
// ip_vs_genl_parse_service / ip_vs_genl_parse_dest):
//  - a service is IPVS_CMD_ATTR_SERVICE { AF, FWMARK | (PROTOCOL, ADDR, PORT),
//    and for add/edit SCHED_NAME, FLAGS {flags, mask}, TIMEOUT, NETMASK [, PE_NAME] };
//  - a destination message carries the service key plus IPVS_CMD_ATTR_DEST
//    { ADDR, PORT, and for add/edit FWD_METHOD, WEIGHT, U_THRESH, L_THRESH,
//    ADDR_FAMILY [, TUN_*] }.
// Addresses are 16 bytes (union nf_inet_addr), ports network order, the v4
// netmask network order, the v6 "netmask" a prefix length.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "ipvs/model.h"

namespace vigil::ipvs::genl {

// Upper bound of one encoded change message (header + both nests + names);
// a batch buffer with this much room left always fits one more message.
inline constexpr size_t kMaxChangeMessage = 512;

// Writes the message for `change` at `buf` (at least kMaxChangeMessage bytes)
// and returns its header; nlmsg_len is its length. `flags` is added to
// NLM_F_REQUEST (e.g. NLM_F_ACK).
nlmsghdr* encode_change(void* buf, uint16_t family_id, uint32_t seq, uint16_t flags, const Change& change);

// Requests without a Change: dump all services; dump the destinations of one
// service; GET_INFO; FLUSH. Same buffer contract as encode_change.
nlmsghdr* encode_dump_services(void* buf, uint16_t family_id, uint32_t seq);
nlmsghdr* encode_dump_dests(void* buf, uint16_t family_id, uint32_t seq, const ServiceKey& service);
nlmsghdr* encode_get_info(void* buf, uint16_t family_id, uint32_t seq);
nlmsghdr* encode_flush(void* buf, uint16_t family_id, uint32_t seq, uint16_t flags);

// The generic netlink controller request resolving a family name to its id.
nlmsghdr* encode_resolve_family(void* buf, uint32_t seq, const char* name);
// The family id in a CTRL_CMD_NEWFAMILY reply, or nullopt.
std::optional<uint16_t> parse_family_id(const nlmsghdr* nlh);

// Parsers for the nested attributes of a kernel reply. nullopt when a required
// attribute is missing or malformed (the caller counts and skips it).
std::optional<std::pair<ServiceKey, ServiceAttrs>> parse_service(const nlattr* nest);
std::optional<std::pair<DestKey, DestAttrs>> parse_dest(const nlattr* nest, int service_family);

// A whole IPVS message: its command's service / dest nests. Used to read dump
// replies and, in tests, to check what encode_change wrote.
struct ParsedMessage {
    uint8_t cmd = 0;
    std::optional<std::pair<ServiceKey, ServiceAttrs>> service;
    std::optional<std::pair<DestKey, DestAttrs>> dest;
    std::optional<uint32_t> info_version;  // GET_INFO reply
};
// `dest_family`: the family of a destination address when the message does
// not say (kernels before IPVS_DEST_ATTR_ADDR_FAMILY; dest dumps carry no service).
std::optional<ParsedMessage> parse_message(const nlmsghdr* nlh, int dest_family = AF_INET);

// The inverse of encode_change, for tests and for fakes: nullopt when the
// message is not a change.
std::optional<Change> decode_change(const nlmsghdr* nlh);

}  // namespace vigil::ipvs::genl
