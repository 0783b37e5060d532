#!/bin/sh
# bench/inside.sh - benchmarks inside a demo guest (see bench/inside.c):
# process-list refresh latency, attach-to-first-registers latency, and the
# single-step rate of iotbench vs gdb-multiarch through the same gdbserver.
# Boots its own instance in a temporary store and stops it at the end.
# Prints rows for bench/run.sh.
#   sh bench/inside.sh [STEPS]      (from the repository root; needs make stock-images)
set -eu
steps=${1:-300}
make -s iotbench build/rel/libiotbench.a
mkdir -p build/bench
pkgs="ncursesw vterm yaml-0.1 jansson libarchive capstone libelf libcrypto"
# shellcheck disable=SC2046 # one word per flag
gcc -std=c11 -O2 -D_GNU_SOURCE -I. $(pkg-config --cflags $pkgs) -o build/bench/inside \
    bench/inside.c build/rel/libiotbench.a $(pkg-config --libs $pkgs) -lutil -lm

stock=build/stock
[ -f $stock/kernel-version ] || { echo "inside.sh: run make stock-images first" >&2; exit 1; }
home=$(mktemp -d /tmp/iotbench-inside.XXXXXX)
export IOTBENCH_HOME="$home"
cleanup() {
    ./iotbench instance stop bench --now >/dev/null 2>&1 || true
    rm -rf "$home"
}
trap cleanup EXIT INT TERM
v=$(cat $stock/kernel-version)
./iotbench kernel add $stock/zImage --name "virt.cortex-a15.little-$v" --initrd $stock/initrd.gz >/dev/null
./iotbench fs add $stock/hostfs.ext2 --name "virt.cortex-a15.little-$v.ext2" >/dev/null
cp -a $stock/demo "$home/devices/demo"

started=no
for off in 27000 27100 27200 27300 27400 27500; do
    if ./iotbench device start demo bench --port-offset $off >/dev/null 2>&1; then
        started=yes
        break
    fi
done
[ $started = yes ] || { echo "inside.sh: cannot start the demo instance" >&2; exit 1; }
./iotbench instance wait bench --for agent --timeout 90 >/dev/null
./iotbench instance target-start bench >/dev/null
port=$((8080 + off))
i=0
until curl -s -m 2 "http://127.0.0.1:$port/status" | grep -q ok; do
    i=$((i + 1))
    [ $i -lt 60 ] || { echo "inside.sh: demod does not answer" >&2; exit 1; }
    sleep 0.5
done
# gdb sees the device's files as /target/...: a sysroot where that path exists
# gives it the symbols from the host side too (as iotbench has them).
mkdir -p "$home/sysroot"
ln -s "$home/devices/demo/rootfs" "$home/sysroot/target"
INSIDE_IOTBENCH=$PWD/iotbench INSIDE_ROOTFS="$home/sysroot" build/bench/inside "$home" bench "$port" "$steps"
