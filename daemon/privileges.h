// Capability dropping for the children (DESIGN.md: "each child keeps only the
// privileges it needs"). Core keeps its own: it forks the children and, when
// the vrrp child is lost for good, sends priority 0 itself.
#pragma once

#include <string>
#include <vector>

namespace vigil::privileges {

// CAP_* numbers (linux/capability.h).
using CapList = std::vector<int>;

// The vrrp child: raw VRRP and ARP/NA sockets (CAP_NET_RAW), addresses and
// routes over rtnetlink (CAP_NET_ADMIN), notify and track scripts run as
// script_user (CAP_SETUID, CAP_SETGID) and killed on timeout or stop even
// when they run as that other user (CAP_KILL).
CapList vrrp_child_capabilities();
// The check child: IPVS over generic netlink and a forced socket buffer
// (CAP_NET_ADMIN); MISC_CHECK and notify scripts as script_user and their
// timeout kills (CAP_SETUID, CAP_SETGID, CAP_KILL). Its TCP and HTTP checks
// use ordinary sockets, so no CAP_NET_RAW.
CapList check_child_capabilities();

// Reduces this process to `keep`: permitted and effective sets hold `keep`
// (those of it the process has), inheritable and ambient are emptied, and
// every other capability leaves the bounding set too, so neither this process
// nor a program it executes as root (a script) can get one back. Without
// CAP_SETPCAP the bounding set stays as it is (said in *note).
bool keep_only(const CapList& keep, std::string* error, std::string* note = nullptr);

// "cap_kill,cap_net_admin=ep" (libcap's text form of the current sets).
std::string describe_current();

}  // namespace vigil::privileges
