#!/bin/sh
# busybox-applets.sh BUSYBOX: print the applets of a busybox binary as
# "DIR NAME" lines, DIR being where `busybox --list-full` would put it
# (/bin, /sbin, /usr/bin, /usr/sbin, or / for linuxrc).
#
# The binary is for ARM and cannot run here (and `busybox --install` must
# never run on the build host), so the list is read from the binary's data:
# busybox keeps its applet names as one sorted string of NUL-terminated
# names starting "[\0[[\0", and, close before it, the install directory of
# every applet packed two to a byte, low nibble first (0 /, 1 /bin, 2 /sbin,
# 3 /usr/bin, 4 /usr/sbin). The table is the only window of ceil(n/2) bytes
# before the names whose nibbles all fit that code with at most two "/"
# entries; more or fewer than one such window is an error, never a guess.
set -eu
. "$(dirname "$0")/lib.sh"

bb=$1
[ -f "$bb" ] || stock_die "$bb: no such file"

off=$(grep -obUaP '\[\x00\[\[\x00' "$bb" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || stock_die "$bb: no busybox applet name table found"

names=$(mktemp)
trap 'rm -f "$names"' EXIT
# The table ends at the first empty name (two NULs in a row).
tail -c +$((off + 1)) "$bb" | head -c 65536 | tr '\0' '\n' | sed '/^$/q' >"$names"
tail -n 1 "$names" | grep -q '^$' || stock_die "$bb: applet name table not terminated"
sed -i '$d' "$names"

window=4096
[ "$off" -ge "$window" ] || window=$off
head -c "$off" "$bb" | tail -c "$window" | od -An -v -tu1 |
    awk -v names="$names" '
    BEGIN {
        while ((getline line < names) > 0)
            name[++n] = line
        dirs[0] = "/"; dirs[1] = "/bin"; dirs[2] = "/sbin"
        dirs[3] = "/usr/bin"; dirs[4] = "/usr/sbin"
    }
    { for (i = 1; i <= NF; i++) b[++w] = $i }
    function nibble(start, k) {
        return k % 2 == 0 ? b[start + int(k / 2)] % 16 : int(b[start + int(k / 2)] / 16)
    }
    END {
        if (n < 10) {
            print "too few applet names" > "/dev/stderr"
            exit 1
        }
        len = int((n + 1) / 2)
        found = 0
        for (s = 1; s + len - 1 <= w; s++) {
            if (n % 2 == 1 && nibble(s, n) != 0)
                continue
            zeros = 0
            for (k = 0; k < n; k++) {
                v = nibble(s, k)
                if (v > 4)
                    break
                if (v == 0 && ++zeros > 2)
                    break
            }
            if (k == n) {
                found++
                at = s
            }
        }
        if (found != 1) {
            printf "%d candidate install-directory tables (want 1)\n", found > "/dev/stderr"
            exit 1
        }
        for (k = 0; k < n; k++)
            printf "%s %s\n", dirs[nibble(at, k)], name[k + 1]
    }' || stock_die "$bb: cannot decode the applet install directories"
