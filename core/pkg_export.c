/*
 * pkg_export.c - `device export`: a device folder and the stock parts it
 * resolves to, as one .piotr archive (format in package.h).
 *
 * Two walks over the same files. The first hashes every file for the
 * manifest, which has to be the archive's first member so that an import
 * knows the claimed sizes before it writes anything. The second writes the
 * archive and hashes again, so a file that changes in between (a device
 * running while it is exported) fails the export instead of shipping with a
 * hash that does not match. The archive is written to an unnamed file
 * (O_TMPFILE; else a hidden temporary one) in the destination's folder and
 * linked into place only once complete and flushed.
 */
#include "core/package.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/device.h"
#include "core/pkg_common.h"
#include "core/util.h"

/* One step of the archive, in order: a tree or file on disk, or a folder
 * of deps/ that exists only in the archive. */
struct step {
    char *disk;    /* NULL: a folder made up for the archive */
    char *arcname; /* "" for the device folder, whose members go to the root */
};

struct exporter {
    const struct package_ops *ops;
    struct package_report *rep;
    struct ib_error *err;
    struct step steps[16];
    size_t n_steps;
    struct pkg_map nodes;    /* first walk: every member by name */
    struct pkg_node **order; /* ... in archive order, for the manifest */
    size_t n_order;
    uint64_t bytes; /* file data, holes included */
    uint64_t done;
    int pass;   /* 1: hash, 2: write */
    size_t met; /* second walk: members met */
    struct pkg_meter meter;
    struct archive *out;
    const char *dest;
};

typedef int (*member_fn)(struct exporter *x, struct archive *disk, struct archive_entry *e);

static void add_step(struct exporter *x, const char *disk, char *arcname)
{
    x->steps[x->n_steps].disk = disk ? xstrdup(disk) : NULL;
    x->steps[x->n_steps].arcname = arcname;
    x->n_steps++;
}

static int export_changed(struct exporter *x, const char *name)
{
    char shown[300];
    return ib_err(x->err, IB_EFAIL,
                  "%s changed while it was being exported (is the device "
                  "running?); nothing was written, export again",
                  pkg_show(name, shown, sizeof shown));
}

/* Checks of a name the first walk applies before anything is written:
 * what import would refuse is refused here, with a way out. */
static int check_member(struct exporter *x, const char *arcname, struct archive_entry *e,
                        bool device)
{
    char shown[300];
    if (pkg_find_control(arcname))
        return ib_err(x->err, IB_EINPUT,
                      "%s has a control character in its name; iotbench "
                      "refuses such names on import, rename it first",
                      pkg_show(arcname, shown, sizeof shown));
    const char *target = archive_entry_symlink(e);
    if (target && (pkg_find_control(target) || !*target))
        return ib_err(x->err, IB_EINPUT,
                      "symlink %s points to a name with a control "
                      "character; iotbench refuses those on import, change it first",
                      pkg_show(arcname, shown, sizeof shown));
    if (device && (strcmp(arcname, "deps") == 0 || strncmp(arcname, "deps/", 5) == 0 ||
                   strcmp(arcname, PACKAGE_MANIFEST) == 0))
        return ib_err(x->err, IB_EINPUT,
                      "the device folder holds %s, a name the package "
                      "format reserves; rename it first",
                      arcname);
    return 0;
}

static int hash_data(struct exporter *x, struct archive *disk, struct pkg_node *node)
{
    struct pkg_sha h;
    pkg_sha_begin(&h);
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(disk, &buf, &len, &off)) == ARCHIVE_OK) {
        pkg_sha_block(&h, buf, len, (uint64_t)off);
        x->done += len;
        pkg_meter_update(&x->meter, x->done, false);
        if (pkg_cancelled(x->ops)) {
            pkg_sha_abort(&h);
            return ib_err(x->err, IB_EFAIL, "export interrupted; nothing was written");
        }
    }
    if (r != ARCHIVE_EOF) {
        pkg_sha_abort(&h);
        return ib_err(x->err, IB_EFAIL, "cannot read %s: %s", node->path,
                      archive_error_string(disk));
    }
    pkg_sha_end(&h, node->size, node->sha256);
    node->hashed = true;
    return 0;
}

