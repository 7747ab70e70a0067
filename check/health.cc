#include "check/health.h"

namespace vigil::check {

const char* to_string(Health h) { return h == Health::Up ? "UP" : "DOWN"; }

Verdict CheckerHealth::on_result(const ProbeResult& result) {
    Verdict v;
    if (result.ok) {
        // One success is enough to come (back) up: keepalived has no "rise" for
        // real-server checkers.
        v.changed = health_ != Health::Up;
        health_ = Health::Up;
        failures_in_row_ = 0;
        if (result.weight) dynamic_weight_ = result.weight;
        v.next_probe_in = policy_.delay_loop;
    } else if (health_ == Health::Down) {
        v.next_probe_in = policy_.delay_loop;
    } else if (failures_in_row_ < policy_.retry) {
        // Still UP: spend one retry before deciding.
        ++failures_in_row_;
        v.next_probe_in = policy_.delay_before_retry;
        v.retrying = true;
    } else {
        v.changed = true;
        health_ = Health::Down;
        failures_in_row_ = 0;
        v.next_probe_in = policy_.delay_loop;
    }
    v.health = health_;
    return v;
}

milliseconds first_probe_delay(milliseconds bound, uint64_t seed) {
    if (bound.count() <= 0) return milliseconds{0};
    // splitmix64 finaliser: consecutive seeds land far apart in [0, bound).
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return milliseconds{static_cast<int64_t>(z % static_cast<uint64_t>(bound.count()))};
}

}  // namespace vigil::check
