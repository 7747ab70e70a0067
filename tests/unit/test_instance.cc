// vrrp/instance: the state machine of RFC 5798 section 6.4 plus Fault, as a
// table (state reached by a setup sequence, one event, the exact actions
// expected, the next state), caller-side screening, config mapping, and a
// randomized invariant check over long event sequences.
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "vrrp/instance.h"

// cmocka last: its macros must not reach C++ headers; its header declares C
// functions without extern "C".
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::vrrp;
using std::chrono::seconds;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

const TimePoint kT0{seconds{1000}};

InstanceParams params(int version = 3, int priority = 100)
{
    InstanceParams p;
    p.name = "VI_1";
    p.vrid = 51;
    p.version = version;
    p.family = AF_INET;
    p.priority = priority;
    p.advert_int = Centiseconds{100};
    p.vips = {ip("10.0.0.100")};
    p.primary_address = ip("10.0.0.2");
    return p;
}

Advert advert(int priority, const char* source = "10.0.0.9", int interval_cs = 100, int version = 3)
{
    Advert a;
    a.version = version;
    a.vrid = 51;
    a.priority = priority;
    a.advert_int = Centiseconds{interval_cs};
    a.addresses = {ip("10.0.0.100")};
    a.source = ip(source);
    return a;
}

// One compact, exact rendering of an action list: the tables compare strings.
std::string render(const std::vector<Action>& actions)
{
    std::string out;
    auto add = [&out](const std::string& s) { out += (out.empty() ? "" : " ") + s; };
    for (const Action& a : actions) {
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, SendAdvert>) add("SendAdvert(" + std::to_string(x.priority) + ")");
                else if constexpr (std::is_same_v<T, SendAdvertPriorityZero>) add("SendAdvert0");
                else if constexpr (std::is_same_v<T, ArmAdverTimer>) add("ArmAdver(" + std::to_string(x.after.count()) + ")");
                else if constexpr (std::is_same_v<T, ArmMasterDownTimer>) add("ArmDown(" + std::to_string(x.after.count()) + ")");
                else if constexpr (std::is_same_v<T, CancelTimers>) add("Cancel");
                else if constexpr (std::is_same_v<T, AddVips>) add("AddVips");
                else if constexpr (std::is_same_v<T, RemoveVips>) add("RemoveVips");
                else if constexpr (std::is_same_v<T, RemoveLeftoverVips>) add("RemoveLeftoverVips");
                else if constexpr (std::is_same_v<T, SendGratuitous>) add("Garp");
                else if constexpr (std::is_same_v<T, RunNotify>) add(std::string("Notify(") + to_notify_string(x.state) + ")");
                else if constexpr (std::is_same_v<T, Transition>)
                    add(std::string(to_string(x.from)) + ">" + to_string(x.to) + "[" + to_string(x.reason) + "]");
            },
            a);
    }
    return out;
}

struct Step {
    Event event;
    TimePoint at = kT0;
};

struct Row {
    const char* description;
    std::function<InstanceParams()> make;
    std::vector<Step> setup;     // brings the instance into the starting state
    State start;
    Step event;
    const char* expected;        // render() of the actions
    State next;
};

// Timer values (microseconds) for priority 100, interval 1 s: see test_timers.
// Master_Down_Interval 3609375, Skew_Time 609375, advert interval 1000000.
const std::vector<Step> kToBackup = {{Startup{}}};
const std::vector<Step> kToMaster = {{Startup{}}, {MasterDownTimerFired{}}};
const std::vector<Step> kToFault = {{Startup{}}, {InterfaceDown{}}};

