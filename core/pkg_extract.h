/*
 * pkg_extract.h - reads a package archive, which is untrusted input, checks
 * every member and extracts it into the current directory:
 *
 *   ./device/...            config.yaml, rootfs/ and the rest of the device
 *   ./deps/<kind>/<name>    kernels, initrds, host filesystems, dtbs
 *
 * pkg_import.c runs it in a child process whose current directory is the
 * import's temporary folder (and, as root, whose root is that folder too),
 * so the member checks here, libarchive's SECURE_* flags and the chroot
 * each stop a member from landing outside it on their own.
 *
 * What it finds goes to report_fd, one line each (fields separated by
 * single spaces; the last field may hold spaces, never a newline):
 *
 *   P <done> <total>                      bytes of the archive file read
 *   D <kind> <size> <sha256> <name>       a dep, kind as package_dep_label()
 *   N <text>                              a notice for the user
 *   S <members> <bytes> <verified> <sensitive>   the end: all is well
 *   E <status> <text>                     the end: refused or failed
 *
 * verified: the manifest was there and everything matched it; sensitive:
 * setuid/setgid files or device nodes were created (the folder should not
 * be open to other users).
 */
#ifndef IB_PKG_EXTRACT_H
#define IB_PKG_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct pkg_extract_opts {
    int archive_fd;
    int report_fd;
    const char *display_name; /* the archive, for messages */
    bool write;               /* false: a dry run, read and check only */
    bool root;                /* owners and device nodes are restored */
    uint64_t max_bytes;
    uint64_t max_entries;
    const char *max_bytes_what; /* "the --max-size limit", "the free space in ..." */
    bool max_bytes_is_space;    /* the limit is the free space: IB_EFAIL, not bad input */
    bool bomb_check;            /* no --max-size: refuse claims far above the archive's size */
};

/* 0 when every member passed and (write) was extracted; -1 with err. The
 * E line is the caller's to write. */
int pkg_extract(const struct pkg_extract_opts *o, struct ib_error *err);

#endif
