#!/bin/sh
# register.sh IOTBENCH - puts the stock images of build/stock into the store
# ($IOTBENCH_HOME, default ~/.iotbench) through the CLI: the kernel with its
# initrd and the host filesystem under Piotr-style names for cortex-a15 and
# cortex-a7 (the armmp kernel runs both), and the demo device when the store
# has none. A stock item rebuilt since it was registered is replaced; a demo
# device already in the store is left alone (it may hold the user's edits).
set -eu
ib=${1:-./iotbench}
out=${STOCK_OUT:-build/stock}
version=$(cat "$out/kernel-version")

# add KIND FILE NAME [ARGS...]: add, or replace a stale stock copy. The
# exit status tells the cases apart (0: added or already there with the same
# bytes; 5: a different file holds the name), never the message's wording.
add() {
    kind=$1 file=$2 name=$3
    shift 3
    rc=0
    msg=$("$ib" "$kind" add "$file" --name "$name" "$@" 2>&1) || rc=$?
    case $rc in
    0) echo "[stock] $msg" ;;
    5)
        echo "[stock] $name was rebuilt: replacing it"
        "$ib" "$kind" remove "$name" --force >/dev/null
        "$ib" "$kind" add "$file" --name "$name" "$@" | sed 's/^/[stock] /'
        ;;
    *) echo "$msg" >&2; exit 1 ;;
    esac
}

for cpu in cortex-a15 cortex-a7; do
    add kernel "$out/zImage" "virt.$cpu.little-$version" --initrd "$out/initrd.gz"
    add fs "$out/hostfs.ext2" "virt.$cpu.little-$version.ext2"
done

home=${IOTBENCH_HOME:-$HOME/.iotbench}
if [ -d "$home/devices/demo" ]; then
    echo "[stock] device demo already in the store (kept; remove it to refresh:" \
         "$ib device remove demo --yes && make stock)"
else
    mkdir -p "$home/devices"
    tmp="$home/devices/.stock-demo.$$"
    rm -rf "$tmp"
    # -a keeps the hard links of the busybox applets (9P with mapped-xattr
    # cannot follow symlinks made on the host, so the rootfs has none).
    cp -a "$out/demo" "$tmp"
    mv "$tmp" "$home/devices/demo"
    echo "[stock] device demo installed"
fi
"$ib" device check demo >/dev/null && echo "[stock] demo is ready to start"