std::vector<Row> rows()
{
    auto v3 = [] { return params(3, 100); };
    auto v2 = [] { auto p = params(2, 100); p.advert_int = Centiseconds{200}; return p; };
    auto owner = [] { return params(3, 255); };
    auto init_master = [] { auto p = params(3, 100); p.initial_state = config::InitialState::Master; return p; };
    auto nopreempt = [] { auto p = params(3, 100); p.preempt = false; return p; };
    auto delayed = [] { auto p = params(3, 100); p.preempt_delay = seconds{60}; return p; };
    auto owner_nopreempt = [] { auto p = params(3, 255); p.preempt = false; return p; };
    const char* to_master_v3 = "Backup>Master[master down timer expired] Cancel SendAdvert(100) AddVips Garp ArmAdver(1000000) Notify(MASTER)";
    (void)to_master_v3;
    return {
        // --- Initialize (RFC 5798 6.4.1)
        {"init: startup -> Backup, leftover VIPs cleared, Master_Down_Interval", v3, {}, State::Initialize, {Startup{}},
         "Initialize>Backup[startup] Cancel RemoveLeftoverVips ArmDown(3609375) Notify(BACKUP)", State::Backup},
        {"init v2 2s: startup -> Backup, 3*2s + (256-100)/256 s", v2, {}, State::Initialize, {Startup{}},
         "Initialize>Backup[startup] Cancel RemoveLeftoverVips ArmDown(6609375) Notify(BACKUP)", State::Backup},
        {"init: owner (255) -> Master at once", owner, {}, State::Initialize, {Startup{}},
         "Initialize>Master[address owner, priority 255] Cancel SendAdvert(255) AddVips Garp ArmAdver(1000000) Notify(MASTER)", State::Master},
        {"init: state MASTER waits one interval + skew (keepalived)", init_master, {}, State::Initialize, {Startup{}},
         "Initialize>Backup[startup] Cancel RemoveLeftoverVips ArmDown(1609375) Notify(BACKUP)", State::Backup},
        {"init: interface already down -> Fault", v3, {{InterfaceDown{}}}, State::Initialize, {Startup{}},
         "Initialize>Fault[interface down] Cancel RemoveLeftoverVips Notify(FAULT)", State::Fault},
        {"init: tracked script already failed -> Fault", v3, {{TrackingChanged{0, true}}}, State::Initialize, {Startup{}},
         "Initialize>Fault[tracked interface or script failed] Cancel RemoveLeftoverVips Notify(FAULT)", State::Fault},
        {"init: advert ignored before startup", v3, {}, State::Initialize, {AdvertReceived{advert(200)}}, "", State::Initialize},
        {"init: stale master down timer ignored", v3, {}, State::Initialize, {MasterDownTimerFired{}}, "", State::Initialize},
        {"init: stale adver timer ignored", v3, {}, State::Initialize, {AdverTimerFired{}}, "", State::Initialize},
        {"init: shutdown before startup does nothing", v3, {}, State::Initialize, {Shutdown{}}, "", State::Initialize},
        {"init: resume as master (core restarted the child)", v3, {}, State::Initialize, {ResumeAsMaster{}},
         "Initialize>Master[resumed as master after child restart] Cancel SendAdvert(100) AddVips ArmAdver(1000000)", State::Master},
        {"init: resume as master after a reload that added VIPs: announce them", v3, {}, State::Initialize,
         {ResumeAsMaster{.added_vips = true}},
         "Initialize>Master[resumed as master after child restart] Cancel SendAdvert(100) AddVips Garp ArmAdver(1000000)", State::Master},
        {"init: resume as master with interface down -> Fault, the VIPs it kept removed", v3, {{InterfaceDown{}}}, State::Initialize, {ResumeAsMaster{}},
         "Initialize>Fault[interface down] Cancel RemoveLeftoverVips Notify(FAULT)", State::Fault},
        {"init: restart after shutdown", v3, {{Startup{}}, {Shutdown{}}}, State::Initialize, {Startup{}},
         "Initialize>Backup[startup] Cancel RemoveLeftoverVips ArmDown(3609375) Notify(BACKUP)", State::Backup},

        // --- Backup (RFC 5798 6.4.2)
        {"backup: master down timer -> Master", v3, kToBackup, State::Backup, {MasterDownTimerFired{}},
         "Backup>Master[master down timer expired] Cancel SendAdvert(100) AddVips Garp ArmAdver(1000000) Notify(MASTER)", State::Master},
        {"backup: priority 0 -> Master_Down_Timer = Skew_Time", v3, kToBackup, State::Backup, {AdvertReceived{advert(0)}},
         "ArmDown(609375)", State::Backup},
        {"backup: higher priority -> reset Master_Down_Timer", v3, kToBackup, State::Backup, {AdvertReceived{advert(150)}},
         "ArmDown(3609375)", State::Backup},
        {"backup: equal priority -> reset Master_Down_Timer", v3, kToBackup, State::Backup, {AdvertReceived{advert(100)}},
         "ArmDown(3609375)", State::Backup},
        {"backup: lower priority, preempt -> discard (timer runs out)", v3, kToBackup, State::Backup, {AdvertReceived{advert(50)}},
         "", State::Backup},
        {"backup: lower priority, nopreempt -> accept master", nopreempt, kToBackup, State::Backup, {AdvertReceived{advert(50)}},
         "ArmDown(3609375)", State::Backup},
        {"backup: lower priority inside preempt_delay -> accept master", delayed, kToBackup, State::Backup,
         {AdvertReceived{advert(50)}, kT0 + seconds{59}}, "ArmDown(3609375)", State::Backup},
        {"backup: lower priority after preempt_delay -> discard", delayed, kToBackup, State::Backup,
         {AdvertReceived{advert(50)}, kT0 + seconds{60}}, "", State::Backup},
        {"backup: owner preempts even with nopreempt", owner_nopreempt,
         {{Startup{}}, {AdvertReceived{advert(255, "10.0.0.9")}}}, State::Backup, {AdvertReceived{advert(50)}}, "", State::Backup},
        {"backup v3: learns the master's interval (0.5 s)", v3, kToBackup, State::Backup, {AdvertReceived{advert(150, "10.0.0.9", 50)}},
         "ArmDown(1804687)", State::Backup},
        {"backup v3: learned interval also scales the priority-0 skew", v3,
         {{Startup{}}, {AdvertReceived{advert(150, "10.0.0.9", 50)}}}, State::Backup, {AdvertReceived{advert(0, "10.0.0.9", 50)}},
         "ArmDown(304687)", State::Backup},
        {"backup v2: never learns the interval", v2, kToBackup, State::Backup, {AdvertReceived{advert(150, "10.0.0.9", 100, 2)}},
         "ArmDown(6609375)", State::Backup},
        {"backup: higher effective priority via tracking -> discard 150", v3, {{Startup{}}, {TrackingChanged{60, false}}}, State::Backup,
         {AdvertReceived{advert(150)}}, "", State::Backup},
        {"backup: lower effective priority via tracking -> accept 50", v3, {{Startup{}}, {TrackingChanged{-60, false}}}, State::Backup,
         {AdvertReceived{advert(50)}}, "ArmDown(3843750)", State::Backup},
        {"backup: stale adver timer ignored", v3, kToBackup, State::Backup, {AdverTimerFired{}}, "", State::Backup},
        {"backup: shutdown -> Initialize", v3, kToBackup, State::Backup, {Shutdown{}},
         "Backup>Initialize[shutdown] Cancel Notify(STOP)", State::Initialize},
        {"backup: interface down -> Fault", v3, kToBackup, State::Backup, {InterfaceDown{}},
         "Backup>Fault[interface down] Cancel Notify(FAULT)", State::Fault},
        {"backup: tracked item fault -> Fault", v3, kToBackup, State::Backup, {TrackingChanged{0, true}},
         "Backup>Fault[tracked interface or script failed] Cancel Notify(FAULT)", State::Fault},
        {"backup: tracking weight change alone -> no action", v3, kToBackup, State::Backup, {TrackingChanged{-20, false}},
         "", State::Backup},
        {"backup: interface up again (no fault) -> no action", v3, kToBackup, State::Backup, {InterfaceUp{}}, "", State::Backup},
        {"backup: resume-as-master only from Initialize", v3, kToBackup, State::Backup, {ResumeAsMaster{}}, "", State::Backup},
        {"backup: second startup ignored", v3, kToBackup, State::Backup, {Startup{}}, "", State::Backup},
        {"backup: sync group pulls to Master", v3, kToBackup, State::Backup, {SyncGroupWantsMaster{}},
         "Backup>Master[sync group member became master] Cancel SendAdvert(100) AddVips Garp ArmAdver(1000000) Notify(MASTER)", State::Master},
        {"backup: sync group fault -> Fault", v3, kToBackup, State::Backup, {SyncGroupFaultChanged{true}},
         "Backup>Fault[sync group member in fault] Cancel Notify(FAULT)", State::Fault},
        {"backup: sync group wants backup -> nothing", v3, kToBackup, State::Backup, {SyncGroupWantsBackup{}}, "", State::Backup},

        // --- Master (RFC 5798 6.4.3)
        {"master: adver timer -> advert, re-arm", v3, kToMaster, State::Master, {AdverTimerFired{}},
         "SendAdvert(100) ArmAdver(1000000)", State::Master},
        {"master: higher priority -> Backup, VIPs removed", v3, kToMaster, State::Master, {AdvertReceived{advert(150)}},
         "Master>Backup[higher priority advert received] Cancel RemoveVips ArmDown(3609375) Notify(BACKUP)", State::Backup},
        {"master v3: higher priority with 0.5 s interval -> Backup on its interval", v3, kToMaster, State::Master,
         {AdvertReceived{advert(150, "10.0.0.9", 50)}},
         "Master>Backup[higher priority advert received] Cancel RemoveVips ArmDown(1804687) Notify(BACKUP)", State::Backup},
        {"master: equal priority, higher address -> Backup", v3, kToMaster, State::Master, {AdvertReceived{advert(100, "10.0.0.3")}},
         "Master>Backup[equal priority advert from higher address] Cancel RemoveVips ArmDown(3609375) Notify(BACKUP)", State::Backup},
        {"master: equal priority, lower address -> answer at once", v3, kToMaster, State::Master, {AdvertReceived{advert(100, "10.0.0.1")}},
         "SendAdvert(100) Garp ArmAdver(1000000)", State::Master},
        {"master: address compared as a number, not text (10.0.0.10 > 10.0.0.2)", v3, kToMaster, State::Master,
         {AdvertReceived{advert(100, "10.0.0.10")}},
         "Master>Backup[equal priority advert from higher address] Cancel RemoveVips ArmDown(3609375) Notify(BACKUP)", State::Backup},
        {"master: lower priority -> answer at once (split brain heals)", v3, kToMaster, State::Master, {AdvertReceived{advert(50)}},
         "SendAdvert(100) Garp ArmAdver(1000000)", State::Master},
        {"master: second lower-priority advert within one interval -> no second answer", v3,
         {{Startup{}}, {MasterDownTimerFired{}}, {AdvertReceived{advert(50)}}}, State::Master,
         {AdvertReceived{advert(50)}, kT0 + std::chrono::milliseconds{999}}, "", State::Master},
        {"master: lower-priority advert one interval after the last answer -> answer again", v3,
         {{Startup{}}, {MasterDownTimerFired{}}, {AdvertReceived{advert(50)}}}, State::Master,
         {AdvertReceived{advert(50)}, kT0 + seconds{1}}, "SendAdvert(100) Garp ArmAdver(1000000)", State::Master},
        {"master: rate limit does not hide a higher priority", v3,
         {{Startup{}}, {MasterDownTimerFired{}}, {AdvertReceived{advert(50)}}}, State::Master, {AdvertReceived{advert(150)}},
         "Master>Backup[higher priority advert received] Cancel RemoveVips ArmDown(3609375) Notify(BACKUP)", State::Backup},
        {"master: priority 0 from another master -> advert, re-arm", v3, kToMaster, State::Master, {AdvertReceived{advert(0)}},
         "SendAdvert(100) ArmAdver(1000000)", State::Master},
        {"master: shutdown -> priority 0 advert, VIPs removed", v3, kToMaster, State::Master, {Shutdown{}},
         "Master>Initialize[shutdown] Cancel SendAdvert0 RemoveVips Notify(STOP)", State::Initialize},
        {"master: interface down -> Fault, no advert possible", v3, kToMaster, State::Master, {InterfaceDown{}},
         "Master>Fault[interface down] Cancel RemoveVips Notify(FAULT)", State::Fault},
        {"master: tracked fault -> Fault with priority 0 advert", v3, kToMaster, State::Master, {TrackingChanged{0, true}},
         "Master>Fault[tracked interface or script failed] Cancel SendAdvert0 RemoveVips Notify(FAULT)", State::Fault},
        {"master: lower weight -> next advert carries it", v3, {{Startup{}}, {MasterDownTimerFired{}}, {TrackingChanged{-30, false}}},
         State::Master, {AdverTimerFired{}}, "SendAdvert(70) ArmAdver(1000000)", State::Master},
        {"master: stale master down timer ignored", v3, kToMaster, State::Master, {MasterDownTimerFired{}}, "", State::Master},
        {"master: sync group pushes to Backup", v3, kToMaster, State::Master, {SyncGroupWantsBackup{}},
         "Master>Backup[sync group member became backup] Cancel RemoveVips ArmDown(3609375) Notify(BACKUP)", State::Backup},
        {"master: sync group fault -> Fault with priority 0", v3, kToMaster, State::Master, {SyncGroupFaultChanged{true}},
         "Master>Fault[sync group member in fault] Cancel SendAdvert0 RemoveVips Notify(FAULT)", State::Fault},
        {"owner master: equal 255 from higher address -> Backup (RFC tie-break)", owner, {{Startup{}}}, State::Master,
         {AdvertReceived{advert(255, "10.0.0.9")}},
         "Master>Backup[equal priority advert from higher address] Cancel RemoveVips ArmDown(3003906) Notify(BACKUP)", State::Backup},

        // --- Fault (keepalived)
        {"fault: interface up -> Backup", v3, kToFault, State::Fault, {InterfaceUp{}},
         "Fault>Backup[fault cleared] Cancel ArmDown(3609375) Notify(BACKUP)", State::Backup},
        {"fault: owner recovers -> Master at once", owner, {{Startup{}}, {InterfaceDown{}}}, State::Fault, {InterfaceUp{}},
         "Fault>Master[fault cleared] Cancel SendAdvert(255) AddVips Garp ArmAdver(1000000) Notify(MASTER)", State::Master},
        {"fault: interface up but script still failed -> stay", v3, {{Startup{}}, {InterfaceDown{}}, {TrackingChanged{0, true}}},
         State::Fault, {InterfaceUp{}}, "", State::Fault},
        {"fault: script recovers, interface still down -> stay", v3, {{Startup{}}, {InterfaceDown{}}, {TrackingChanged{0, true}}},
         State::Fault, {TrackingChanged{0, false}}, "", State::Fault},
        {"fault: own fault cleared, group still in fault -> stay", v3,
         {{Startup{}}, {InterfaceDown{}}, {SyncGroupFaultChanged{true}}}, State::Fault, {InterfaceUp{}}, "", State::Fault},
        {"fault: group fault cleared -> Backup", v3, {{Startup{}}, {SyncGroupFaultChanged{true}}}, State::Fault,
         {SyncGroupFaultChanged{false}}, "Fault>Backup[fault cleared] Cancel ArmDown(3609375) Notify(BACKUP)", State::Backup},
        {"fault: adverts ignored", v3, kToFault, State::Fault, {AdvertReceived{advert(0)}}, "", State::Fault},
        {"fault: timers ignored", v3, kToFault, State::Fault, {MasterDownTimerFired{}}, "", State::Fault},
        {"fault: sync group cannot pull to Master", v3, kToFault, State::Fault, {SyncGroupWantsMaster{}}, "", State::Fault},
        {"fault: second interface down -> nothing", v3, kToFault, State::Fault, {InterfaceDown{}}, "", State::Fault},
        {"fault: shutdown -> Initialize", v3, kToFault, State::Fault, {Shutdown{}},
         "Fault>Initialize[shutdown] Cancel Notify(STOP)", State::Initialize},
    };
}

