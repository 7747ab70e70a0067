#!/bin/bash
# Installs everything vigil needs to build and test on Debian 12, then builds
# it out of tree. Used by both quick-start commands (tests/demo.sh and
# tests/run-suite.sh); safe to run again (it skips what is already there).
#
#   tests/setup.sh [BUILD_DIR [configure options...]]
set -euo pipefail

srcdir="$(cd "$(dirname "$0")/.." && pwd)"
builddir="${1:-$srcdir/build}"
shift || true

# Build and test dependencies, one Debian package per line (README explains each).
PACKAGES=(
    build-essential autoconf automake libtool autoconf-archive pkg-config
    libev-dev libmnl-dev libnl-3-dev libnl-route-3-dev libnl-genl-3-dev
    libcurl4-openssl-dev libssl-dev libcmocka-dev libcap-dev
    iproute2 procps kmod cpio busybox-static qemu-system-x86 qemu-utils
    ipvsadm keepalived tcpdump python3 python3-scapy socat curl iptables bc
)

if [ "$(id -u)" != 0 ]; then
    echo "tests/setup.sh: run as root (it installs Debian packages and the tests use network namespaces)" >&2
    exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# keepalived is an interop peer and a benchmark baseline, never a service here.
if systemctl is-active --quiet keepalived 2>/dev/null; then systemctl stop keepalived; fi

echo "== building in $builddir"
cd "$srcdir"
# autoreconf lists every auxiliary file it installs on stderr: keep that for
# when it fails.
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    out=$(autoreconf -fi 2>&1) || { echo "$out" >&2; exit 1; }
fi
mkdir -p "$builddir"
cd "$builddir"
if [ ! -f Makefile ] || [ "$srcdir/configure" -nt config.status ]; then
    "$srcdir/configure" "$@" >/dev/null
fi
make -j"$(nproc)" >/dev/null
echo "== built $builddir/vigild"
