/*
 * pkg_import.c - `device add`: a package archive becomes a device of the
 * store, or nothing changes at all.
 *
 *   1. the alias is checked and must be free;
 *   2. a child process extracts the archive into devices/.import-XXXXXX
 *      (pkg_extract.c: every member checked, the manifest verified), from
 *      inside that folder and, as root, chrooted into it;
 *   3. the deps it found are compared with the store: a different file of
 *      the same name refuses the whole import before anything is installed;
 *   4. absent deps are moved into the store, the device folder is renamed
 *      into place, and the temporary folder removed. A failure at any step
 *      removes the temporary folder and what step 4 installed.
 *
 * A dry run does 1-3 without a temporary folder: the child reads and
 * checks the archive, nothing is written anywhere.
 */
#include "core/package.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/pkg_common.h"
#include "core/pkg_extract.h"
#include "core/util.h"

struct child_end {
    bool ended;  /* an S line came */
    bool failed; /* an E line came */
    bool verified, sensitive;
    uint64_t entries, bytes;
    int status;
    char msg[1024];
};

char *package_default_alias(const char *file)
{
    const char *base = ib_path_base(file);
    size_t n = strlen(base), sl = strlen(PACKAGE_SUFFIX);
    if (n > sl && strcmp(base + n - sl, PACKAGE_SUFFIX) == 0)
        return xstrndup(base, n - sl);
    /* Piotr's os.path.splitext: the last extension, unless the name only
     * starts with a dot. */
    const char *dot = strrchr(base, '.');
    const char *first = base;
    while (*first == '.')
        first++;
    if (dot && dot > first)
        return xstrndup(base, (size_t)(dot - base));
    return xstrdup(base);
}

static char *dep_store_path(const struct store *st, const struct package_dep *d)
{
    switch (d->kind) {
    case PACKAGE_DEP_KERNEL:
        return store_item_path(st, NAMES_KERNEL, d->name);
    case PACKAGE_DEP_HOSTFS:
        return store_item_path(st, NAMES_HOSTFS, d->name);
    case PACKAGE_DEP_DTB:
        return store_item_path(st, NAMES_DTB, d->name);
    case PACKAGE_DEP_INITRD:
        break;
    }
    return ib_path_join(st->initrds, d->name);
}

/* --- the child ------------------------------------------------------------ */

static void child_main(const char *tmp, pid_t parent, struct pkg_extract_opts o)
    __attribute__((noreturn));

static void child_main(const char *tmp, pid_t parent, struct pkg_extract_opts o)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* A ^C reaches the whole process group: the parent decides, and kills
     * this process when the import is cancelled. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_DFL);
    struct ib_error err = {0};
    int rc = 0;
    if (tmp && chdir(tmp) < 0)
        rc = ib_err_sys(&err, IB_EFAIL, "cannot enter %s", tmp);
    /* As root, a third wall: even a member the checks missed has nowhere
     * else to go. Without CAP_SYS_CHROOT (a container) the other two hold. */
    if (rc == 0 && tmp && o.root && chroot(".") == 0 && chdir("/") < 0)
        rc = ib_err_sys(&err, IB_EFAIL, "cannot enter %s", tmp);
    if (rc == 0)
        rc = pkg_extract(&o, &err);
    if (rc < 0) {
        char shown[1100];
        dprintf(o.report_fd, "E %d %s\n", err.status, pkg_show(err.msg, shown, sizeof shown));
    }
    _exit(rc < 0 ? 1 : 0);
}

static void child_line(char *line, struct pkg_meter *meter, struct package_report *rep,
                       struct child_end *end)
{
    unsigned long long a, b;
    int v, s, n = 0;
    char kind[16], sha[65];
    if (sscanf(line, "P %llu %llu", &a, &b) == 2) {
        meter->total = b;
        pkg_meter_update(meter, a, false);
    } else if (sscanf(line, "D %15s %llu %64s %n", kind, &a, sha, &n) == 3 && n > 0 &&
               pkg_dep_kind_parse(kind) >= 0) {
        struct package_dep *d = pkg_report_add_dep(rep, pkg_dep_kind_parse(kind), line + n);
        d->size = a;
        snprintf(d->sha256, sizeof d->sha256, "%s", sha);
    } else if (strncmp(line, "N ", 2) == 0) {
        pkg_notice(rep, "%s", line + 2);
    } else if (sscanf(line, "S %llu %llu %d %d", &a, &b, &v, &s) == 4) {
        end->ended = true;
        end->entries = a;
        end->bytes = b;
        end->verified = v;
        end->sensitive = s;
    } else if (sscanf(line, "E %d %n", &v, &n) == 1 && n > 0) {
        end->failed = true;
        end->status = v;
        snprintf(end->msg, sizeof end->msg, "%s", line + n);
    }
}

static void describe_wait(int status, char *buf, size_t cap)
{
    if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
}