void test_state_table(void**)
{
    int failures = 0;
    for (const Row& row : rows()) {
        Instance inst(row.make());
        for (const Step& s : row.setup) inst.handle(s.event, s.at);
        if (inst.state() != row.start) {
            fprintf(stderr, "%s: setup reached %s, not %s\n", row.description, to_string(inst.state()), to_string(row.start));
            ++failures;
            continue;
        }
        const std::string got = render(inst.handle(row.event.event, row.event.at));
        if (got != row.expected || inst.state() != row.next) {
            fprintf(stderr, "%s:\n  expected %s -> %s\n  got      %s -> %s\n", row.description, row.expected,
                    to_string(row.next), got.c_str(), to_string(inst.state()));
            ++failures;
        }
    }
    assert_int_equal(failures, 0);
}

void test_event_names(void**)
{
    assert_string_equal(event_name(Startup{}), "startup");
    assert_string_equal(event_name(MasterDownTimerFired{}), "master down timer");
    assert_string_equal(event_name(SyncGroupFaultChanged{true}), "sync group fault changed");
}

void test_effective_priority(void**)
{
    struct Case { int base; int delta; int expected; };
    const Case cases[] = {{100, 0, 100}, {100, 50, 150}, {100, -99, 1}, {100, -200, 1}, {100, 154, 254},
                          {100, 500, 254}, {254, 1, 254}, {255, -100, 255}, {255, 10, 255}, {1, -1, 1}};
    for (const Case& c : cases) {
        Instance inst(params(3, c.base));
        inst.handle(TrackingChanged{c.delta, false}, kT0);
        if (inst.effective_priority() != c.expected) {
            fprintf(stderr, "base %d delta %d: %d, expected %d\n", c.base, c.delta, inst.effective_priority(), c.expected);
            fail();
        }
    }
}

