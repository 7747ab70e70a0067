// One VRRP instance's state machine: RFC 5798 section 6.4 (Initialize, Backup,
// Master) plus keepalived's Fault state (the interface or a tracked item is
// down). Pure: handle(event, now) returns the actions the I/O layer must
// execute, in order. No sockets, no clocks, no logging here.
//
// Driving it (vrrp/vrrp_child.cc):
//   - receive: split_ipv4()/parse() (vrrp/advert.h) -> DropReason: count, stop.
//     Find the instance by VRID (none: RejectReason::WrongVrid, stop).
//     instance.screen(advert) -> a RejectReason: count, stop.
//     Otherwise handle(AdvertReceived{advert}). A dropped or rejected packet
//     NEVER reaches handle(): it changes no state and restarts no timer.
//     (keepalived restarts its timer on every packet for the VRID, even rejected
//     ones, so a stream of garbage can silence its Master; vigil must not.)
//   - timers: the I/O layer owns two one-shot timers per instance, the
//     Adver_Timer and the Master_Down_Timer. ArmAdverTimer / ArmMasterDownTimer
//     (re)start that timer from now; CancelTimers stops both. When one fires,
//     call handle(AdverTimerFired{}) / handle(MasterDownTimerFired{}). A timer
//     event in a state that does not use it is ignored (no actions).
//   - execute the returned actions in order. Transition comes first so the log
//     line precedes its effects: log it as
//     "VI_1/vrid 51/v4: Backup -> Master (master down timer expired)"
//     using prefix(), to_string(State) and to_string(Reason), report it to core
//     over IPC, and pass the whole action list to the instance's
//     SyncGroup::after_event() if any.
//
// Semantics beyond the RFC, as keepalived behaves:
//   - preempt_delay: for that long after Startup (or after leaving Fault), a
//     Backup treats a lower-priority Master as valid (resets its
//     Master_Down_Timer) instead of preempting it. The owner never waits.
//   - nopreempt: a Backup keeps accepting a lower-priority Master. The owner
//     (priority 255) always preempts (RFC 5798 6.1 Preempt_Mode note).
//   - Startup (or a resume that finds a fault) never assumes the interface is
//     clean: entering Backup or Fault from Initialize removes VIPs a dead
//     previous run left configured (RemoveLeftoverVips).
//   - initial state MASTER: starts as Backup but waits only one advert
//     interval + Skew_Time instead of Master_Down_Interval.
//   - Fault: entered when the interface is down, a weight-0 tracked item
//     fails, or the sync group is in fault; left (to Backup, or Master for the
//     owner) when all clear. A Master going to Fault sends priority 0 first
//     (if its interface is up) so the Backup takes over after Skew_Time.
//   - A Master hearing a lower priority (or equal priority from a lower
//     address) answers at once with an advert + GARP, at most once per
//     advertisement interval.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "daemon/config/model.h"
#include "vrrp/advert.h"
#include "vrrp/counters.h"
#include "vrrp/timers.h"

