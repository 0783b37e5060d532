#!/bin/sh
# initrd.sh WORKDIR OUTDIR: make OUTDIR/initrd.gz, a gzip newc cpio holding
# busybox-static, the boot modules ($STOCK_INITRD_MODULES and what they need)
# and stock/initrd-init.sh as /init.
#
# Needs kernel.sh and busybox.sh to have run. Runs as any user: the archive
# is written under fakeroot, so entries belong to root and /dev/console is a
# real character device (the kernel opens it for /init's stdio before any
# devtmpfs exists).
set -eu
here=$(dirname "$0")
. "$here/lib.sh"

work=$1 out=$2
modules=${STOCK_INITRD_MODULES:?}
stock_need fakeroot cpio gzip

release=$(cat "$work/kernel/release")
tree=$work/initrd.tmp/tree
rm -rf "$work/initrd.tmp"
mkdir -p "$work/initrd.tmp"
stock_make_merged_root "$tree"
mkdir -p "$tree/dev" "$tree/proc" "$tree/sys" "$tree/newroot" "$tree/etc" \
    "$tree/run" "$tree/tmp"
stock_install_busybox "$tree" "$work/busybox/busybox" "$work/busybox/applets" merged

# shellcheck disable=SC2086 # one argument per module name
stock_copy_modules "$work/kernel/lib/modules/$release" "$tree/usr/lib/modules/$release" \
    $modules >"$work/initrd.tmp/modules"
# /init wants "PATH NAME", NAME as in /sys/module (dashes become underscores).
awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub("-", "_", n); print $0, n }' \
    "$work/initrd.tmp/modules" >"$tree/etc/initrd-modules"
stock_say "initrd ($(wc -l <"$tree/etc/initrd-modules") modules)"

cp "$here/initrd-init.sh" "$tree/init"
chmod 0755 "$tree/init"

# Sorted names and --reproducible keep the archive stable for equal inputs.
fakeroot sh -c '
    set -eu
    cd "$1"
    mknod -m 0600 dev/console c 5 1
    mknod -m 0666 dev/null c 1 3
    find . -mindepth 1 | sort >../files
    cpio -o -H newc --quiet --reproducible <../files >../initrd.cpio
' sh "$tree"
gzip -9n "$work/initrd.tmp/initrd.cpio"

mv -f "$work/initrd.tmp/initrd.cpio.gz" "$out/initrd.gz"
rm -rf "$work/initrd.tmp"