void test_screen(void**)
{
    auto v2p = [] {
        auto p = params(2, 100);
        p.auth_type = kAuthPass;
        std::memcpy(p.auth_data.data(), "secret", 6);
        return p;
    };
    Instance v2(v2p());
    Instance v3(params(3, 100));
    Advert good2 = advert(100, "10.0.0.9", 100, 2);
    good2.auth_type = kAuthPass;
    std::memcpy(good2.auth_data.data(), "secret", 6);

    assert_false(v2.screen(good2).has_value());
    assert_false(v3.screen(advert(100)).has_value());

    struct Case { const char* description; const Instance* inst; Advert adv; std::optional<RejectReason> expected; };
    std::vector<Case> cases;
    cases.push_back({"v3 instance, v2 packet", &v3, good2, RejectReason::VersionMismatch});
    cases.push_back({"v2 instance, v3 packet", &v2, advert(100), RejectReason::VersionMismatch});
    cases.push_back({"own address looped back", &v3, advert(100, "10.0.0.2"), RejectReason::OwnAddress});
    {
        Advert a = good2; a.auth_type = kAuthNone;
        cases.push_back({"v2 auth type none vs PASS", &v2, a, RejectReason::AuthMismatch});
    }
    {
        Advert a = good2; a.auth_data[0] = 'S';
        cases.push_back({"v2 wrong password", &v2, a, RejectReason::AuthMismatch});
    }
    {
        Advert a = good2; a.auth_data[7] = 'x';
        cases.push_back({"v2 password differs in the padding", &v2, a, RejectReason::AuthMismatch});
    }
    {
        Advert a = good2; a.advert_int = Centiseconds{200};
        cases.push_back({"v2 interval mismatch (RFC 3768 7.1)", &v2, a, RejectReason::IntervalMismatch});
    }
    cases.push_back({"v3 interval differs: accepted, learned", &v3, advert(100, "10.0.0.9", 5), std::nullopt});
    {
        Advert a = advert(100); a.auth_type = kAuthPass;  // v3 has no auth field; parse() leaves it 0 anyway
        cases.push_back({"v3 ignores auth fields", &v3, a, std::nullopt});
    }
    for (const Case& c : cases) {
        if (c.inst->screen(c.adv) != c.expected) {
            fprintf(stderr, "screen: %s\n", c.description);
            fail();
        }
    }

    Advert other = advert(100);
    assert_false(v3.addresses_differ(other));
    other.addresses = {ip("10.0.0.101")};
    assert_true(v3.addresses_differ(other));
    other.addresses = {};
    assert_true(v3.addresses_differ(other));
}