/* First walk: the manifest's line of one member. */
static int scan_member(struct exporter *x, struct archive *disk, struct archive_entry *e)
{
    const char *name = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    char type = link ? PKG_FILE : pkg_entry_type(e);
    struct pkg_node *node = pkg_map_add(&x->nodes, name, type);
    if (node == NULL)
        return export_changed(x, name);
    x->order = xrealloc(x->order, (x->n_order + 1) * sizeof *x->order);
    x->order[x->n_order++] = node;
    if (link) {
        const struct pkg_node *first = pkg_map_get(&x->nodes, link);
        if (first == NULL || first->type != PKG_FILE)
            return export_changed(x, name);
        node->size = first->size;
        memcpy(node->sha256, first->sha256, sizeof node->sha256);
        node->target = xstrdup(link); /* remembered to compare in the second walk */
        return 0;
    }
    if (type == PKG_SYMLINK)
        node->target = xstrdup(archive_entry_symlink(e));
    if (type != PKG_FILE)
        return 0;
    node->size = (uint64_t)archive_entry_size(e);
    x->bytes += node->size;
    return hash_data(x, disk, node);
}

static int write_failed(struct exporter *x, const char *what)
{
    int e = archive_errno(x->out);
    return ib_err(x->err, IB_EFAIL,
                  "cannot write %s (%s): %s; the partial archive was "
                  "removed",
                  x->dest, what, e > 0 ? strerror(e) : archive_error_string(x->out));
}

/* Copies one file's data into the tar stream, holes as zeros (the pax
 * writer drops what falls in the entry's sparse map), hashing as it goes. */
