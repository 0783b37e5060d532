# Shared helpers for the stock image scripts (sourced, never run).
#
# The scripts in stock/ build iotbench's stock guest images from Debian armhf
# packages. They are called by stock/stock.mk, run without root (image steps
# go through fakeroot) and print short "[stock] ..." progress lines.

# depmod and mke2fs live in /usr/sbin, which a normal user's PATH lacks.
PATH=$PATH:/usr/sbin:/sbin
export PATH
LC_ALL=C
export LC_ALL

stock_say() {
    printf '[stock] %s\n' "$*"
}

stock_die() {
    printf '[stock] error: %s\n' "$*" >&2
    exit 1
}

# stock_need TOOL...: fail early, naming the Debian package, when a host tool is missing.
stock_need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 && continue
        case $tool in
        depmod) pkg=kmod ;;
        mke2fs | e2fsck) pkg=e2fsprogs ;;
        arm-linux-gnueabihf-gcc) pkg=gcc-arm-linux-gnueabihf ;;
        apt-get | apt-cache) pkg=apt ;;
        dpkg-deb) pkg=dpkg ;;
        *) pkg=$tool ;;
        esac
        stock_die "host tool '$tool' not found (apt-get install $pkg)"
    done
}

# stock_replace_if_changed NEW DEST: move NEW over DEST unless both hold the
# same bytes, so that DEST's mtime only moves when its content does (make
# then rebuilds only what really depends on a change).
stock_replace_if_changed() {
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        rm -f "$1"
    else
        mv -f "$1" "$2"
    fi
}

# stock_list_debs LIST DEBDIR: print the absolute .deb paths named in LIST.
stock_list_debs() {
    while IFS= read -r deb; do
        [ -n "$deb" ] || continue
        [ -f "$2/$deb" ] || stock_die "$2/$deb missing: run 'make stock-update'"
        printf '%s\n' "$2/$deb"
    done <"$1"
}

# stock_copy SRC DEST: copy a tree keeping modes, times, symlinks and hard
# links, replacing existing files (never writing through a link).
stock_copy() {
    cp -R -P --remove-destination --preserve=mode,timestamps,links "$1" "$2"
}

# stock_merge_usr SRC DEST: copy the tree SRC into DEST with a merged /usr:
# top-level bin, sbin and lib go to usr/bin, usr/sbin and usr/lib, which DEST
# already has with the bin -> usr/bin style links (see stock_make_merged_root).
# Files replace what DEST has (never writing through a busybox applet link).
stock_merge_usr() {
    for entry in "$1"/* "$1"/.[!.]*; do
        [ -e "$entry" ] || [ -L "$entry" ] || continue
        name=${entry##*/}
        case $name in
        bin | sbin | lib)
            mkdir -p "$2/usr/$name"
            stock_copy "$entry/." "$2/usr/$name/"
            ;;
        *)
            stock_copy "$entry" "$2/"
            ;;
        esac
    done
}

# stock_make_merged_root DIR: an empty root with /bin, /sbin and /lib as
# relative links into /usr (relative so that they also resolve from outside
# the guest, e.g. for depmod -b and for checks made by the initramfs).
stock_make_merged_root() {
    mkdir -p "$1/usr/bin" "$1/usr/sbin" "$1/usr/lib"
    ln -s usr/bin "$1/bin"
    ln -s usr/sbin "$1/sbin"
    ln -s usr/lib "$1/lib"
}

# stock_install_busybox ROOT BUSYBOX APPLETS MODE: install the busybox binary
# and one link per applet. APPLETS is the "DIR NAME" list made by
# busybox-applets.sh.
#   MODE=merged:   ROOT has a merged /usr; busybox goes to /usr/bin and the
#                  applets are relative symlinks in /usr/bin and /usr/sbin.
#   MODE=hardlink: plain /bin, /sbin, /usr/bin, /usr/sbin directories and
#                  hard links, no symlink at all (for trees shared over 9P
#                  with security_model=mapped-xattr, where QEMU cannot follow
#                  symlinks made on the host).
# An existing file of the same name (a real program) is never replaced.
stock_install_busybox() {
    root=$1 mode=$4
    case $mode in
    merged) home=usr/bin ;;
    hardlink) home=bin ;;
    *) stock_die "stock_install_busybox: unknown mode $mode" ;;
    esac
    mkdir -p "$root/$home"
    cp "$2" "$root/$home/busybox"
    chmod 0755 "$root/$home/busybox"
    while read -r dir name; do
        case $dir in
        /) continue ;; # linuxrc: only meaningful as an initrd's /linuxrc
        /bin | /usr/bin) sub=bin ;;
        /sbin | /usr/sbin) sub=sbin ;;
        *) stock_die "busybox applet $name: unexpected directory $dir" ;;
        esac
        case $mode in
        merged)
            dest=$root/usr/$sub/$name
            [ -e "$dest" ] || [ -L "$dest" ] && continue
            if [ "$sub" = bin ]; then
                ln -s busybox "$dest"
            else
                ln -s ../bin/busybox "$dest"
            fi
            ;;
        hardlink)
            dest=$root${dir}/$name
            [ -e "$dest" ] && continue
            mkdir -p "$root$dir"
            ln "$root/$home/busybox" "$dest"
            ;;
        esac
    done <"$3"
}

# stock_modules_closure MODDIR MODULE...: print the modules' paths relative
# to MODDIR (/lib/modules/RELEASE), each after everything it needs (from
# MODDIR/modules.dep), so that loading them in this order with insmod works.
# Names may use '-' or '_' interchangeably, as with modprobe.
stock_modules_closure() {
    moddir=$1
    shift
    [ -f "$moddir/modules.dep" ] || stock_die "$moddir/modules.dep missing"
    awk -v want="$*" '
        function key(path,    n, parts, base) {
            n = split(path, parts, "/")
            base = parts[n]
            sub(/\.ko(\.(gz|xz|zst))?$/, "", base)
            gsub("-", "_", base)
            return base
        }
        function visit(k,    n, d, i) {
            if (k in done)
                return
            if (!(k in file)) {
                printf "module %s not found in modules.dep\n", k > "/dev/stderr"
                bad = 1
                return
            }
            done[k] = 1
            # modules.dep lists the deepest dependency last: visit it first.
            n = split(deps[k], d, " ")
            for (i = n; i >= 1; i--)
                visit(key(d[i]))
            print file[k]
        }
        {
            sub(/:$/, "", $1)
            k = key($1)
            file[k] = $1
            deps[k] = ""
            for (i = 2; i <= NF; i++)
                deps[k] = deps[k] " " $i
        }
        END {
            n = split(want, w, " ")
            for (i = 1; i <= n; i++) {
                k = w[i]
                gsub("-", "_", k)
                visit(k)
            }
            exit bad
        }
    ' "$moddir/modules.dep" || stock_die "cannot resolve kernel modules: $*"
}

# stock_copy_modules SRCDIR DESTDIR MODULE...: copy the modules and what they
# need from one /lib/modules/RELEASE directory to another; print their
# relative paths in load order.
stock_copy_modules() {
    src=$1 dest=$2
    shift 2
    order=$(stock_modules_closure "$src" "$@") || exit 1
    for rel in $order; do
        mkdir -p "$dest/${rel%/*}"
        cp -p "$src/$rel" "$dest/$rel"
        printf '%s\n' "$rel"
    done
}