/* Runs the extractor and relays what it says; 0 when it ended well. */
static int run_extractor(const char *tmp, struct pkg_extract_opts o, const struct package_ops *ops,
                         struct package_report *rep, struct child_end *end, struct ib_error *err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot start the extraction");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return ib_err_sys(err, IB_EFAIL, "cannot start the extraction");
    }
    if (pid == 0) {
        close(pfd[0]);
        o.report_fd = pfd[1];
        child_main(tmp, parent, o);
    }
    close(pfd[1]);
    struct pkg_meter meter;
    pkg_meter_init(&meter, ops, 0);
    char buf[8192];
    size_t have = 0;
    bool killed = false;
    for (;;) {
        if (!killed && pkg_cancelled(ops)) {
            kill(pid, SIGKILL);
            killed = true;
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(pfd[0], buf + have, sizeof buf - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            child_line(line, &meter, rep, end);
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1)
            have = 0; /* no line is this long; drop it */
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (killed || pkg_cancelled(ops))
        return ib_err(err, IB_EFAIL, "import interrupted; nothing was kept");
    if (end->failed)
        return ib_err(err, end->status > 0 ? end->status : IB_EFAIL, "%s", end->msg);
    if (!end->ended || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char how[64];
        describe_wait(status, how, sizeof how);
        return ib_err(err, IB_EFAIL,
                      "the extraction process ended unexpectedly (%s); nothing "
                      "was kept",
                      how);
    }
    pkg_meter_update(&meter, meter.total, true);
    return 0;
}

/* --- deps ----------------------------------------------------------------- */

/* Sets each dep's action; -1 naming every conflict. */
static int compare_deps(const struct store *st, struct package_report *rep, struct ib_error *err)
{
    char list[700] = "";
    size_t conflicts = 0;
    for (size_t i = 0; i < rep->n_deps; i++) {
        struct package_dep *d = &rep->deps[i];
        char *path = dep_store_path(st, d);
        struct stat sb;
        d->action = PACKAGE_DEP_INSTALL;
        if (lstat(path, &sb) == 0) {
            char sha[65] = "";
            struct ib_error herr = {0};
            bool same = S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == d->size &&
                        ib_sha256_file(path, sha, &herr) == 0 && strcmp(sha, d->sha256) == 0;
            d->action = same ? PACKAGE_DEP_PRESENT : PACKAGE_DEP_CONFLICT;
        }
        if (d->action == PACKAGE_DEP_CONFLICT) {
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s %s",
                     conflicts ? ", " : "", package_dep_label(d->kind), d->name);
            conflicts++;
        }
        free(path);
    }
    if (conflicts == 0)
        return 0;
    return ib_err(err, IB_ECONFLICT,
                  "the store already has a different %s under the same name; "
                  "nothing was installed (remove %s from the store first, or import on "
                  "another store)",
                  list, conflicts > 1 ? "them" : "it");
}

static void uninstall(char **installed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        unlink(installed[i]);
}

static int install_deps(const struct store *st, const char *tmp, struct package_report *rep,
                        char ***installed, size_t *n_installed, struct ib_error *err)
{
    for (size_t i = 0; i < rep->n_deps; i++) {
        struct package_dep *d = &rep->deps[i];
        if (d->action != PACKAGE_DEP_INSTALL)
            continue;
        char *src = xasprintf("%s/deps/%s/%s", tmp, package_dep_label(d->kind), d->name);
        char *dst = dep_store_path(st, d);
        int rc = 0;
        if (pkg_rename_noreplace(src, dst) < 0) {
            if (errno == EXDEV)
                rc = ib_copy_file_atomic(src, dst, err);
            else if (errno == EEXIST)
                rc = ib_err(err, IB_ECONFLICT,
                            "%s %s appeared in the store during the import; "
                            "nothing was installed",
                            package_dep_label(d->kind), d->name);
            else
                rc = ib_err_sys(err, IB_EFAIL, "cannot install %s", dst);
        }
        free(src);
        if (rc < 0) {
            free(dst);
            return -1;
        }
        *installed = xrealloc(*installed, (*n_installed + 1) * sizeof **installed);
        (*installed)[(*n_installed)++] = dst;
    }
    return 0;
}

/* --- the import ------------------------------------------------------------ */

static int check_alias(const struct store *st, const char *alias, bool given, struct ib_error *err)
{
    if (names_validate(alias, "device alias", err) < 0)
        return given ? -1
                     : ib_err_prefix(err, "the alias comes from the file name (give "
                                          "--name): ");
    char *dir = ib_path_join(st->devices, alias);
    bool exists = ib_path_exists(dir);
    free(dir);
    if (exists)
        return ib_err(err, IB_ECONFLICT,
                      "a device named %s already exists; remove it first or "
                      "choose another alias with --name",
                      alias);
    return 0;
}

/* The limit on extracted bytes: the option (or default), lowered to the
 * free space of the store's filesystem. */