namespace vigil::vrrp {

enum class State { Initialize, Backup, Master, Fault };

// Why a transition happened (log text via to_string).
enum class Reason {
    Startup,                // Startup event, normal path to Backup
    PriorityOwner,          // priority 255: Initialize -> Master at once (RFC 5798 6.4.1)
    MasterDown,             // Master_Down_Timer fired in Backup (RFC 5798 6.4.2)
    HigherPriorityAdvert,   // Master heard a higher priority (RFC 5798 6.4.3)
    EqualPriorityHigherAddress, // same priority, higher primary address (RFC 5798 6.4.3)
    Shutdown,               // Shutdown event (RFC 5798 6.4.2 / 6.4.3)
    InterfaceDown,          // the instance's interface went down -> Fault
    TrackFault,             // a tracked interface/script reports fault -> Fault
    SyncGroupFault,         // another member of the sync group is in Fault
    FaultCleared,           // every fault condition gone -> Backup (or Master if owner)
    SyncGroupMaster,        // a sync group member became Master
    SyncGroupBackup,        // a sync group member left Master for Backup
    ResumedByCore,          // core restarted the child while this instance was Master
};

const char* to_string(State state);
const char* to_string(Reason reason);
// The state word keepalived passes to notify scripts: MASTER, BACKUP, FAULT,
// and STOP for Initialize (reached only by Shutdown once started).
const char* to_notify_string(State state);

// ---- Events -------------------------------------------------------------

struct Startup {};                  // RFC 5798 6.4.1
struct AdvertReceived { Advert advert; };  // already parsed AND screen()ed
struct MasterDownTimerFired {};
struct AdverTimerFired {};
struct InterfaceUp {};              // the instance's own interface
struct InterfaceDown {};
// The aggregate of every track_interface / track_script, recomputed by the
// caller whenever one of them changes: the sum of the weights of those that
// apply, and whether any weightless (weight 0) tracked item is down.
struct TrackingChanged {
    int priority_delta = 0;
    bool fault = false;
};
struct Shutdown {};                 // RFC 5798 6.4.2 / 6.4.3 Shutdown event
// Core restarted the vrrp child while this instance was Master, or a reload
// changed it while Master (same virtual router): go straight to Master
// without the Backup wait, so the peers never see the mastership move. Only
// valid from Initialize (before Startup), else ignored. The VIPs are still
// configured (AddVips is idempotent) and no notify script runs: nothing
// changed from the outside's point of view.
// added_vips: except that the reload added VIPs, which the neighbours have
// never heard of: announce them as on becoming Master (keepalived sends its
// gratuitous ARPs again after such a reload too).
struct ResumeAsMaster {
    bool added_vips = false;
};
// From this instance's SyncGroup (vrrp/sync_group.h).
struct SyncGroupWantsMaster {};
struct SyncGroupWantsBackup {};
struct SyncGroupFaultChanged { bool fault = false; };

using Event = std::variant<Startup, AdvertReceived, MasterDownTimerFired, AdverTimerFired,
                           InterfaceUp, InterfaceDown, TrackingChanged, Shutdown,
                           ResumeAsMaster, SyncGroupWantsMaster, SyncGroupWantsBackup,
                           SyncGroupFaultChanged>;

// "advert received", "master down timer", ...: for debug logs such as
// "VI_1/vrid 51/v4: master down timer ignored in Master".
const char* event_name(const Event& event);

// ---- Actions ------------------------------------------------------------

struct SendAdvert { int priority = 0; };    // with the instance's VIPs and interval
struct SendAdvertPriorityZero {};           // "Master stopped" (RFC 5798 5.2.4)
struct ArmAdverTimer { Duration after{}; };
struct ArmMasterDownTimer { Duration after{}; };
struct CancelTimers {};
struct AddVips {};                          // virtual_ipaddress(_excluded) + routes
struct RemoveVips {};
// Entering Backup or Fault from Initialize: this instance does not hold the
// mastership, but a previous run that did not stop cleanly (SIGKILL of every
// vigild process, a crash) may have left its VIPs and routes configured, as
// may a crashed vrrp child whose mastership cannot be resumed (fault). While
// they stay, this node answers ARP for the VIP next to the real Master.
// Remove those found (none is the normal case); keepalived also clears them
// at start-up.
struct RemoveLeftoverVips {};
// Gratuitous ARP / unsolicited NA for every VIP; the I/O side applies
// garp_master_delay / repeat / refresh from the config.
struct SendGratuitous {};
struct RunNotify { State state = State::Initialize; };  // see to_notify_string()
struct Transition { State from = State::Initialize; State to = State::Initialize; Reason reason = Reason::Startup; };

using Action = std::variant<SendAdvert, SendAdvertPriorityZero, ArmAdverTimer,
                            ArmMasterDownTimer, CancelTimers, AddVips, RemoveVips,
                            RemoveLeftoverVips, SendGratuitous, RunNotify, Transition>;

// ---- The instance ---------------------------------------------------------

// What the state machine needs from the configuration, plus the primary
// address the I/O layer chose (unicast_src_ip, or the interface's first
// address of the family; IPv6: the link-local one, RFC 5798 5.1.2.1).
struct InstanceParams {
    std::string name;
    int vrid = 1;
    int version = 2;
    int family = AF_INET;
    int priority = 100;                 // base priority, 1..255
    Centiseconds advert_int{100};
    bool preempt = true;                // !nopreempt
    std::chrono::seconds preempt_delay{0};
    config::InitialState initial_state = config::InitialState::Backup;
    int auth_type = kAuthNone;          // v2
    std::array<char, 8> auth_data{};    // v2 PASS, zero padded
    std::vector<IpAddress> vips;        // advertised addresses (virtual_ipaddress only)
    IpAddress primary_address;          // our source address; tie-break (RFC 5798 6.4.3)