static int copy_data(struct exporter *x, struct archive *disk, struct pkg_node *node)
{
    struct pkg_sha h;
    pkg_sha_begin(&h);
    const void *buf;
    size_t len;
    la_int64_t off;
    int r, rc = 0;
    uint64_t pos = 0;
    while (rc == 0 && (r = archive_read_data_block(disk, &buf, &len, &off)) == ARCHIVE_OK) {
        if ((uint64_t)off + len > node->size) {
            rc = export_changed(x, node->path);
            break;
        }
        while (rc == 0 && pos < (uint64_t)off) {
            size_t n = (uint64_t)off - pos < sizeof pkg_zeros ? (size_t)((uint64_t)off - pos)
                                                              : sizeof pkg_zeros;
            if (archive_write_data(x->out, pkg_zeros, n) < 0)
                rc = write_failed(x, node->path);
            pos += n;
        }
        pkg_sha_block(&h, buf, len, (uint64_t)off);
        if (rc == 0 && archive_write_data(x->out, buf, len) < 0)
            rc = write_failed(x, node->path);
        pos += len;
        x->done += len;
        pkg_meter_update(&x->meter, x->done, false);
        if (rc == 0 && pkg_cancelled(x->ops))
            rc = ib_err(x->err, IB_EFAIL, "export interrupted; no archive was written");
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = ib_err(x->err, IB_EFAIL, "cannot read %s: %s", node->path, archive_error_string(disk));
    while (rc == 0 && pos < node->size) {
        size_t n =
            node->size - pos < sizeof pkg_zeros ? (size_t)(node->size - pos) : sizeof pkg_zeros;
        if (archive_write_data(x->out, pkg_zeros, n) < 0)
            rc = write_failed(x, node->path);
        pos += n;
    }
    if (rc < 0) {
        pkg_sha_abort(&h);
        return -1;
    }
    char hex[65];
    pkg_sha_end(&h, node->size, hex);
    if (strcmp(hex, node->sha256) != 0)
        return export_changed(x, node->path);
    return 0;
}

/* Second walk: the member itself, which must be what the first walk saw. */
static int write_member(struct exporter *x, struct archive *disk, struct archive_entry *e)
{
    const char *name = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    struct pkg_node *node = pkg_map_get(&x->nodes, name);
    char type = link ? PKG_FILE : pkg_entry_type(e);
    if (node == NULL || node->seen || node->type != type)
        return export_changed(x, name);
    /* A file's node keeps in target the member it was a hard link to. */
    const char *was_link = type == PKG_FILE ? node->target : NULL;
    if ((link == NULL) != (was_link == NULL) || (link && strcmp(link, was_link) != 0))
        return export_changed(x, name);
    if (type == PKG_FILE && !link && (uint64_t)archive_entry_size(e) != node->size)
        return export_changed(x, name);
    if (type == PKG_SYMLINK && strcmp(archive_entry_symlink(e), node->target) != 0)
        return export_changed(x, name);
    node->seen = true;
    x->met++;
    /* ARCHIVE_WARN is a name that is not UTF-8: stored as raw bytes. */
    if (archive_write_header(x->out, e) < ARCHIVE_WARN)
        return write_failed(x, name);
    if (type == PKG_FILE && !link)
        return copy_data(x, disk, node);
    return 0;
}

static int walk_tree(struct exporter *x, const struct step *s, member_fn fn)
{
    struct archive *disk = archive_read_disk_new();
    /* Symlinks are archived as symlinks; only a device folder that is
     * itself a symlink is followed. */
    archive_read_disk_set_symlink_hybrid(disk);
    archive_read_disk_set_standard_lookup(disk);
    /* Atimes are archived: reading must not change them. */
    archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_RESTORE_ATIME |
                                             ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS |
                                             ARCHIVE_READDISK_NO_FFLAGS);
    struct archive_entry_linkresolver *links = archive_entry_linkresolver_new();
    archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
    int rc = 0;
    if (archive_read_disk_open(disk, s->disk) != ARCHIVE_OK)
        rc = ib_err(x->err, IB_EFAIL, "cannot read %s: %s", s->disk, archive_error_string(disk));
    size_t plen = strlen(s->disk);
    while (rc == 0) {
        struct archive_entry *e = archive_entry_new();
        int r = archive_read_next_header2(disk, e);
        if (r == ARCHIVE_EOF) {
            archive_entry_free(e);
            break;
        }
        /* A warning is metadata that could not be read (xattrs, ACLs):
         * the archive would not be lossless. */
        if (r != ARCHIVE_OK) {
            rc = ib_err(x->err, IB_EFAIL, "cannot read %s: %s",
                        archive_entry_sourcepath(e) ? archive_entry_sourcepath(e) : s->disk,
                        archive_error_string(disk));
            archive_entry_free(e);
            break;
        }
        const char *src = archive_entry_sourcepath(e);
        if (src == NULL)
            src = archive_entry_pathname(e);
        const char *rel = src && strlen(src) >= plen ? src + plen : "";
        while (*rel == '/')
            rel++;
        archive_read_disk_descend(disk);
        if (*rel == '\0' && s->arcname[0] == '\0') {
            archive_entry_free(e); /* the device folder itself */
            continue;
        }
        char *arcname = *rel == '\0'    ? xstrdup(s->arcname)
                        : s->arcname[0] ? ib_path_join(s->arcname, rel)
                                        : xstrdup(rel);
        archive_entry_set_pathname(e, arcname);
        if (pkg_entry_type(e) == 0) {
            /* Sockets are made by running programs, tar cannot hold them. */
            if (x->pass == 1)
                pkg_notice(x->rep, "%s is a socket: not exported", arcname);
            free(arcname);
            archive_entry_free(e);
            continue;
        }
        if (x->pass == 1)
            rc = check_member(x, arcname, e, s->arcname[0] == '\0');
        struct archive_entry *spare = NULL;
        archive_entry_linkify(links, &e, &spare);
        if (rc == 0 && e)
            rc = fn(x, disk, e);
        free(arcname);
        archive_entry_free(e);
        archive_entry_free(spare);
        if (rc == 0 && pkg_cancelled(x->ops))
            rc = ib_err(x->err, IB_EFAIL, "export interrupted; no archive was written");
    }
    archive_entry_linkresolver_free(links);
    archive_read_free(disk);
    return rc;
}

