#!/bin/sh
# bench/package.sh - throughput of `iotbench device export` and `device add`
# against `tar czf` and `tar xzf` of the same tree, in the same run.
#
#   sh bench/package.sh [MB]        (default 200; uses ./iotbench, or $IOTBENCH)
#
# The rootfs is generated: many small files (configs, scripts), a few
# hundred mid-sized ones and some large ones, a third of the bytes
# incompressible (like compressed firmware blobs), a third text-like, a
# third half-compressible (like binaries). Throughput is bytes of the tree
# per second of wall time, warm page cache, best of 3 runs (RUNS=n).
# iotbench also hashes every file (twice on export: once for the manifest,
# once to catch changes) and syncs the store before it renames the device
# into place; tar does neither, so the import is also compared with
# `tar xzf` followed by sync.
#
# Prints rows for bench/run.sh. The work folder is under $TMPDIR: on a slow or
# shared disk the imports measure the disk; TMPDIR=/dev/shm measures the
# programs.
set -eu

mb=${1:-200}
[ "$mb" -ge 50 ] || { echo "bench/package.sh: give at least 50 (MB)" >&2; exit 1; }
ib=${IOTBENCH:-./iotbench}
[ -x "$ib" ] || { echo "bench/package.sh: $ib not found; run 'make iotbench' first" >&2; exit 1; }
ib=$(cd "$(dirname "$ib")" && pwd)/$(basename "$ib")

work=$(mktemp -d "${TMPDIR:-/tmp}/ibbench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export IOTBENCH_HOME="$work/home"

now() { date +%s.%N; }
secs() { awk -v t0="$1" -v t1="$2" 'BEGIN { printf "%.2f", t1 - t0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# --- the device: a stock kernel and hostfs (small) and a generated rootfs ---
"$ib" device create bench >/dev/null
head -c 65536 /dev/urandom >"$work/k"
"$ib" kernel add "$work/k" --name virt.cortex-a15.little-6.1.176 >/dev/null 2>&1
"$ib" fs add "$work/k" --name virt.cortex-a15.little-6.1.176.ext2 >/dev/null 2>&1
root="$IOTBENCH_HOME/devices/bench/rootfs"
third=$((mb * 1024 * 1024 / 3))

# incompressible: 8 files of third/8
mkdir -p "$root/lib/firmware"
i=0
while [ $i -lt 8 ]; do
    head -c $((third / 8)) /dev/urandom >"$root/lib/firmware/blob$i.bin"
    i=$((i + 1))
done
# text-like: 4000 small config files (~2 KB) and 40 logs filling the rest
mkdir -p "$root/etc/conf.d" "$root/var/log"
seq 1 200000 |
    awk '{ printf "option_%d = value %d # setting number %d of the device\n", $1, $1 * 7, $1 }' \
    >"$work/text"
i=0
while [ $i -lt 4000 ]; do
    tail -c +$((i * 37 + 1)) "$work/text" | head -c 2048 >"$root/etc/conf.d/c$i.conf"
    i=$((i + 1))
done
small=$((4000 * 2048))
i=0
while [ $i -lt 40 ]; do
    while [ "$(wc -c <"$work/text")" -lt $(((third - small) / 40)) ]; do
        cat "$work/text" "$work/text" >"$work/text2" && mv "$work/text2" "$work/text"
    done
    head -c $(((third - small) / 40)) "$work/text" >"$root/var/log/l$i.log"
    i=$((i + 1))
done
# half-compressible: 400 "binaries", random bytes interleaved with zeros
mkdir -p "$root/usr/bin"
head -c $((third / 2)) /dev/urandom >"$work/rnd"
i=0
while [ $i -lt 400 ]; do
    off=$((i * (third / 2 / 400)))
    {
        tail -c +$((off + 1)) "$work/rnd" | head -c $((third / 800))
        head -c $((third / 800)) /dev/zero
    } \
        >"$root/usr/bin/prog$i"
    chmod 755 "$root/usr/bin/prog$i"
    i=$((i + 1))
done
rm -f "$work/text" "$work/rnd"
dev="$IOTBENCH_HOME/devices/bench"
bytes=$(du -sb --apparent-size "$dev" | cut -f1)
files=$(find "$dev" | wc -l)
sync
tar -C "$dev" -cf - . >/dev/null # warm the page cache for both

# Each operation runs $runs times, iotbench and tar in turn so that both
# meet the same load and writeback, each after a sync and into a fresh
# place; the fastest run of each counts.
runs=${RUNS:-3}
timed() { # VAR command...: runs the command, keeps the fastest time in $VAR
    var=$1
    shift
    sync
    t0=$(now)
    "$@" >/dev/null || { echo "bench/package.sh: failed: $*" >&2; exit 1; }
    t1=$(now)
    t=$(secs "$t0" "$t1")
    eval "old=\${$var:-}"
    if [ -z "$old" ] || awk -v a="$t" -v b="$old" 'BEGIN { exit !(a < b) }'; then
        eval "$var=$t"
    fi
}
export_ib() { "$ib" device export bench "$work/bench.piotr" --force; }
export_tar() { tar -C "$dev" -czf "$work/bench.tgz" .; }
add_ib() { IOTBENCH_HOME="$work/home.$1" "$ib" device add "$work/bench.piotr"; }
add_tar() { mkdir "$work/x.$1" && tar -C "$work/x.$1" -xzf "$work/bench.tgz"; }
add_tar_sync() {
    mkdir "$work/y.$1" && tar -C "$work/y.$1" -xzf "$work/bench.tgz" && sync -f "$work/y.$1"
}

ib_exp_s="" tar_c_s="" ib_add_s="" tar_x_s="" tar_xs_s=""
n=0
while [ $n -lt "$runs" ]; do
    timed ib_exp_s export_ib
    timed tar_c_s export_tar
    n=$((n + 1))
done
n=0
while [ $n -lt "$runs" ]; do
    IOTBENCH_HOME="$work/home.$n" "$ib" kernel list >/dev/null # makes the store
    timed ib_add_s add_ib $n
    timed tar_x_s add_tar $n
    timed tar_xs_s add_tar_sync $n
    rm -rf "$work/home.$n" "$work/x.$n" "$work/y.$n"
    n=$((n + 1))
done
mbps() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.1f", b / 1e6 / t }'; }

piotr_size=$(wc -c <"$work/bench.piotr")
tgz_size=$(wc -c <"$work/bench.tgz")
a="device packages"
row() { # measure, iotbench's time, tar's command, its time (the ratio is of MB/s)
    printf 'row\t%s\t%s\t%s MB/s (%ss)\t%s\t%s MB/s (%ss)\t%s\t\t\n' "$a" "$1" "$(mbps "$2")" "$2" \
        "$3" "$(mbps "$4")" "$4" "$(ratio "$(mbps "$2")" "$(mbps "$4")")"
}
row "export (\`device export\`)" "$ib_exp_s" "\`tar czf\`" "$tar_c_s"
row "import (\`device add\`)" "$ib_add_s" "\`tar xzf\`" "$tar_x_s"
row "import, durable (\`device add\`)" "$ib_add_s" "\`tar xzf\` + \`sync\`" "$tar_xs_s"
printf 'note\t%s\t%s\n' "$a" "a generated tree of $(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }') \
MB in $files files (archives: .piotr $((piotr_size / 1000000)) MB, .tgz $((tgz_size / 1000000)) MB), \
$(nproc) CPUs, best of $runs runs each; iotbench also hashes every file and syncs the store, \
so the durable import is its like-for-like peer"
