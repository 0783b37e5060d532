/*
 * pkg_extract.c - see pkg_extract.h.
 *
 * Every member is checked before a byte of it is written:
 * - its name (pkg_path_normalize: relative, no "..", no control characters);
 * - its place in the tree: no duplicate, no member below one that is not a
 *   folder (a symlink "escape" followed by "escape/file"), no member
 *   replacing a folder others are in;
 * - links: hard links only to an earlier regular file of the device;
 *   device nodes only under rootfs/; config.yaml a regular file, rootfs a
 *   folder; deps/<kind>/<name> regular files with valid store names;
 * - sizes: the manifest's claimed total up front, each header's size as it
 *   comes, and the bytes actually read, against the limits;
 * - the manifest: same members, types, sizes, link targets and SHA-256.
 * At the end the config must parse, and the paths it names (custom kernel,
 * hostfs, dtb, sd folder) must be regular files or folders of the archive
 * reached without a symlink, so no config can point a start at a host file.
 */
#include "core/pkg_extract.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/config.h"
#include "core/names.h"
#include "core/pkg_common.h"
#include "core/util.h"

#define MANIFEST_MAX (64u << 20)
#define CONFIG_MAX (1u << 20)
#define SHOWN_MAX 3

enum area { AREA_DEVICE, AREA_DEPS_FOLDER, AREA_DEP };

struct extract {
    const struct pkg_extract_opts *o;
    struct ib_error *err;
    struct archive *in, *wdev, *wdeps;
    struct archive *wdirs; /* folders met after members inside them */
    struct late_dir *late; /* ... whose times are set at the very end */
    size_t n_late;
    struct pkg_map members; /* normalised name -> what it is */
    struct pkg_manifest man;
    bool have_manifest;
    uint64_t headers, n_members, claimed, data, archive_size;
    int64_t last_report;
    struct pkg_buf config;
    bool have_config;
    bool sensitive;
    size_t n_nodes_skipped, n_warnings;
    char skipped[SHOWN_MAX][256];
    char warnings[SHOWN_MAX][400];
};

/* libarchive sets the times of a folder that exists already right away,
 * and the members that follow move them again: such folders get their
 * times once more after everything else. */
struct late_dir {
    char *path;
    struct timespec ts[2];
};

/* The member being handled. */
struct member {
    char *path;       /* normalised */
    char type;        /* manifest letter; hard links are PKG_FILE */
    const char *link; /* hard link: its normalised target */
    char *link_norm;
    enum area area;
    int kind; /* deps: enum package_dep_kind */
    const char *dep_name;
    uint64_t size;
    struct pkg_node *node;
    bool was_implicit; /* a folder whose members came first */
};

