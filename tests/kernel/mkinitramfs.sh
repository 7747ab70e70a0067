#!/bin/bash
# mkinitramfs.sh CACHE_DIR RELEASE: build (or reuse) the guest's initramfs from
# busybox-static, the kernel modules needed to reach the host root over 9p,
# and tests/kernel/init. Prints the path of the gzipped cpio archive.
#
# The archive is cached next to the kernel and rebuilt only when one of its
# inputs changes (this script, init, busybox, the kernel release): a key file
# holds their checksum.
set -euo pipefail

cache="${1:?usage: mkinitramfs.sh CACHE_DIR RELEASE}"
release="${2:?usage: mkinitramfs.sh CACHE_DIR RELEASE}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
init_script="$here/init"
moddir="$cache/root/lib/modules/$release"
out="$cache/initramfs-$release.cpio.gz"

die() { echo "mkinitramfs.sh: $*" >&2; exit 1; }

busybox=""
for b in /bin/busybox /usr/bin/busybox; do
    # The initramfs has no libc: only a static busybox runs there.
    if [ -x "$b" ] && { ldd "$b" 2>&1 || true; } | grep -Eq 'not a dynamic executable|statically linked'; then
        busybox="$b"; break
    fi
done
[ -n "$busybox" ] || die "a static busybox is needed: apt-get install busybox-static"
command -v cpio >/dev/null || die "cpio not found: apt-get install cpio"
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep missing (run fetch-kernel.sh first)"

# Modules the initramfs itself loads: the virtio PCI transport, 9p over
# virtio (to mount the host root), and overlayfs (to give the read-only root a
# writable /lib/modules). Everything else is loaded later by modprobe from
# the full module tree.
wanted=(virtio_pci 9pnet_virtio 9p overlay)

key="$( { cat "${BASH_SOURCE[0]}" "$init_script"; sha256sum "$busybox"; echo "$release ${wanted[*]}"; } |
        sha256sum | cut -d' ' -f1)"
if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
    echo "$out"
    exit 0
fi

# Load order: modules.dep lists a module's dependencies so that the last one
# must be loaded first (virtio before virtio_ring fails with unknown symbols).
order=()
add_module() {  # add_module RELPATH
    local m
    for m in "${order[@]}"; do [ "$m" = "$1" ] && return 0; done
    order+=("$1")
}
for w in "${wanted[@]}"; do
    line="$(grep -E "/$w\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n 1)" ||
        die "module $w not found in $moddir/modules.dep"
    self="${line%%:*}"
    read -r -a deps <<<"${line#*:}"
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add_module "${deps[i]}"; done
    add_module "$self"
done

stage="$(mktemp -d "$cache/initramfs-stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,proc,sys,dev,newroot,vmio,hold,ovl,modules}
cp "$busybox" "$stage/bin/busybox"
cp "$init_script" "$stage/init"
chmod 755 "$stage/init"
: >"$stage/modules/order"
for rel in "${order[@]}"; do
    case "$rel" in
        *.ko) cp "$moddir/$rel" "$stage/modules/" ;;
        *.ko.xz) xz -dc "$moddir/$rel" >"$stage/modules/$(basename "$rel" .xz)" ;;
        *.ko.zst) zstd -qdc "$moddir/$rel" >"$stage/modules/$(basename "$rel" .zst)" ;;
        *) die "unexpected module file $rel" ;;
    esac
    base="$(basename "$rel")"
    echo "${base%%.ko*}.ko" >>"$stage/modules/order"
done
( cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet ) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "$key" >"$out.key"
echo "$out"
