// IpvsReconciler against a fake kernel: an in-memory table that applies
// changes with the kernel's error rules (EEXIST, ESRCH, ENOENT) and can be told
// to lose acks or be changed behind the reconciler's back.

#include <errno.h>

#include <cstring>
#include <functional>
#include <string>

#include "ipvs/reconciler.h"

// cmocka last (it defines a fail() macro that C++ headers trip over), and as
// C: this version of its header has no extern "C" of its own.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::ipvs;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

class FakeKernel : public IpvsKernel {
public:
    Table table;
    size_t dumps = 0;
    size_t messages = 0;
    size_t flushes = 0;
    // Called before each apply (e.g. to simulate another writer).
    std::function<void()> before_apply;
    int lose_acks = 0;  // this many next applies report resync_needed

    std::optional<Table> dump(const OwnedSet& which) override {
        ++dumps;
        Table out;
        for (const auto& [k, s] : table)
            if (which.count(k)) out[k] = s;
        return out;
    }
    std::optional<Table> dump_all() override { return table; }
    bool flush() override {
        ++flushes;
        table.clear();
        return true;
    }
    ApplyResult apply(const std::vector<Change>& changes) override {
        if (before_apply) before_apply();
        ApplyResult r;
        r.sendmsg_calls = 1;
        for (const auto& c : changes) {
            ++r.messages;
            ++messages;
            if (int err = apply_one(c)) r.failures.push_back({c, err});
        }
        if (lose_acks > 0) {
            --lose_acks;
            r.resync_needed = true;
        }
        return r;
    }

private:
    int apply_one(const Change& c) {
        auto svc = table.find(c.service);
        switch (c.kind) {
            case ChangeKind::AddService:
                if (svc != table.end()) return EEXIST;
                if (c.service_attrs->scheduler == "nosuch") return ENOENT;
                table[c.service].attrs = *c.service_attrs;
                return 0;
            case ChangeKind::EditService:
                if (svc == table.end()) return ESRCH;
                svc->second.attrs = *c.service_attrs;
                return 0;
            case ChangeKind::DelService:
                if (svc == table.end()) return ESRCH;
                table.erase(svc);
                return 0;
            default: break;
        }
        if (svc == table.end()) return ESRCH;
        auto& dests = svc->second.dests;
        auto d = dests.find(c.dest);
        switch (c.kind) {
            case ChangeKind::AddDest:
                if (d != dests.end()) return EEXIST;
                dests[c.dest] = c.dest_attrs;
                return 0;
            case ChangeKind::EditDest:
                if (d == dests.end()) return ENOENT;
                d->second = c.dest_attrs;
                return 0;
            case ChangeKind::DelDest:
                if (d == dests.end()) return ENOENT;
                dests.erase(d);
                return 0;
            default: return 0;
        }
    }
};

// 3 services x 4 real servers.
Table desired_table() {
    Table t;
    for (int s = 1; s <= 3; ++s) {
        Service svc;
        svc.attrs.scheduler = "wrr";
        for (int d = 1; d <= 4; ++d) {
            DestAttrs a;
            a.forward = Forward::Dr;
            a.weight = d;
            svc.dests[{ip(("10.0." + std::to_string(s) + "." + std::to_string(d)).c_str()), 80}] = a;
        }
        t[ServiceKey::tcp(ip(("192.0.2." + std::to_string(s)).c_str()), 80)] = svc;
    }
    return t;
}

OwnedSet keys_of(const Table& t) {
    OwnedSet o;
    for (const auto& kv : t) o.insert(kv.first);
    return o;
}

ServiceKey foreign_key() { return ServiceKey::tcp(ip("198.51.100.1"), 25); }

struct Rig {
    FakeKernel* kernel;
    IpvsReconciler rec;
    Rig() : Rig(new FakeKernel) {}
    explicit Rig(FakeKernel* k) : kernel(k), rec(std::unique_ptr<IpvsKernel>(k)) {
        Service foreign;
        foreign.attrs.scheduler = "rr";
        foreign.dests[{ip("10.9.9.9"), 25}] = DestAttrs{};
        kernel->table[foreign_key()] = foreign;
        rec.set_desired(desired_table(), keys_of(desired_table()));
    }
};

void first_reconcile_programs_everything(void**) {
    Rig r;
    auto s = r.rec.reconcile();
    assert_int_equal(s.messages, 3 + 12);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.rounds, 1);
    Table without_foreign = r.kernel->table;
    without_foreign.erase(foreign_key());
    assert_true(without_foreign == desired_table());
}

