#!/bin/sh
# /init of the iotbench initramfs (installed by stock/initrd.sh).
#
# The Debian armmp kernel has virtio, 9P and ext4 as modules, so this loads
# them (order precomputed from modules.dep into /etc/initrd-modules), mounts
# the root given by root= (default /dev/vda; a path, LABEL=x or UUID=x, or a
# 9P mount tag with rootfstype=9p), moves /dev over and switch_roots to
# init= (default /sbin/init). Kernel parameters honoured: root=, rootfstype=,
# rootflags=, ro, rw, rootdelay= (seconds to wait for the root device,
# default 5), init=.
#
# This is PID 1: it must never exit. Whatever fails, it says what and opens a
# rescue shell; leaving the shell retries the boot.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

say() {
    echo "initrd: $*"
}

rescue() {
    say "$*"
    say "last kernel messages:"
    dmesg | tail -n 8
    say "starting a rescue shell; exit it to retry the boot"
    setsid cttyhack sh -i
}

mount_early() {
    mkdir -p /proc /sys /dev /newroot
    grep -q ' /proc ' /proc/mounts 2>/dev/null ||
        mount -t proc -o nosuid,nodev,noexec proc /proc
    grep -q ' /sys ' /proc/mounts || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
    grep -q ' /dev ' /proc/mounts || mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
}

parse_cmdline() {
    root=/dev/vda fstype='' flags='' mode=rw init=/sbin/init delay=5
    read -r cmdline </proc/cmdline
    for arg in $cmdline; do
        case $arg in
        root=*) root=${arg#root=} ;;
        rootfstype=*) fstype=${arg#rootfstype=} ;;
        rootflags=*) flags=${arg#rootflags=} ;;
        rootdelay=*) delay=${arg#rootdelay=} ;;
        init=*) init=${arg#init=} ;;
        ro) mode=ro ;;
        rw) mode=rw ;;
        esac
    done
    case $delay in
    '' | *[!0-9]*) delay=5 ;;
    esac
}

# /etc/initrd-modules: "PATH NAME" lines in load order, NAME being the name
# the module gets in /sys/module (precomputed: every fork costs here).
load_modules() {
    release=$(uname -r)
    failed=
    while read -r module name; do
        [ -n "$module" ] || continue
        # Already there (built in, or loaded before a retry)?
        [ -d "/sys/module/$name" ] && continue
        insmod "/lib/modules/$release/$module" || failed="$failed $name"
    done </etc/initrd-modules
    [ -z "$failed" ] || say "could not load:$failed"
}

# find_root: set $dev to the block device named by $root, waiting up to
# $delay seconds for it to appear.
find_root() {
    tries=$((delay * 10))
    while :; do
        case $root in
        LABEL=* | UUID=*) dev=$(findfs "$root" 2>/dev/null) ;;
        *) dev=$root ;;
        esac
        [ -n "$dev" ] && [ -b "$dev" ] && return 0
        [ "$tries" -gt 0 ] || return 1
        tries=$((tries - 1))
        usleep 100000
    done
}

mount_root() {
    # Mounted by hand from the rescue shell?
    grep -q ' /newroot ' /proc/mounts && return 0
    opts=$mode${flags:+,$flags}
    if [ "$fstype" = 9p ]; then
        mount -t 9p -o "trans=virtio,version=9p2000.L,$opts" "$root" /newroot ||
            return 1
        return 0
    fi
    find_root || {
        REASON="root device $root did not appear within ${delay}s"
        return 1
    }
    if [ -n "$fstype" ]; then
        mount -t "$fstype" -o "$opts" "$dev" /newroot
    else
        # Our root filesystems are ext2/ext4, both served by ext4; let mount
        # probe anything else.
        mount -t ext4 -o "$opts" "$dev" /newroot 2>/dev/null ||
            mount -o "$opts" "$dev" /newroot
    fi
}

mount_early
# Module loading would fill the console with kernel messages (the host
# system turns them off too); rescue() shows the last ones if something fails.
dmesg -n 1
parse_cmdline
load_modules

while :; do
    REASON="cannot mount root $root"
    if mount_root; then
        if [ -e "/newroot$init" ] || [ -L "/newroot$init" ]; then
            break
        fi
        REASON="$init not found on $root"
        umount /newroot
    fi
    rescue "$REASON"
    parse_cmdline
done

say "root $root mounted ($mode), starting $init"
mkdir -p /newroot/dev 2>/dev/null
mount --move /dev /newroot/dev || umount -l /dev
umount /sys
umount /proc
exec switch_root /newroot "$init" "$@"
