// vrrp/sync_group: members move together. Real Instances driven through the
// group exactly as the vrrp child does (every member's actions go to
// after_event(), the resulting commands back to the members), checking
// the resulting states and the transitions in order.
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "vrrp/sync_group.h"

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

namespace {

const TimePoint kT0{std::chrono::seconds{1000}};

struct Harness {
    std::vector<std::unique_ptr<Instance>> members;
    std::unique_ptr<SyncGroup> group;
    std::vector<std::string> transitions;   // "VI_0 Backup>Master[reason]"
    int last_rounds = 0;

    explicit Harness(size_t n, bool with_instances = true)
    {
        std::vector<const Instance*> ptrs;
        for (size_t i = 0; i < n; ++i) {
            InstanceParams p;
            p.name = "VI_" + std::to_string(i);
            p.vrid = static_cast<int>(10 + i);
            p.version = 3;
            p.priority = 100;
            p.primary_address = *IpAddress::parse("10.0.0.2");
            members.push_back(std::make_unique<Instance>(p));
            ptrs.push_back(members.back().get());
        }
        group = with_instances ? std::make_unique<SyncGroup>("G1", ptrs) : std::make_unique<SyncGroup>("G1", n);
        with_instances_ = with_instances;
    }

    // Deliver one event to member i and everything the group makes of it.
    void deliver(size_t i, const Event& e)
    {
        std::deque<GroupCommand> queue{{i, e}};
        last_rounds = 0;
        while (!queue.empty()) {
            assert_true(++last_rounds < 50);  // the group must converge, never loop
            GroupCommand cmd = queue.front();
            queue.pop_front();
            auto actions = members[cmd.member]->handle(cmd.event, kT0);
            std::vector<GroupCommand> more;
            if (with_instances_) {
                more = group->after_event(cmd.member, actions);
            } else {
                for (const Action& a : actions)
                    if (auto t = std::get_if<Transition>(&a)) {
                        auto m = group->on_transition(cmd.member, *t);
                        more.insert(more.end(), m.begin(), m.end());
                    }
            }
            for (const Action& a : actions)
                if (auto t = std::get_if<Transition>(&a))
                    transitions.push_back("VI_" + std::to_string(cmd.member) + " " + to_string(t->from) + ">" +
                                          to_string(t->to) + "[" + to_string(t->reason) + "]");
            queue.insert(queue.end(), more.begin(), more.end());
        }
    }

    void start_all()
    {
        for (size_t i = 0; i < members.size(); ++i) deliver(i, Startup{});
        transitions.clear();
    }

    State state(size_t i) const { return members[i]->state(); }