void unchanged_reconcile_writes_nothing(void**) {
    Rig r;
    r.rec.reconcile();
    r.kernel->messages = 0;
    auto s = r.rec.reconcile();
    assert_int_equal(s.messages, 0);
    assert_int_equal(r.kernel->messages, 0);
    assert_int_equal(r.rec.totals().reconciles, 2);
    assert_int_equal(r.rec.totals().messages, 15);
}

void weight_change_is_one_message(void**) {
    Rig r;
    r.rec.reconcile();
    Table want = desired_table();
    want.begin()->second.dests.begin()->second.weight = 77;
    r.rec.set_desired(want, keys_of(want));
    auto s = r.rec.reconcile();
    assert_int_equal(s.messages, 1);
    assert_int_equal(r.kernel->table.begin()->second.dests.begin()->second.weight, 77);
}

void rule_deleted_by_hand_is_restored(void**) {
    Rig r;
    r.rec.reconcile();
    auto& svc = r.kernel->table.begin()->second;
    svc.dests.erase(svc.dests.begin());
    auto s = r.rec.reconcile();
    assert_int_equal(s.messages, 1);
    Table without_foreign = r.kernel->table;
    without_foreign.erase(foreign_key());
    assert_true(without_foreign == desired_table());
}

void foreign_service_survives_start_reload_stop(void**) {
    Rig r;
    r.rec.start(false);
    r.rec.reconcile();
    Table smaller = desired_table();
    smaller.erase(smaller.begin());
    r.rec.set_desired(smaller, keys_of(smaller));
    auto s = r.rec.reconcile();
    assert_int_equal(s.messages, 1);  // the dropped service, in one message
    assert_int_equal(r.kernel->table.size(), 2 + 1);
    r.rec.stop(false);
    assert_int_equal(r.kernel->table.size(), 1);
    assert_true(r.kernel->table.begin()->first == foreign_key());
    assert_int_equal(r.kernel->flushes, 0);
}

void matching_services_are_adopted_without_churn(void**) {
    auto* k = new FakeKernel;
    k->table = desired_table();
    k->table.begin()->second.attrs.flags |= IP_VS_SVC_F_HASHED;
    Rig r(k);
    auto s = r.rec.reconcile();
    assert_int_equal(s.messages, 0);
}

void lvs_flush_and_flush_on_stop(void**) {
    Rig r;
    r.rec.start(true);
    assert_int_equal(r.kernel->flushes, 1);
    assert_int_equal(r.kernel->table.size(), 0);  // keepalived's lvs_flush: everything
    r.rec.reconcile();
    r.kernel->table[foreign_key()] = Service{};
    r.rec.stop(true);
    assert_int_equal(r.kernel->flushes, 2);
    assert_int_equal(r.kernel->table.size(), 0);
}

void concurrent_add_is_reconciled_not_fatal(void**) {
    Rig r;
    // Someone creates one of our services (different scheduler) and one of
    // our destinations between our dump and our apply: EEXIST, then re-read.
    r.kernel->before_apply = [k = r.kernel]() {
        if (k->messages) return;
        Service s;
        s.attrs.scheduler = "rr";
        s.dests[{ip("10.0.1.1"), 80}] = DestAttrs{};
        k->table[ServiceKey::tcp(ip("192.0.2.1"), 80)] = s;
    };
    auto st = r.rec.reconcile();
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.rounds, 2);
    Table without_foreign = r.kernel->table;
    without_foreign.erase(foreign_key());
    assert_true(without_foreign == desired_table());
    assert_int_equal(r.rec.totals().resyncs, 1);
}

void lost_ack_triggers_reread(void**) {
    Rig r;
    r.kernel->lose_acks = 1;
    auto st = r.rec.reconcile();
    assert_int_equal(st.rounds, 2);
    assert_int_equal(r.kernel->dumps, 2);
    assert_int_equal(st.messages, 15);  // the re-read found nothing left to do
}

void refused_rule_is_counted_and_others_apply(void**) {
    Rig r;
    Table want = desired_table();
    want.begin()->second.attrs.scheduler = "nosuch";
    r.rec.set_desired(want, keys_of(want));
    auto st = r.rec.reconcile();
    // The service add fails (ENOENT: unknown scheduler) and its 4 destinations
    // with it (ESRCH); the other two services are complete.
    assert_int_equal(st.rounds, 1);
    assert_int_equal(st.failures, 5);
    assert_int_equal(r.kernel->table.size(), 2 + 1);
}