static void report(struct extract *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct extract *x, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = sizeof line - 2;
    for (int i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20)
            line[i] = ' ';
    line[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(x->o->report_fd, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (int)w;
    }
}

static void progress(struct extract *x, bool final)
{
    int64_t now = ib_now_ms();
    if (!final && now - x->last_report < 100)
        return;
    x->last_report = now;
    report(x, "P %llu %llu", (unsigned long long)archive_filter_bytes(x->in, -1),
           (unsigned long long)x->archive_size);
}

static int refuse(struct extract *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "refused: <member>: <why>" with the name shown safely. */
static int refuse(struct extract *x, const char *path, const char *fmt, ...)
{
    char why[700], shown[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (path)
        return ib_err(x->err, IB_EINPUT, "refused: member %s %s",
                      pkg_show(path, shown, sizeof shown), why);
    return ib_err(x->err, IB_EINPUT, "refused: %s", why);
}

static int read_failed(struct extract *x)
{
    return ib_err(x->err, IB_EINPUT, "cannot read %s: %s (damaged or truncated archive)",
                  x->o->display_name, archive_error_string(x->in));
}

static void warned(struct extract *x, struct archive *a, const char *path)
{
    char shown[200];
    if (x->n_warnings < SHOWN_MAX)
        snprintf(x->warnings[x->n_warnings], sizeof x->warnings[0], "%s: %s",
                 pkg_show(path, shown, sizeof shown), archive_error_string(a));
    x->n_warnings++;
}

static bool over(uint64_t v, uint64_t max)
{
    return v > max;
}

/* A write into the store failed: the system's reason (a full disk, a file
 * size limit) with libarchive's, which alone says only "Write failed" or
 * "Can't create 'device/...'". The import then removes what it wrote. */
static int write_failed(struct ib_error *err, const char *what, struct archive *w)
{
    int e = archive_errno(w);
    const char *msg = archive_error_string(w);
    if (msg == NULL)
        msg = "write failed";
    if (e > 0 && strstr(msg, strerror(e)) == NULL)
        return ib_err(err, IB_EFAIL, "cannot %s: %s (%s); nothing was kept", what, strerror(e),
                      msg);
    return ib_err(err, IB_EFAIL, "cannot %s: %s; nothing was kept", what, msg);
}

static int extract_failed(struct extract *x, const struct member *m, struct archive *w)
{
    char *what = xasprintf("extract %s", m->path);
    write_failed(x->err, what, w);
    free(what);
    return -1;
}

/* how: "its manifest claims", "its members claim at least", "holds more than" */
static int refuse_size(struct extract *x, uint64_t bytes, const char *how)
{
    char a[32], b[32];
    pkg_format_size(bytes, a, sizeof a);
    pkg_format_size(x->o->max_bytes, b, sizeof b);
    refuse(x, NULL, "the archive %s %s of data, more than %s (%s); nothing was kept", how, a, b,
           x->o->max_bytes_what);
    /* Too little room is a failure of this store, not of the archive. */
    if (x->o->max_bytes_is_space)
        x->err->status = IB_EFAIL;
    return -1;
}

/* A sparse member or a stream of zeros claims gigabytes from a few bytes
 * of archive; see PACKAGE_BOMB_RATIO. */
static int check_bomb(struct extract *x)
{
    if (!x->o->bomb_check || x->claimed <= PACKAGE_BOMB_MIN_BYTES ||
        x->claimed / PACKAGE_BOMB_RATIO <= x->archive_size)
        return 0;
    char a[32], b[32];
    pkg_format_size(x->claimed, a, sizeof a);
    pkg_format_size(x->archive_size, b, sizeof b);
    return refuse(x, NULL, "the archive members claim at least %s of data, more than %d times "
                  "the archive's own %s (a sparse or compression bomb?); if the device really "
                  "is that large, allow it with --max-size; nothing was kept", a,
                  PACKAGE_BOMB_RATIO, b);
}

static int refuse_count(struct extract *x, uint64_t n)
{
    return refuse(x, NULL,
                  "the archive holds %llu members or more, more than the limit of %llu "
                  "(--max-files); nothing was kept",
                  (unsigned long long)n, (unsigned long long)x->o->max_entries);
}

/* --- the tree ------------------------------------------------------------ */

static const char *type_name(char type)
{
    switch (type) {
    case PKG_FILE:
        return "regular file";
    case PKG_SYMLINK:
        return "symlink";
    case PKG_CHR:
    case PKG_BLK:
        return "device node";
    case PKG_FIFO:
        return "fifo";
    default:
        return "folder";
    }
}

/* Places m in the tree: every folder above it must be a folder (never a
 * symlink, file or device), and its own name must be new, unless it is
 * the explicit entry of a folder earlier members implied. */
static int place(struct extract *x, struct member *m)
{
    char *buf = xstrdup(m->path);
    int rc = 0;
    for (char *s = strchr(buf, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
        *s = '\0';
        const struct pkg_node *up = pkg_map_get(&x->members, buf);
        if (up && !pkg_type_is_dir(up->type))
            rc = refuse(x, m->path,
                        "lies below %s, which the archive made a %s: writing "
                        "through it could leave the device folder",
                        up->path, type_name(up->type));
        else if (up == NULL)
            pkg_map_add(&x->members, buf, PKG_IMPLICIT_DIR);
        *s = '/';
    }
    free(buf);
    if (rc < 0)
        return -1;
    struct pkg_node *node = pkg_map_get(&x->members, m->path);
    if (node && node->type == PKG_IMPLICIT_DIR && m->type == PKG_DIR) {
        node->type = PKG_DIR;
        m->was_implicit = true;
    } else if (node) {
        return refuse(x, m->path,
                      node->type == PKG_IMPLICIT_DIR
                          ? "replaces a folder that earlier members are in"
                          : "appears twice in the archive (a duplicate could replace what was "
                            "checked)");
    } else {
        node = pkg_map_add(&x->members, m->path, m->type);
    }
    m->node = node;
    return 0;
}

/* deps, deps/<kind>, deps/<kind>/<name>; nothing else under deps/. */
static int classify(struct extract *x, struct member *m, const char *raw_link)
{
    if (strcmp(m->path, "deps") != 0 && strncmp(m->path, "deps/", 5) != 0) {
        m->area = AREA_DEVICE;
        return 0;
    }
    char kind[32] = "";
    const char *rest = m->path[4] ? m->path + 5 : "";
    const char *slash = strchr(rest, '/');
    snprintf(kind, sizeof kind, "%.*s", slash ? (int)(slash - rest) : (int)strlen(rest), rest);
    if (*rest && (m->kind = pkg_dep_kind_parse(kind)) < 0)
        return refuse(x, m->path, "is not a kernel, initrd, hostfs or dtb folder of deps/");
    if (slash == NULL) {
        m->area = AREA_DEPS_FOLDER;
        return m->type == PKG_DIR ? 0 : refuse(x, m->path, "must be a folder");
    }
    m->area = AREA_DEP;
    m->dep_name = slash + 1;
    if (strchr(m->dep_name, '/'))
        return refuse(x, m->path, "is nested deeper than deps/<kind>/<name>");
    if (m->type != PKG_FILE || raw_link)
        return refuse(x, m->path, "must be a regular file, not a %s",
                      raw_link ? "hard link" : type_name(m->type));
    /* An initrd is named after its kernel. */
    enum names_kind nk = m->kind == PACKAGE_DEP_HOSTFS ? NAMES_HOSTFS
                         : m->kind == PACKAGE_DEP_DTB  ? NAMES_DTB
                                                       : NAMES_KERNEL;
    struct ib_error nerr = {0};
    if (names_validate(m->dep_name, names_kind_label(nk), &nerr) < 0 ||
        names_parse(nk, m->dep_name, &(struct names_parsed){0}, &nerr) < 0)
        return refuse(x, m->path, "does not have a valid store name: %s", nerr.msg);
    return 0;
}

/* What a member of the device folder may be, by where it is. */
static int check_device_member(struct extract *x, struct member *m, struct archive_entry *e)
{
    if (strcmp(m->path, "config.yaml") == 0 && (m->type != PKG_FILE || m->link))
        return refuse(x, m->path, "must be a regular file, not a %s",
                      m->link ? "hard link" : type_name(m->type));
    if (strcmp(m->path, "rootfs") == 0 && m->type != PKG_DIR)
        return refuse(x, m->path,
                      "must be a folder, not a %s (a symlink would share a host "
                      "folder with the guest)",
                      type_name(m->type));
    if ((m->type == PKG_CHR || m->type == PKG_BLK) && strncmp(m->path, "rootfs/", 7) != 0)
        return refuse(x, m->path,
                      "is a device node outside rootfs/; a config could hand it "
                      "to QEMU as a disk");
    if (m->type == PKG_SYMLINK) {
        const char *t = archive_entry_symlink(e);
        if (t == NULL || *t == '\0' || pkg_find_control(t))
            return refuse(x, m->path,
                          "is a symlink with an empty target or control "
                          "characters in it");
    }
    if (m->link) {
        const struct pkg_node *t = pkg_map_get(&x->members, m->link);
        if (strncmp(m->link, "deps/", 5) == 0 || strcmp(m->link, PACKAGE_MANIFEST) == 0 ||
            t == NULL || t->type != PKG_FILE || !t->hashed)
            return refuse(x, m->path,
                          "is a hard link to %s, which is not an earlier regular "
                          "file of the device (a hard link may not reach outside it)",
                          m->link);
        if (archive_entry_size(e) > 0)
            return refuse(x, m->path, "is a hard link that carries data");
    }
    return 0;
}

/* --- manifest ------------------------------------------------------------ */

static int read_manifest(struct extract *x, struct member *m)
{
    if (x->members.n > 0 || x->have_manifest)
        return refuse(x, m->path, "must be the archive's first member");
    if (m->type != PKG_FILE || m->link)
        return refuse(x, m->path, "must be a regular file");
    if (m->size > MANIFEST_MAX)
        return refuse(x, m->path, "is larger than %u MiB", MANIFEST_MAX >> 20);
    char *text = xmalloc((size_t)m->size + 1);
    size_t got = 0;
    while (got < m->size) {
        la_ssize_t r = archive_read_data(x->in, text + got, (size_t)m->size - got);
        if (r < 0) {
            free(text);
            return read_failed(x);
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    int rc = pkg_manifest_parse(text, got, &x->man, x->err);
    free(text);
    if (rc < 0)
        return refuse(x, NULL, "%s", x->err->msg);
    x->have_manifest = true;
    /* The claims, before anything is written. */
    if (over(x->man.entries, x->o->max_entries))
        return refuse_count(x, x->man.entries);
    if (over(x->man.bytes, x->o->max_bytes))
        return refuse_size(x, x->man.bytes, "(its manifest) claims");
    return 0;
}

static int match_manifest(struct extract *x, struct member *m, struct archive_entry *e)
{
    if (!x->have_manifest)
        return 0;
    struct pkg_node *want = pkg_map_get(&x->man.files, m->path);
    if (want == NULL)
        return refuse(x, m->path, "is not listed in %s", PACKAGE_MANIFEST);
    if (want->type != m->type)
        return refuse(x, m->path, "is a %s but %s lists a %s", type_name(m->type), PACKAGE_MANIFEST,
                      type_name(want->type));
    uint64_t size = m->link ? pkg_map_get(&x->members, m->link)->size : m->size;
    if (m->type == PKG_FILE && want->size != size)
        return refuse(x, m->path, "has %llu bytes but %s lists %llu", (unsigned long long)size,
                      PACKAGE_MANIFEST, (unsigned long long)want->size);
    if (m->type == PKG_SYMLINK && strcmp(want->target, archive_entry_symlink(e)) != 0)
        return refuse(x, m->path, "points elsewhere than %s says", PACKAGE_MANIFEST);
    want->seen = true;
    return 0;
}

static int check_hash(struct extract *x, struct member *m)
{
    if (!x->have_manifest || m->type != PKG_FILE)
        return 0;
    const struct pkg_node *want = pkg_map_get(&x->man.files, m->path);
    if (strcmp(want->sha256, m->node->sha256) != 0)
        return refuse(x, m->path,
                      "has SHA-256 %.16s..., but %s lists %.16s...: the archive is "
                      "damaged or was altered",
                      m->node->sha256, PACKAGE_MANIFEST, want->sha256);
    return 0;
}

/* --- data ---------------------------------------------------------------- */

/* Reads (and, with w, writes) one file's data, hashing it and counting the
 * bytes against the limit as they come. */
static int member_data(struct extract *x, struct member *m, struct archive *w)
{
    struct pkg_sha h;
    pkg_sha_begin(&h);
    bool is_config = m->area == AREA_DEVICE && strcmp(m->path, "config.yaml") == 0;
    const void *buf;
    size_t len;
    la_int64_t off;
    int r, rc = 0;
    while ((r = archive_read_data_block(x->in, &buf, &len, &off)) == ARCHIVE_OK) {
        x->data += len;
        if (over(x->data, x->o->max_bytes)) {
            rc = refuse_size(x, x->data, "holds more than");
            break;
        }
        pkg_sha_block(&h, buf, len, (uint64_t)off);
        if (is_config) {
            if ((uint64_t)off + len > CONFIG_MAX) {
                rc = refuse(x, m->path, "is larger than 1 MiB");
                break;
            }
            if ((size_t)off > x->config.len)
                pkg_buf_append(&x->config, pkg_zeros, (size_t)off - x->config.len);
            pkg_buf_append(&x->config, buf, len);
        }
        if (w && archive_write_data_block(w, buf, len, off) < ARCHIVE_OK) {
            rc = extract_failed(x, m, w);
            break;
        }
        progress(x, false);
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = read_failed(x);
    if (rc < 0) {
        pkg_sha_abort(&h);
        return -1;
    }
    pkg_sha_end(&h, m->size, m->node->sha256);
    m->node->hashed = true;
    m->node->size = m->size;
    return 0;
}

static int write_member(struct extract *x, struct member *m, struct archive_entry *e)
{
    /* The device writer never overwrites; a folder that already exists
     * because its members came first goes through one that may, so that
     * its mode and times are set (libarchive only ever merges folders). */
    struct archive *w = m->area == AREA_DEP ? x->wdeps : m->was_implicit ? x->wdirs : x->wdev;
    char *dst = m->area == AREA_DEP
                    ? xasprintf("deps/%s/%s", package_dep_label(m->kind), m->dep_name)
                    : xasprintf("device/%s", m->path);
    archive_entry_set_pathname(e, dst);
    free(dst);
    if (m->link) {
        char *t = xasprintf("device/%s", m->link);
        archive_entry_set_hardlink(e, t);
        free(t);
    }
    if (m->area == AREA_DEP) {
        /* Store items are plain files: no owner, bits or xattrs of the archive. */
        archive_entry_set_perm(e, 0644);
        archive_entry_xattr_clear(e);
        archive_entry_acl_clear(e);
    }
    int r = archive_write_header(w, e);
    if (r < ARCHIVE_WARN)
        return extract_failed(x, m, w);
    if (r == ARCHIVE_WARN)
        warned(x, w, m->path);
    if (m->type == PKG_FILE && !m->link && member_data(x, m, w) < 0)
        return -1;
    r = archive_write_finish_entry(w);
    if (r < ARCHIVE_WARN)
        return extract_failed(x, m, w);
    if (r == ARCHIVE_WARN)
        warned(x, w, m->path);
    if (m->was_implicit) {
        x->late = xrealloc(x->late, (x->n_late + 1) * sizeof *x->late);
        struct late_dir *d = &x->late[x->n_late++];
        d->path = xasprintf("device/%s", m->path);
        d->ts[0].tv_sec = archive_entry_atime(e);
        d->ts[0].tv_nsec = archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : UTIME_OMIT;
        d->ts[1].tv_sec = archive_entry_mtime(e);
        d->ts[1].tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : UTIME_OMIT;
    }
    mode_t perm = archive_entry_perm(e);
    if (m->area == AREA_DEVICE && ((m->type == PKG_FILE && (perm & (S_ISUID | S_ISGID))) ||
                                   m->type == PKG_CHR || m->type == PKG_BLK))
        x->sensitive = true;
    return 0;
}

static int handle_member(struct extract *x, struct archive_entry *e, struct member *m)
{
    const char *raw = archive_entry_pathname(e);
    if (raw == NULL)
        return refuse(x, NULL, "a member has no name (or one that cannot be decoded)");
    int r = pkg_path_normalize(raw, &m->path, x->err);
    if (r < 0)
        return refuse(x, NULL, "%s", x->err->msg);
    const char *raw_link = archive_entry_hardlink(e);
    m->type = raw_link ? PKG_FILE : pkg_entry_type(e);
    if (r == 1) {
        /* The archive's root folder (Piotr writes "/"): nothing to make. */
        if (m->type != PKG_DIR || raw_link)
            return refuse(x, raw, "names the archive's root but is not a folder");
        return 0;
    }
    if (m->type == 0)
        return refuse(x, m->path, "is a socket or of an unknown type");
    if (raw_link) {
        char shown[300];
        struct ib_error lerr = {0};
        if (pkg_path_normalize(raw_link, &m->link_norm, &lerr) != 0)
            return refuse(x, m->path,
                          "is a hard link to \"%s\", which is outside the device "
                          "folder",
                          pkg_show(raw_link, shown, sizeof shown));
        m->link = m->link_norm;
    }
    m->size = m->type == PKG_FILE && !raw_link ? (uint64_t)archive_entry_size(e) : 0;
    if (m->type == PKG_FILE && !raw_link && !archive_entry_size_is_set(e))
        return refuse(x, m->path, "has no size");
    if (strcmp(m->path, PACKAGE_MANIFEST) == 0)
        return read_manifest(x, m);
    if (classify(x, m, raw_link) < 0 || place(x, m) < 0)
        return -1;
    x->n_members++;
    if (m->area == AREA_DEVICE && check_device_member(x, m, e) < 0)
        return -1;
    /* Claimed sizes as they come: nothing of a bomb is written. */
    x->claimed += m->size;
    if (over(x->claimed, x->o->max_bytes))
        return refuse_size(x, x->claimed, "members claim at least");
    if (check_bomb(x) < 0)
        return -1;
    if (match_manifest(x, m, e) < 0)
        return -1;
    if (m->link) {
        const struct pkg_node *t = pkg_map_get(&x->members, m->link);
        memcpy(m->node->sha256, t->sha256, sizeof t->sha256);
        m->node->hashed = true;
        m->node->size = t->size;
    }

    bool device_node = m->type == PKG_CHR || m->type == PKG_BLK;
    if (device_node && !x->o->root) {
        m->node->skipped = true;
        if (x->n_nodes_skipped < SHOWN_MAX)
            pkg_show(m->path, x->skipped[x->n_nodes_skipped], sizeof x->skipped[0]);
        x->n_nodes_skipped++;
        return 0;
    }
    if (!x->o->write || m->area == AREA_DEPS_FOLDER) {
        if (m->type == PKG_FILE && !m->link && member_data(x, m, NULL) < 0)
            return -1;
    } else if (write_member(x, m, e) < 0) {
        return -1;
    }
    if (m->area == AREA_DEP) {
        report(x, "D %s %llu %s %s", package_dep_label(m->kind), (unsigned long long)m->size,
               m->node->sha256, m->dep_name);
    }
    if (m->area == AREA_DEVICE && strcmp(m->path, "config.yaml") == 0)
        x->have_config = true;
    return check_hash(x, m);
}

/* --- the end ------------------------------------------------------------- */

/* A path the config names: if the archive has it, it must be a regular
 * file (or folder) reached through folders only. */
static int check_config_path(struct extract *x, const char *key, const char *value, bool folder)
{
    if (value == NULL)
        return 0;
    char *path;
    struct ib_error perr = {0};
    int r = pkg_path_normalize(value, &path, &perr);
    if (r != 0)
        return refuse(x, NULL,
                      "config.yaml: %s \"%s\" is not a plain path inside the device "
                      "folder",
                      key, value);
    int rc = 0;
    char *buf = xstrdup(path);
    for (char *s = buf;; s++) {
        bool end = *s == '\0';
        if (*s != '/' && !end)
            continue;
        *s = '\0';
        const struct pkg_node *n = pkg_map_get(&x->members, buf);
        if (n == NULL)
            break; /* not in the archive: a version, or a missing file resolve will name */
        if (!end && !pkg_type_is_dir(n->type)) {
            rc = refuse(x, NULL, "config.yaml: %s \"%s\" goes through %s, a %s", key, value,
                        n->path, type_name(n->type));
            break;
        }
        if (end && (folder ? !pkg_type_is_dir(n->type) : n->type != PKG_FILE))
            rc = refuse(x, NULL,
                        "config.yaml: %s \"%s\" is a %s in the archive; it must be a "
                        "%s",
                        key, value, type_name(n->type), folder ? "folder" : "regular file");
        if (end)
            break;
        *s = '/';
    }
    free(buf);
    free(path);
    return rc;
}

static int finish(struct extract *x, bool *verified)
{
    if (!x->have_config)
        return refuse(x, NULL, "%s is not a device package: it has no config.yaml at its root",
                      x->o->display_name);
    struct config *cfg;
    if (config_parse(x->config.data ? x->config.data : "", x->config.len, "config.yaml", &cfg,
                     x->err) < 0)
        return ib_err_prefix(x->err, "refused: the package's ");
    for (size_t i = 0; i < cfg->n_warnings; i++)
        report(x, "N %s", cfg->warnings[i]);
    bool dtb_file = cfg->dtb && strcmp(cfg->dtb, "auto") != 0 && strcmp(cfg->dtb, "embedded");
    int rc = 0;
    if (check_config_path(x, "device.kernel", cfg->kernel, false) < 0 ||
        check_config_path(x, "device.hostfs", cfg->hostfs, false) < 0 ||
        check_config_path(x, "device.machine.dtb", dtb_file ? cfg->dtb : NULL, false) < 0 ||
        check_config_path(x, "device.sd", cfg->sd, true) < 0)
        rc = -1;
    config_free(cfg);
    if (rc < 0)
        return -1;
    if (pkg_map_get(&x->members, "rootfs") == NULL)
        report(x, "N the package has no rootfs/ folder; the device cannot start without one");
    if (x->have_manifest) {
        for (size_t i = 0; i < x->man.files.cap; i++) {
            const struct pkg_node *n = x->man.files.slots[i];
            if (n && !n->seen)
                return refuse(x, n->path, "is listed in %s but missing from the archive",
                              PACKAGE_MANIFEST);
        }
    } else {
        report(x,
               "N %s has no %s (made by Piotr?): nothing could be verified against "
               "checksums",
               x->o->display_name, PACKAGE_MANIFEST);
    }
    *verified = x->have_manifest;
    return 0;
}

static void report_findings(struct extract *x)
{
    if (x->n_nodes_skipped) {
        char list[900] = "";
        for (size_t i = 0; i < x->n_nodes_skipped && i < SHOWN_MAX; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     x->skipped[i]);
        report(x, "N %zu device node%s %s not created (only root can): %s%s", x->n_nodes_skipped,
               x->n_nodes_skipped > 1 ? "s" : "",
               !x->o->write ? "would be" : x->n_nodes_skipped > 1 ? "were" : "was", list,
               x->n_nodes_skipped > SHOWN_MAX ? ", ..." : "");
    }
    for (size_t i = 0; i < x->n_warnings && i < SHOWN_MAX; i++)
        report(x, "N not kept exactly: %s", x->warnings[i]);
    if (x->n_warnings > SHOWN_MAX)
        report(x, "N ... and %zu more such warnings", x->n_warnings - SHOWN_MAX);
}

int pkg_extract(const struct pkg_extract_opts *o, struct ib_error *err)
{
    struct extract x = {.o = o, .err = err};
    struct stat sb;
    if (fstat(o->archive_fd, &sb) == 0)
        x.archive_size = (uint64_t)sb.st_size;
    locale_t saved = pkg_locale_enter();
    x.in = archive_read_new();
    archive_read_support_filter_gzip(x.in);
    archive_read_support_format_tar(x.in);
    if (o->write) {
        x.wdev = pkg_disk_writer(false, true);
        x.wdirs = pkg_disk_writer(false, false);
        x.wdeps = archive_write_disk_new();
        archive_write_disk_set_options(
            x.wdeps, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                         ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                         ARCHIVE_EXTRACT_NO_OVERWRITE);
    }
    int rc = 0;
    if (archive_read_open_fd(x.in, o->archive_fd, 1 << 16) != ARCHIVE_OK)
        rc = read_failed(&x);
    while (rc == 0) {
        struct archive_entry *e;
        int r = archive_read_next_header(x.in, &e);
        if (r == ARCHIVE_EOF)
            break;
        /* ARCHIVE_WARN: a name in another charset, kept as bytes. */
        if (r < ARCHIVE_WARN) {
            rc = read_failed(&x);
            break;
        }
        if (++x.headers > o->max_entries) {
            rc = refuse_count(&x, x.headers);
            break;
        }
        struct member m = {0};
        rc = handle_member(&x, e, &m);
        free(m.path);
        free(m.link_norm);
        progress(&x, false);
    }
    bool verified = false;
    if (rc == 0)
        rc = finish(&x, &verified);
    /* Folder modes and times are set last, at close. */
    if (rc == 0 && x.wdev && archive_write_close(x.wdev) < ARCHIVE_WARN)
        rc = write_failed(err, "finish the extraction", x.wdev);
    if (rc == 0 && x.wdirs && archive_write_close(x.wdirs) < ARCHIVE_WARN)
        rc = write_failed(err, "finish the extraction", x.wdirs);
    if (rc == 0 && x.wdeps && archive_write_close(x.wdeps) < ARCHIVE_WARN)
        rc = write_failed(err, "finish the extraction", x.wdeps);
    for (size_t i = x.n_late; rc == 0 && i-- > 0;) {
        if (utimensat(AT_FDCWD, x.late[i].path, x.late[i].ts, AT_SYMLINK_NOFOLLOW) < 0 &&
            x.n_warnings++ < SHOWN_MAX)
            snprintf(x.warnings[x.n_warnings - 1], sizeof x.warnings[0],
                     "%s: cannot set its "
                     "times: %s",
                     x.late[i].path + 7, strerror(errno));
    }
    if (rc == 0) {
        progress(&x, true);
        report_findings(&x);
        report(&x, "S %llu %llu %d %d", (unsigned long long)x.n_members,
               (unsigned long long)x.claimed, verified, x.sensitive);
    }
    archive_read_free(x.in);
    /* After a failure, fail() keeps free() from setting folder modes in a
     * tree that is about to be removed. */
    if (x.wdev) {
        if (rc < 0)
            archive_write_fail(x.wdev);
        archive_write_free(x.wdev);
    }
    struct archive *writers[] = {x.wdirs, x.wdeps};
    for (size_t i = 0; i < 2; i++) {
        if (writers[i] && rc < 0)
            archive_write_fail(writers[i]);
        if (writers[i])
            archive_write_free(writers[i]);
    }
    for (size_t i = 0; i < x.n_late; i++)
        free(x.late[i].path);
    free(x.late);
    pkg_map_free(&x.members);
    pkg_manifest_free(&x.man);
    pkg_buf_free(&x.config);
    pkg_locale_leave(saved);
    return rc;
}
