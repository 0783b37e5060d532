/*
 * pkg_manifest.h - what a package archive says about itself, for the
 * package modules only (pkg_*.c):
 *
 * - pkg_map: member names of an archive or tree, with what is known of
 *   each (type, size, hash, link target);
 * - the manifest's text form (the format is in package.h);
 * - member names: pkg_path_normalize() is the single place that says
 *   which names may enter the store.
 */
#ifndef IB_PKG_MANIFEST_H
#define IB_PKG_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct archive_entry;

/* --- members -------------------------------------------------------------- */

/* Types as written in the manifest; 'D' is a folder that only exists
 * because a member below it does ("implicit"). */
enum {
    PKG_FILE = 'f',
    PKG_DIR = 'd',
    PKG_SYMLINK = 'l',
    PKG_CHR = 'c',
    PKG_BLK = 'b',
    PKG_FIFO = 'p',
    PKG_IMPLICIT_DIR = 'D',
};

struct pkg_node {
    char *path;
    char type;
    bool seen;    /* manifest: met in the archive; export: met in the second walk */
    bool skipped; /* not extracted (a device node without root) */
    bool hashed;  /* sha256 holds the hash of the data */
    uint64_t size;
    char sha256[65];
    char *target; /* symlink target */
};

struct pkg_map {
    struct pkg_node **slots;
    size_t cap, n;
};

struct pkg_node *pkg_map_get(const struct pkg_map *m, const char *path);
/* A new node for path, or NULL when the path is there already. */
struct pkg_node *pkg_map_add(struct pkg_map *m, const char *path, char type);
void pkg_map_free(struct pkg_map *m);

/* Type of an archive entry as a manifest letter; 0 for sockets and others. */
char pkg_entry_type(struct archive_entry *e);
bool pkg_type_is_dir(char type);

/* --- manifest ------------------------------------------------------------- */

struct pkg_manifest {
    struct pkg_map files;
    uint64_t entries, bytes;
};

int pkg_manifest_parse(const char *text, size_t len, struct pkg_manifest *m, struct ib_error *err);
void pkg_manifest_free(struct pkg_manifest *m);

/* A growing string. */
struct pkg_buf {
    char *data;
    size_t len, cap;
};
void pkg_buf_printf(struct pkg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pkg_buf_append(struct pkg_buf *b, const void *data, size_t len);
void pkg_buf_free(struct pkg_buf *b);

/* The manifest text of a tree: header, total, one line per node in the
 * order given. */
void pkg_manifest_format(struct pkg_buf *out, struct pkg_node *const *nodes, size_t n,
                         uint64_t bytes);

/* --- names ---------------------------------------------------------------- */

/* Checks an archive member name and returns it normalised (no leading
 * "./", no trailing '/') in *out (malloc'd). Returns 1 for the archive's
 * root folder ("/", ".", "./": Piotr writes one), 0 for a member, -1 with a
 * message naming what is wrong: absolute, "..", ".", empty components,
 * control characters, too long. */
int pkg_path_normalize(const char *raw, char **out, struct ib_error *err);

/* The first control character of s (byte < 0x20 or 0x7f), or NULL. */
const char *pkg_find_control(const char *s);

/* s for a message: control characters as \xHH, cut to fit cap. */
const char *pkg_show(const char *s, char *buf, size_t cap);

#endif
