/* store.c - see store.h. */
#include "core/store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/pkg_common.h"
#include "core/util.h"

int store_open(struct store *st, const char *home, struct ib_error *err)
{
    memset(st, 0, sizeof *st);
    if (home == NULL || *home == '\0')
        home = getenv("IOTBENCH_HOME");
    if (home != NULL && *home != '\0') {
        st->home = xstrdup(home);
    } else {
        const char *h = getenv("HOME");
        if (h == NULL || *h == '\0')
            return ib_err(err, IB_EINPUT, "neither IOTBENCH_HOME nor HOME is set; cannot find "
                          "the store");
        st->home = ib_path_join(h, ".iotbench");
    }
    /* Absolute from here on: QEMU gets these paths after leaving our
     * working directory. */
    if (st->home[0] != '/') {
        if (ib_mkdir_p(st->home, 0755, err) < 0)
            return ib_err_prefix(err, "store %s: ", st->home);
        char *abs = realpath(st->home, NULL);
        if (abs == NULL)
            return ib_err_sys(err, IB_EFAIL, "cannot resolve %s", st->home);
        free(st->home);
        st->home = abs;
    }
    st->kernels = ib_path_join(st->home, "kernels");
    st->initrds = ib_path_join(st->home, "initrds");
    st->hostfs = ib_path_join(st->home, "hostfs");
    st->dtbs = ib_path_join(st->home, "dtbs");
    st->devices = ib_path_join(st->home, "devices");
    st->run = ib_path_join(st->home, "run");
    const char *dirs[] = {st->kernels, st->initrds, st->hostfs, st->dtbs, st->devices};
    for (size_t i = 0; i < IB_ARRAY_LEN(dirs); i++) {
        if (ib_mkdir_p(dirs[i], 0755, err) < 0) {
            store_close(st);
            return ib_err_prefix(err, "store %s: ", home ? home : "~/.iotbench");
        }
    }
    /* Sockets and instance metadata: only the owner may reach them. */
    if (ib_mkdir_p(st->run, 0700, err) < 0 || chmod(st->run, 0700) < 0) {
        store_close(st);
        return -1;
    }
    return 0;
}

void store_close(struct store *st)
{
    free(st->home);
    free(st->kernels);
    free(st->initrds);
    free(st->hostfs);
    free(st->dtbs);
    free(st->devices);
    free(st->run);
    memset(st, 0, sizeof *st);
}

const char *store_dir(const struct store *st, enum names_kind kind)
{
    switch (kind) {
    case NAMES_KERNEL:
        return st->kernels;
    case NAMES_HOSTFS:
        return st->hostfs;
    case NAMES_DTB:
        return st->dtbs;
    }
    return st->home;
}

char *store_item_path(const struct store *st, enum names_kind kind, const char *name)
{
    return ib_path_join(store_dir(st, kind), name);
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const struct store_item *)a)->name, ((const struct store_item *)b)->name);
}

int store_list(const struct store *st, enum names_kind kind, struct store_list *out,
               struct ib_error *err)
{
    memset(out, 0, sizeof *out);
    const char *dir = store_dir(st, kind);
    DIR *d = opendir(dir);
    if (d == NULL)
        return ib_err_sys(err, IB_EFAIL, "cannot list %s", dir);
    struct dirent *de;
    size_t cap = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue; /* hidden: temporary files of an add in progress */
        char *path = ib_path_join(dir, de->d_name);
        struct stat sb;
        if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            free(path);
            continue;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->items = xrealloc(out->items, cap * sizeof *out->items);
        }
        struct store_item *it = &out->items[out->n++];
        memset(it, 0, sizeof *it);
        it->name = xstrdup(de->d_name);
        it->path = path;
        it->size = (long long)sb.st_size;
        it->valid = names_parse(kind, de->d_name, &it->parsed, NULL) == 0;
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, cmp_items);
    return 0;
}

