// vrrp_sync_group: instances that must hold mastership together (e.g. the
// outside VIP and the inside gateway VIP of an LVS-NAT director). Pure: after
// any event of a member, it looks at that member's transitions and at every
// member's own fault status, and returns the events to hand to members.
//
// Rules (keepalived's sync group behaviour):
//  - while any member has a fault of its own (interface down, tracked item
//    failed), the whole group is in fault: every member gets
//    SyncGroupFaultChanged{true} once, so a Master leaves Master (stop advert,
//    VIPs removed) and a Backup stops competing; when the last own fault
//    clears, every member gets SyncGroupFaultChanged{false} and they return
//    to Backup together. The fault is a LEVEL read from Instance::own_fault(),
//    so a member whose interface fails while it is already in group fault is
//    still noticed;
//  - a member becoming Master pulls the other Backups to Master;
//  - a member leaving Master for Backup pushes the other Masters to Backup.
// Transitions the group itself caused (reasons SyncGroup*) are not
// propagated again, so one change produces one round of commands, no loop.
//
// Driving it: after every handle() of a member instance i,
//     for (cmd : group.after_event(i, actions)) -> members[cmd.member].handle(cmd.event)
// and pass THOSE actions to after_event(cmd.member, ...) too (they converge:
// a second round produces no commands).
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
    // The instances must outlive the group (both live in the vrrp child's
    // instance table for the life of a config).
    SyncGroup(std::string name, std::vector<const Instance*> members);
    // Without the instances: member states and own faults are inferred from
    // the transitions fed to on_transition() alone. Works for every case
    // except one: a member already in group fault whose own interface or
    // tracking then fails makes no transition, so the group cannot see it
    // and may clear the fault too early. A member with a fault of its own is
    // then not held by the group flag (it leaves Fault first; its transition
    // clears the group). Prefer the constructor above with after_event().
    SyncGroup(std::string name, size_t member_count);

    // `actions` are what members[member].handle() just returned.
    std::vector<GroupCommand> after_event(size_t member, const std::vector<Action>& actions);

    // One transition of one member (after_event calls it for each
    // Transition action): fault level first, then Master/Backup propagation.
    std::vector<GroupCommand> on_transition(size_t member, const Transition& transition);

    const std::string& name() const { return name_; }
    bool in_fault() const { return group_fault_; }   // as last announced to members
    size_t size() const { return members_.size(); }

private:
    std::vector<GroupCommand> fault_commands_if_changed();
    State state_of(size_t member) const;

    std::string name_;
    std::vector<const Instance*> members_;   // null entries: size-only constructor
    std::vector<State> states_;              // mirror from transitions
    std::vector<bool> own_fault_;            // from Instance::own_fault(), else inferred
    bool group_fault_ = false;
};

}  // namespace vigil::vrrp
