#include "vrrp/instance.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace vigil::vrrp {

namespace {

std::string make_prefix(const InstanceParams& p)
{
    return p.name + "/vrid " + std::to_string(p.vrid) + "/" + (p.family == AF_INET6 ? "v6" : "v4");
}

}  // namespace

const char* to_string(State state)
{
    switch (state) {
    case State::Initialize: return "Initialize";
    case State::Backup: return "Backup";
    case State::Master: return "Master";
    case State::Fault: return "Fault";
    }
    return "?";
}

const char* event_name(const Event& event)
{
    static constexpr const char* kNames[] = {
        "startup", "advert received", "master down timer", "adver timer", "interface up", "interface down",
        "tracking changed", "shutdown", "resume as master", "sync group wants master",
        "sync group wants backup", "sync group fault changed"};
    static_assert(std::size(kNames) == std::variant_size_v<Event>);
    return kNames[event.index()];
}

const char* to_notify_string(State state)
{
    switch (state) {
    case State::Initialize: return "STOP";
    case State::Backup: return "BACKUP";
    case State::Master: return "MASTER";
    case State::Fault: return "FAULT";
    }
    return "?";
}

const char* to_string(Reason reason)
{
    switch (reason) {
    case Reason::Startup: return "startup";
    case Reason::PriorityOwner: return "address owner, priority 255";
    case Reason::MasterDown: return "master down timer expired";
    case Reason::HigherPriorityAdvert: return "higher priority advert received";
    case Reason::EqualPriorityHigherAddress: return "equal priority advert from higher address";
    case Reason::Shutdown: return "shutdown";
    case Reason::InterfaceDown: return "interface down";
    case Reason::TrackFault: return "tracked interface or script failed";
    case Reason::SyncGroupFault: return "sync group member in fault";
    case Reason::FaultCleared: return "fault cleared";
    case Reason::SyncGroupMaster: return "sync group member became master";
    case Reason::SyncGroupBackup: return "sync group member became backup";
    case Reason::ResumedByCore: return "resumed as master after child restart";
    }
    return "?";
}

InstanceParams InstanceParams::from_config(const config::VrrpInstance& cfg, const IpAddress& primary)
{
    InstanceParams p;
    p.name = cfg.name;
    p.vrid = cfg.vrid;
    p.version = cfg.version;
    p.family = cfg.family;
    p.priority = cfg.priority;
    p.advert_int = cfg.advert_int;
    p.initial_state = cfg.state;
    p.preempt = !cfg.nopreempt;
    p.preempt_delay = cfg.preempt_delay;
    // keepalived: nopreempt and preempt_delay only work with initial state
    // BACKUP; with state MASTER they are cleared (keepalived warns while
    // parsing; the config loader should warn the same way).
    if (cfg.state == config::InitialState::Master) {
        p.preempt = true;
        p.preempt_delay = std::chrono::seconds{0};
    }
    if (cfg.auth_type == config::AuthType::Pass) {
        p.auth_type = kAuthPass;
        std::memcpy(p.auth_data.data(), cfg.auth_pass.data(), std::min(cfg.auth_pass.size(), p.auth_data.size()));
    }
    for (const config::VirtualAddress& vip : cfg.vips)
        if (vip.addr.addr.family() == cfg.family) p.vips.push_back(vip.addr.addr);
    p.primary_address = primary;
    return p;
}

Instance::Instance(InstanceParams params)
    : params_(std::move(params)), prefix_(make_prefix(params_)), master_adver_interval_(params_.advert_int)
{
}

std::vector<Action> Instance::handle(const Event& event, TimePoint now)
{
    std::vector<Action> out;
    std::visit([&](const auto& e) { on(e, now, out); }, event);
    return out;
}

int Instance::effective_priority() const
{
    // The address owner keeps 255 whatever is tracked (RFC 5798 6.1: the
    // owner's priority is 255); everyone else stays a valid backup priority,
    // 1..254, so tracking can neither fake ownership nor send "stop" (0).
    if (params_.priority == kPriorityOwner) return kPriorityOwner;
    return std::clamp(params_.priority + priority_delta_, 1, 254);
}