/* The folders deps/ and deps/<kind>/ exist only in the archive. */
static struct archive_entry *made_up_folder(const char *name)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_mtime(e, time(NULL), 0);
    archive_entry_set_uid(e, geteuid());
    archive_entry_set_gid(e, getegid());
    return e;
}

static int walk(struct exporter *x, member_fn fn)
{
    for (size_t i = 0; i < x->n_steps; i++) {
        const struct step *s = &x->steps[i];
        if (s->disk) {
            if (walk_tree(x, s, fn) < 0)
                return -1;
            continue;
        }
        struct archive_entry *e = made_up_folder(s->arcname);
        int rc = fn(x, NULL, e);
        archive_entry_free(e);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int write_manifest(struct exporter *x)
{
    struct pkg_buf text = {0};
    pkg_manifest_format(&text, x->order, x->n_order, x->bytes);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, PACKAGE_MANIFEST);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)text.len);
    archive_entry_set_mtime(e, time(NULL), 0);
    archive_entry_set_uid(e, geteuid());
    archive_entry_set_gid(e, getegid());
    int rc = 0;
    if (archive_write_header(x->out, e) < ARCHIVE_WARN ||
        archive_write_data(x->out, text.data, text.len) < 0)
        rc = write_failed(x, PACKAGE_MANIFEST);
    archive_entry_free(e);
    pkg_buf_free(&text);
    return rc;
}

/* The steps: the device folder, then each stock part it resolves to. */
static int plan_steps(struct exporter *x, const struct store *st, const char *alias, char **dev_dir)
{
    struct device *dev;
    if (device_load(st, alias, &dev, x->err) < 0)
        return -1;
    struct device_resolution res;
    if (device_resolve(st, dev, &res, x->err) < 0) {
        ib_err_prefix(x->err, "cannot export: ");
        device_resolution_free(&res);
        device_free(dev);
        return -1;
    }
    add_step(x, dev->dir, xstrdup(""));
    const struct {
        const struct device_choice *c;
        enum package_dep_kind kind;
    } parts[] = {{&res.kernel, PACKAGE_DEP_KERNEL},
                 {&res.initrd, PACKAGE_DEP_INITRD},
                 {&res.hostfs, PACKAGE_DEP_HOSTFS},
                 {&res.dtb, PACKAGE_DEP_DTB}};
    bool any = false;
    for (size_t i = 0; i < IB_ARRAY_LEN(parts); i++) {
        const struct device_choice *c = parts[i].c;
        if (!c->wanted || !c->ok || c->custom || c->path == NULL)
            continue; /* custom parts are files of the device folder */
        if (!any)
            add_step(x, NULL, xstrdup("deps"));
        any = true;
        add_step(x, NULL, xasprintf("deps/%s", package_dep_label(parts[i].kind)));
        add_step(x, c->path, xasprintf("deps/%s/%s", package_dep_label(parts[i].kind), c->name));
        pkg_report_add_dep(x->rep, parts[i].kind, c->name);
    }
    *dev_dir = xstrdup(dev->dir);
    device_resolution_free(&res);
    device_free(dev);
    return 0;
}

/* Where the archive goes; refuses a place inside the device folder, which
 * the walk would pick up while it is being written. */
