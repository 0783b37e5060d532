#!/bin/sh
# fetch-debs.sh DEBDIR: resolve and download the Debian armhf packages the
# stock images are made of, into the cache DEBDIR.
#
# Writes three lists of .deb file names (one per line), each rewritten only
# when its content changes so that make rebuilds only the affected images:
#   kernel.list   the real kernel package behind $STOCK_KERNEL_META
#   busybox.list  busybox-static
#   hostfs.list   $STOCK_HOSTFS_PACKAGES and their library closure
# A cached .deb is reused when its size and SHA-256 match the archive's
# index; stale .debs no list names any more are removed.
set -eu
. "$(dirname "$0")/lib.sh"

debdir=$1
arch=${STOCK_ARCH:-armhf}
meta=${STOCK_KERNEL_META:-linux-image-armmp}
tools=${STOCK_HOSTFS_PACKAGES:-qemu-guest-agent gdbserver}

stock_need apt-get apt-cache dpkg-deb sha256sum
mkdir -p "$debdir"
work=$(mktemp -d "$debdir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The meta package depends on exactly one versioned kernel package; older
# versioned kernels stay in the archive, so never pick one by name.
kernel=$(apt-cache depends "$meta:$arch" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
[ -n "$kernel" ] ||
    stock_die "apt-cache knows no $meta:$arch (dpkg --add-architecture $arch && apt-get update)"

qualified=
for tool in $tools; do
    qualified="$qualified $tool:$arch"
done
# shellcheck disable=SC2086 # word splitting of the package list is wanted
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances --no-pre-depends $qualified |
    awk '/^[a-z0-9]/ { print }' | sort -u)
[ -n "$closure" ] || stock_die "cannot resolve the dependencies of$qualified"

# name:arch -> the file name apt-get download gives it, and its size and
# checksum. One apt-cache call for all: each call costs a second when apt
# keeps no binary cache.
packages="$kernel busybox-static:$arch $closure"
# shellcheck disable=SC2086 # one argument per package
apt-cache show --no-all-versions $packages >"$work/stanzas" 2>"$work/apt.log" || {
    cat "$work/apt.log" >&2
    stock_die "apt-cache show failed"
}
awk '
    function flush() {
        if (name != "") {
            gsub(":", "%3a", version)
            printf "%s:%s %s_%s_%s.deb %s %s\n", name, a, name, version, a, size, sha
        }
        name = ""
    }
    $1 == "Package:" { flush(); name = $2 }
    $1 == "Version:" { version = $2 }
    $1 == "Architecture:" { a = $2 }
    $1 == "Size:" { size = $2 }
    $1 == "SHA256:" { sha = $2 }
    END { flush() }' "$work/stanzas" >"$work/index"
# shellcheck disable=SC2086 # one line per package
[ "$(wc -l <"$work/index")" -eq "$(printf '%s\n' $packages | wc -l)" ] ||
    stock_die "apt-cache show did not describe exactly: $packages"

missing=
while read -r pkg deb size sha; do
    if [ -f "$debdir/$deb" ] &&
        [ "$(wc -c <"$debdir/$deb")" -eq "$size" ] &&
        printf '%s  %s\n' "$sha" "$debdir/$deb" | sha256sum -c --status; then
        continue
    fi
    rm -f "$debdir/$deb"
    missing="$missing $pkg"
done <"$work/index"

count=$(wc -l <"$work/index")
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086 # one argument per package
    set -- $missing
    if [ $# -eq "$count" ]; then
        stock_say "downloading $# packages"
    else
        stock_say "downloading $# packages ($((count - $#)) cached)"
    fi
    # apt-get download writes into the current directory and checks the
    # archive signatures and checksums itself.
    if ! (cd "$debdir" && apt-get download "$@") >"$work/apt.log" 2>&1; then
        cat "$work/apt.log" >&2
        stock_die "apt-get download failed"
    fi
    while read -r pkg deb size sha; do
        [ -f "$debdir/$deb" ] || stock_die "apt-get download did not produce $deb"
    done <"$work/index"
else
    stock_say "all $count packages cached"
fi

awk -v k="$kernel" '$1 == k { print $2 }' "$work/index" >"$work/kernel.list"
awk -v b="busybox-static:$arch" '$1 == b { print $2 }' "$work/index" >"$work/busybox.list"
awk -v k="$kernel" -v b="busybox-static:$arch" '$1 != k && $1 != b { print $2 }' \
    "$work/index" | sort >"$work/hostfs.list"
for list in kernel busybox hostfs; do
    stock_replace_if_changed "$work/$list.list" "$debdir/$list.list"
done

# Drop cached packages that no list names any more (superseded versions).
for deb in "$debdir"/*.deb; do
    [ -f "$deb" ] || continue
    awk -v d="${deb##*/}" '$2 == d { found = 1 } END { exit !found }' "$work/index" ||
        rm -f "$deb"
done