static uint64_t byte_limit(const struct store *st, const struct package_import_opts *opts,
                           char *what, size_t cap, bool *is_space)
{
    *is_space = false;
    uint64_t max = opts->max_bytes ? opts->max_bytes : PACKAGE_MAX_BYTES;
    snprintf(what, cap,
             opts->max_bytes ? "the --max-size limit" : "the default limit; see --max-size");
    struct statvfs vfs;
    if (statvfs(st->devices, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        if (avail < max) {
            max = avail;
            *is_space = true;
            snprintf(what, cap, "the free space in %s", st->devices);
        }
    }
    return max;
}

/* Makes devices/<alias> from the extracted tree. */
static int place_device(const struct store *st, const char *tmp, const char *alias,
                        const struct child_end *end, struct package_report *rep,
                        struct ib_error *err)
{
    char *src = ib_path_join(tmp, "device");
    char *dst = ib_path_join(st->devices, alias);
    /* Root-owned setuid files and device nodes stay out of other users'
     * reach; they are for the guest. */
    bool closed = end->sensitive && geteuid() == 0;
    chmod(src, closed ? 0700 : 0755 & ~pkg_umask());
    if (closed)
        pkg_notice(rep, "%s is open to root only (0700): it holds setuid files or device nodes",
                   dst);
    /* Durable before visible: a crash never leaves a half-written device. */
    int dfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        syncfs(dfd);
        close(dfd);
    }
    int rc = 0;
    if (pkg_rename_noreplace(src, dst) < 0)
        rc = errno == EEXIST ? ib_err(err, IB_ECONFLICT,
                                      "a device named %s appeared during the "
                                      "import; nothing was kept",
                                      alias)
                             : ib_err_sys(err, IB_EFAIL, "cannot create %s", dst);
    else
        pkg_fsync_parent(dst);
    free(src);
    free(dst);
    return rc;
}

int package_import(const struct store *st, const char *file, const struct package_import_opts *opts,
                   struct package_report *rep, struct ib_error *err)
{
    pkg_report_init(rep);
    rep->alias = opts->alias ? xstrdup(opts->alias) : package_default_alias(file);
    if (check_alias(st, rep->alias, opts->alias != NULL, err) < 0)
        return -1;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0)
        return ib_err_sys(err, errno == ENOENT ? IB_ENOTFOUND : IB_EFAIL, "cannot open %s", file);
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ib_err(err, IB_EINPUT, "%s is not a regular file", file);
    }
    char what[300];
    bool is_space;
    uint64_t max_bytes = byte_limit(st, opts, what, sizeof what, &is_space);
    struct pkg_extract_opts o = {
        .archive_fd = fd,
        .display_name = ib_path_base(file),
        .write = !opts->dry_run,
        .root = geteuid() == 0,
        .max_entries = opts->max_entries ? opts->max_entries : PACKAGE_MAX_ENTRIES,
        .max_bytes = max_bytes,
        .max_bytes_what = what,
        .max_bytes_is_space = is_space,
        .bomb_check = opts->max_bytes == 0,
    };
    char *tmp = NULL;
    int lock_fd = -1;
    if (!opts->dry_run) {
        pkg_sweep_stale(st->devices);
        if ((tmp = pkg_temp_dir(st->devices, "import", &lock_fd, err)) == NULL) {
            close(fd);
            return -1;
        }
    }
    /* Loaded here, before a chroot would hide the locale files. */
    locale_t saved = pkg_locale_enter();
    struct child_end end = {0};
    char **installed = NULL;
    size_t n_installed = 0;
    int rc = run_extractor(tmp, o, &opts->ops, rep, &end, err);
    pkg_locale_leave(saved);
    close(fd);
    if (rc < 0) {
        /* Deps of a refused archive were never compared: drop them. */
        for (size_t i = 0; i < rep->n_deps; i++)
            free(rep->deps[i].name);
        free(rep->deps);
        rep->deps = NULL;
        rep->n_deps = 0;
    }
    if (rc == 0) {
        rep->entries = end.entries;
        rep->bytes = end.bytes;
        rep->verified = end.verified;
        rc = compare_deps(st, rep, err);
    }
    if (rc == 0 && tmp && !pkg_cancelled(&opts->ops))
        rc = install_deps(st, tmp, rep, &installed, &n_installed, err);
    if (rc == 0 && tmp && pkg_cancelled(&opts->ops))
        rc = ib_err(err, IB_EFAIL, "import interrupted; nothing was kept");
    if (rc == 0 && tmp)
        rc = place_device(st, tmp, rep->alias, &end, rep, err);
    if (rc < 0)
        uninstall(installed, n_installed);
    if (tmp) {
        struct ib_error rerr = {0};
        if (pkg_rm_tree(tmp, &rerr) < 0) {
            if (rc < 0) {
                char first[sizeof err->msg];
                snprintf(first, sizeof first, "%s", err->msg);
                ib_err(err, err->status, "%s; and %s", first, rerr.msg);
            } else {
                pkg_notice(rep, "%s", rerr.msg);
            }
        }
        close(lock_fd);
        free(tmp);
    }
    for (size_t i = 0; i < n_installed; i++)
        free(installed[i]);
    free(installed);
    return rc;
}