static char *plan_dest(const char *file, const char *alias, const char *dev_dir, bool overwrite,
                       struct ib_error *err)
{
    char *dest =
        ib_path_is_dir(file) ? xasprintf("%s/%s%s", file, alias, PACKAGE_SUFFIX) : xstrdup(file);
    struct stat sb;
    if (lstat(dest, &sb) == 0 && (!overwrite || !S_ISREG(sb.st_mode))) {
        ib_err(err, IB_ECONFLICT, "%s exists already; %s", dest,
               S_ISREG(sb.st_mode) ? "use --force to replace it" : "it is not a regular file");
        free(dest);
        return NULL;
    }
    char *dir = xstrdup(dest);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        free(dir);
        dir = xstrdup(".");
    } else {
        slash[slash == dir ? 1 : 0] = '\0';
    }
    char real_dir[PATH_MAX], real_dev[PATH_MAX];
    int rc = 0;
    if (realpath(dir, real_dir) == NULL)
        rc = ib_err_sys(err, IB_EINPUT, "cannot write to %s", dir);
    else if (realpath(dev_dir, real_dev) != NULL) {
        size_t n = strlen(real_dev);
        if (strncmp(real_dir, real_dev, n) == 0 && (real_dir[n] == '\0' || real_dir[n] == '/'))
            rc = ib_err(err, IB_EINPUT,
                        "cannot write the archive inside the device folder "
                        "%s",
                        dev_dir);
    }
    free(dir);
    if (rc < 0) {
        free(dest);
        return NULL;
    }
    return dest;
}

/* The archive is written to a file without a name (O_TMPFILE) that is
 * linked into place only once complete: a kill -9 leaves nothing. Where the
 * filesystem or a missing /proc forbids it, a hidden .FILE.tmp-XXXXXX
 * beside the destination is used instead (*tmp set), which SIGINT and
 * SIGTERM remove but a kill -9 cannot. */
static int open_output(struct exporter *x, int *fd, char **tmp)
{
    char *dir = xstrdup(x->dest);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : x->dest;
    if (slash)
        *slash = '\0';
    const char *where = slash ? (dir[0] ? dir : "/") : ".";
    *tmp = NULL;
    *fd = access("/proc/self/fd", X_OK) == 0
              ? open(where, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600)
              : -1;
    if (*fd < 0) {
        *tmp = slash ? xasprintf("%s/.%s.tmp-XXXXXX", dir[0] ? dir : "", base)
                     : xasprintf(".%s.tmp-XXXXXX", base);
        *fd = mkostemp(*tmp, O_CLOEXEC);
    }
    free(dir);
    if (*fd < 0) {
        ib_err_sys(x->err, IB_EFAIL, "cannot create a temporary file for %s", x->dest);
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    x->out = archive_write_new();
    archive_write_add_filter_gzip(x->out);
    /* pax (not restricted): atimes and nanoseconds are kept; SCHILY
     * xattr records only, which GNU tar reads without complaint. */
    archive_write_set_format_pax(x->out);
    archive_write_set_format_option(x->out, "pax", "xattrheader", "SCHILY");
    archive_write_set_bytes_in_last_block(x->out, 1);
    if (archive_write_open_fd(x->out, *fd) != ARCHIVE_OK)
        return write_failed(x, "open");
    return 0;
}

/* Gives the unnamed file of fd a name: linkat fails with EEXIST rather
 * than replace, so an overwrite links to a hidden name first and renames
 * that over the destination. */
static int link_anonymous(int fd, const char *dest, bool overwrite)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (!overwrite)
        return linkat(AT_FDCWD, proc, AT_FDCWD, dest, AT_SYMLINK_FOLLOW);
    const char *base = ib_path_base(dest);
    char *named = xasprintf("%.*s.%s.tmp-%d", (int)(base - dest), dest, base, (int)getpid());
    unlink(named); /* a leftover of a killed export of ours with this pid */
    int rc = linkat(AT_FDCWD, proc, AT_FDCWD, named, AT_SYMLINK_FOLLOW);
    if (rc == 0 && (rc = rename(named, dest)) < 0) {
        int e = errno;
        unlink(named);
        errno = e;
    }
    free(named);
    return rc;
}

