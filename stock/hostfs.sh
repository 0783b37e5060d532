#!/bin/sh
# hostfs.sh DEBDIR WORKDIR TEMPLATE OUTDIR: make OUTDIR/hostfs.ext2, the host
# filesystem every device boots (mounted as / from /dev/vda; the device's own
# rootfs is mounted on /target by the template's /etc/init.d/rcS).
#
# Content: a merged-/usr tree with busybox-static and its applet links,
# qemu-ga and gdbserver with their shared-library closure (the packages in
# DEBDIR/hostfs.list), the runtime modules $STOCK_HOSTFS_MODULES plus
# depmod's output, and the files of TEMPLATE laid over it. The image is
# max($STOCK_HOSTFS_MIN_MB, 1.5 x content + 16) MiB, made by mke2fs -d under
# fakeroot so that every file belongs to root.
set -eu
here=$(dirname "$0")
. "$here/lib.sh"

debdir=$1 work=$2 template=$3 out=$4
modules=${STOCK_HOSTFS_MODULES:?}
min_mb=${STOCK_HOSTFS_MIN_MB:-64}
stock_need dpkg-deb depmod fakeroot mke2fs e2fsck

release=$(cat "$work/kernel/release")
tmp=$work/hostfs.tmp
tree=$tmp/tree
rm -rf "$tmp"
mkdir -p "$tmp/pkgs"
stock_make_merged_root "$tree"

stock_list_debs "$debdir/hostfs.list" "$debdir" >"$tmp/debs"
while IFS= read -r deb; do
    dpkg-deb -x "$deb" "$tmp/pkgs"
done <"$tmp/debs"

# Keep programs and libraries; leave out docs, service files for other init
# systems, udev rules and glibc's iconv modules (6 MiB nothing here uses).
pkgs=$tmp/pkgs
rm -rf "${pkgs:?}/usr/share" "$pkgs/lib/systemd" "$pkgs/lib/udev" "$pkgs/etc/init.d" \
    "$pkgs/usr/lib/arm-linux-gnueabihf/gconv" "$pkgs/etc/qemu"
for prog in usr/sbin/qemu-ga usr/bin/gdbserver; do
    [ -x "$pkgs/$prog" ] || stock_die "no $prog in the hostfs packages"
done
stock_merge_usr "$pkgs" "$tree"

stock_install_busybox "$tree" "$work/busybox/busybox" "$work/busybox/applets" merged

# Runtime modules (the initramfs already loaded the boot ones) + depmod, so
# that `modprobe NAME` works in the guest.
moddir=$work/kernel/lib/modules/$release
# shellcheck disable=SC2086 # one argument per module name
stock_copy_modules "$moddir" "$tree/usr/lib/modules/$release" $modules >"$tmp/modules"
for meta in modules.order modules.builtin modules.builtin.modinfo; do
    cp "$moddir/$meta" "$tree/usr/lib/modules/$release/"
done
depmod -b "$tree" "$release"
stock_say "hostfs tree: $(wc -l <"$tmp/debs") packages, $(wc -l <"$tmp/modules") modules"

mkdir -p "$tree/dev" "$tree/proc" "$tree/sys" "$tree/run" "$tree/target" \
    "$tree/mnt" "$tree/root" "$tree/tmp" "$tree/var/log" "$tree/var/tmp" "$tree/etc"
ln -s ../run "$tree/var/run"
chmod 1777 "$tree/tmp" "$tree/var/tmp"
chmod 0700 "$tree/root"

stock_merge_usr "$template" "$tree"

used_kb=$(du -sk "$tree" | cut -f1)
size_mb=$((used_kb * 3 / 2 / 1024 + 16))
[ "$size_mb" -ge "$min_mb" ] || size_mb=$min_mb
stock_say "hostfs image (${size_mb}M, $((used_kb / 1024))M used)"
# (mke2fs -q still says "Creating regular file" unless the file exists)
: >"$tmp/hostfs.ext2"
fakeroot mke2fs -q -F -t ext2 -L ib-hostfs -m 0 -I 256 -d "$tree" "$tmp/hostfs.ext2" "${size_mb}M"
e2fsck -fn "$tmp/hostfs.ext2" >"$tmp/fsck.log" 2>&1 || {
    cat "$tmp/fsck.log" >&2
    stock_die "the new hostfs image does not pass e2fsck"
}

mv -f "$tmp/hostfs.ext2" "$out/hostfs.ext2"
rm -rf "$tmp"