    static InstanceParams from_config(const config::VrrpInstance& cfg, const IpAddress& primary);
};

class Instance {
public:
    explicit Instance(InstanceParams params);

    std::vector<Action> handle(const Event& event, TimePoint now);

    // Caller-side checks of a parsed Advert already matched on VRID, in this
    // order: version, own source address, v2 auth, v2 interval. A returned
    // reason means "drop and count". Address-list disagreement is reported by
    // addresses_differ() instead: RFC 5798 7.1 says log it, still accept.
    std::optional<RejectReason> screen(const Advert& advert) const;
    bool addresses_differ(const Advert& advert) const;

    // The advert this instance sends with `priority` (0 for the stop advert).
    Advert make_advert(int priority) const;

    State state() const { return state_; }
    int effective_priority() const;             // base + tracking, 1..254; owner stays 255
    Centiseconds master_adver_interval() const { return master_adver_interval_; }
    bool in_fault() const { return own_fault() || group_fault_; }
    // A fault of this instance's own (interface, tracking), as opposed to one
    // imposed by its sync group. SyncGroup reads it.
    bool own_fault() const { return !interface_up_ || track_fault_; }
    const InstanceParams& params() const { return params_; }
    // "VI_1/vrid 51/v4": the log and IPC prefix of this instance.
    const std::string& prefix() const { return prefix_; }

private:
    // Event handlers, one per event type (std::visit dispatches).
    void on(const Startup&, TimePoint now, std::vector<Action>& out);
    void on(const AdvertReceived&, TimePoint now, std::vector<Action>& out);
    void on(const MasterDownTimerFired&, TimePoint now, std::vector<Action>& out);
    void on(const AdverTimerFired&, TimePoint now, std::vector<Action>& out);
    void on(const InterfaceUp&, TimePoint now, std::vector<Action>& out);
    void on(const InterfaceDown&, TimePoint now, std::vector<Action>& out);
    void on(const TrackingChanged&, TimePoint now, std::vector<Action>& out);
    void on(const Shutdown&, TimePoint now, std::vector<Action>& out);
    void on(const ResumeAsMaster&, TimePoint now, std::vector<Action>& out);
    void on(const SyncGroupWantsMaster&, TimePoint now, std::vector<Action>& out);
    void on(const SyncGroupWantsBackup&, TimePoint now, std::vector<Action>& out);
    void on(const SyncGroupFaultChanged&, TimePoint now, std::vector<Action>& out);

    void become_master(Reason why, std::vector<Action>& out);
    void become_backup(Reason why, Duration master_down_after, TimePoint now, std::vector<Action>& out);
    void become_fault(Reason why, std::vector<Action>& out);
    void leave_fault_if_clear(TimePoint now, std::vector<Action>& out);
    void enter_fault_if_needed(std::vector<Action>& out);
    void start_from_initialize(Reason why, TimePoint now, std::vector<Action>& out);
    Reason fault_reason() const;
    ProtocolTimers timers() const;

    InstanceParams params_;
    std::string prefix_;
    State state_ = State::Initialize;
    bool started_ = false;
    bool interface_up_ = true;
    bool track_fault_ = false;
    bool group_fault_ = false;
    int priority_delta_ = 0;
    Centiseconds master_adver_interval_;
    TimePoint preempt_allowed_after_{};
    bool answered_once_ = false;        // Master answering lower-priority adverts:
    TimePoint last_answer_{};           // at most once per advertisement interval
};

}  // namespace vigil::vrrp
