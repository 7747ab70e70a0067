// Announcing VIPs after a takeover so switches and neighbours re-learn where
// they live: gratuitous ARP for IPv4 VIPs (RFC 5798 6.4.2 "broadcast a
// gratuitous ARP request", RFC 5227 3) and unsolicited Neighbor Advertisement
// for IPv6 VIPs (RFC 5798 6.4.2, RFC 4861 7.2.6).
//
// Two parts: GarpPlan, pure, decides WHEN (keepalived's garp_master_delay /
// garp_master_repeat / garp_master_refresh); GarpSender puts the frames on
// the wire.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemon/ipaddr.h"

namespace vigil::vrrp {

// keepalived's definitions (keepalived.conf(5)):
//  - on becoming MASTER, send `repeat` announcements per VIP at once;
//  - `delay` after that, send a second set of `repeat` (0: no second set);
//  - while MASTER, every `refresh` send one more (0: never).
struct GarpSchedule {
    std::chrono::milliseconds delay{5000};
    int repeat = 5;
    std::chrono::milliseconds refresh{0};
};

// Pure: which burst is due when. The I/O layer arms one timer at next_due()
// and calls fire() when it expires.
class GarpPlan {
public:
    using Clock = std::chrono::steady_clock;
    explicit GarpPlan(GarpSchedule s = {}) : sched_(s) {}
    void set_schedule(GarpSchedule s) { sched_ = s; }

    // Became MASTER at `now`: returns how many announcements per VIP to send now.
    int start(Clock::time_point now);
    // Master again without a takeover (the vrrp child restarted, or a reload
    // changed the instance): nothing to announce now, but the
    // garp_master_refresh period goes on from `now`.
    void resume(Clock::time_point now);
    // Left MASTER: nothing more is due.
    void stop() { next_.reset(); second_set_pending_ = false; }
    // When the next burst is due, if any.
    std::optional<Clock::time_point> next_due() const { return next_; }
    // The timer fired at `now`: announcements per VIP to send now (0 if none due).
    int fire(Clock::time_point now);
    bool active() const { return next_.has_value(); }

private:
    void schedule_refresh(Clock::time_point from);
    GarpSchedule sched_;
    std::optional<Clock::time_point> next_;
    bool second_set_pending_ = false;
};

// Frame builders, pure so tests can check the bytes.
// ARP request, sender = target = vip, target hardware broadcast
// (RFC 5227 3: "ARP Announcement").
std::vector<uint8_t> build_gratuitous_arp(const std::array<uint8_t, 6>& mac, const IpAddress& vip);
// ICMPv6 Neighbor Advertisement (type 136) with the Override flag and a target
// link-layer address option; checksum left 0 (the kernel fills it in for
// ICMPv6 raw sockets).
std::vector<uint8_t> build_unsolicited_na(const std::array<uint8_t, 6>& mac, const IpAddress& vip);

class GarpSender {
public:
    static std::unique_ptr<GarpSender> open(std::string* error);
    ~GarpSender();
    GarpSender(const GarpSender&) = delete;
    GarpSender& operator=(const GarpSender&) = delete;

    // One announcement for `vip` out of interface `ifindex` (MAC `mac`).
    bool announce(int ifindex, const std::array<uint8_t, 6>& mac, const IpAddress& vip, std::string* error);
    uint64_t sent() const { return sent_; }

private:
    GarpSender() = default;
    int arp_fd_ = -1;   // AF_PACKET, SOCK_DGRAM, ETH_P_ARP
    int nd_fd_ = -1;    // AF_INET6 raw ICMPv6, hop limit 255 (RFC 4861 7.1.2)
    uint64_t sent_ = 0;
};

}  // namespace vigil::vrrp
