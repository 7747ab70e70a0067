#!/bin/bash
# vm-run.sh GUEST_SCRIPT [ARGS...]
#
# Run GUEST_SCRIPT as root inside a QEMU (TCG) guest booted with the current
# Debian kernel, which has ip_vs; the host kernel here has none (see
# ../shared/docs/LAB.md). The guest sees the host root read-only over 9p, so
# $top_builddir, ipvsadm, keepalived and python3 are at the same paths; it
# has fresh tmpfs on /tmp and /run (build trees under /tmp stay visible),
# loopback up, and `modprobe` works for every module of that kernel.
#
# GUEST_SCRIPT is absolute or relative to $top_srcdir. The guest's console
# (the script's stdout and stderr) is printed here as it runs, and vm-run.sh
# exits with the script's exit status. Exit 77 (SKIP) only when QEMU is not
# installed; a guest that crashes, hangs past the time limit or never starts
# the script is a failure (exit 1), never a pass.
#
# Environment:
#   top_builddir, top_srcdir, VIGILD and every VIGIL_* variable are passed
#   into the guest, plus the variables named in VIGIL_VM_ENV.
#   VIGIL_VM_CACHE    kernel + initramfs cache (default $top_builddir/tests/kernel/cache)
#   VIGIL_VM_TIMEOUT  hard limit for the whole guest run in seconds (default 900)
#   VIGIL_VM_MEM      guest memory in MiB (default 1024)
#   VIGIL_VM_SMP      guest CPUs (default 2)
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
top_srcdir="$(cd "$top_srcdir" && pwd)"
top_builddir="$(cd "$top_builddir" && pwd)"
export top_srcdir top_builddir

say() { echo "vm-run: $*" >&2; }

