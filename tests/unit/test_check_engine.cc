// CheckEngine with a fake ProbeFactory on a real libev loop: results that
// arrive together become one batch; a reload keeps the state of unchanged
// checkers and restarts changed ones; removed checkers cancel their probe.
#include <memory>
#include <string>
#include <vector>

#include "check/engine.h"

// cmocka last: its macros (fail, ...) clash with the C++ headers; its header
// declares C functions without extern "C".
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::check;
using std::chrono::milliseconds;

namespace {

struct Pending {
    ProbeTarget target;
    ProbeDone done;
    bool cancelled = false;
    bool completed = false;
};

class FakeProbe final : public Probe {
public:
    explicit FakeProbe(std::shared_ptr<Pending> p) : p_(std::move(p)) {}
    ~FakeProbe() override {
        if (!p_->completed) p_->cancelled = true;
    }

private:
    std::shared_ptr<Pending> p_;
};

class FakeProbes final : public ProbeFactory {
public:
    std::unique_ptr<Probe> start(const ProbeTarget& t, ProbeDone done) override {
        auto p = std::make_shared<Pending>();
        p->target = t;
        p->done = std::move(done);
        pending.push_back(p);
        ++started;
        return std::make_unique<FakeProbe>(p);
    }
    // Completes every probe in flight for which `ok_for(target)` decides.
    template <class F>
    size_t complete_all(F ok_for) {
        auto now = std::move(pending);
        pending.clear();
        size_t n = 0;
        for (auto& p : now) {
            if (p->cancelled) continue;
            p->completed = true;
            bool ok = ok_for(p->target);
            p->done(ok ? ProbeResult::success() : ProbeResult::failure(), ok ? "" : "fake failure");
            ++n;
        }
        return n;
    }
    std::vector<std::shared_ptr<Pending>> pending;
    size_t started = 0;
};

IpAddress ip(const std::string& s) { return *IpAddress::parse(s); }

std::shared_ptr<config::Config> make_config(int servers) {
    auto cfg = std::make_shared<config::Config>();
    config::VirtualServer vs;
    vs.key = config::IpPort{ip("10.0.0.1"), 80};
    vs.delay_loop = milliseconds{20};
    for (int i = 1; i <= servers; ++i) {
        config::RealServer rs;
        rs.addr = ip("10.0.1." + std::to_string(i));
        rs.port = 80;
        config::Checker c;
        c.retry = 0;
        c.warmup = milliseconds{0};  // first probe at once
        c.connect_timeout = milliseconds{1000};
        rs.checkers.push_back(c);
        vs.real_servers.push_back(rs);
    }
    cfg->virtual_servers.push_back(vs);
    return cfg;
}

struct Fixture {
    ev::Loop* loop = ev_loop_new(EVFLAG_AUTO);
    FakeProbes probes;
    int batches = 0;
    std::unique_ptr<CheckEngine> engine;
    Fixture() {
        engine = std::make_unique<CheckEngine>(loop, probes, [this] { ++batches; }, milliseconds{0});
    }
    ~Fixture() {
        engine.reset();
        ev_loop_destroy(loop);
    }
    // Runs the loop until `pred` holds or `limit` passes.
    template <class P>
    bool run_until(P pred, milliseconds limit = milliseconds{500}) {
        ev::Timer tick(loop, [] {});
        double deadline = ev_time() + std::chrono::duration<double>(limit).count();
        while (!pred()) {
            if (ev_time() > deadline) return false;
            tick.start(milliseconds{1});
            ev_run(loop, EVRUN_ONCE);
        }
        return true;
    }
    bool up(const config::Config& cfg, size_t i) const {
        return engine->health_of(cfg.virtual_servers[0], cfg.virtual_servers[0].real_servers[i]).up;
    }
};

void test_results_together_make_one_batch(void**) {
    Fixture f;
    auto cfg = make_config(50);
    f.engine->apply(cfg);
    assert_int_equal(f.engine->checker_count(), 50);
    assert_true(f.run_until([&] { return f.probes.pending.size() == 50; }));
    // All 50 fail in the same loop iteration: 50 transitions, one batch.
    f.probes.complete_all([](const ProbeTarget&) { return false; });
    assert_true(f.run_until([&] { return f.batches > 0; }));
    assert_int_equal(f.batches, 1);
    assert_int_equal(f.engine->stats().server_transitions, 50);
    for (size_t i = 0; i < 50; ++i) assert_false(f.up(*cfg, i));
    // Probes keep coming every delay_loop; a down checker failing again is no change.
    assert_true(f.run_until([&] { return f.probes.pending.size() == 50; }));
    f.probes.complete_all([](const ProbeTarget&) { return false; });
    f.run_until([] { return false; }, milliseconds{10});
    assert_int_equal(f.batches, 1);
}

void test_batches_spaced_by_min_interval(void**) {
    Fixture f;
    f.engine = std::make_unique<CheckEngine>(f.loop, f.probes, [&] { ++f.batches; }, milliseconds{0},
                                             milliseconds{200});
    auto cfg = make_config(2);
    f.engine->apply(cfg);
    assert_true(f.run_until([&] { return f.probes.pending.size() == 2; }));
    // .1 fails: the first batch comes at once.
    f.probes.complete_all([](const ProbeTarget& t) { return t.addr.str() != "10.0.1.1"; });
    double first_at = ev_time();
    assert_true(f.run_until([&] { return f.batches == 1; }, milliseconds{50}));
    // .2 fails next round: its batch waits until 200 ms after the first.
    assert_true(f.run_until([&] { return f.probes.pending.size() == 2; }));
    f.probes.complete_all([](const ProbeTarget& t) { return t.addr.str() != "10.0.1.2"; });
    f.run_until([&] { return f.batches == 2; }, milliseconds{500});
    assert_int_equal(f.batches, 2);
    assert_true(ev_time() - first_at >= 0.195);
    assert_false(f.up(*cfg, 1));
}

void test_probe_target_defaults(void**) {
    Fixture f;
    auto cfg = make_config(1);
    auto& c = cfg->virtual_servers[0].real_servers[0].checkers[0];
    c.connect_port = 8080;
    c.connect_timeout = milliseconds{1500};
    f.engine->apply(cfg);
    assert_true(f.run_until([&] { return f.probes.pending.size() == 1; }));
    const ProbeTarget& t = f.probes.pending[0]->target;
    assert_string_equal(t.addr.str().c_str(), "10.0.1.1");  // connect_ip defaults to the real server
    assert_int_equal(t.port, 8080);
    assert_int_equal(t.timeout.count(), 1500);
    assert_int_equal(static_cast<int>(t.type), static_cast<int>(config::CheckerType::Tcp));
}

void test_reload_keeps_unchanged_checkers(void**) {
    Fixture f;
    auto a = make_config(3);
    f.engine->apply(a);
    assert_true(f.run_until([&] { return f.probes.pending.size() == 3; }));
    // 10.0.1.2 fails: DOWN.
    f.probes.complete_all([](const ProbeTarget& t) { return t.addr.str() != "10.0.1.2"; });
    assert_false(f.up(*a, 1));
    // Next round in flight when the reload comes.
    assert_true(f.run_until([&] { return f.probes.pending.size() == 3; }));
    auto in_flight = f.probes.pending;

    // Reload: weight of .2 changed (checker unchanged), .3's checker changed,
    // .1 removed, .4 added.
    auto b = make_config(4);
    auto& rss = b->virtual_servers[0].real_servers;
    rss[1].weight = 7;
    rss[2].checkers[0].connect_timeout = milliseconds{2500};
    rss.erase(rss.begin());
    f.engine->apply(b);
    assert_int_equal(f.engine->checker_count(), 3);
    // .2 kept its DOWN state across the reload, without a new transition.
    assert_false(f.up(*b, 0));
    // .3 restarted (no alpha: starts UP), .4 new: UP.
    assert_true(f.up(*b, 1));
    assert_true(f.up(*b, 2));
    assert_int_equal(f.batches, 1);  // only the original failure; apply itself never batches
    // The in-flight probes of the removed .1 and the changed .3 were cancelled;
    // the kept .2 probe still runs.
    for (auto& p : in_flight) {
        assert_int_equal(p->cancelled, p->target.addr.str() != "10.0.1.2");
    }
    // Health of a real server the engine does not know: treated as up (no checkers).
    config::RealServer other;
    other.addr = ip("10.9.9.9");
    assert_true(f.engine->health_of(b->virtual_servers[0], other).up);
}

void test_alpha_starts_down_then_up(void**) {
    Fixture f;
    auto cfg = make_config(2);
    cfg->virtual_servers[0].alpha = true;
    f.engine->apply(cfg);
    assert_false(f.up(*cfg, 0));
    assert_false(f.up(*cfg, 1));
    assert_true(f.run_until([&] { return f.probes.pending.size() == 2; }));
    f.probes.complete_all([](const ProbeTarget&) { return true; });
    assert_true(f.up(*cfg, 0));
    assert_true(f.up(*cfg, 1));
    assert_true(f.run_until([&] { return f.batches == 1; }));
}

void test_server_up_only_when_all_checkers_up(void**) {
    Fixture f;
    auto cfg = make_config(1);
    auto& rs = cfg->virtual_servers[0].real_servers[0];
    config::Checker second = rs.checkers[0];
    second.connect_port = 9000;
    rs.checkers.push_back(second);
    f.engine->apply(cfg);
    assert_true(f.run_until([&] { return f.probes.pending.size() == 2; }));
    f.probes.complete_all([](const ProbeTarget& t) { return t.port != 9000; });
    assert_false(f.up(*cfg, 0));
    assert_true(f.run_until([&] { return f.probes.pending.size() == 2; }));
    f.probes.complete_all([](const ProbeTarget&) { return true; });
    assert_true(f.up(*cfg, 0));
    assert_int_equal(f.engine->stats().server_transitions, 2);
}

// TCP and UDP services on one address and port (DNS) are two virtual
// servers: each real server of each is checked, and health is per service.
void test_tcp_and_udp_services_on_one_address(void**) {
    Fixture f;
    auto cfg = make_config(1);
    config::VirtualServer udp = cfg->virtual_servers[0];
    udp.protocol = config::Protocol::Udp;
    udp.real_servers[0].checkers[0].connect_port = 9000;
    cfg->virtual_servers.push_back(udp);
    f.engine->apply(cfg);
    assert_int_equal(f.engine->checker_count(), 2);
    assert_true(f.run_until([&] { return f.probes.pending.size() == 2; }));
    f.probes.complete_all([](const ProbeTarget& t) { return t.port != 9000; });
    const auto& vss = cfg->virtual_servers;
    assert_true(f.engine->health_of(vss[0], vss[0].real_servers[0]).up);
    assert_false(f.engine->health_of(vss[1], vss[1].real_servers[0]).up);
}

// A real server listed twice in one virtual server is checked once; both
// entries report its health. A copy of the config finds it by identity.
void test_real_server_listed_twice(void**) {
    Fixture f;
    auto cfg = make_config(2);
    auto& rss = cfg->virtual_servers[0].real_servers;
    rss.push_back(rss[0]);
    f.engine->apply(cfg);
    assert_int_equal(f.engine->checker_count(), 2);
    assert_true(f.run_until([&] { return f.probes.pending.size() == 2; }));
    f.probes.complete_all([](const ProbeTarget& t) { return t.addr.str() != "10.0.1.1"; });
    assert_false(f.up(*cfg, 0));
    assert_true(f.up(*cfg, 1));
    assert_false(f.up(*cfg, 2));
    config::Config copy = *cfg;
    assert_false(f.up(copy, 0));
    assert_true(f.up(copy, 1));
}

// What the check child programs the kernel with at start, before building
// the checkers, is exactly the health apply() then gives every real server:
// up, down with alpha when it has checkers, a duplicate as its first listing.
void test_initial_health_is_the_health_after_the_first_apply(void**) {
    Fixture f;
    auto cfg = make_config(3);
    auto& plain = cfg->virtual_servers[0];
    plain.real_servers[1].checkers.clear();
    config::VirtualServer alpha = plain;  // alpha, every server checked but .2
    alpha.key = config::IpPort{ip("10.0.0.2"), 80};
    alpha.alpha = true;
    auto& rss = alpha.real_servers;
    rss.push_back(rss[1]);                 // .2 again, this time checked
    rss.back().checkers = rss[0].checkers;
    rss.push_back(rss[0]);                 // .1 again, this time unchecked
    rss.back().checkers.clear();
    config::VirtualServer all_checked = make_config(2)->virtual_servers[0];
    all_checked.key = config::IpPort{ip("10.0.0.3"), 80};
    all_checked.alpha = true;
    cfg->virtual_servers.push_back(alpha);
    cfg->virtual_servers.push_back(all_checked);

    HealthOf initial = CheckEngine::initial_health(*cfg);
    f.engine->apply(cfg);
    const std::vector<std::vector<bool>> expected = {
        {true, true, true},               // no alpha
        {false, true, false, true, false},  // alpha: .1, .2 (no checkers), .3, .2 (as first), .1 (as first)
        {false, false},                   // alpha, all checked
    };
    for (size_t v = 0; v < cfg->virtual_servers.size(); ++v) {
        const auto& vs = cfg->virtual_servers[v];
        assert_int_equal(vs.real_servers.size(), expected[v].size());
        for (size_t r = 0; r < vs.real_servers.size(); ++r) {
            RealServerHealth want = f.engine->health_of(vs, vs.real_servers[r]);
            RealServerHealth got = initial(vs, vs.real_servers[r]);
            assert_int_equal(want.up, expected[v][r]);
            assert_int_equal(got.up, want.up);
            assert_false(got.dynamic_weight.has_value());
        }
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_together_make_one_batch),
        cmocka_unit_test(test_batches_spaced_by_min_interval),
        cmocka_unit_test(test_probe_target_defaults),
        cmocka_unit_test(test_reload_keeps_unchanged_checkers),
        cmocka_unit_test(test_alpha_starts_down_then_up),
        cmocka_unit_test(test_server_up_only_when_all_checkers_up),
        cmocka_unit_test(test_tcp_and_udp_services_on_one_address),
        cmocka_unit_test(test_real_server_listed_twice),
        cmocka_unit_test(test_initial_health_is_the_health_after_the_first_apply),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