void update_uses_the_known_table_without_dumping(void**) {
    Rig r;
    r.rec.update();  // first pass: nothing known, so a full reconcile
    assert_int_equal(r.rec.totals().table_reads, 1);
    assert_int_equal(r.kernel->dumps, 1);
    Table want = desired_table();
    want.begin()->second.dests.begin()->second.weight = 0;  // a check failed, inhibit
    r.rec.set_desired(want, keys_of(want));
    auto s = r.rec.update();
    assert_int_equal(s.messages, 1);
    assert_int_equal(r.kernel->dumps, 1);  // no re-read for a health change
    assert_int_equal(r.kernel->table.begin()->second.dests.begin()->second.weight, 0);
    s = r.rec.update();  // nothing changed: nothing written
    assert_int_equal(s.messages, 0);
    assert_int_equal(r.kernel->dumps, 1);
    assert_int_equal(r.rec.totals().table_reads, 1);
    assert_non_null(strstr(r.rec.stats_text().c_str(), "ipvs_table_reads 1\n"));
}

// The reconciler keeps no copy of a table the kernel holds exactly; a second
// set_desired() before the update must still diff against the kernel's state,
// not against the table the first one replaced.
void update_after_two_desired_tables_diffs_against_the_kernel(void**) {
    Rig r;
    r.rec.update();
    Table first = desired_table();
    first.begin()->second.dests.begin()->second.weight = 0;
    r.rec.set_desired(first, keys_of(first));
    Table second = desired_table();
    std::next(second.begin()->second.dests.begin())->second.weight = 7;
    r.rec.set_desired(second, keys_of(second));
    auto s = r.rec.update();
    assert_int_equal(s.messages, 1);  // only the second table's edit: the first never reached the kernel
    assert_int_equal(r.kernel->dumps, 1);
    Table without_foreign = r.kernel->table;
    without_foreign.erase(foreign_key());
    assert_true(without_foreign == second);
    assert_true(r.rec.desired() == second);
}

void update_falls_back_when_the_table_changed_under_it(void**) {
    Rig r;
    r.rec.reconcile();
    // An operator deletes one of our services by hand; then a health change
    // on it: the edit fails (ESRCH), and the full pass restores everything.
    r.kernel->table.erase(r.kernel->table.begin());
    Table want = desired_table();
    want.begin()->second.dests.begin()->second.weight = 9;
    r.rec.set_desired(want, keys_of(want));
    auto s = r.rec.update();
    assert_int_equal(r.kernel->dumps, 2);
    assert_int_equal(s.messages, 1 + 1 + 4);  // the failed edit, then service + 4 dests
    Table without_foreign = r.kernel->table;
    without_foreign.erase(foreign_key());
    assert_true(without_foreign == want);
}

void unavailable_ipvs_is_a_noop(void**) {
    IpvsReconciler rec(nullptr);
    rec.set_desired(desired_table(), keys_of(desired_table()));
    assert_false(rec.available());
    assert_false(rec.start(true));
    auto s = rec.reconcile();
    assert_int_equal(s.messages, 0);
    rec.stop(true);
    assert_non_null(strstr(rec.stats_text().c_str(), "ipvs_available 0\n"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_reconcile_programs_everything),
        cmocka_unit_test(unchanged_reconcile_writes_nothing),
        cmocka_unit_test(weight_change_is_one_message),
        cmocka_unit_test(rule_deleted_by_hand_is_restored),
        cmocka_unit_test(foreign_service_survives_start_reload_stop),
        cmocka_unit_test(matching_services_are_adopted_without_churn),
        cmocka_unit_test(lvs_flush_and_flush_on_stop),
        cmocka_unit_test(concurrent_add_is_reconciled_not_fatal),
        cmocka_unit_test(lost_ack_triggers_reread),
        cmocka_unit_test(refused_rule_is_counted_and_others_apply),
        cmocka_unit_test(update_uses_the_known_table_without_dumping),
        cmocka_unit_test(update_after_two_desired_tables_diffs_against_the_kernel),
        cmocka_unit_test(update_falls_back_when_the_table_changed_under_it),
        cmocka_unit_test(unavailable_ipvs_is_a_noop),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
