#!/bin/sh
# busybox.sh DEBDIR WORKDIR: unpack busybox-static and list its applets.
#
# Outputs WORKDIR/busybox/busybox (the static armhf binary) and
# WORKDIR/busybox/applets ("DIR NAME" lines, see busybox-applets.sh), used by
# initrd.sh, hostfs.sh and demo.sh.
set -eu
here=$(dirname "$0")
. "$here/lib.sh"

debdir=$1 work=$2
stock_need dpkg-deb

deb=$(stock_list_debs "$debdir/busybox.list" "$debdir")
[ -n "$deb" ] || stock_die "busybox.list names no package"

stock_say "busybox $(dpkg-deb -f "$deb" Version)"
rm -rf "$work/busybox.tmp"
mkdir -p "$work/busybox.tmp/pkg"
dpkg-deb -x "$deb" "$work/busybox.tmp/pkg"
bin=$work/busybox.tmp/pkg/bin/busybox
[ -f "$bin" ] || stock_die "${deb##*/} has no bin/busybox"
mv "$bin" "$work/busybox.tmp/busybox"
rm -rf "$work/busybox.tmp/pkg"
sh "$here/busybox-applets.sh" "$work/busybox.tmp/busybox" >"$work/busybox.tmp/applets"
for must in sh init switch_root insmod mount chroot findfs cttyhack setsid udhcpc; do
    grep -q " $must\$" "$work/busybox.tmp/applets" ||
        stock_die "this busybox lacks the '$must' applet the images rely on"
done

rm -rf "$work/busybox"
mv "$work/busybox.tmp" "$work/busybox"