ProtocolTimers Instance::timers() const
{
    return protocol_timers(params_.version, effective_priority(), master_adver_interval_);
}

Advert Instance::make_advert(int priority) const
{
    Advert a;
    a.version = params_.version;
    a.vrid = params_.vrid;
    a.priority = priority;
    a.advert_int = params_.advert_int;
    a.auth_type = params_.version == 2 ? params_.auth_type : kAuthNone;
    if (params_.version == 2) a.auth_data = params_.auth_data;
    a.addresses = params_.vips;
    a.source = params_.primary_address;
    return a;
}

std::optional<RejectReason> Instance::screen(const Advert& advert) const
{
    if (advert.version != params_.version) return RejectReason::VersionMismatch;
    // Our own advert looped back (multicast loopback, or a unicast peer list
    // that contains ourselves).
    if (!params_.primary_address.empty() && advert.source == params_.primary_address)
        return RejectReason::OwnAddress;
    if (params_.version == 2) {
        // RFC 2338 5.3.6 / 7.1 (kept by keepalived): type and PASS data must match.
        if (advert.auth_type != params_.auth_type) return RejectReason::AuthMismatch;
        if (params_.auth_type == kAuthPass && advert.auth_data != params_.auth_data)
            return RejectReason::AuthMismatch;
        // RFC 3768 7.1: "MUST verify that the Adver Interval in the packet is
        // the same as the locally configured for this virtual router".
        // v3 has no such check: the Backup learns the interval (RFC 5798 6.4.2).
        if (advert.advert_int != params_.advert_int) return RejectReason::IntervalMismatch;
    }
    return std::nullopt;
}

bool Instance::addresses_differ(const Advert& advert) const
{
    // RFC 5798 7.1: a mismatch "SHOULD" be logged; the packet is still used
    // (it is how a misconfigured pair still elects one master). Order-free.
    std::vector<IpAddress> ours = params_.vips, theirs = advert.addresses;
    std::sort(ours.begin(), ours.end());
    std::sort(theirs.begin(), theirs.end());
    return ours != theirs;
}

// ---- transitions ----------------------------------------------------------

void Instance::become_master(Reason why, std::vector<Action>& out)
{
    // RFC 5798 6.4.1 / 6.4.2: send an ADVERTISEMENT, announce the addresses
    // (gratuitous ARP / unsolicited NA), set the Adver_Timer, go Master.
    out.push_back(Transition{state_, State::Master, why});
    out.push_back(CancelTimers{});
    out.push_back(SendAdvert{effective_priority()});
    out.push_back(AddVips{});
    out.push_back(SendGratuitous{});
    master_adver_interval_ = params_.advert_int;
    out.push_back(ArmAdverTimer{protocol_timers(params_.version, effective_priority(), params_.advert_int).advert_interval});
    out.push_back(RunNotify{State::Master});
    state_ = State::Master;
}

void Instance::become_backup(Reason why, Duration master_down_after, TimePoint, std::vector<Action>& out)
{
    const State from = state_;
    out.push_back(Transition{from, State::Backup, why});
    out.push_back(CancelTimers{});
    if (from == State::Master) out.push_back(RemoveVips{});
    if (from == State::Initialize) out.push_back(RemoveLeftoverVips{});
    out.push_back(ArmMasterDownTimer{master_down_after});
    out.push_back(RunNotify{State::Backup});
    state_ = State::Backup;
}

void Instance::become_fault(Reason why, std::vector<Action>& out)
{
    const State from = state_;
    out.push_back(Transition{from, State::Fault, why});
    out.push_back(CancelTimers{});
    if (from == State::Master) {
        // Tell the Backups to take over now (they wait Skew_Time instead of
        // Master_Down_Interval, RFC 5798 6.4.2), when we still can send.
        if (interface_up_) out.push_back(SendAdvertPriorityZero{});
        out.push_back(RemoveVips{});
    }
    if (from == State::Initialize) out.push_back(RemoveLeftoverVips{});
    out.push_back(RunNotify{State::Fault});
    state_ = State::Fault;
}

