#include "vrrp/sync_group.h"

#include <algorithm>

namespace vigil::vrrp {

SyncGroup::SyncGroup(std::string name, std::vector<const Instance*> members)
    : name_(std::move(name)),
      members_(std::move(members)),
      states_(members_.size(), State::Initialize),
      own_fault_(members_.size(), false)
{
}

SyncGroup::SyncGroup(std::string name, size_t member_count)
    : SyncGroup(std::move(name), std::vector<const Instance*>(member_count, nullptr))
{
}

State SyncGroup::state_of(size_t member) const
{
    return members_[member] ? members_[member]->state() : states_[member];
}

std::vector<GroupCommand> SyncGroup::fault_commands_if_changed()
{
    std::vector<GroupCommand> out;
    const bool fault_now = std::find(own_fault_.begin(), own_fault_.end(), true) != own_fault_.end();
    if (fault_now == group_fault_) return out;
    group_fault_ = fault_now;
    // Every member, the faulty one included: its group flag keeps it in
    // Fault until the whole group clears, so members leave Fault together.
    // Without the instances (size-only constructor) the group learns that a
    // fault cleared only from the member's own Fault -> Backup transition, so
    // a member with a fault of its own must not be held by the group flag.
    for (size_t i = 0; i < members_.size(); ++i) {
        if (fault_now && !members_[i] && own_fault_[i]) continue;
        out.push_back({i, SyncGroupFaultChanged{fault_now}});
    }
    return out;
}

std::vector<GroupCommand> SyncGroup::on_transition(size_t member, const Transition& t)
{
    std::vector<GroupCommand> out;
    if (member >= members_.size()) return out;
    states_[member] = t.to;
    if (members_[member]) {
        own_fault_[member] = members_[member]->own_fault();
    } else if (t.to == State::Fault && (t.reason == Reason::InterfaceDown || t.reason == Reason::TrackFault)) {
        own_fault_[member] = true;
    } else if (t.from == State::Fault && t.to != State::Fault) {
        own_fault_[member] = false;
    } else if (t.to == State::Initialize) {
        own_fault_[member] = false;   // shut down: no longer holds the group
    }

    // Fault first: a member that faulted must not pull anyone to Master.
    out = fault_commands_if_changed();
    if (!out.empty() || group_fault_) return out;

    // Group-caused transitions are the echo of a command: propagating them
    // again would only repeat the same command.
    if (t.reason == Reason::SyncGroupMaster || t.reason == Reason::SyncGroupBackup ||
        t.reason == Reason::SyncGroupFault)
        return out;
    for (size_t i = 0; i < members_.size(); ++i) {
        if (i == member) continue;
        const State s = state_of(i);
        if (t.to == State::Master && s == State::Backup)
            out.push_back({i, SyncGroupWantsMaster{}});
        else if (t.from == State::Master && t.to == State::Backup && s == State::Master)
            out.push_back({i, SyncGroupWantsBackup{}});
    }
    return out;
}

std::vector<GroupCommand> SyncGroup::after_event(size_t member, const std::vector<Action>& actions)
{
    std::vector<GroupCommand> out;
    if (member >= members_.size()) return out;
    // The fault LEVEL of every member, whether or not it transitioned.
    for (size_t i = 0; i < members_.size(); ++i)
        if (members_[i]) own_fault_[i] = members_[i]->own_fault();
    for (const Action& action : actions)
        if (const Transition* t = std::get_if<Transition>(&action)) {
            std::vector<GroupCommand> more = on_transition(member, *t);
            out.insert(out.end(), more.begin(), more.end());
        }
    std::vector<GroupCommand> more = fault_commands_if_changed();
    out.insert(out.end(), more.begin(), more.end());
    return out;
}

}  // namespace vigil::vrrp