    std::string joined() const
    {
        std::string s;
        for (const auto& t : transitions) s += t + "\n";
        return s;
    }

private:
    bool with_instances_ = true;
};

void expect_transitions(const Harness& h, const std::vector<std::string>& expected)
{
    if (h.transitions != expected) {
        fprintf(stderr, "transitions:\n%s", h.joined().c_str());
        fail();
    }
}

void test_master_pulls_others(void**)
{
    for (bool with_instances : {true, false}) {
        Harness h(3, with_instances);
        h.start_all();
        h.deliver(1, MasterDownTimerFired{});
        expect_transitions(h, {
            "VI_1 Backup>Master[master down timer expired]",
            "VI_0 Backup>Master[sync group member became master]",
            "VI_2 Backup>Master[sync group member became master]",
        });
        // Echo transitions produced no further commands: 3 deliveries only.
        assert_int_equal(h.last_rounds, 3);
    }
}

void test_backup_pushes_others(void**)
{
    for (bool with_instances : {true, false}) {
        Harness h(2, with_instances);
        h.start_all();
        h.deliver(0, MasterDownTimerFired{});
        h.transitions.clear();
        Advert higher;
        higher.version = 3;
        higher.vrid = 11;
        higher.priority = 200;
        higher.source = *IpAddress::parse("10.0.0.9");
        h.deliver(1, AdvertReceived{higher});
        expect_transitions(h, {
            "VI_1 Master>Backup[higher priority advert received]",
            "VI_0 Master>Backup[sync group member became backup]",
        });
    }
}

void test_fault_takes_group_out_of_master(void**)
{
    for (bool with_instances : {true, false}) {
        Harness h(2, with_instances);
        h.start_all();
        h.deliver(0, MasterDownTimerFired{});
        h.transitions.clear();
        h.deliver(1, InterfaceDown{});
        expect_transitions(h, {
            "VI_1 Master>Fault[interface down]",
            "VI_0 Master>Fault[sync group member in fault]",
        });
        assert_true(h.group->in_fault());
        // While the group is in fault nobody can become Master.
        h.transitions.clear();
        h.deliver(0, MasterDownTimerFired{});
        assert_true(h.transitions.empty());
        // Recovery: both return to Backup together. With the instances, the
        // recovered member too waits for the group's all-clear (sent in member
        // order); without them it leaves first and its transition clears the group.
        h.deliver(1, InterfaceUp{});
        if (with_instances)
            expect_transitions(h, {"VI_0 Fault>Backup[fault cleared]", "VI_1 Fault>Backup[fault cleared]"});
        else
            expect_transitions(h, {"VI_1 Fault>Backup[fault cleared]", "VI_0 Fault>Backup[fault cleared]"});
        assert_false(h.group->in_fault());
        assert_true(h.state(0) == State::Backup && h.state(1) == State::Backup);
    }
}

void test_fault_of_backup_member(void**)
{
    Harness h(2);
    h.start_all();
    h.deliver(0, TrackingChanged{0, true});
    expect_transitions(h, {
        "VI_0 Backup>Fault[tracked interface or script failed]",
        "VI_1 Backup>Fault[sync group member in fault]",
    });
}

// A member already in group fault whose own interface then fails makes no
// transition; the group must still hold the fault when the first member
// recovers (fault is a level, read from every member).
void test_fault_level_not_edge(void**)
{
    Harness h(2);
    h.start_all();
    h.deliver(0, InterfaceDown{});
    h.deliver(1, InterfaceDown{});     // already Fault: no transition
    h.transitions.clear();
    h.deliver(0, InterfaceUp{});
    assert_true(h.transitions.empty());
    assert_true(h.state(0) == State::Fault && h.state(1) == State::Fault);
    assert_true(h.group->in_fault());
    h.deliver(1, InterfaceUp{});
    expect_transitions(h, {
        "VI_0 Fault>Backup[fault cleared]",
        "VI_1 Fault>Backup[fault cleared]",
    });
}

void test_fault_at_startup(void**)
{
    Harness h(2);
    h.deliver(0, InterfaceDown{});     // before startup: just recorded
    h.deliver(0, Startup{});
    h.deliver(1, Startup{});
    expect_transitions(h, {
        "VI_0 Initialize>Fault[interface down]",
        "VI_1 Initialize>Fault[sync group member in fault]",
    });
}

void test_shutdown_does_not_propagate(void**)
{
    Harness h(2);
    h.start_all();
    h.deliver(0, MasterDownTimerFired{});
    h.transitions.clear();
    h.deliver(0, Shutdown{});
    expect_transitions(h, {"VI_0 Master>Initialize[shutdown]"});
    assert_true(h.state(1) == State::Master);
}

void test_out_of_range_member(void**)
{
    Harness h(2);
    Transition t{State::Backup, State::Master, Reason::MasterDown};
    assert_true(h.group->on_transition(7, t).empty());
    assert_true(h.group->after_event(7, {t}).empty());
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_master_pulls_others),
        cmocka_unit_test(test_backup_pushes_others),
        cmocka_unit_test(test_fault_takes_group_out_of_master),
        cmocka_unit_test(test_fault_of_backup_member),
        cmocka_unit_test(test_fault_level_not_edge),
        cmocka_unit_test(test_fault_at_startup),
        cmocka_unit_test(test_shutdown_does_not_propagate),
        cmocka_unit_test(test_out_of_range_member),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
