#!/bin/sh
# demo.sh WORKDIR DEVICEDIR OUTDIR: make OUTDIR/demo, the demo device folder
# as it goes into the store: config.yaml and rootfs/.
#
# rootfs/ holds busybox-static with its applets as hard links (no symlink
# anywhere: the tree is shared over 9P, and with security_model=mapped-xattr
# QEMU cannot follow symlinks created on the host), a minimal /etc, mount
# points, DEVICEDIR/rootfs-overlay/ (the device's /piotr/init.sh) and
# /usr/bin/demod cross-compiled from DEVICEDIR/src/demod.c.
set -eu
here=$(dirname "$0")
. "$here/lib.sh"

work=$1 device=$2 out=$3
cc=${STOCK_CROSS_CC:-arm-linux-gnueabihf-gcc}
cflags=${STOCK_DEMOD_CFLAGS:--std=c11 -Wall -Wextra -static -O1 -g -marm}
stock_need "$cc"

tmp=$work/demo.tmp
root=$tmp/demo/rootfs
rm -rf "$tmp"
mkdir -p "$root"

stock_say "demo device (demod, rootfs)"
mkdir -p "$root/usr/bin"
# shellcheck disable=SC2086 # cflags holds several options
"$cc" $cflags -o "$root/usr/bin/demod" "$device/src/demod.c"

stock_install_busybox "$root" "$work/busybox/busybox" "$work/busybox/applets" hardlink
for dir in proc sys dev tmp run root etc var/log; do
    mkdir -p "$root/$dir"
done
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'demo\n' >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"

if [ -d "$device/rootfs-overlay" ]; then
    stock_copy "$device/rootfs-overlay/." "$root/"
fi
[ -x "$root/piotr/init.sh" ] ||
    stock_die "$device/rootfs-overlay/piotr/init.sh missing or not executable"
if find "$root" -type l | grep -q .; then
    stock_die "the demo rootfs must hold no symlinks (9P mapped-xattr):" \
        "$(find "$root" -type l | head -n 3)"
fi

cp "$device/config.yaml" "$tmp/demo/config.yaml"

rm -rf "$out/demo"
mv "$tmp/demo" "$out/demo"
rm -rf "$tmp"
