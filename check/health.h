// The up/down decision of one checker, from a stream of probe results. Pure:
// no sockets, no clock reads; the caller feeds results and schedules the next
// probe after the delay this returns.
//
// Semantics follow keepalived.conf(5) for a real server's checker:
//  - `delay_loop`: time between probes while nothing is wrong;
//  - `retry` (old name `nb_get_retry`): after a failure of an UP checker, probe
//    again up to `retry` more times, `delay_before_retry` apart; only when the
//    last of those also fails does the checker go DOWN. A single success at any
//    point brings the checker UP at once and clears the failure count.
//  - `alpha`: the checker starts DOWN (the real server is not in the pool until
//    its first success); without it the checker starts UP.
//  - A DOWN checker that fails again stays DOWN and waits `delay_loop`: there is
//    no decision left for a retry to make.
//  - `warmup` / start-up jitter: the first probe is delayed by a spread value in
//    [0, warmup) (warmup unset: [0, delay_loop)) so that thousands of checkers
//    configured together do not all probe in the same instant.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace vigil::check {

using std::chrono::milliseconds;

enum class Health { Down, Up };
const char* to_string(Health h);

struct RetryPolicy {
    int retry = 1;
    milliseconds delay_before_retry{1000};
    milliseconds delay_loop{60000};
};

// One probe's outcome. `weight` is set only by a MISC_CHECK with misc_dynamic
// that asked for a new weight.
struct ProbeResult {
    bool ok = false;
    std::optional<int> weight;
    static ProbeResult success() { return {true, std::nullopt}; }
    static ProbeResult failure() { return {false, std::nullopt}; }
};

struct Verdict {
    bool changed = false;          // health differs from before this result
    Health health = Health::Up;    // health after this result
    milliseconds next_probe_in{};  // when to probe again
    bool retrying = false;         // next probe is a retry (delay_before_retry)
};

class CheckerHealth {
public:
    CheckerHealth(RetryPolicy policy, bool alpha)
        : policy_(policy), health_(alpha ? Health::Down : Health::Up) {}

    Verdict on_result(const ProbeResult& result);

    Health health() const { return health_; }
    // Failures since the last success while UP (0..retry).
    int failures_in_row() const { return failures_in_row_; }
    const RetryPolicy& policy() const { return policy_; }
    // A reload may change the timings of a checker and keep its state.
    void set_policy(RetryPolicy policy) { policy_ = policy; }
    // The weight the last result asked for (misc_dynamic), if any.
    std::optional<int> dynamic_weight() const { return dynamic_weight_; }

private:
    RetryPolicy policy_;
    Health health_;
    int failures_in_row_ = 0;
    std::optional<int> dynamic_weight_;
};

// Delay before a checker's first probe: spread over [0, bound) from `seed`
// (e.g. a hash of the checker's identity, or a counter) so start-up and
// reload do not probe everything at once. bound <= 0 gives 0.
milliseconds first_probe_delay(milliseconds bound, uint64_t seed);

}  // namespace vigil::check