if [ $# -lt 1 ]; then
    echo "usage: vm-run.sh GUEST_SCRIPT [ARGS...]" >&2
    exit 2
fi
script="$1"; shift
case "$script" in
    /*) ;;
    *) if [ -e "$top_srcdir/$script" ]; then script="$top_srcdir/$script"
       else script="$(pwd)/$script"; fi ;;
esac
if [ ! -f "$script" ]; then
    say "guest script $script not found"
    exit 1
fi

qemu="$(command -v qemu-system-x86_64)" || {
    echo "SKIP: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86); the ip_vs guest cannot run"
    exit 77
}

cache="${VIGIL_VM_CACHE:-$top_builddir/tests/kernel/cache}"
mkdir -p "$cache" || { say "cannot create cache dir $cache"; exit 1; }
cache="$(cd "$cache" && pwd)"
timeout_s="${VIGIL_VM_TIMEOUT:-900}"
mem="${VIGIL_VM_MEM:-1024}"
smp="${VIGIL_VM_SMP:-2}"

# Several tests may start at once (make -j): one of them fills the cache.
exec 9>"$cache/.lock"
flock 9
release="$("$here/fetch-kernel.sh" "$cache")" || { say "cannot fetch the Debian kernel"; exit 1; }
initrd="$("$here/mkinitramfs.sh" "$cache" "$release")" || { say "cannot build the initramfs"; exit 1; }
flock -u 9
exec 9>&-
kernel="$cache/root/boot/vmlinuz-$release"

vmio="$(mktemp -d /tmp/vigil-vm.XXXXXX)" || exit 1
# If vm-run.sh itself is interrupted or terminated, the guest goes with it:
# timeout runs in its own process group (terminal signals miss it), so it is
# signalled by PID and forwards the signal to QEMU.
stop_guest() {
    local pid
    pid="$(cat "$vmio/timeout.pid" 2>/dev/null)" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
}
cleanup() { stop_guest; rm -rf "$vmio"; }
trap cleanup EXIT
trap 'say "interrupted; stopping the guest"; exit 1' INT TERM

# Host paths the guest needs under /tmp or /run (hidden by its fresh tmpfs
# there otherwise), outermost only.
keep=()
# A script lying directly in /tmp is kept as a single file.
for p in "$top_builddir" "$top_srcdir" "$script" "$(dirname "$script")" "$(pwd)" "$cache" ${VIGIL_VM_KEEP:-}; do
    p="$(realpath -m "$p")"
    case "$p" in
        /tmp/*/*|/run/*/*) p="$(echo "$p" | cut -d/ -f1-3)" ;;
        /tmp/?*|/run/?*) ;;
        *) continue ;;
    esac
    case "$p" in *[[:space:]]*) say "paths with spaces are not supported: $p"; exit 1 ;; esac
    keep+=("$p")
done
keep_min=()
while read -r p; do
    [ -n "$p" ] || continue
    covered=no
    for k in "${keep_min[@]}"; do
        case "$p/" in "$k"/*) covered=yes ;; esac
    done
    [ "$covered" = yes ] || keep_min+=("$p")
done < <(printf '%s\n' "${keep[@]}" | sort -u)

{
    printf 'VM_RELEASE=%q\n' "$release"
    printf 'VM_KERNEL_ROOT=%q\n' "$cache/root"
    printf 'VM_KEEP=%q\n' "${keep_min[*]}"
} >"$vmio/vm.conf"

# The job runs as root in a chroot of the host root (see init). It records
# the guest uptime at its start (boot-to-script time) and its exit status.
{
    echo '#!/bin/bash'
    echo 'read -r up _ </proc/uptime; echo "$up" >/run/vigil-vm/started'
    echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb'
    for v in top_builddir top_srcdir VIGILD $(compgen -v VIGIL_) ${VIGIL_VM_ENV:-}; do
        [ -n "${!v+set}" ] && printf 'export %s=%q\n' "$v" "${!v}"
    done
    echo 'ip link set lo up'
    printf 'cd %q 2>/dev/null || cd /\n' "$(pwd)"
    printf 'if [ -x %q ]; then %q' "$script" "$script"
    [ $# -gt 0 ] && printf ' %q' "$@"
    printf '; else bash %q' "$script"
    [ $# -gt 0 ] && printf ' %q' "$@"
    echo '; fi </dev/null'
    echo 'rc=$?'
    echo 'read -r up _ </proc/uptime; echo "$up" >/run/vigil-vm/finished'
    echo 'echo "$rc" >/run/vigil-vm/rc'
} >"$vmio/job.sh"

bios=()
# qboot skips SeaBIOS's device probing: about a second less per boot.
[ -f /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)

# Kernel command line: quiet serial console; panic=-1 + -no-reboot turn a
# guest panic into a QEMU exit instead of a hang; the rest skips probing and
# mitigations that only slow an emulated CPU down.
append="console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off nokaslr"
append+=" i8042.noaux i8042.nokbd i8042.nopnp random.trust_cpu=on tsc=reliable no_timer_check"

start_ns=$(date +%s%N)
# timeout: a hung guest can never hang the suite (SIGKILL 10 s after TERM).
# Run in the background and waited for, so that a signal to vm-run.sh is
# handled at once rather than after the guest ends.
run_qemu() {
    timeout -k 10 "$timeout_s" "$qemu" -nodefaults -no-user-config -accel tcg -cpu max \
    -machine pc -m "$mem" -smp "$smp" -display none -no-reboot "${bios[@]}" \
    -kernel "$kernel" -initrd "$initrd" -append "$append" \
    -chardev stdio,id=console,signal=off -serial chardev:console \
    -virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$vmio,mount_tag=vmio,security_model=none,multidevs=remap" \
    </dev/null 2>&1 &
    echo $! >"$vmio/timeout.pid"
    wait $!
    echo $? >"$vmio/qemu.rc"
}
run_qemu | sed -u -e 's/\r$//' -e '/^\[ *[0-9.]*\] reboot: Power down$/d' &
wait $!
qemu_rc="$(cat "$vmio/qemu.rc" 2>/dev/null || echo '?')"
rm -f "$vmio/timeout.pid"
total_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

if [ ! -s "$vmio/rc" ]; then
    if [ ! -e "$vmio/started" ]; then
        say "FAIL: the guest never started $script (boot failure or hang; QEMU exit $qemu_rc after ${total_ms} ms)"
    elif [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
        say "FAIL: $script did not finish within VIGIL_VM_TIMEOUT=${timeout_s}s; guest killed"
    else
        say "FAIL: the guest stopped before $script reported an exit status (QEMU exit $qemu_rc)"
    fi
    exit 1
fi
rc="$(cat "$vmio/rc")"
case "$rc" in
    ''|*[!0-9]*) say "FAIL: unreadable exit status '$rc'"; exit 1 ;;
esac
say "$(basename "$script") exit $rc; guest uptime at script start $(cat "$vmio/started") s, script $(awk -v a="$(cat "$vmio/started")" -v b="$(cat "$vmio/finished" 2>/dev/null || echo 0)" 'BEGIN { printf "%.2f", b - a }') s, total ${total_ms} ms"
exit "$rc"