void test_make_advert(void**)
{
    auto p = params(2, 100);
    p.auth_type = kAuthPass;
    p.auth_data = {'a', 'b', 0, 0, 0, 0, 0, 0};
    Instance inst(p);
    Advert a = inst.make_advert(0);
    assert_int_equal(a.version, 2);
    assert_int_equal(a.vrid, 51);
    assert_int_equal(a.priority, 0);
    assert_int_equal(a.auth_type, kAuthPass);
    assert_true(a.auth_data == p.auth_data);
    assert_true(a.addresses == p.vips);
    // The advert we send passes a peer's screen with the same config.
    auto peer_params = p;
    peer_params.primary_address = ip("10.0.0.3");
    Instance peer(peer_params);
    assert_false(peer.screen(a).has_value());
    assert_string_equal(inst.prefix().c_str(), "VI_1/vrid 51/v4");
}

void test_from_config(void**)
{
    config::VrrpInstance cfg;
    cfg.name = "VI_9";
    cfg.vrid = 9;
    cfg.priority = 120;
    cfg.version = 2;
    cfg.advert_int = Centiseconds{300};
    cfg.nopreempt = true;
    cfg.preempt_delay = seconds{30};
    cfg.auth_type = config::AuthType::Pass;
    cfg.auth_pass = "longerthan8";
    auto vip = [](const char* text) {
        config::VirtualAddress v;
        v.addr = *IpPrefix::parse(text);
        return v;
    };
    cfg.vips.push_back(vip("10.1.0.1/24"));
    cfg.vips.push_back(vip("2001:db8::1/64"));
    cfg.vips_excluded.push_back(vip("10.1.0.2/24"));
    InstanceParams p = InstanceParams::from_config(cfg, ip("10.1.0.10"));
    assert_false(p.preempt);
    assert_true(p.preempt_delay == seconds{30});
    assert_int_equal(p.auth_type, kAuthPass);
    assert_memory_equal(p.auth_data.data(), "longerth", 8);
    assert_int_equal(p.vips.size(), 1);  // own family only; excluded ones are not advertised
    assert_true(p.vips[0] == ip("10.1.0.1"));
    assert_true(p.advert_int == Centiseconds{300});

    // keepalived: nopreempt / preempt_delay do not work with initial state MASTER.
    cfg.state = config::InitialState::Master;
    p = InstanceParams::from_config(cfg, ip("10.1.0.10"));
    assert_true(p.preempt);
    assert_true(p.preempt_delay == seconds{0});
}

