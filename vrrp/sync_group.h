// vrrp_sync_group: instances that must hold mastership together (e.g. the
// outside VIP and the inside gateway VIP of an LVS-NAT director). Pure: fed
// each member's Transition, returns the events to hand to the OTHER members.
//
// Rules (keepalived's sync group behaviour):
//  - a member entering Fault for its own reason (interface, tracking) puts
//    the whole group in fault: every other member gets
//    SyncGroupFaultChanged{true}, so a Master leaves Master (stop advert, VIPs
//    removed) and a Backup stops competing;
//  - when no member has a fault of its own any more, every other member gets
//    SyncGroupFaultChanged{false} and they return to Backup together;
//  - a member becoming Master pulls the others (not in fault) to Master;
//  - a member leaving Master for Backup pushes the others to Backup.
// Transitions the group itself caused (reasons SyncGroup*) are not
// propagated again, so one change produces one round of commands, no loop.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "vrrp/instance.h"

namespace vigil::vrrp {

struct GroupCommand {
    size_t member = 0;   // index into the member list given to the constructor
    Event event;
};

class SyncGroup {
public:
    SyncGroup(std::string name, size_t member_count);

    // `member` made `transition`; returns events for the other members, in
    // member order. The caller hands each to that member's Instance::handle()
    // and feeds the resulting Transition actions back here.
    std::vector<GroupCommand> on_transition(size_t member, const Transition& transition);

    const std::string& name() const { return name_; }
    bool in_fault() const;           // some member has a fault of its own
    State member_state(size_t member) const { return states_.at(member); }

private:
    std::string name_;
    std::vector<State> states_;
    std::vector<bool> own_fault_;
};

}  // namespace vigil::vrrp
