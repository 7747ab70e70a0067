#!/bin/bash
# fetch-kernel.sh CACHE_DIR: make sure CACHE_DIR holds an unpacked Debian kernel
# image package that has ip_vs (the host kernel here has none, see
# ../shared/docs/LAB.md), with modules.dep generated for `modprobe` in the guest.
#
# Prints the kernel release (e.g. 6.1.0-56-amd64) on stdout. Reuses the cache:
# the network is touched only when the cache is empty or incomplete, so CI pays
# the ~100 MB download once per fresh clone. Only the Debian archive is used,
# through apt's ordinary client.
set -euo pipefail

cache="${1:?usage: fetch-kernel.sh CACHE_DIR}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
stamp="$cache/kernel.release"

die() { echo "fetch-kernel.sh: $*" >&2; exit 1; }

# A complete cache names its release and has the image and modules.dep.
if [ -s "$stamp" ]; then
    release="$(cat "$stamp")"
    if [ -f "$cache/root/boot/vmlinuz-$release" ] &&
       [ -f "$cache/root/lib/modules/$release/modules.dep" ]; then
        echo "$release"
        exit 0
    fi
fi

command -v apt-get >/dev/null || die "apt-get not found (a Debian host is required)"
command -v dpkg >/dev/null || die "dpkg not found"
command -v depmod >/dev/null || die "depmod not found: apt-get install kmod"

# The meta package linux-image-amd64 depends on the current image package.
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null |
       sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)"
[ -n "$pkg" ] || die "cannot find the kernel image package behind linux-image-amd64 (run apt-get update?)"
release="${pkg#linux-image-}"
# Signed and unsigned images share the release; either carries the modules.
release="${release%-unsigned}"

echo "fetch-kernel.sh: downloading $pkg into $cache" >&2
rm -rf "$cache/download" "$cache/root"
mkdir -p "$cache/download"
# As root into our own directory: apt need not drop to its _apt sandbox user
# (which cannot write here and would only warn about it).
( cd "$cache/download" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2 ) ||
    die "apt-get download $pkg failed"
deb="$(ls "$cache/download"/*.deb | head -n 1)"
dpkg -x "$deb" "$cache/root" || die "dpkg -x $deb failed"
rm -rf "$cache/download"

[ -f "$cache/root/boot/vmlinuz-$release" ] || die "$pkg has no boot/vmlinuz-$release"
[ -d "$cache/root/lib/modules/$release" ] || die "$pkg has no lib/modules/$release"
depmod -b "$cache/root" "$release" || die "depmod -b $cache/root $release failed"
echo "$release" >"$stamp"
echo "$release"