// Thousands of random event sequences; after every handle() the executed
// actions must agree with the state: VIPs held exactly in Master, the
// Adver_Timer running exactly in Master, the Master_Down_Timer exactly in
// Backup, one Transition per state change naming the right "from", the
// Master's adverts never carrying 0 except on leaving, notify run for every
// state entered except by resume, and leftover VIPs cleared on every start
// that does not lead to Master.
void test_random_sequences(void**)
{
    std::mt19937 rng(20261122);
    const char* sources[] = {"10.0.0.1", "10.0.0.3", "10.0.0.9"};
    long events = 0, transitions = 0;
    for (int run = 0; run < 2000; ++run) {
        InstanceParams p = params(rng() % 2 ? 3 : 2, rng() % 8 == 0 ? 255 : 1 + static_cast<int>(rng() % 254));
        p.preempt = rng() % 3 != 0;
        p.preempt_delay = seconds{rng() % 3 == 0 ? 5 : 0};
        p.initial_state = rng() % 4 == 0 ? config::InitialState::Master : config::InitialState::Backup;
        Instance inst(p);
        bool vips = false, adver = false, down = false;
        TimePoint now = kT0;
        for (int i = 0; i < 60; ++i, ++events) {
            now += std::chrono::milliseconds(rng() % 3000);
            Event e;
            switch (rng() % 14) {
            case 0: e = Startup{}; break;
            case 1: case 2: {
                int prio = static_cast<int>(rng() % 256);
                e = AdvertReceived{advert(prio, sources[rng() % 3], p.version == 3 ? 1 + static_cast<int>(rng() % 300) : 100, p.version)};
                break;
            }
            case 3: e = MasterDownTimerFired{}; break;
            case 4: e = AdverTimerFired{}; break;
            case 5: e = InterfaceUp{}; break;
            case 6: e = InterfaceDown{}; break;
            case 7: e = TrackingChanged{static_cast<int>(rng() % 200) - 100, rng() % 4 == 0}; break;
            case 8: e = Shutdown{}; break;
            case 9: e = ResumeAsMaster{.added_vips = rng() % 2 == 0}; break;
            case 10: e = SyncGroupWantsMaster{}; break;
            case 11: e = SyncGroupWantsBackup{}; break;
            case 12: e = SyncGroupFaultChanged{rng() % 2 == 0}; break;
            default: e = Startup{}; break;
            }
            const State before = inst.state();
            auto actions = inst.handle(e, now);
            int transitions_here = 0;
            bool notified = false, cleared = false, announced = false;
            for (const Action& a : actions) {
                if (auto t = std::get_if<Transition>(&a)) {
                    ++transitions_here;
                    assert_true(t->from == before);
                    assert_true(t->to == inst.state());
                    assert_true(t->from != t->to);
                } else if (std::holds_alternative<AddVips>(a)) {
                    vips = true;
                } else if (std::holds_alternative<RemoveVips>(a)) {
                    vips = false;
                } else if (std::holds_alternative<RemoveLeftoverVips>(a)) {
                    // Only when starting up into a state that must not hold them.
                    assert_true(before == State::Initialize && inst.state() != State::Master);
                    vips = false;
                    cleared = true;
                } else if (std::holds_alternative<SendGratuitous>(a)) {
                    announced = true;
                } else if (std::holds_alternative<CancelTimers>(a)) {
                    adver = down = false;
                } else if (std::holds_alternative<ArmAdverTimer>(a)) {
                    adver = true;
                    assert_true(std::get<ArmAdverTimer>(a).after > Duration::zero());
                } else if (auto d = std::get_if<ArmMasterDownTimer>(&a)) {
                    down = true;
                    assert_true(d->after > Duration::zero());
                } else if (auto s = std::get_if<SendAdvert>(&a)) {
                    assert_true(s->priority >= 1 && s->priority <= 255);
                    assert_true(inst.state() == State::Master);
                } else if (std::holds_alternative<SendAdvertPriorityZero>(a)) {
                    assert_true(before == State::Master && inst.state() != State::Master);
                } else if (auto n = std::get_if<RunNotify>(&a)) {
                    assert_true(n->state == inst.state());
                    notified = true;
                }
            }
            // Whatever a dead previous run left is gone once started without
            // the mastership (the vips flag only tracks what this run added).
            if (before == State::Initialize && inst.state() != before && inst.state() != State::Master)
                assert_true(cleared);
            if (inst.state() != before) {
                ++transitions;
                assert_int_equal(transitions_here, 1);
                const bool resumed = std::holds_alternative<ResumeAsMaster>(e) && inst.state() == State::Master;
                assert_true(notified != resumed);
                // Entering Master announces the VIPs, except a resume that
                // added none (the neighbours already know where they are).
                if (inst.state() == State::Master) {
                    auto r = std::get_if<ResumeAsMaster>(&e);
                    assert_true(announced == !(r && !r->added_vips));
                }
            } else {
                assert_int_equal(transitions_here, 0);
            }
            const bool master = inst.state() == State::Master;
            assert_true(vips == master);
            assert_true(adver == master);
            assert_true(down == (inst.state() == State::Backup));
        }
    }
    fprintf(stderr, "random: %ld events, %ld transitions checked\n", events, transitions);
    assert_true(transitions > 1000);
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_table),
        cmocka_unit_test(test_event_names),
        cmocka_unit_test(test_effective_priority),
        cmocka_unit_test(test_screen),
        cmocka_unit_test(test_make_advert),
        cmocka_unit_test(test_from_config),
        cmocka_unit_test(test_random_sequences),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
