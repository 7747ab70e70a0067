// tcp_connect_floor: the kernel's own cost of a TCP connect check, for the
// check-process benchmark (check_cpu_guest.sh; not installed).
//
//   tcp_connect_floor RATE SECONDS S R
//
// Connects RATE times a second, for SECONDS, round-robin to 10.200.s.r:80
// (s < S, r < R: the benchmark's real servers), each time the least a TCP
// check can do: socket(), connect() (blocking: on a local address the
// three-way handshake completes inside the call), close() with SO_LINGER 0
// (one RST instead of the FIN exchange and TIME_WAIT, as vigil's TCP_CHECK
// closes). Paced in 10 ms batches (RATE / 100 connects per wake-up; vigild's
// loop gathers timers 5 ms apart): a wake-up per connect would cost this
// emulated guest more than the connects. No event loop, no bookkeeping:
// whatever a checker process spends beyond this is its own overhead.
// Prints one line:
//   tcp_connect_floor: connects=N failed=N cpu_pct=X user_pct=Y
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

double seconds_of(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

bool connect_once(uint32_t addr_host_order) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(80);
    sa.sin_addr.s_addr = htonl(addr_host_order);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    close(fd);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: tcp_connect_floor RATE SECONDS S R\n");
        return 2;
    }
    long rate = std::atol(argv[1]), secs = std::atol(argv[2]), s_count = std::atol(argv[3]),
         r_count = std::atol(argv[4]);
    if (rate <= 0 || secs <= 0 || s_count <= 0 || s_count > 256 || r_count <= 0 || r_count > 256) {
        std::fprintf(stderr, "tcp_connect_floor: bad arguments\n");
        return 2;
    }
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto period = std::chrono::nanoseconds(1'000'000'000 / rate);
    const long total = rate * secs;
    rusage before{};
    getrusage(RUSAGE_SELF, &before);
    long connects = 0, failed = 0;
    const long batch = rate >= 100 ? rate / 100 : 1;
    for (long i = 0; i < total; i++) {
        // Connect i is due at start + i * period; one wake-up per batch.
        if (i % batch == 0) std::this_thread::sleep_until(start + i * period);
        uint32_t s = static_cast<uint32_t>((i / r_count) % s_count), r = static_cast<uint32_t>(i % r_count);
        uint32_t addr = (10u << 24) | (200u << 16) | (s << 8) | r;
        connects++;
        if (!connect_once(addr)) failed++;
    }
    const double wall = std::chrono::duration<double>(clock::now() - start).count();
    rusage after{};
    getrusage(RUSAGE_SELF, &after);
    double user = seconds_of(after.ru_utime) - seconds_of(before.ru_utime);
    double sys = seconds_of(after.ru_stime) - seconds_of(before.ru_stime);
    std::printf("tcp_connect_floor: connects=%ld failed=%ld cpu_pct=%.1f user_pct=%.1f wall_s=%.1f\n", connects,
                failed, 100 * (user + sys) / wall, 100 * user / wall, wall);
    return failed == 0 ? 0 : 1;
}
