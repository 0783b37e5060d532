#!/bin/sh
# bench/tui.sh - the workbench's benchmarks (see bench/tui_bench.c): console
# throughput vs tmux in a 200x50 pane, idle CPU and wake-ups with 4
# consoles, RSS, key-to-screen latency; then, when the stock images are
# built, on a demo instance it boots (and stops): the process table's
# refresh as seen on screen, attach and step latency in the debugger view.
# Prints rows for bench/run.sh.
#   sh bench/tui.sh [MB]        (run from the repository root, after `make`)
set -eu
mb=${1:-20}
mkdir -p build/bench
pkg=$(pkg-config --cflags --libs vterm)
gcc -std=c11 -O2 -D_GNU_SOURCE -I. -o build/bench/tui_bench bench/tui_bench.c \
    tests/lib/tuidrive.c tests/lib/cmd.c $pkg -lutil
bin=${IOTBENCH_BIN:-$PWD/iotbench}
IOTBENCH_BIN=$bin build/bench/tui_bench run "$mb"

stock=build/stock
[ -f $stock/kernel-version ] || exit 0
home=$(mktemp -d /tmp/iotbench-tuibench.XXXXXX)
export IOTBENCH_HOME="$home"
cleanup() {
    "$bin" instance stop tuibench --now >/dev/null 2>&1 || true
    rm -rf "$home"
}
trap cleanup EXIT INT TERM
v=$(cat $stock/kernel-version)
"$bin" kernel add $stock/zImage --name "virt.cortex-a15.little-$v" --initrd $stock/initrd.gz >/dev/null
"$bin" fs add $stock/hostfs.ext2 --name "virt.cortex-a15.little-$v.ext2" >/dev/null
cp -a $stock/demo "$home/devices/demo"
started=no
for off in 28000 28100 28200 28300 28400 28500; do
    if "$bin" device start demo tuibench --port-offset $off >/dev/null 2>&1; then
        started=yes
        break
    fi
done
[ $started = yes ] || { echo "tui.sh: cannot start the demo instance" >&2; exit 1; }
"$bin" instance wait tuibench --for agent --timeout 90 >/dev/null
"$bin" instance target-start tuibench >/dev/null
port=$((8080 + off))
i=0
until curl -s -m 2 "http://127.0.0.1:$port/status" | grep -q ok; do
    i=$((i + 1))
    [ $i -lt 60 ] || { echo "tui.sh: demod does not answer" >&2; exit 1; }
    sleep 0.5
done
IOTBENCH_BIN=$bin build/bench/tui_bench inside "$home" tuibench "$port"
