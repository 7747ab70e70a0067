// Process titles: the vrrp and check children show up in ps as
// "vigild: vrrp" / "vigild: check", as operators know from other daemons.
#pragma once

namespace vigil::proctitle {

// Call once at the start of main, before anything reads argv or environ
// again: the memory behind argv (and the environment strings that follow it)
// becomes the title buffer, so environ is moved to a copy on the heap.
void init(int argc, char** argv);

// Overwrites the command line shown in /proc/PID/cmdline (ps -f) and sets the
// thread name (ps -e, top; at most 15 bytes). Truncated to the space available.
void set(const char* title);

}  // namespace vigil::proctitle
