#!/bin/sh
# bench/guest.sh - guest start-up, measured the same way for iotbench and
# for its peer in one run (medians of RUNS, default 5):
#   1. launch -> "Host system ready" on the console: `iotbench device start`
#      vs a hand-written plain qemu-system-arm command line with the same
#      kernel, initrd, host filesystem and devices (goal: ratio <= 1.03);
#   2. instance disk: a qcow2 layer (what iotbench does) vs a full copy of
#      the host filesystem image;
#   3. start -> the demo service answering HTTP: cold boot vs warm state
#      (goal: warm under 1 s and >= 10x faster).
# Prints rows for bench/run.sh. Needs the stock images (make stock-images) and ./iotbench.
# shellcheck disable=SC2016 # backquotes in the rows are Markdown
set -eu

runs=${RUNS:-5}
ib=${IOTBENCH:-./iotbench}
out=${STOCK_OUT:-build/stock}
ib=$(cd "$(dirname "$ib")" && pwd)/$(basename "$ib")
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ibbench-guest.XXXXXX")
export IOTBENCH_HOME="$work/home"
cleanup() {
    "$ib" device stop --all --now >/dev/null 2>&1 || true
    [ -z "${plain_pid:-}" ] || kill "$plain_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

STOCK_OUT=$out sh "$(dirname "$0")/../stock/register.sh" "$ib" >/dev/null
version=$(cat "$out/kernel-version")
kernel=$IOTBENCH_HOME/kernels/virt.cortex-a15.little-$version
initrd=$IOTBENCH_HOME/initrds/virt.cortex-a15.little-$version
hostfs=$IOTBENCH_HOME/hostfs/virt.cortex-a15.little-$version.ext2
rootfs=$IOTBENCH_HOME/devices/demo/rootfs
# An offset whose forwards nothing holds (curl exit 7: nobody listens).
offset=27000
while :; do
    port=$((8080 + offset))
    rc=0; curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/" || rc=$?
    rc1=0; curl -s -o /dev/null -m 1 "http://127.0.0.1:$((port + 1))/" || rc1=$?
    [ $rc = 7 ] && [ $rc1 = 7 ] && break
    offset=$((offset + 7))
done

now_ms() { date +%s%3N; }

# wait_for FILE TEXT: polls every 10 ms (the same watcher for both sides).
wait_for() {
    while ! grep -q "$2" "$1" 2>/dev/null; do sleep 0.01; done
}

# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

http_ok() { curl -s -o /dev/null -m 1 "http://127.0.0.1:$1/status"; }

plain_boot() {
    d=$work/plainrun
    rm -rf "$d" && mkdir -p "$d"
    qemu-img create -q -f qcow2 -F raw -b "$hostfs" "$d/overlay.qcow2"
    t0=$(now_ms)
    qemu-system-arm -M virt,highmem=off -cpu cortex-a15 -m 256M -display none -monitor none \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyAMA0 root=/dev/vda rw iotbench.guestfs=virtfs" \
        -drive "if=none,file=$d/overlay.qcow2,format=qcow2,id=hd" \
        -device virtio-blk-device,drive=hd \
        -fsdev "local,id=fs0,path=$rootfs,security_model=passthrough" \
        -device virtio-9p-device,fsdev=fs0,mount_tag=host0 \
        -serial "file:$d/console.log" \
        -chardev "socket,id=qga0,path=$d/qga.sock,server=on,wait=off" \
        -device virtio-serial-device \
        -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
        -device virtio-rng-device \
        -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$((port + 1))-:80" \
        -device virtio-net-device,netdev=n0 &
    plain_pid=$!
    wait_for "$d/console.log" "Host system ready"
    echo $(($(now_ms) - t0))
    kill "$plain_pid" 2>/dev/null
    wait "$plain_pid" 2>/dev/null || true
    plain_pid=
}

ib_boot() {
    t0=$(now_ms)
    "$ib" device start demo boot --cold --port-offset $offset >/dev/null
    wait_for "$IOTBENCH_HOME/run/boot/console.log" "Host system ready"
    echo $(($(now_ms) - t0))
    "$ib" device stop boot --now >/dev/null
}

# start_to_http FLAGS: device start -> demod answering.
start_to_http() {
    t0=$(now_ms)
    "$ib" device start demo svc --port-offset $offset "$@" >/dev/null 2>&1
    while ! http_ok $port; do sleep 0.01; done
    echo $(($(now_ms) - t0))
    "$ib" device stop svc --now >/dev/null
}

: >"$work/plain" ; : >"$work/ib"
i=0
while [ $i -lt "$runs" ]; do
    plain_boot >>"$work/plain"
    ib_boot >>"$work/ib"
    i=$((i + 1))
done
plain=$(median <"$work/plain")
ibm=$(median <"$work/ib")

: >"$work/layer" ; : >"$work/copy"
i=0
while [ $i -lt "$runs" ]; do
    t0=$(now_ms); qemu-img create -q -f qcow2 -F raw -b "$hostfs" "$work/l.qcow2"; t1=$(now_ms)
    cp "$hostfs" "$work/copy.img"; sync "$work/copy.img"; t2=$(now_ms)
    echo $((t1 - t0)) >>"$work/layer"; echo $((t2 - t1)) >>"$work/copy"
    rm -f "$work/l.qcow2" "$work/copy.img"
    i=$((i + 1))
done
layer=$(median <"$work/layer")
copy=$(median <"$work/copy")

"$ib" device warm demo >/dev/null
: >"$work/cold" ; : >"$work/warm"
i=0
while [ $i -lt "$runs" ]; do
    start_to_http --cold --target >>"$work/cold"
    start_to_http >>"$work/warm"
    i=$((i + 1))
done
cold=$(median <"$work/cold")
warm=$(median <"$work/warm")

size=$(du -k "$hostfs" | cut -f1)
a="guest start-up"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / (b > 0 ? b : 1) }'; }
met() { awk "BEGIN { print ($1) ? \"yes\" : \"no\" }"; }
printf 'row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$a" 'launch -> "Host system ready" on the console' "$ibm ms" \
    'plain `qemu-system-arm`, same kernel, disks and devices' "$plain ms" \
    "$(ratio "$ibm" "$plain")" "ratio <= 1.03" "$(met "$ibm / $plain <= 1.03")"
printf 'row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$a" "instance disk (qcow2 layer over the ${size} KiB hostfs)" "$layer ms" \
    'full copy of the hostfs image' "$copy ms" "$(ratio "$layer" "$copy")" "" ""
printf 'row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$a" 'start -> demod answers HTTP, warm state' "$warm ms" \
    'cold boot + target-start (`device start --cold --target`)' "$cold ms" \
    "$(ratio "$warm" "$cold")" "warm < 1000 ms and ratio <= 0.10 (10x faster)" \
    "$(met "$warm < 1000 && $warm * 10 <= $cold")"
printf 'note\t%s\t%s\n' "$a" "median of $runs runs each, iotbench and its peer in turn; \
boots are timed until the console shows the line, polled every 10 ms for both"
