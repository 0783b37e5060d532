/* pkg_common.c - see pkg_common.h. */
#include "core/pkg_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "core/util.h"

const char pkg_zeros[65536];

/* --- hashing ---------------------------------------------------------------- */

void pkg_sha_begin(struct pkg_sha *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "iotbench: libcrypto cannot hash SHA-256\n");
        abort();
    }
    h->ctx = ctx;
    h->pos = 0;
}

static void sha_zeros(struct pkg_sha *h, uint64_t upto)
{
    while (h->pos < upto) {
        uint64_t n = upto - h->pos;
        if (n > sizeof pkg_zeros)
            n = sizeof pkg_zeros;
        EVP_DigestUpdate(h->ctx, pkg_zeros, (size_t)n);
        h->pos += n;
    }
}

void pkg_sha_block(struct pkg_sha *h, const void *buf, size_t len, uint64_t off)
{
    sha_zeros(h, off);
    EVP_DigestUpdate(h->ctx, buf, len);
    h->pos += len;
}

void pkg_sha_end(struct pkg_sha *h, uint64_t size, char hex[65])
{
    sha_zeros(h, size);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    for (unsigned i = 0; i < 32 && i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
}

void pkg_sha_abort(struct pkg_sha *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

/* --- progress, cancel, locale ---------------------------------------------- */

void pkg_meter_init(struct pkg_meter *m, const struct package_ops *ops, uint64_t total)
{
    m->ops = ops;
    m->total = total;
    m->last_ms = 0;
}

void pkg_meter_update(struct pkg_meter *m, uint64_t done, bool final)
{
    if (m->ops == NULL || m->ops->progress == NULL)
        return;
    int64_t now = ib_now_ms();
    if (!final && now - m->last_ms < 100)
        return;
    m->last_ms = now;
    m->ops->progress(done, m->total, m->ops->arg);
}

bool pkg_cancelled(const struct package_ops *ops)
{
    return ops && ops->cancel && *ops->cancel;
}

locale_t pkg_locale_enter(void)
{
    static locale_t utf8;
    if (utf8 == (locale_t)0) {
        utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        if (utf8 == (locale_t)0)
            utf8 = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
    }
    return utf8 ? uselocale(utf8) : (locale_t)0;
}

void pkg_locale_leave(locale_t saved)
{
    if (saved != (locale_t)0)
        uselocale(saved);
}

/* --- reports ---------------------------------------------------------------- */

void pkg_report_init(struct package_report *rep)
{
    memset(rep, 0, sizeof *rep);
}

void pkg_notice(struct package_report *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (msg == NULL)
        return;
    rep->notices = xrealloc(rep->notices, (rep->n_notices + 1) * sizeof *rep->notices);
    rep->notices[rep->n_notices++] = msg;
}

struct package_dep *pkg_report_add_dep(struct package_report *rep, enum package_dep_kind kind,
                                       const char *name)
{
    rep->deps = xrealloc(rep->deps, (rep->n_deps + 1) * sizeof *rep->deps);
    struct package_dep *d = &rep->deps[rep->n_deps++];
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->name = xstrdup(name);
    return d;
}

void package_report_free(struct package_report *rep)
{
    free(rep->alias);
    for (size_t i = 0; i < rep->n_deps; i++)
        free(rep->deps[i].name);
    free(rep->deps);
    for (size_t i = 0; i < rep->n_notices; i++)
        free(rep->notices[i]);
    free(rep->notices);
    memset(rep, 0, sizeof *rep);
}

static const char *const DEP_LABELS[] = {"kernel", "initrd", "hostfs", "dtb"};

const char *package_dep_label(enum package_dep_kind kind)
{
    return (unsigned)kind < IB_ARRAY_LEN(DEP_LABELS) ? DEP_LABELS[kind] : "?";
}

int pkg_dep_kind_parse(const char *label)
{
    for (size_t i = 0; i < IB_ARRAY_LEN(DEP_LABELS); i++)
        if (strcmp(label, DEP_LABELS[i]) == 0)
            return (int)i;
    return -1;
}

/* --- files ------------------------------------------------------------------ */

/* Path-based so that no descriptor is held per level: an archive may nest
 * folders a thousand deep. */
static int rm_path(char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
    if ((st.st_mode & 0700) != 0700 && chmod(path, (st.st_mode & 07777) | 0700) < 0)
        return -1;
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = ib_path_join(path, de->d_name);
    }
    closedir(d);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && rm_path(names[i]) < 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    if (rc == 0 && rmdir(path) < 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

int pkg_rm_tree(const char *path, struct ib_error *err)
{
    char *copy = xstrdup(path);
    int rc = rm_path(copy);
    free(copy);
    if (rc < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot remove %s", path);
    return 0;
}

int pkg_rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* A filesystem without RENAME_NOREPLACE: check, then rename. */
    if (ib_path_exists(to)) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

char *pkg_temp_dir(const char *devices, const char *prefix, int *lock_fd, struct ib_error *err)
{
    *lock_fd = -1;
    char *tmp = xasprintf("%s/.%s-XXXXXX", devices, prefix);
    if (mkdtemp(tmp) == NULL) {
        ib_err_sys(err, IB_EFAIL, "cannot create a temporary folder in %s", devices);
        free(tmp);
        return NULL;
    }
    int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        ib_err_sys(err, IB_EFAIL, "cannot open %s", tmp);
        rmdir(tmp);
        free(tmp);
        return NULL;
    }
    /* A filesystem without flock fails the sweeper's attempt too, so the
     * folder is merely never swept: go on without the lock. */
    flock(fd, LOCK_EX | LOCK_NB);
    *lock_fd = fd;
    return tmp;
}

/* A .import-/.create- folder is stale when its lock can be taken. */
static bool temp_dir_unlocked(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool free_lock = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd); /* releases the lock again: removal needs no lock */
    return free_lock;
}

/* .removing-<alias>-<pid>: stale when that process is gone. A reused pid
 * only delays the sweep to a later run. */
static bool removing_dir_orphaned(const char *name)
{
    const char *dash = strrchr(name, '-');
    char *end;
    long pid = dash ? strtol(dash + 1, &end, 10) : 0;
    if (dash == NULL || end == dash + 1 || *end != '\0' || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

void pkg_sweep_stale(const char *devices)
{
    DIR *d = opendir(devices);
    if (d == NULL)
        return;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        bool temp = strncmp(n, ".import-", 8) == 0 || strncmp(n, ".create-", 8) == 0;
        bool removing = strncmp(n, ".removing-", 10) == 0;
        if (!temp && !removing)
            continue;
        char *path = ib_path_join(devices, n);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
            now - sb.st_mtime >= PKG_SWEEP_MIN_AGE &&
            (temp ? temp_dir_unlocked(path) : removing_dir_orphaned(n)))
            pkg_rm_tree(path, NULL);
        free(path);
    }
    closedir(d);
}

void pkg_fsync_parent(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

mode_t pkg_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    unsigned mask = 022;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Umask: %o", &mask) == 1)
                break;
        fclose(f);
    }
    return (mode_t)(mask & 0777);
}

void pkg_format_size(uint64_t bytes, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < IB_ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
}

struct archive *pkg_disk_writer(bool absolute_paths, bool no_overwrite)
{
    struct archive *w = archive_write_disk_new();
    if (w == NULL) {
        fprintf(stderr, "iotbench: out of memory (libarchive)\n");
        abort();
    }
    /* No lookup functions: owners are restored by number, as the guest's
     * own /etc/passwd expects, never remapped through the host's names.
     * No FFLAGS: an immutable flag would make the tree impossible to remove. */
    int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    if (no_overwrite)
        flags |= ARCHIVE_EXTRACT_NO_OVERWRITE;
    if (!absolute_paths)
        flags |= ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
    if (geteuid() == 0)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(w, flags);
    return w;
}