void Instance::start_from_initialize(Reason why, TimePoint now, std::vector<Action>& out)
{
    preempt_allowed_after_ = now + params_.preempt_delay;
    master_adver_interval_ = params_.advert_int;
    if (params_.priority == kPriorityOwner) {
        // RFC 5798 6.4.1: the address owner goes to Master at once (after a
        // fault too: nobody can out-prioritize it, waiting only delays).
        become_master(why == Reason::Startup ? Reason::PriorityOwner : why, out);
        return;
    }
    const ProtocolTimers t = timers();
    // keepalived: initial state MASTER still starts as Backup (so an existing
    // higher-priority Master is respected) but only waits one advertisement
    // interval plus skew before claiming mastership; BACKUP waits the full
    // Master_Down_Interval (RFC 5798 6.4.1).
    const Duration wait = params_.initial_state == config::InitialState::Master
        ? t.advert_interval + t.skew_time
        : t.master_down_interval;
    become_backup(why, wait, now, out);
}

Reason Instance::fault_reason() const
{
    if (!interface_up_) return Reason::InterfaceDown;
    if (track_fault_) return Reason::TrackFault;
    return Reason::SyncGroupFault;
}

void Instance::leave_fault_if_clear(TimePoint now, std::vector<Action>& out)
{
    if (state_ == State::Fault && !in_fault()) start_from_initialize(Reason::FaultCleared, now, out);
}

void Instance::enter_fault_if_needed(std::vector<Action>& out)
{
    if ((state_ == State::Backup || state_ == State::Master) && in_fault()) become_fault(fault_reason(), out);
}

// ---- events ---------------------------------------------------------------

void Instance::on(const Startup&, TimePoint now, std::vector<Action>& out)
{
    if (state_ != State::Initialize || started_) return;
    started_ = true;
    if (in_fault()) {
        preempt_allowed_after_ = now + params_.preempt_delay;
        become_fault(fault_reason(), out);
        return;
    }
    start_from_initialize(Reason::Startup, now, out);
}

void Instance::on(const ResumeAsMaster& resume, TimePoint now, std::vector<Action>& out)
{
    if (state_ != State::Initialize || started_) return;
    started_ = true;
    preempt_allowed_after_ = now + params_.preempt_delay;
    if (in_fault()) {
        become_fault(fault_reason(), out);
        return;
    }
    // Not become_master(): the VIPs never left and the neighbours' caches are
    // right, so no notify and no gratuitous ARP unless a reload added VIPs;
    // only advertise again before the Backups' Master_Down_Timer runs out.
    out.push_back(Transition{state_, State::Master, Reason::ResumedByCore});
    out.push_back(CancelTimers{});
    out.push_back(SendAdvert{effective_priority()});
    out.push_back(AddVips{});
    if (resume.added_vips) out.push_back(SendGratuitous{});
    master_adver_interval_ = params_.advert_int;
    out.push_back(ArmAdverTimer{timers().advert_interval});
    state_ = State::Master;
}