/* Flushes, then puts the archive in place; the caller removes tmp on failure. */
static int finish_output(struct exporter *x, int fd, const char *tmp, bool overwrite)
{
    int rc = archive_write_close(x->out) == ARCHIVE_OK ? 0 : write_failed(x, "end");
    if (rc == 0 && fsync(fd) < 0)
        rc = ib_err_sys(x->err, IB_EFAIL, "cannot write %s; the partial archive was removed",
                        x->dest);
    if (rc == 0)
        fchmod(fd, 0666 & ~pkg_umask());
    int placed = 0;
    if (rc == 0)
        placed = tmp == NULL ? link_anonymous(fd, x->dest, overwrite)
                 : overwrite ? rename(tmp, x->dest)
                             : pkg_rename_noreplace(tmp, x->dest);
    if (rc == 0 && placed < 0)
        rc = ib_err_sys(x->err, errno == EEXIST ? IB_ECONFLICT : IB_EFAIL, "cannot create %s",
                        x->dest);
    if (rc == 0)
        pkg_fsync_parent(x->dest);
    return rc;
}

int package_export(const struct store *st, const char *alias, const char *file, bool overwrite,
                   const struct package_ops *ops, struct package_report *rep, struct ib_error *err)
{
    pkg_report_init(rep);
    rep->alias = xstrdup(alias);
    struct exporter x = {.ops = ops, .rep = rep, .err = err};
    char *dev_dir = NULL, *dest = NULL, *tmp = NULL;
    int fd = -1, rc = -1;
    locale_t saved = pkg_locale_enter();
    if (plan_steps(&x, st, alias, &dev_dir) < 0)
        goto out;
    if ((dest = plan_dest(file, alias, dev_dir, overwrite, err)) == NULL)
        goto out;
    x.dest = dest;

    x.pass = 1;
    pkg_meter_init(&x.meter, ops, 0);
    if (walk(&x, scan_member) < 0)
        goto out;
    if (open_output(&x, &fd, &tmp) < 0 || write_manifest(&x) < 0)
        goto out;
    x.pass = 2;
    x.done = 0;
    pkg_meter_init(&x.meter, ops, x.bytes);
    if (walk(&x, write_member) < 0)
        goto out;
    if (x.met != x.n_order) {
        for (size_t i = 0; i < x.n_order; i++)
            if (!x.order[i]->seen) {
                export_changed(&x, x.order[i]->path);
                goto out;
            }
    }
    if (finish_output(&x, fd, tmp, overwrite) < 0)
        goto out;
    pkg_meter_update(&x.meter, x.done, true);
    rep->entries = x.n_order;
    rep->bytes = x.bytes;
    for (size_t i = 0; i < rep->n_deps; i++) {
        char name[512];
        snprintf(name, sizeof name, "deps/%s/%s", package_dep_label(rep->deps[i].kind),
                 rep->deps[i].name);
        const struct pkg_node *node = pkg_map_get(&x.nodes, name);
        if (node) {
            rep->deps[i].size = node->size;
            memcpy(rep->deps[i].sha256, node->sha256, sizeof node->sha256);
        }
    }
    rc = 0;
out:
    if (x.out) {
        /* What free() still flushes after a failure goes to /dev/null: the
         * partial archive is removed anyway, and a full disk stays full. */
        int null = rc < 0 && fd >= 0 ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
        if (null >= 0) {
            dup3(null, fd, O_CLOEXEC);
            close(null);
        } else if (rc < 0) {
            archive_write_fail(x.out);
        }
        archive_write_free(x.out);
    }
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(dest);
    free(dev_dir);
    for (size_t i = 0; i < x.n_steps; i++) {
        free(x.steps[i].disk);
        free(x.steps[i].arcname);
    }
    free(x.order);
    pkg_map_free(&x.nodes);
    pkg_locale_leave(saved);
    return rc;
}
