#!/bin/sh
# kernel.sh DEBDIR WORKDIR OUTDIR: unpack the Debian armmp kernel package.
#
# Outputs:
#   OUTDIR/zImage              the kernel image
#   OUTDIR/kernel-version      the upstream version only ("6.1.176"), for
#                              store names like virt.cortex-a15.little-6.1.176
#   WORKDIR/kernel/            the unpacked package with modules.dep (depmod),
#                              only the modules in $STOCK_INITRD_MODULES,
#                              $STOCK_HOSTFS_MODULES and what they need
#   WORKDIR/kernel/release     and its release name ("6.1.0-50-armmp"), used
#                              by initrd.sh and hostfs.sh
set -eu
. "$(dirname "$0")/lib.sh"

debdir=$1 work=$2 out=$3
stock_need dpkg-deb depmod

deb=$(stock_list_debs "$debdir/kernel.list" "$debdir")
[ -n "$deb" ] || stock_die "kernel.list names no package"

stock_say "kernel $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
rm -rf "$work/kernel.tmp"
mkdir -p "$work/kernel.tmp"
dpkg-deb -x "$deb" "$work/kernel.tmp"

release=$(ls "$work/kernel.tmp/lib/modules")
if [ -z "$release" ] || [ "$(printf '%s\n' "$release" | wc -l)" -ne 1 ]; then
    stock_die "expected one module directory in ${deb##*/}, found: $release"
fi
image=$work/kernel.tmp/boot/vmlinuz-$release
[ -f "$image" ] || stock_die "${deb##*/} has no boot/vmlinuz-$release"

# Debian versions look like 6.1.176-1 (or 6.1.176-1+deb12u1): the upstream
# version is what precedes the first '-'.
version=$(dpkg-deb -f "$deb" Version)
version=${version#*:}
version=${version%%-*}
printf '%s\n' "$version" | grep -Eq '^[0-9]+(\.[0-9]+)+$' ||
    stock_die "cannot read an upstream version from ${deb##*/} ($version)"

# The .deb ships no modules.dep; make one for the closures computed later.
depmod -b "$work/kernel.tmp" "$release"
printf '%s\n' "$release" >"$work/kernel.tmp/release"

# Keep only the modules the images use (160 MiB less in the build tree).
moddir=$work/kernel.tmp/lib/modules/$release
# shellcheck disable=SC2086 # one argument per module name
stock_modules_closure "$moddir" ${STOCK_INITRD_MODULES:-} ${STOCK_HOSTFS_MODULES:-} \
    >"$work/kernel.tmp/wanted"
sort -u "$work/kernel.tmp/wanted" >"$work/kernel.tmp/keep"
[ -s "$work/kernel.tmp/keep" ] || stock_die "no kernel module selected"
(cd "$moddir" && find kernel -name '*.ko*' -type f) | sort >"$work/kernel.tmp/all"
comm -23 "$work/kernel.tmp/all" "$work/kernel.tmp/keep" | (cd "$moddir" && xargs rm -f)
find "$moddir/kernel" -type d -empty -delete

rm -rf "$work/kernel"
mv "$work/kernel.tmp" "$work/kernel"
cp "$work/kernel/boot/vmlinuz-$release" "$out/zImage.tmp"
mv -f "$out/zImage.tmp" "$out/zImage"
printf '%s\n' "$version" >"$out/kernel-version.tmp"
mv -f "$out/kernel-version.tmp" "$out/kernel-version"