void Instance::on(const AdvertReceived& received, TimePoint now, std::vector<Action>& out)
{
    const Advert& adv = received.advert;
    const int ours = effective_priority();

    if (state_ == State::Backup) {
        // RFC 5798 6.4.2.
        if (adv.priority == kPriorityStop) {
            // The Master is leaving: take over after Skew_Time only, so the
            // highest-priority Backup wins without waiting 3 intervals.
            out.push_back(ArmMasterDownTimer{timers().skew_time});
            return;
        }
        const bool preempt = params_.preempt || params_.priority == kPriorityOwner;
        const bool in_preempt_delay = params_.priority != kPriorityOwner && now < preempt_allowed_after_;
        if (!preempt || adv.priority >= ours || in_preempt_delay) {
            // A Master we accept: v3 learns its interval (RFC 5798 6.4.2 "Set
            // Master_Adver_Interval to Adver Interval contained in the
            // ADVERTISEMENT"), then Master_Down_Timer restarts.
            if (params_.version == 3 && adv.advert_int.count() > 0) master_adver_interval_ = adv.advert_int;
            out.push_back(ArmMasterDownTimer{timers().master_down_interval});
            return;
        }
        // Lower priority and we may preempt: discard; Master_Down_Timer fires.
        return;
    }

    if (state_ == State::Master) {
        // RFC 5798 6.4.3.
        if (adv.priority == kPriorityStop) {
            out.push_back(SendAdvert{ours});
            out.push_back(ArmAdverTimer{timers().advert_interval});
            return;
        }
        const bool higher = adv.priority > ours;
        // Tie: the higher primary address wins, compared as unsigned numbers
        // in network byte order (IpAddress orders its bytes that way).
        const bool tie_lost = adv.priority == ours && adv.source > params_.primary_address;
        if (higher || tie_lost) {
            if (params_.version == 3 && adv.advert_int.count() > 0) master_adver_interval_ = adv.advert_int;
            become_backup(higher ? Reason::HigherPriorityAdvert : Reason::EqualPriorityHigherAddress,
                          timers().master_down_interval, now, out);
            return;
        }
        // The RFC says discard. keepalived answers at once (and vigil does):
        // the other side is a Master that has not heard us (a healed split
        // brain); our advert makes it yield now instead of after its next
        // interval, and the gratuitous ARP points the neighbours back at us.
        // At most one answer per own advertisement interval: a flood of such
        // adverts must not turn into a flood of adverts and GARPs from us
        // (the regular Adver_Timer keeps running meanwhile).
        const Duration interval = timers().advert_interval;
        if (answered_once_ && now - last_answer_ < interval) return;
        answered_once_ = true;
        last_answer_ = now;
        out.push_back(SendAdvert{ours});
        out.push_back(SendGratuitous{});
        out.push_back(ArmAdverTimer{interval});
        return;
    }
    // Initialize and Fault do not take part in elections.
}

void Instance::on(const MasterDownTimerFired&, TimePoint, std::vector<Action>& out)
{
    if (state_ == State::Backup) become_master(Reason::MasterDown, out);
}

void Instance::on(const AdverTimerFired&, TimePoint, std::vector<Action>& out)
{
    if (state_ != State::Master) return;
    // RFC 5798 6.4.3: send an ADVERTISEMENT, reset the Adver_Timer.
    out.push_back(SendAdvert{effective_priority()});
    out.push_back(ArmAdverTimer{timers().advert_interval});
}

void Instance::on(const InterfaceUp&, TimePoint now, std::vector<Action>& out)
{
    interface_up_ = true;
    leave_fault_if_clear(now, out);
}

void Instance::on(const InterfaceDown&, TimePoint, std::vector<Action>& out)
{
    interface_up_ = false;
    enter_fault_if_needed(out);
}

void Instance::on(const TrackingChanged& tracking, TimePoint now, std::vector<Action>& out)
{
    // A new priority takes effect with the next advertisement (Master) or
    // the next Master_Down_Timer start (Backup), as in keepalived.
    priority_delta_ = tracking.priority_delta;
    track_fault_ = tracking.fault;
    enter_fault_if_needed(out);
    leave_fault_if_clear(now, out);
}

void Instance::on(const Shutdown&, TimePoint, std::vector<Action>& out)
{
    if (!started_) return;
    started_ = false;
    const State from = state_;
    out.push_back(Transition{from, State::Initialize, Reason::Shutdown});
    out.push_back(CancelTimers{});
    if (from == State::Master) {
        // RFC 5798 6.4.3: "Send an ADVERTISEMENT with Priority = 0".
        out.push_back(SendAdvertPriorityZero{});
        out.push_back(RemoveVips{});
    }
    out.push_back(RunNotify{State::Initialize});
    state_ = State::Initialize;
}

void Instance::on(const SyncGroupWantsMaster&, TimePoint, std::vector<Action>& out)
{
    if (state_ == State::Backup && !in_fault()) become_master(Reason::SyncGroupMaster, out);
}

void Instance::on(const SyncGroupWantsBackup&, TimePoint now, std::vector<Action>& out)
{
    if (state_ == State::Master) become_backup(Reason::SyncGroupBackup, timers().master_down_interval, now, out);
}

void Instance::on(const SyncGroupFaultChanged& change, TimePoint now, std::vector<Action>& out)
{
    group_fault_ = change.fault;
    enter_fault_if_needed(out);
    leave_fault_if_clear(now, out);
}

}  // namespace vigil::vrrp
