#!/bin/sh
# bench/tui.sh - the workbench's console benchmarks (see bench/tui_bench.c):
# throughput vs tmux in a 200x50 pane, idle CPU and wake-ups with 4 consoles,
# RSS, key-to-screen latency. Prints a Markdown table.
#   sh bench/tui.sh [MB]        (run from the repository root, after `make`)
set -eu
mb=${1:-20}
mkdir -p build/bench
pkg=$(pkg-config --cflags --libs vterm)
gcc -std=c11 -O2 -D_GNU_SOURCE -I. -o build/bench/tui_bench bench/tui_bench.c \
    tests/lib/tuidrive.c tests/lib/cmd.c $pkg -lutil
IOTBENCH_BIN=${IOTBENCH_BIN:-$PWD/iotbench} build/bench/tui_bench run "$mb"
