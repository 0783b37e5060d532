# Helpers of the iotbench host system, sourced by /etc/init.d/rcS,
# target-start, iotbench-prepare-save and iotbench-after-restore.
#
# The device's root filesystem is mounted on /target, from where the kernel
# parameter iotbench.guestfs says:
#   virtfs (default)  the 9P share with mount tag host0
#   embed             the disk whose filesystem label is ib-target
# target-start then bind-mounts /proc, /sys and /dev into it and runs the
# device's /piotr/init.sh in a chroot.

# shellcheck disable=SC2034 # some are only used by the scripts sourcing this
IB_TARGET=/target
IB_RUN=/run/iotbench
IB_STARTED=$IB_RUN/target-started
IB_LOG=$IB_RUN/target.log
IB_9P_TAG=host0
IB_EMBED_LABEL=ib-target
IB_BINDS="proc sys dev"

# Every fork costs ~10 ms on an emulated CPU: the helpers below use shell
# built-ins where they can.

# ib_cmdline NAME DEFAULT: set IB_VALUE to the value of kernel parameter
# NAME=, or DEFAULT (a variable, not output: $(...) would fork).
ib_cmdline() {
    read -r cmdline </proc/cmdline
    IB_VALUE=$2
    for arg in $cmdline; do
        case $arg in
        "$1"=*)
            IB_VALUE=${arg#*=}
            return 0
            ;;
        esac
    done
}

# ib_guestfs_mode: set IB_GUESTFS to virtfs or embed.
ib_guestfs_mode() {
    ib_cmdline iotbench.guestfs virtfs
    case $IB_VALUE in
    virtfs | embed) IB_GUESTFS=$IB_VALUE ;;
    *)
        echo "iotbench: unknown iotbench.guestfs=$IB_VALUE, using virtfs" >&2
        IB_GUESTFS=virtfs
        ;;
    esac
}

# ib_read_mounts: IB_MOUNTS = /proc/mounts as it is now. One cat (~12 ms
# under TCG) beats the shell's own `read` loop, which reads a byte per
# system call (~26 ms for 8 lines) - on a warm start's critical path.
ib_read_mounts() {
    IB_MOUNTS=$(cat /proc/mounts)
}

# ib_listed DIR: true if DIR is a mount point in IB_MOUNTS (no fork; the
# paths asked about hold no spaces, which /proc/mounts would escape).
ib_listed() {
    ib_saved_ifs=$IFS
    IFS='
'
    set -f
    ib_found=1
    for ib_line in $IB_MOUNTS; do
        ib_rest=${ib_line#* }
        if [ "${ib_rest%% *}" = "$1" ]; then
            ib_found=0
            break
        fi
    done
    set +f
    IFS=$ib_saved_ifs
    return $ib_found
}

# ib_mounted DIR: true if something is mounted on DIR.
ib_mounted() {
    ib_read_mounts
    ib_listed "$1"
}

# ib_mount_guestfs: mount the device rootfs on /target (no-op if mounted).
ib_mount_guestfs() {
    ib_mounted "$IB_TARGET" && return 0
    [ -d "$IB_TARGET" ] || mkdir -p "$IB_TARGET"
    ib_guestfs_mode
    case $IB_GUESTFS in
    virtfs)
        mount -t 9p -o trans=virtio,version=9p2000.L "$IB_9P_TAG" "$IB_TARGET" 2>/dev/null || {
            echo "iotbench: cannot mount the 9P share '$IB_9P_TAG' on $IB_TARGET" >&2
            return 1
        }
        ;;
    embed)
        dev=$(findfs "LABEL=$IB_EMBED_LABEL" 2>/dev/null) || {
            echo "iotbench: no disk labelled $IB_EMBED_LABEL to mount on $IB_TARGET" >&2
            return 1
        }
        mount -t ext4 "$dev" "$IB_TARGET" || {
            echo "iotbench: cannot mount $dev ($IB_EMBED_LABEL) on $IB_TARGET" >&2
            return 1
        }
        ;;
    esac
}

# ib_describe_guestfs: one line saying what is on /target.
ib_describe_guestfs() {
    if ! ib_mounted "$IB_TARGET"; then
        echo "device rootfs NOT mounted on $IB_TARGET"
    elif ib_guestfs_mode && [ "$IB_GUESTFS" = embed ]; then
        echo "device rootfs on $IB_TARGET (disk labelled $IB_EMBED_LABEL)"
    else
        echo "device rootfs on $IB_TARGET (9P share $IB_9P_TAG)"
    fi
}

# ib_bind_target: bind-mount /proc, /sys and /dev into /target, each once.
ib_bind_target() {
    ib_read_mounts
    for fs in $IB_BINDS; do
        ib_listed "$IB_TARGET/$fs" && continue
        [ -d "$IB_TARGET/$fs" ] || mkdir -p "$IB_TARGET/$fs" 2>/dev/null
        mount -o bind "/$fs" "$IB_TARGET/$fs" || {
            echo "iotbench: cannot bind-mount /$fs on $IB_TARGET/$fs" >&2
            return 1
        }
    done
}

# ib_unbind_target: undo ib_bind_target; a busy bind is detached lazily.
ib_unbind_target() {
    status=0
    ib_read_mounts
    for fs in dev sys proc; do
        ib_listed "$IB_TARGET/$fs" || continue
        umount "$IB_TARGET/$fs" 2>/dev/null && continue
        umount -l "$IB_TARGET/$fs" || {
            echo "iotbench: cannot unmount $IB_TARGET/$fs" >&2
            status=1
        }
    done
    return $status
}

# ib_vport_links: /dev/virtio-ports/NAME -> ../vportNpM for every named
# virtio-serial port (what udev would do; there is no udev here).
ib_vport_links() {
    mkdir -p /dev/virtio-ports
    for namefile in /sys/class/virtio-ports/*/name; do
        [ -r "$namefile" ] || continue
        name=$(cat "$namefile")
        [ -n "$name" ] || continue
        port=${namefile%/name}
        ln -sfn "../${port##*/}" "/dev/virtio-ports/$name"
    done
}

# ib_start_agent: start qemu-ga on the port named org.qemu.guest_agent.0,
# else on the first virtio-serial port (Piotr's images use vport0p1).
ib_start_agent() {
    if [ -f /run/qemu-ga.pid ] && kill -0 "$(cat /run/qemu-ga.pid)" 2>/dev/null; then
        return 0
    fi
    port=/dev/virtio-ports/org.qemu.guest_agent.0
    if [ ! -e "$port" ]; then
        port=
        for dev in /dev/vport*; do
            [ -c "$dev" ] && port=$dev && break
        done
    fi
    if [ -z "$port" ]; then
        echo "iotbench: no virtio-serial port, guest agent not started" >&2
        return 1
    fi
    qemu-ga -d -m virtio-serial -p "$port" -f /run/qemu-ga.pid -t /run
}

# ib_network: bring up lo and ask DHCP (QEMU's user-mode network answers at
# once) for every ethernet card; a card without a DHCP server is left to a
# background udhcpc after two seconds.
ib_network() {
    ip link set lo up
    for path in /sys/class/net/*; do
        ifname=${path##*/}
        case $ifname in
        lo) continue ;;
        esac
        ip link set "$ifname" up
        udhcpc -i "$ifname" -s /usr/share/udhcpc/default.script -q -b -t 2 -T 1 \
            >>"$IB_RUN/network.log" 2>&1
    done
}
