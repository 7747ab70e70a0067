#include "vrrp/timers.h"

#include <algorithm>

namespace vigil::vrrp {

ProtocolTimers protocol_timers(int version, int priority, Centiseconds master_adver_interval)
{
    using std::chrono::duration_cast;
    const int64_t prio = std::clamp(priority, 1, 255);
    const Duration interval = duration_cast<Duration>(std::max(master_adver_interval, Centiseconds{1}));

    // v2, RFC 3768 6.1: Skew_Time = (256 - Priority) / 256 seconds, whatever
    // the advertisement interval.
    // v3, RFC 5798 6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
    // Both in microseconds, truncated: exact for every v2 priority
    // (1 s / 256 = 3906.25 us; the quarter microsecond is below timer precision).
    const Duration skew_base = version == 2 ? Duration{std::chrono::seconds{1}} : interval;
    const Duration skew{(256 - prio) * skew_base.count() / 256};

    // Both RFCs: Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_Time.
    return ProtocolTimers{interval, skew, 3 * interval + skew};
}

}  // namespace vigil::vrrp
