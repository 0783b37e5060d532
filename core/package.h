/*
 * package.h - device packages: make a new device folder, export a device to
 * one archive, import such an archive as a device of the store.
 *
 * The archive is Piotr's `.piotr` format, so Piotr can read ours and we read
 * Piotr's: a gzip-compressed tar (pax headers) with members at the root:
 *
 *   MANIFEST.iotbench          iotbench only, first member (see below)
 *   config.yaml
 *   rootfs/...                 the device root filesystem
 *   <anything else of the device folder: sd folder, custom kernel or dtb>
 *   deps/kernel/<name>         the stock kernel the device resolves to
 *   deps/initrd/<kernel name>  its initramfs, when the store has one (iotbench)
 *   deps/hostfs/<name>         the stock host filesystem
 *   deps/dtb/<name>            the stock dtb (dtb: auto)
 *
 * Everything a filesystem holds is kept: modes with setuid/setgid/sticky,
 * numeric owners (and their names, for information), nanosecond mtimes and
 * atimes, symlinks, hard links, sparse files, device nodes, fifos, xattrs
 * (QEMU's user.virtfs.* included) and ACLs. Owners and device nodes are
 * restored only by root.
 *
 * MANIFEST.iotbench is text, one line per member, fields separated by tabs:
 *
 *   iotbench-manifest	1
 *   total	<members after the manifest>	<bytes of file data>
 *   f	<size>	<sha256>	<path>          regular file (hard links too)
 *   d	-	-	<path>                  directory
 *   l	-	-	<path>	<target>        symbolic link
 *   c|b|p	-	-	<path>              device node, fifo
 *
 * Lines starting with '#' are comments. Paths hold no control characters
 * (export refuses them, import too), so no escaping is needed. Import
 * checks that the archive holds exactly the manifest's members, with the
 * same types, sizes, link targets and SHA-256; an archive without one
 * (made by Piotr) imports with a notice that nothing could be verified.
 *
 *     struct package_ops ops = {.progress = draw_bar, .arg = pane, .cancel = &stop};
 *     struct package_report rep;
 *     if (package_export(&st, "demo", "/tmp/demo.piotr", &ops, &rep, &err) < 0) ...
 *     package_report_free(&rep);
 *
 *     struct package_import_opts o = {.ops = ops};
 *     if (package_import(&st, "/tmp/demo.piotr", &o, &rep, &err) < 0) ...
 *     ... rep.alias, rep.deps[i].action, rep.notices[i] ...
 *     package_report_free(&rep);
 *
 * The operations block until done; progress is called from inside them (at
 * most ten times a second, and once at the end), so a caller can redraw and
 * poll its input there, and set *cancel to stop. A stopped or failed
 * operation leaves nothing behind: no archive, no temporary file or folder,
 * no store item. The report is filled (and must be freed) either way.
 */
#ifndef IB_PACKAGE_H
#define IB_PACKAGE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/store.h"

#define PACKAGE_MANIFEST "MANIFEST.iotbench"
#define PACKAGE_SUFFIX ".piotr"

/* Defaults of the import limits (the store's free space caps bytes too). */
#define PACKAGE_MAX_BYTES (16ULL << 30)
#define PACKAGE_MAX_ENTRIES 1000000ULL
/* Without --max-size, an archive whose members claim more than
 * PACKAGE_BOMB_MIN_BYTES and more than PACKAGE_BOMB_RATIO times the
 * archive's own size is refused as a bomb (a sparse tar member or a gzip
 * stream of zeros): real devices compress far less than 100:1, and those
 * that do not are allowed with --max-size. */
#define PACKAGE_BOMB_MIN_BYTES (1ULL << 30)
#define PACKAGE_BOMB_RATIO 100

/* done and total in bytes; total 0 means "not known yet" (a scan). */
typedef void (*package_progress_fn)(uint64_t done, uint64_t total, void *arg);

struct package_ops {
    package_progress_fn progress; /* NULL: no progress */
    void *arg;
    const volatile sig_atomic_t *cancel; /* NULL, or non-zero to stop */
};

enum package_dep_kind {
    PACKAGE_DEP_KERNEL,
    PACKAGE_DEP_INITRD,
    PACKAGE_DEP_HOSTFS,
    PACKAGE_DEP_DTB
};

enum package_dep_action {
    PACKAGE_DEP_INSTALL,  /* not in the store: installed (or would be, dry run) */
    PACKAGE_DEP_PRESENT,  /* the store has the same bytes under that name: skipped */
    PACKAGE_DEP_CONFLICT, /* the store has different bytes under that name */
};

struct package_dep {
    enum package_dep_kind kind;
    char *name;
    uint64_t size;
    char sha256[65];
    enum package_dep_action action; /* import only */
};

struct package_report {
    char *alias;              /* the device created or imported */
    uint64_t entries;         /* members (export, import) or files copied (create) */
    uint64_t bytes;           /* bytes of file data */
    bool verified;            /* import: the manifest was there and matched */
    struct package_dep *deps; /* export: what went in; import: what the archive holds */
    size_t n_deps;
    char **notices; /* things to tell the user: skipped device nodes, ... */
    size_t n_notices;
};

struct package_import_opts {
    const char *alias;    /* NULL: the file name without .piotr */
    bool dry_run;         /* read and check everything, change nothing */
    uint64_t max_bytes;   /* 0: PACKAGE_MAX_BYTES */
    uint64_t max_entries; /* 0: PACKAGE_MAX_ENTRIES */
    struct package_ops ops;
};

/* A new device folder devices/<alias>: a commented config.yaml,
 * rootfs/piotr/init.sh and, copied from the store's demo device when it is
 * there, busybox with its applets (init.sh needs a /bin/sh); a notice says
 * which. Or, with from, an exact copy of that device. */
int package_create(const struct store *st, const char *alias, const char *from,
                   const struct package_ops *ops, struct package_report *rep, struct ib_error *err);

/* Writes device alias to file (an existing folder: <folder>/<alias>.piotr).
 * An existing file is replaced only with overwrite. */
int package_export(const struct store *st, const char *alias, const char *file, bool overwrite,
                   const struct package_ops *ops, struct package_report *rep, struct ib_error *err);

int package_import(const struct store *st, const char *file, const struct package_import_opts *opts,
                   struct package_report *rep, struct ib_error *err);

void package_report_free(struct package_report *rep);

/* "kernel", "initrd", "hostfs", "dtb": the deps/ folder names. */
const char *package_dep_label(enum package_dep_kind kind);

/* The alias an archive gets by default: its file name without .piotr
 * (other names lose their last extension, as Piotr does). malloc'd. */
char *package_default_alias(const char *file);

/* The commented config.yaml `device create` writes. malloc'd. */
char *package_config_template(const char *alias);

#endif
