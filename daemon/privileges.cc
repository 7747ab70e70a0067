#include "daemon/privileges.h"

#include <errno.h>
#include <sys/capability.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

namespace vigil::privileges {

CapList vrrp_child_capabilities() { return {CAP_NET_ADMIN, CAP_NET_RAW, CAP_SETUID, CAP_SETGID, CAP_KILL}; }

CapList check_child_capabilities() { return {CAP_NET_ADMIN, CAP_SETUID, CAP_SETGID, CAP_KILL}; }

namespace {

struct CapFree {
    void operator()(void* p) const { cap_free(p); }
};

bool has(cap_t caps, cap_value_t c, cap_flag_t set) {
    cap_flag_value_t v = CAP_CLEAR;
    return cap_get_flag(caps, c, set, &v) == 0 && v == CAP_SET;
}

}  // namespace

bool keep_only(const CapList& keep, std::string* error, std::string* note) {
    std::unique_ptr<_cap_struct, CapFree> current(cap_get_proc());
    if (!current) {
        *error = std::string("cap_get_proc: ") + strerror(errno);
        return false;
    }
    // Only what we hold can be kept: an unprivileged vigild keeps nothing.
    std::vector<cap_value_t> kept;
    for (int c : keep)
        if (has(current.get(), c, CAP_PERMITTED)) kept.push_back(c);

    // Bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
    if (has(current.get(), CAP_SETPCAP, CAP_EFFECTIVE)) {
        // cap_max_bits(): what the running kernel knows, which may be more
        // than the headers this was built with.
        for (cap_value_t c = 0; c < cap_max_bits(); ++c) {
            if (std::find(keep.begin(), keep.end(), c) != keep.end()) continue;
            if (cap_drop_bound(c) != 0) {
                *error = "dropping capability " + std::to_string(c) + " from the bounding set: " + strerror(errno);
                return false;
            }
        }
    } else if (note) {
        *note = "no CAP_SETPCAP: bounding set left as it is";
    }
    // Ambient capabilities would survive execve() of a script; none are
    // wanted. EINVAL: a kernel without them (before 4.3).
    if (cap_reset_ambient() != 0 && errno != EINVAL) {
        *error = std::string("clearing the ambient set: ") + strerror(errno);
        return false;
    }
    std::unique_ptr<_cap_struct, CapFree> next(cap_init());
    if (!next) {
        *error = std::string("cap_init: ") + strerror(errno);
        return false;
    }
    if (!kept.empty() && (cap_set_flag(next.get(), CAP_PERMITTED, static_cast<int>(kept.size()), kept.data(), CAP_SET) != 0 ||
                          cap_set_flag(next.get(), CAP_EFFECTIVE, static_cast<int>(kept.size()), kept.data(), CAP_SET) != 0)) {
        *error = std::string("cap_set_flag: ") + strerror(errno);
        return false;
    }
    if (cap_set_proc(next.get()) != 0) {
        *error = std::string("cap_set_proc: ") + strerror(errno);
        return false;
    }
    return true;
}

std::string describe_current() {
    std::unique_ptr<_cap_struct, CapFree> current(cap_get_proc());
    if (!current) return "?";
    char* text = cap_to_text(current.get(), nullptr);
    if (!text) return "?";
    std::string out = text;
    cap_free(text);
    return out;
}

}  // namespace vigil::privileges
