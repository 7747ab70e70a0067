// The VRRP protocol timers, computed in ONE place from the RFC formulas.
#pragma once

#include <chrono>

#include "daemon/config/model.h"

namespace vigil::vrrp {

using config::Centiseconds;
// Microseconds: v2's skew is a fraction of a second ((256 - 100) / 256 s =
// 609375 us) and v3's skew of a 1 cs interval is below a centisecond, so a
// coarser unit would round timers and shift elections.
using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::steady_clock::time_point;

struct ProtocolTimers {
    Duration advert_interval;       // Master_Adver_Interval as a duration
    Duration skew_time;             // Skew_Time
    Duration master_down_interval;  // Master_Down_Interval
};

// RFC 3768 section 6.1 (VRRPv2, intervals in whole seconds):
//   Skew_Time            = (256 - Priority) / 256            seconds
//   Master_Down_Interval = (3 * Advertisement_Interval) + Skew_time
// RFC 5798 section 6.1 (VRRPv3, intervals in centiseconds):
//   Skew_Time            = ((256 - Priority) * Master_Adver_Interval) / 256
//   Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_time
// `priority` is the LOCAL (effective) priority of the Backup doing the
// waiting, 1..255. `master_adver_interval` is the configured interval for v2
// and for a v3 Master, and the interval learned from the Master's
// advertisements for a v3 Backup (RFC 5798 6.4.2).
// Out-of-range inputs are clamped (priority to 1..255, interval to >= 1 cs):
// a timer must always be positive and finite.
ProtocolTimers protocol_timers(int version, int priority, Centiseconds master_adver_interval);

}  // namespace vigil::vrrp