void store_list_free(struct store_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].name);
        free(list->items[i].path);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* Copies src to dst unless dst exists: the same bytes set *already, a
 * different file is a conflict. The copy is renamed into place without
 * replacing, so two adds racing on one name cannot overwrite each other:
 * the loser compares against the winner's file like any later add. */
static int add_file(const char *src, const char *dst, const char *what, const char *hint,
                    bool *already, struct ib_error *err)
{
    if (ib_path_exists(dst))
        goto exists;
    /* Hidden while it is incomplete: store_list skips dot names. */
    const char *base = ib_path_base(dst);
    char *tmp = xasprintf("%.*s.%s.add-%d", (int)(base - dst), dst, base, (int)getpid());
    int rc = ib_copy_file_atomic(src, tmp, err);
    if (rc == 0 && pkg_rename_noreplace(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        if (e == EEXIST)
            goto exists;
        errno = e;
        return ib_err_sys(err, IB_EFAIL, "cannot rename into %s", dst);
    }
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
exists:;
    int same = ib_files_equal(src, dst, err);
    if (same < 0)
        return -1;
    if (same == 0)
        return ib_err(err, IB_ECONFLICT, "a different %s is already in the store; remove it "
                      "first or choose another %s", what, hint);
    if (already)
        *already = true;
    return 0;
}

int store_add(const struct store *st, enum names_kind kind, const char *src, const char *name,
              bool *already, struct ib_error *err)
{
    if (already)
        *already = false;
    if (name == NULL)
        name = ib_path_base(src);
    struct names_parsed parsed;
    if (names_parse(kind, name, &parsed, err) < 0) {
        if (name == ib_path_base(src))
            ib_err_prefix(err, "the file name is used as the name (or give --name): ");
        return -1;
    }
    if (!ib_path_is_file(src))
        return ib_err(err, ib_path_exists(src) ? IB_EINPUT : IB_ENOTFOUND,
                      "%s is not a readable regular file", src);
    char *dst = store_item_path(st, kind, name);
    char *what = xasprintf("%s named %s", names_kind_label(kind), name);
    /* dtb add takes no --name: the file name is the name. */
    int rc = add_file(src, dst, what, kind == NAMES_DTB ? "file name" : "--name", already, err);
    free(what);
    free(dst);
    return rc;
}

int store_check_initrd(const struct store *st, const char *kernel, const char *src,
                       bool *already, struct ib_error *err)
{
    *already = false;
    if (names_validate(kernel, "kernel", err) < 0)
        return -1;
    char *dst = ib_path_join(st->initrds, kernel);
    int rc = 0;
    if (ib_path_exists(dst)) {
        int same = ib_files_equal(src, dst, err);
        if (same == 1)
            *already = true;
        else if (same == 0)
            rc = ib_err(err, IB_ECONFLICT, "a different initrd for kernel %s is already in the "
                        "store; remove the kernel first or choose another --name", kernel);
        else
            rc = -1;
    }
    free(dst);
    return rc;
}

int store_add_initrd(const struct store *st, const char *kernel, const char *src, bool *already,
                     struct ib_error *err)
{
    *already = false;
    if (names_validate(kernel, "kernel", err) < 0)
        return -1;
    char *dst = ib_path_join(st->initrds, kernel);
    char *what = xasprintf("initrd for kernel %s", kernel);
    int rc = add_file(src, dst, what, "--name", already, err);
    free(what);
    free(dst);
    return rc;
}

int store_remove(const struct store *st, enum names_kind kind, const char *name,
                 struct ib_error *err)
{
    if (names_validate(name, names_kind_label(kind), err) < 0)
        return -1;
    char *path = store_item_path(st, kind, name);
    int rc = 0;
    if (unlink(path) < 0)
        rc = ib_err_sys(err, errno == ENOENT ? IB_ENOTFOUND : IB_EFAIL, "cannot remove %s %s",
                        names_kind_label(kind), name);
    free(path);
    if (rc == 0 && kind == NAMES_KERNEL) {
        char *initrd = ib_path_join(st->initrds, name);
        unlink(initrd);
        free(initrd);
    }
    return rc;
}

/* The names of a kind, as "a, b, c" for messages. */
static char *describe_available(const struct store_list *list)
{
    size_t cap = 256, len = 0;
    char *s = xmalloc(cap);
    s[0] = '\0';
    for (size_t i = 0; i < list->n; i++) {
        if (!list->items[i].valid)
            continue;
        size_t need = strlen(list->items[i].name) + 3;
        if (len + need + 1 > cap)
            s = xrealloc(s, cap = (len + need + 1) * 2);
        len += (size_t)sprintf(s + len, "%s%s", len ? ", " : "", list->items[i].name);
    }
    if (len == 0) {
        free(s);
        return xstrdup("none");
    }
    return s;
}

static char *find_dtb(const struct store_list *list, const char *platform, const char *cpu)
{
    const char *cpus[] = {cpu, "generic"};
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; cpus[c] && i < list->n; i++) {
            const struct store_item *it = &list->items[i];
            if (it->valid && strcmp(it->parsed.platform, platform) == 0 &&
                strcmp(it->parsed.cpu, cpus[c]) == 0)
                return xstrdup(it->name);
        }
    }
    return NULL;
}

