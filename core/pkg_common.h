/*
 * pkg_common.h - what the package modules (pkg_create.c, pkg_export.c,
 * pkg_extract.c, pkg_import.c) share besides pkg_manifest.h; not for use
 * outside them (store.c borrows pkg_rename_noreplace).
 *
 * - an incremental SHA-256 that hashes holes as zeros, so a sparse file has
 *   the hash `sha256sum` prints.
 * - progress throttling and cancel checks, the UTF-8 locale libarchive
 *   needs to keep names as they are, and report helpers.
 */
#ifndef IB_PKG_COMMON_H
#define IB_PKG_COMMON_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"
#include "core/package.h"
#include "core/pkg_manifest.h"

struct archive;

/* --- data ----------------------------------------------------------------- */

struct pkg_sha {
    void *ctx;    /* EVP_MD_CTX */
    uint64_t pos; /* bytes hashed so far */
};
void pkg_sha_begin(struct pkg_sha *h);
/* Hashes the block at offset off, hashing zeros for a hole before it. */
void pkg_sha_block(struct pkg_sha *h, const void *buf, size_t len, uint64_t off);
/* Hashes zeros up to size and writes the hex digest. */
void pkg_sha_end(struct pkg_sha *h, uint64_t size, char hex[65]);
void pkg_sha_abort(struct pkg_sha *h);

/* 64 KiB of zeros, for holes written to a tar stream. */
extern const char pkg_zeros[65536];

/* --- progress, cancel, locale --------------------------------------------- */

struct pkg_meter {
    const struct package_ops *ops;
    uint64_t total;
    int64_t last_ms;
};
void pkg_meter_init(struct pkg_meter *m, const struct package_ops *ops, uint64_t total);
/* Calls the progress callback, at most every 100 ms unless final. */
void pkg_meter_update(struct pkg_meter *m, uint64_t done, bool final);
bool pkg_cancelled(const struct package_ops *ops);

/* Switches this thread to a UTF-8 locale so libarchive stores and reads
 * names as UTF-8 without complaint (invalid UTF-8 still passes as bytes).
 * Returns what to hand to pkg_locale_leave(). */
locale_t pkg_locale_enter(void);
void pkg_locale_leave(locale_t saved);

/* --- results -------------------------------------------------------------- */

void pkg_report_init(struct package_report *rep);
void pkg_notice(struct package_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct package_dep *pkg_report_add_dep(struct package_report *rep, enum package_dep_kind kind,
                                       const char *name);
/* "kernel" -> PACKAGE_DEP_KERNEL; -1 for anything else. */
int pkg_dep_kind_parse(const char *label);

/* --- files ---------------------------------------------------------------- */

/* rm -rf of a folder we made, even when an archive gave its folders modes
 * that forbid writing (0500) or reading (0000). */
int pkg_rm_tree(const char *path, struct ib_error *err);

/* rename() that fails with EEXIST instead of replacing the destination. */
int pkg_rename_noreplace(const char *from, const char *to);

/* A hidden temporary folder devices/.<prefix>-XXXXXX for an import or a
 * create, with an flock held on it (*lock_fd) for as long as the operation
 * runs: that lock is how pkg_sweep_stale tells a live folder from one whose
 * process was killed. Close *lock_fd when done. */
char *pkg_temp_dir(const char *devices, const char *prefix, int *lock_fd, struct ib_error *err);

/* Removes what killed operations left in devices/: .import-* and .create-*
 * folders nobody holds the lock of, .removing-<alias>-<pid> folders whose
 * process is gone. Anything younger than PKG_SWEEP_MIN_AGE seconds is left
 * alone (a folder between its mkdtemp and its flock). */
#define PKG_SWEEP_MIN_AGE 10
void pkg_sweep_stale(const char *devices);

/* fsync of the folder holding path, so a rename in it is durable. */
void pkg_fsync_parent(const char *path);

/* The process umask, read without changing it. */
mode_t pkg_umask(void);

/* "12.3 MiB" */
void pkg_format_size(uint64_t bytes, char *buf, size_t cap);

/* A write_disk archive for a device tree: modes, times, xattrs, ACLs;
 * numeric owners and device nodes only as root; never through symlinks
 * or "..". absolute_paths lets the caller give absolute destination names
 * (a copy between folders it made); otherwise they are refused.
 * no_overwrite: an existing file is an error, not replaced. */
struct archive *pkg_disk_writer(bool absolute_paths, bool no_overwrite);

#endif