char *store_find(const struct store *st, enum names_kind kind, const char *platform,
                 const char *cpu, const char *endian, const char *version, struct ib_error *err)
{
    struct store_list list;
    if (store_list(st, kind, &list, err) < 0)
        return NULL;
    char *found = NULL;
    if (kind == NAMES_DTB) {
        found = find_dtb(&list, platform, cpu);
    } else {
        const struct store_item *best = NULL;
        for (size_t i = 0; i < list.n; i++) {
            const struct store_item *it = &list.items[i];
            if (!it->valid || strcmp(it->parsed.platform, platform) != 0 || cpu == NULL ||
                strcmp(it->parsed.cpu, cpu) != 0 || strcmp(it->parsed.endian, endian) != 0)
                continue;
            if (version && strcmp(it->parsed.version, version) != 0)
                continue;
            if (best == NULL || names_version_cmp(&it->parsed.ver, &best->parsed.ver) > 0)
                best = it;
        }
        if (best)
            found = xstrdup(best->name);
    }
    if (found == NULL) {
        char *avail = describe_available(&list);
        if (kind == NAMES_DTB)
            ib_err(err, IB_ENOTFOUND, "no dtb for platform %s and cpu %s (nor %s-generic.dtb); "
                   "installed: %s", platform, cpu ? cpu : "(none)", platform, avail);
        else
            ib_err(err, IB_ENOTFOUND, "no %s matches %s.%s.%s%s%s; installed: %s",
                   names_kind_label(kind), platform, cpu ? cpu : "(no cpu given)", endian,
                   version ? " version " : " (any version)", version ? version : "", avail);
        free(avail);
    }
    store_list_free(&list);
    return found;
}

static int cmp_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_list_devices(const struct store *st, char ***aliases, size_t *n, struct ib_error *err)
{
    *aliases = NULL;
    *n = 0;
    DIR *d = opendir(st->devices);
    if (d == NULL)
        return ib_err_sys(err, IB_EFAIL, "cannot list %s", st->devices);
    struct dirent *de;
    size_t cap = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue; /* hidden: imports in progress */
        char *path = ib_path_join(st->devices, de->d_name);
        bool dir = ib_path_is_dir(path);
        free(path);
        if (!dir)
            continue;
        if (*n == cap)
            *aliases = xrealloc(*aliases, (cap = cap ? cap * 2 : 8) * sizeof **aliases);
        (*aliases)[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort(*aliases, *n, sizeof **aliases, cmp_strings);
    return 0;
}

void store_free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
