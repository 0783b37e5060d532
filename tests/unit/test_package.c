/*
 * test_package.c - device create, export and add through the CLI: a round
 * trip of a device holding every kind of file into a fresh store, the
 * skeleton config, --from copies, the import as a non-root user, a full
 * disk, a file size limit, SIGTERM during export and import, the progress
 * bar on a terminal and its absence elsewhere.
 *
 * Hostile and foreign (Piotr) archives are in test_package_hostile.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/config.h"
#include "core/package.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"

#define KERNEL "virt.cortex-a15.little-6.1.176"
#define HOSTFS "virt.cortex-a15.little-6.1.176.ext2"
#define DTB "virt-cortex-a15.dtb"
#define NOBODY 65534

static bool is_root(void)
{
    return geteuid() == 0;
}

/* --- building stores and devices --------------------------------------------- */

static void write_bytes(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* Bytes that do not compress: a fixed xorshift stream. */
static void write_noise(const char *path, size_t len, uint64_t seed)
{
    char *buf = malloc(len);
    for (size_t i = 0; i < len; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        buf[i] = (char)seed;
    }
    write_bytes(path, buf, len, 0644);
    free(buf);
}

static void write_at(const char *path, off_t off, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, text, strlen(text), off) != (ssize_t)strlen(text))
        exit(1);
    close(fd);
}

static const char *make_home(const char *name)
{
    const char *home = test_path(name);
    struct store st;
    struct ib_error err = {0};
    if (store_open(&st, home, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    store_close(&st);
    return home;
}

/* A stock kernel with its initrd, a sparse host filesystem and a dtb. */
static void add_stock_parts(const char *home)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/kernels/%s", home, KERNEL);
    write_noise(p, 300000, 1);
    snprintf(p, sizeof p, "%s/initrds/%s", home, KERNEL);
    write_noise(p, 70000, 2);
    snprintf(p, sizeof p, "%s/hostfs/%s", home, HOSTFS);
    write_bytes(p, "", 0, 0644);
    truncate(p, 32 << 20);
    write_at(p, 1024, "superblock-ish");
    write_at(p, 20 << 20, "inode tables");
    snprintf(p, sizeof p, "%s/dtbs/%s", home, DTB);
    write_noise(p, 9000, 3);
}

static void set_times(const char *path, time_t at, long atn, time_t mt, long mtn)
{
    struct timespec ts[2] = {{at, atn}, {mt, mtn}};
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0) {
        fprintf(stderr, "utimensat %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void xattr(const char *path, const char *name, const char *value)
{
    if (lsetxattr(path, name, value, strlen(value), 0) < 0) {
        fprintf(stderr, "setxattr %s %s: %s\n", path, name, strerror(errno));
        exit(1);
    }
}

/* Every kind of file a rootfs can hold, with odd metadata. */
static void fill_rootfs(const char *dev)
{
    char r[3000], p[4096], q[4096];
    snprintf(r, sizeof r, "%s/rootfs", dev);
#define P(rel) (snprintf(p, sizeof p, "%s/%s", r, rel), p)
    mkdir(P("bin"), 0755);
    write_noise(P("bin/busybox"), 200000, 4);
    chmod(P("bin/busybox"), 04755); /* setuid */
    snprintf(q, sizeof q, "%s/bin/sh", r);
    link(P("bin/busybox"), q);
    snprintf(q, sizeof q, "%s/bin/ls", r);
    link(P("bin/busybox"), q);
    symlink("busybox", P("bin/relative-link"));
    symlink("/bin/busybox", P("bin/absolute-link"));
    symlink("../nowhere/at/all", P("bin/dangling-link"));
    write_bytes(P("empty"), "", 0, 0600);
    write_bytes(P("sparse.img"), "", 0, 0640);
    truncate(p, 48 << 20);
    write_at(p, 4096, "data in a sparse file");
    write_at(p, 40 << 20, "more data");
    mkfifo(P("fifo"), 0620);
    mkdir(P("shared"), 02775); /* setgid folder */
    chmod(p, 02775);
    mkdir(P("tmp"), 01777); /* sticky */
    chmod(p, 01777);
    mkdir(P("private"), 0700);
    write_bytes(P("private/secret"), "s3cret\n", 7, 0400);
    write_bytes(P("h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93.txt"), "unicode\n", 8, 0644);
    write_bytes(P("caf\xe9-latin1"), "not utf-8\n", 10, 0644); /* a name that is not UTF-8 */
    write_bytes(P("mapped"), "9p mapped-xattr file\n", 21, 0644);
    xattr(p, "user.virtfs.uid", "1000");
    xattr(p, "user.virtfs.gid", "1000");
    xattr(p, "user.virtfs.mode", "33261");
    xattr(p, "user.comment", "kept");
    if (is_root()) {
        xattr(p, "trusted.iotbench", "root only");
        mknod(P("null"), S_IFCHR | 0666, makedev(1, 3));
        mknod(P("loop0"), S_IFBLK | 0660, makedev(7, 0));
        chown(P("bin/busybox"), 0, 0);
        chmod(p, 04755);
        chown(P("private"), 1234, 5678);
        chown(P("private/secret"), 1234, 5678);
        lchown(P("bin/relative-link"), 4321, 8765);
        chown(P("shared"), 1000, 1000);
        chmod(p, 02775);
    }
    /* Times last: making entries changes the folders' mtimes. */
    set_times(P("empty"), 1000000000, 0, -86400L * 365 * 5, 123456789); /* 1965 */
    set_times(P("bin/relative-link"), 1700000000, 1, 1600000000, 999999999);
    /* An atime of exactly 0 is not kept: libarchive's pax writer takes it
     * for "unset". An mtime of 0 is. */
    set_times(P("mapped"), 1, 0, 4102444800, 500); /* 2100 */
    set_times(P("private/secret"), 2, 2, 0, 0);
    set_times(P("bin/busybox"), 1500000000, 42, 1400000000, 7);
    set_times(P("shared"), 1300000000, 0, 1234567890, 987654321);
    set_times(P("bin"), 1300000001, 0, 1111111111, 111);
    set_times(r, 1300000002, 0, 1222222222, 222);
#undef P
}

static void make_device(const char *home, const char *alias, const char *config_extra)
{
    struct cmd_result r;
    ib_run(&r, home, "device", "create", alias, NULL);
    if (r.status != 0) {
        fprintf(stderr, "device create: %s\n", r.err);
        exit(1);
    }
    cmd_result_free(&r);
    char p[4096];
    snprintf(p, sizeof p, "%s/devices/%s/config.yaml", home, alias);
    if (config_extra) {
        FILE *f = fopen(p, "a");
        fputs(config_extra, f);
        fclose(f);
    }
}

/* --- comparing trees ---------------------------------------------------------- */

struct item {
    char *rel;
    struct stat st;
    char *xattrs; /* "name=value;" sorted */
    char *link;
};

struct tree {
    struct item *items;
    size_t n;
    size_t root_len;
};

static struct tree *walking;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_xattrs(const char *path)
{
    char names[4096];
    ssize_t n = llistxattr(path, names, sizeof names);
    if (n <= 0)
        return strdup("");
    char *v[64];
    int k = 0;
    for (char *s = names; s < names + n && k < 64; s += strlen(s) + 1)
        v[k++] = s;
    qsort(v, (size_t)k, sizeof *v, cmp_names);
    char *out = calloc(1, 8192);
    for (int i = 0; i < k; i++) {
        char val[1024];
        ssize_t len = lgetxattr(path, v[i], val, sizeof val - 1);
        val[len > 0 ? len : 0] = '\0';
        snprintf(out + strlen(out), 8192 - strlen(out), "%s=%s;", v[i], val);
    }
    return out;
}

static int collect(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    struct tree *t = walking;
    t->items = realloc(t->items, (t->n + 1) * sizeof *t->items);
    struct item *it = &t->items[t->n++];
    it->rel = strdup(path + t->root_len);
    it->st = *sb;
    it->xattrs = read_xattrs(path);
    it->link = NULL;
    if (S_ISLNK(sb->st_mode)) {
        char buf[4096];
        ssize_t n = readlink(path, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        it->link = strdup(buf);
    }
    return 0;
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->rel, ((const struct item *)b)->rel);
}

/* Every entry with lstat, xattrs and link target, before any content is
 * read (reading would move atimes). */
static struct tree tree_scan(const char *root)
{
    struct tree t = {NULL, 0, strlen(root)};
    walking = &t;
    nftw(root, collect, 32, FTW_PHYS);
    qsort(t.items, t.n, sizeof *t.items, cmp_items);
    return t;
}

static void tree_free(struct tree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->items[i].rel);
        free(t->items[i].xattrs);
        free(t->items[i].link);
    }
    free(t->items);
}

/* The first entry sharing an inode with item i (itself if none). */
static const char *first_link(const struct tree *t, size_t i)
{
    for (size_t j = 0; j < t->n; j++)
        if (t->items[j].st.st_ino == t->items[i].st.st_ino &&
            t->items[j].st.st_dev == t->items[i].st.st_dev && S_ISREG(t->items[j].st.st_mode))
            return t->items[j].rel;
    return t->items[i].rel;
}

static bool same_bytes(const char *a, const char *b)
{
    struct ib_error err = {0};
    return ib_files_equal(a, b, &err) == 1;
}

/* Compares two trees entry by entry; returns a description of the first
 * difference, or NULL. owners: compare uid/gid too. */
static char *tree_diff(const char *a, const char *b, bool owners)
{
    static char why[1024];
    struct tree ta = tree_scan(a), tb = tree_scan(b);
    char *res = NULL;
    if (ta.n != tb.n) {
        snprintf(why, sizeof why, "%zu entries in %s, %zu in %s", ta.n, a, tb.n, b);
        res = why;
    }
    for (size_t i = 0; !res && i < ta.n; i++) {
        const struct item *x = &ta.items[i], *y = &tb.items[i];
        const struct stat *s = &x->st, *u = &y->st;
        bool top = x->rel[0] == '\0';
        if (strcmp(x->rel, y->rel) != 0)
            snprintf(why, sizeof why, "entry %s vs %s", x->rel, y->rel), res = why;
        else if (s->st_mode != u->st_mode && !top)
            snprintf(why, sizeof why, "%s: mode %o vs %o", x->rel, s->st_mode, u->st_mode),
                res = why;
        else if (owners && (s->st_uid != u->st_uid || s->st_gid != u->st_gid))
            snprintf(why, sizeof why, "%s: owner %d:%d vs %d:%d", x->rel, (int)s->st_uid,
                     (int)s->st_gid, (int)u->st_uid, (int)u->st_gid),
                res = why;
        else if (!top && (s->st_mtim.tv_sec != u->st_mtim.tv_sec ||
                          s->st_mtim.tv_nsec != u->st_mtim.tv_nsec))
            snprintf(why, sizeof why, "%s: mtime %lld.%09ld vs %lld.%09ld", x->rel,
                     (long long)s->st_mtim.tv_sec, s->st_mtim.tv_nsec, (long long)u->st_mtim.tv_sec,
                     u->st_mtim.tv_nsec),
                res = why;
        else if (S_ISREG(s->st_mode) && (s->st_atim.tv_sec != u->st_atim.tv_sec ||
                                         s->st_atim.tv_nsec != u->st_atim.tv_nsec))
            snprintf(why, sizeof why, "%s: atime %lld.%09ld vs %lld.%09ld", x->rel,
                     (long long)s->st_atim.tv_sec, s->st_atim.tv_nsec, (long long)u->st_atim.tv_sec,
                     u->st_atim.tv_nsec),
                res = why;
        else if (!S_ISDIR(s->st_mode) && s->st_size != u->st_size)
            snprintf(why, sizeof why, "%s: size %lld vs %lld", x->rel, (long long)s->st_size,
                     (long long)u->st_size),
                res = why;
        else if ((S_ISCHR(s->st_mode) || S_ISBLK(s->st_mode)) && s->st_rdev != u->st_rdev)
            snprintf(why, sizeof why, "%s: device numbers differ", x->rel), res = why;
        else if (strcmp(x->xattrs, y->xattrs) != 0)
            snprintf(why, sizeof why, "%s: xattrs [%s] vs [%s]", x->rel, x->xattrs, y->xattrs),
                res = why;
        else if (x->link && strcmp(x->link, y->link) != 0)
            snprintf(why, sizeof why, "%s: link %s vs %s", x->rel, x->link, y->link), res = why;
        else if (S_ISREG(s->st_mode) && strcmp(first_link(&ta, i), first_link(&tb, i)) != 0)
            snprintf(why, sizeof why, "%s: hard link group differs", x->rel), res = why;
    }
    /* Contents last, once every time was compared. */
    for (size_t i = 0; !res && i < ta.n; i++) {
        if (!S_ISREG(ta.items[i].st.st_mode))
            continue;
        char pa[4096], pb[4096];
        snprintf(pa, sizeof pa, "%s%s", a, ta.items[i].rel);
        snprintf(pb, sizeof pb, "%s%s", b, tb.items[i].rel);
        if (!same_bytes(pa, pb))
            snprintf(why, sizeof why, "%s: bytes differ", ta.items[i].rel), res = why;
    }
    tree_free(&ta);
    tree_free(&tb);
    return res;
}

static long long blocks_of(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0 ? (long long)sb.st_blocks : -1;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

static char *dev_path(const char *home, const char *alias)
{
    static char buf[4][4096];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/devices/%s", home, alias);
    return b;
}

/* --- round trip ---------------------------------------------------------------- */

static const char *rich_archive(void)
{
    static char path[4096];
    static bool tried;
    if (tried)
        return path[0] ? path : NULL;
    tried = true;
    const char *home = make_home("rt-home");
    add_stock_parts(home);
    make_device(home, "rich", NULL);
    /* dtb: auto so the stock dtb travels too. */
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s/config.yaml", dev_path(home, "rich"));
    char *text = test_read_file(cfg);
    char *at = strstr(text, "    # dtb: auto");
    memcpy(at, "    dtb: auto  ", 15);
    test_write_file(cfg, text);
    free(text);
    fill_rootfs(dev_path(home, "rich"));
    snprintf(path, sizeof path, "%s/rich.piotr", test_tmpdir());
    struct cmd_result r;
    ib_run(&r, home, "device", "export", "rich", path, NULL);
    if (r.status != 0) {
        printf("  export failed: %s\n", r.err);
        path[0] = '\0';
    }
    cmd_result_free(&r);
    return path[0] ? path : NULL;
}

TEST(export_import_round_trip_keeps_everything)
{
    const char *archive = rich_archive();
    CHECK(archive != NULL);
    const char *a = test_path("rt-home"), *b = make_home("rt-fresh");
    struct cmd_result r;
    ib_run(&r, b, "device", "add", archive, NULL);
    CHECK_MSG(r.status == 0, "device add: %s", r.err);
    CHECK_CONTAINS(r.out, "verified against its manifest");
    CHECK_CONTAINS(r.out, "kernel  " KERNEL);
    CHECK_CONTAINS(r.out, "installed");
    CHECK_NOT_CONTAINS(r.err, "could not");
    cmd_result_free(&r);

    char *diff = tree_diff(dev_path(a, "rich"), dev_path(b, "rich"), is_root());
    CHECK_MSG(diff == NULL, "trees differ: %s", diff);
    /* The sparse file is still sparse: 48 MiB, two blocks of data. */
    char p[4096];
    snprintf(p, sizeof p, "%s/rootfs/sparse.img", dev_path(b, "rich"));
    CHECK_MSG(blocks_of(p) * 512 < (1 << 20), "sparse.img uses %lld blocks", blocks_of(p));
    /* Neither the manifest nor deps/ end up in the device folder. */
    snprintf(p, sizeof p, "%s/" PACKAGE_MANIFEST, dev_path(b, "rich"));
    CHECK(!ib_path_exists(p));
    snprintf(p, sizeof p, "%s/deps", dev_path(b, "rich"));
    CHECK(!ib_path_exists(p));

    /* The stock parts, under the same names, so the device resolves. */
    const char *parts[] = {"kernels/" KERNEL, "initrds/" KERNEL, "hostfs/" HOSTFS, "dtbs/" DTB};
    for (size_t i = 0; i < 4; i++) {
        char pa[4096], pb[4096];
        snprintf(pa, sizeof pa, "%s/%s", a, parts[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, parts[i]);
        CHECK_MSG(same_bytes(pa, pb), "%s was not installed identically", parts[i]);
    }
    ib_run(&r, b, "device", "check", "rich", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "initrd   ok     " KERNEL);
    CHECK_CONTAINS(r.out, "dtb      ok     " DTB);
    cmd_result_free(&r);
}

/* The archive is Piotr's layout: members at the root, deps/<kind>/<name>. */
TEST(export_writes_piotr_layout_with_manifest_first)
{
    const char *archive = rich_archive();
    CHECK(archive != NULL);
    struct archive *in = archive_read_new();
    archive_read_support_filter_gzip(in);
    archive_read_support_format_tar(in);
    CHECK(archive_read_open_filename(in, archive, 65536) == ARCHIVE_OK);
    CHECK_INT(archive_filter_code(in, 0), ARCHIVE_FILTER_GZIP);
    struct archive_entry *e;
    int n = 0;
    bool config = false, kernel = false, initrd = false, hostfs = false, dtb = false;
    bool rootfs = false, leading = false;
    int rh;
    while ((rh = archive_read_next_header(in, &e)) == ARCHIVE_OK || rh == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(e);
        if (n++ == 0)
            CHECK_STR(name, PACKAGE_MANIFEST);
        config |= strcmp(name, "config.yaml") == 0;
        rootfs |= strncmp(name, "rootfs/bin/busybox", 18) == 0;
        kernel |= strcmp(name, "deps/kernel/" KERNEL) == 0;
        initrd |= strcmp(name, "deps/initrd/" KERNEL) == 0;
        hostfs |= strcmp(name, "deps/hostfs/" HOSTFS) == 0;
        dtb |= strcmp(name, "deps/dtb/" DTB) == 0;
        leading |= name[0] == '/' || strncmp(name, "./", 2) == 0;
    }
    CHECK_INT(archive_format(in) & ARCHIVE_FORMAT_BASE_MASK, ARCHIVE_FORMAT_TAR);
    archive_read_free(in);
    CHECK(config && rootfs && kernel && initrd && hostfs && dtb);
    CHECK(!leading);
}

TEST(add_dry_run_changes_nothing)
{
    const char *archive = rich_archive();
    CHECK(archive != NULL);
    const char *home = make_home("dry-home");
    struct cmd_result r;
    ib_run(&r, home, "device", "add", archive, "--dry-run", "--name", "trial", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "would be installed");
    CHECK_CONTAINS(r.out, "nothing was changed");
    cmd_result_free(&r);
    char p[4096];
    snprintf(p, sizeof p, "%s/devices", home);
    CHECK_INT(count_entries(p), 0);
    snprintf(p, sizeof p, "%s/kernels", home);
    CHECK_INT(count_entries(p), 0);
    snprintf(p, sizeof p, "%s/hostfs", home);
    CHECK_INT(count_entries(p), 0);
}

TEST(add_twice_skips_identical_deps_and_refuses_existing_alias)
{
    const char *archive = rich_archive();
    CHECK(archive != NULL);
    const char *home = make_home("twice-home");
    struct cmd_result r;
    ib_run(&r, home, "device", "add", archive, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    ib_run(&r, home, "device", "add", archive, NULL);
    CHECK_INT(r.status, IB_ECONFLICT);
    CHECK_CONTAINS(r.err, "a device named rich already exists");
    /* The archive was never read: no summary of "0 members". */
    CHECK_STR(r.out, "");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "add", archive, "--name", "rich2", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "already in the store (same bytes)");
    CHECK_NOT_CONTAINS(r.out, " installed");
    cmd_result_free(&r);
}

/* Without root: no owners, no device nodes (reported), the rest intact. */
TEST(add_as_nobody_skips_device_nodes_and_reports_them)
{
    if (!is_root()) {
        printf("  (not root: this test needs root to switch to nobody)\n");
        return;
    }
    const char *archive = rich_archive();
    CHECK(archive != NULL);
    const char *home = make_home("nobody-home");
    chmod(test_tmpdir(), 0755);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "chown -R %d:%d '%s'", NOBODY, NOBODY, home);
    CHECK(system(cmd) == 0);
    char env_home[4200];
    snprintf(env_home, sizeof env_home, "IOTBENCH_HOME=%s", home);
    char *argv[] = {"setpriv",        "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                    (char *)ib_bin(), "device",        "add",           (char *)archive,  NULL};
    char *env[] = {env_home, NULL};
    struct cmd_result r;
    CHECK(cmd_run(argv, env, NULL, 120, &r) == 0);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.err, "2 device nodes were not created (only root can)");
    CHECK_CONTAINS(r.err, "rootfs/null");
    cmd_result_free(&r);
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/rootfs/null", dev_path(home, "rich"));
    CHECK(lstat(p, &sb) < 0);
    snprintf(p, sizeof p, "%s/rootfs/private/secret", dev_path(home, "rich"));
    CHECK(lstat(p, &sb) == 0);
    CHECK_INT(sb.st_uid, NOBODY);
    char pa[4096];
    snprintf(pa, sizeof pa, "%s/rootfs/mapped", dev_path(test_path("rt-home"), "rich"));
    snprintf(p, sizeof p, "%s/rootfs/mapped", dev_path(home, "rich"));
    CHECK(same_bytes(pa, p));
    char val[64] = "";
    CHECK(lgetxattr(p, "user.virtfs.uid", val, sizeof val) == 4);
    CHECK(memcmp(val, "1000", 4) == 0);
    snprintf(p, sizeof p, "%s/rootfs/bin/busybox", dev_path(home, "rich"));
    snprintf(pa, sizeof pa, "%s/rootfs/bin/sh", dev_path(home, "rich"));
    struct stat sa;
    CHECK(lstat(p, &sb) == 0 && lstat(pa, &sa) == 0);
    CHECK(sb.st_ino == sa.st_ino);
}

/* --- device create ----------------------------------------------------------------- */

TEST(create_writes_a_config_that_loads_without_warnings)
{
    const char *home = make_home("create-home");
    struct cmd_result r;
    ib_run(&r, home, "device", "create", "fresh", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    char p[4096];
    snprintf(p, sizeof p, "%s/config.yaml", dev_path(home, "fresh"));
    struct config *cfg;
    struct ib_error err = {0};
    CHECK_MSG(config_load(p, &cfg, &err) == 0, "%s", err.msg);
    CHECK_INT(cfg->n_warnings, 0);
    CHECK_STR(cfg->name, "fresh");
    CHECK_STR(cfg->platform, "virt");
    CHECK_STR(cfg->cpu, "cortex-a15");
    CHECK_INT(cfg->memory_mib, 256);
    CHECK_STR(cfg->bootargs, "console=ttyAMA0 root=/dev/vda rw");
    CHECK_INT(cfg->guestfs, CONFIG_GUESTFS_VIRTFS);
    CHECK_INT(cfg->drive_type, CONFIG_DRIVE_VIRTIO);
    CHECK_INT(cfg->n_nics, 1);
    CHECK_STR(cfg->nics[0].name, "nic0");
    CHECK_INT(cfg->nics[0].type, CONFIG_NIC_USER);
    CHECK_INT(cfg->n_redirects, 0);
    CHECK(cfg->kernel == NULL && cfg->hostfs == NULL && cfg->dtb == NULL);
    config_free(cfg);

    snprintf(p, sizeof p, "%s/rootfs/piotr/init.sh", dev_path(home, "fresh"));
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & S_IXUSR));
    char *init = test_read_file(p);
    CHECK(strncmp(init, "#!/bin/sh\n", 10) == 0);
    CHECK_CONTAINS(init, "\nexec /bin/sh\n");
    free(init);
    snprintf(p, sizeof p, "%s/rootfs/proc", dev_path(home, "fresh"));
    CHECK(ib_path_is_dir(p));
}

/* init.sh runs under chroot into rootfs/: the skeleton carries the demo
 * device's busybox and its applets (hard links, as in demo), or says it
 * could not. */
TEST(create_copies_the_demo_busybox_so_init_sh_has_a_shell)
{
    char home[4096];
    snprintf(home, sizeof home, "%s", make_home("create-bb"));
    struct cmd_result r;
    ib_run(&r, home, "device", "create", "nodemo", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.err, "rootfs/ has no /bin/sh");
    cmd_result_free(&r);

    char p[4300], q[4300];
    const char *dirs[] = {"", "rootfs", "rootfs/bin", "rootfs/sbin", "rootfs/usr",
                          "rootfs/usr/bin"};
    for (size_t i = 0; i < IB_ARRAY_LEN(dirs); i++) {
        snprintf(p, sizeof p, "%s/devices/demo/%s", home, dirs[i]);
        mkdir(p, 0755);
    }
    snprintf(p, sizeof p, "%s/devices/demo/config.yaml", home);
    write_bytes(p, "version: \"1.0\"\n", 15, 0644);
    snprintf(p, sizeof p, "%s/devices/demo/rootfs/bin/busybox", home);
    write_bytes(p, "\177ELF a busybox", strlen("\177ELF a busybox"), 0755);
    const char *applets[] = {"bin/sh", "sbin/init", "usr/bin/env"};
    for (size_t i = 0; i < IB_ARRAY_LEN(applets); i++) {
        snprintf(q, sizeof q, "%s/devices/demo/rootfs/%s", home, applets[i]);
        CHECK(link(p, q) == 0);
    }
    snprintf(q, sizeof q, "%s/devices/demo/rootfs/bin/other", home);
    write_bytes(q, "not busybox", 11, 0755);

    ib_run(&r, home, "device", "create", "withsh", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.err, "a copy of the demo device's, with 3 applets");
    cmd_result_free(&r);
    struct stat bb, sb;
    snprintf(p, sizeof p, "%s/devices/withsh/rootfs/bin/busybox", home);
    CHECK(stat(p, &bb) == 0 && (bb.st_mode & S_IXUSR));
    char *data = test_read_file(p);
    CHECK_STR(data, "\177ELF a busybox");
    free(data);
    for (size_t i = 0; i < IB_ARRAY_LEN(applets); i++) {
        snprintf(q, sizeof q, "%s/devices/withsh/rootfs/%s", home, applets[i]);
        CHECK_MSG(lstat(q, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_ino == bb.st_ino,
                  "%s is not a hard link to busybox", applets[i]);
    }
    snprintf(q, sizeof q, "%s/devices/withsh/rootfs/bin/other", home);
    CHECK(!ib_path_exists(q));
    CHECK_INT((int)bb.st_nlink, 4);
}

/* The commented-out redirect example is valid once uncommented. */
TEST(create_template_redirect_example_is_valid)
{
    char *text = package_config_template("demo \"quoted\"");
    const char *from[] = {"  # redirect:", "  #   nic0:", "  #     http:"};
    const char *to[] = {"  redirect:  ", "    nic0:  ", "      http:  "};
    for (size_t i = 0; i < 3; i++) {
        char *at = strstr(text, from[i]);
        CHECK(at != NULL);
        memcpy(at, to[i], strlen(to[i]));
    }
    struct config *cfg;
    struct ib_error err = {0};
    int rc = config_parse(text, strlen(text), "config.yaml", &cfg, &err);
    free(text);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_INT(cfg->n_redirects, 1);
    CHECK_INT(cfg->redirects[0].host_port, 8080);
    CHECK_INT(cfg->redirects[0].guest_port, 80);
    CHECK_STR(cfg->name, "demo \"quoted\"");
    config_free(cfg);
}

TEST(create_refuses_bad_and_taken_names)
{
    const char *home = make_home("create-bad");
    struct cmd_result r;
    ib_run(&r, home, "device", "create", "one", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    ib_run(&r, home, "device", "create", "one", NULL);
    CHECK_INT(r.status, IB_ECONFLICT);
    CHECK_CONTAINS(r.err, "already exists");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "create", "a/b", NULL);
    CHECK_INT(r.status, IB_EINPUT);
    CHECK_CONTAINS(r.err, "must not contain '/'");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "create", "two", "--from", "missing", NULL);
    CHECK_INT(r.status, IB_ENOTFOUND);
    CHECK_CONTAINS(r.err, "no device named missing");
    cmd_result_free(&r);
    char p[4096];
    snprintf(p, sizeof p, "%s/devices", home);
    CHECK_INT(count_entries(p), 1);
}

TEST(create_from_copies_exactly)
{
    CHECK(rich_archive() != NULL);
    const char *home = test_path("rt-home");
    struct cmd_result r;
    ib_run(&r, home, "device", "create", "copy", "--from", "rich", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "a copy of rich");
    cmd_result_free(&r);
    char *diff = tree_diff(dev_path(home, "rich"), dev_path(home, "copy"), is_root());
    CHECK_MSG(diff == NULL, "trees differ: %s", diff);
    char p[4096];
    snprintf(p, sizeof p, "%s/rootfs/sparse.img", dev_path(home, "copy"));
    CHECK(blocks_of(p) * 512 < (1 << 20));
    ib_run(&r, home, "device", "remove", "copy", "--yes", NULL);
    cmd_result_free(&r);
}

/* --- failures leave nothing behind ------------------------------------------------------ */

static const char *noisy_home(const char *name, size_t mib)
{
    char key[64];
    snprintf(key, sizeof key, "%s-home", name);
    const char *home = make_home(key);
    add_stock_parts(home);
    make_device(home, name, NULL);
    char p[4096];
    snprintf(p, sizeof p, "%s/rootfs/noise", dev_path(home, name));
    write_noise(p, mib << 20, 77);
    return home;
}

TEST(export_to_a_full_disk_leaves_nothing)
{
    if (!is_root()) {
        printf("  (not root: no tmpfs; the RLIMIT_FSIZE test covers the non-root case)\n");
        return;
    }
    const char *home = noisy_home("full", 3);
    const char *mnt = test_path("full-mnt");
    mkdir(mnt, 0755);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
        printf("  (cannot mount a tmpfs here: %s)\n", strerror(errno));
        return;
    }
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/full.piotr", mnt);
    struct cmd_result r;
    ib_run(&r, home, "device", "export", "full", dest, NULL);
    int left = count_entries(mnt);
    umount2(mnt, MNT_DETACH);
    CHECK_INT(r.status, IB_EFAIL); /* not a sanitizer's exit status either */
    CHECK_CONTAINS(r.err, "No space left on device");
    CHECK_CONTAINS(r.err, "the partial archive was removed");
    CHECK_INT(left, 0);
    cmd_result_free(&r);
}

TEST(export_past_a_file_size_limit_leaves_nothing)
{
    const char *home = noisy_home("fsize", 2);
    const char *dir = test_path("fsize-out");
    mkdir(dir, 0755);
    char dest[4096], errf[4096], env_home[4200];
    snprintf(dest, sizeof dest, "%s/fsize.piotr", dir);
    snprintf(errf, sizeof errf, "%s/fsize.err", test_tmpdir());
    snprintf(env_home, sizeof env_home, "%s", home);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {512 << 10, 512 << 10};
        setrlimit(RLIMIT_FSIZE, &rl);
        int fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        int out = open("/dev/null", O_WRONLY);
        dup2(out, 1);
        setenv("IOTBENCH_HOME", env_home, 1);
        execl(ib_bin(), ib_bin(), "device", "export", "fsize", dest, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == IB_EFAIL, "status %d", st);
    char *msg = test_read_file(errf);
    CHECK_CONTAINS(msg, "File too large");
    free(msg);
    CHECK_INT(count_entries(dir), 0);
}

/* Starts iotbench with args, returns its pid; stderr goes to errf. */
static pid_t spawn(const char *home, const char *errf, char *const args[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        int out = open("/dev/null", O_WRONLY);
        dup2(out, 1);
        setenv("IOTBENCH_HOME", home, 1);
        char *argv[16] = {(char *)ib_bin()};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(ib_bin(), argv);
        _exit(127);
    }
    return pid;
}

/* Waits (at most 20 s) until dir holds an entry whose name starts with prefix. */
static bool wait_for_entry(const char *dir, const char *prefix)
{
    for (int i = 0; i < 2000; i++) {
        DIR *d = opendir(dir);
        struct dirent *de;
        bool found = false;
        while (d && (de = readdir(d)) != NULL)
            found |= strncmp(de->d_name, prefix, strlen(prefix)) == 0;
        if (d)
            closedir(d);
        if (found)
            return true;
        usleep(10000);
    }
    return false;
}

/* Waits (at most 20 s) until process pid has a file of dir open for
 * writing its archive (an unnamed O_TMPFILE file shows as "dir/#N
 * (deleted)"); the link's text goes to link (may be NULL). */
static bool wait_for_output_fd(pid_t pid, const char *dir, char *link, size_t cap)
{
    char fds[64], prefix[4200];
    snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
    snprintf(prefix, sizeof prefix, "%s/", dir);
    for (int i = 0; i < 2000; i++) {
        DIR *d = opendir(fds);
        struct dirent *de;
        bool found = false;
        while (!found && d && (de = readdir(d)) != NULL) {
            char p[400], target[4200];
            snprintf(p, sizeof p, "%s/%s", fds, de->d_name);
            ssize_t n = readlink(p, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            found = strncmp(target, prefix, strlen(prefix)) == 0;
            if (found && link)
                snprintf(link, cap, "%s", target);
        }
        if (d)
            closedir(d);
        if (found)
            return true;
        usleep(10000);
    }
    return false;
}

/* An export killed outright: its unnamed output file goes with it. */
TEST(export_killed_with_sigkill_leaves_no_file)
{
    const char *home = noisy_home("kill9", 64);
    const char *dir = test_path("kill9-out");
    mkdir(dir, 0755);
    char dest[4096], errf[4096], link[4200] = "";
    snprintf(dest, sizeof dest, "%s/kill9.piotr", dir);
    snprintf(errf, sizeof errf, "%s/kill9.err", test_tmpdir());
    char *args[] = {"device", "export", "kill9", dest, NULL};
    pid_t pid = spawn(home, errf, args);
    bool started = wait_for_output_fd(pid, dir, link, sizeof link);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK_MSG(started, "the export never opened its output");
    if (strstr(link, "(deleted)") == NULL) {
        printf("  (no O_TMPFILE on this filesystem: %s; a kill -9 leaves it)\n", link);
        return;
    }
    CHECK_INT(count_entries(dir), 0);
}

TEST(export_interrupted_by_sigterm_leaves_nothing)
{
    const char *home = noisy_home("term", 64);
    const char *dir = test_path("term-out");
    mkdir(dir, 0755);
    char dest[4096], errf[4096];
    snprintf(dest, sizeof dest, "%s/term.piotr", dir);
    snprintf(errf, sizeof errf, "%s/term.err", test_tmpdir());
    char *args[] = {"device", "export", "term", dest, NULL};
    pid_t pid = spawn(home, errf, args);
    bool started = wait_for_output_fd(pid, dir, NULL, 0);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    char *msg = test_read_file(errf);
    bool ok = started && WIFEXITED(st) && WEXITSTATUS(st) == IB_EFAIL &&
              strstr(msg, "export interrupted; no archive was written") != NULL;
    CHECK_MSG(ok, "started %d, status %d, stderr: %s", started, st, msg);
    free(msg);
    CHECK_INT(count_entries(dir), 0);
}

TEST(add_interrupted_by_sigterm_leaves_nothing)
{
    const char *home = noisy_home("iterm", 64);
    char archive[4096], errf[4096];
    snprintf(archive, sizeof archive, "%s/iterm.piotr", test_tmpdir());
    snprintf(errf, sizeof errf, "%s/iterm.err", test_tmpdir());
    struct cmd_result r;
    ib_run(&r, home, "device", "export", "iterm", archive, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    const char *fresh = make_home("iterm-fresh");
    char devices[4096], kernels[4096];
    snprintf(devices, sizeof devices, "%s/devices", fresh);
    snprintf(kernels, sizeof kernels, "%s/kernels", fresh);
    char *args[] = {"device", "add", archive, NULL};
    pid_t pid = spawn(fresh, errf, args);
    bool started = wait_for_entry(devices, ".import-");
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    char *msg = test_read_file(errf);
    bool ok = started && WIFEXITED(st) && WEXITSTATUS(st) == IB_EFAIL &&
              strstr(msg, "import interrupted; nothing was kept") != NULL;
    CHECK_MSG(ok, "started %d, status %d, stderr: %s", started, st, msg);
    free(msg);
    CHECK_INT(count_entries(devices), 0);
    CHECK_INT(count_entries(kernels), 0);
}

/* --- leftovers of killed operations ------------------------------------------------------ */

/* A stale folder, as a kill -9 leaves it: old, with a file inside. */
static void make_old_folder(const char *devices, const char *name, int age_s)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", devices, name);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/junk", devices, name);
    write_bytes(p, "junk", 4, 0644);
    snprintf(p, sizeof p, "%s/%s", devices, name);
    struct timespec t[2] = {{time(NULL) - age_s, 0}, {time(NULL) - age_s, 0}};
    utimensat(AT_FDCWD, p, t, 0);
}

static bool entry_exists(const char *devices, const char *name)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", devices, name);
    return ib_path_exists(p);
}

TEST(create_and_add_sweep_only_dead_temporary_folders)
{
    char home[4096];
    snprintf(home, sizeof home, "%s", make_home("sweep-home"));
    add_stock_parts(home);
    char devices[4200];
    snprintf(devices, sizeof devices, "%s/devices", home);
    /* A pid that is surely gone: a child we reaped. */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char dead_removing[64], live_removing[64];
    snprintf(dead_removing, sizeof dead_removing, ".removing-cam-%d", (int)dead);
    snprintf(live_removing, sizeof live_removing, ".removing-cam-%d", (int)getpid());
    make_old_folder(devices, ".import-dead01", 3600);
    make_old_folder(devices, ".create-dead02", 3600);
    make_old_folder(devices, dead_removing, 3600);
    make_old_folder(devices, live_removing, 3600);      /* its process (us) is alive */
    make_old_folder(devices, ".import-live03", 3600);   /* locked below: a running import */
    make_old_folder(devices, ".create-young4", 0);      /* just made, not yet locked */
    char p[4300];
    snprintf(p, sizeof p, "%s/.import-live03", devices);
    int lock = open(p, O_RDONLY | O_DIRECTORY);
    CHECK(lock >= 0 && flock(lock, LOCK_EX) == 0);

    struct cmd_result r;
    ib_run(&r, home, "device", "create", "fresh", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    CHECK(!entry_exists(devices, ".import-dead01"));
    CHECK(!entry_exists(devices, ".create-dead02"));
    CHECK(!entry_exists(devices, dead_removing));
    CHECK(entry_exists(devices, live_removing));
    CHECK(entry_exists(devices, ".import-live03"));
    CHECK(entry_exists(devices, ".create-young4"));
    CHECK(entry_exists(devices, "fresh"));

    /* Once its owner is gone, the next import sweeps it. */
    close(lock);
    make_old_folder(devices, ".create-dead05", 3600);
    char archive[4200];
    snprintf(archive, sizeof archive, "%s/sweep.piotr", test_tmpdir());
    ib_run(&r, home, "device", "export", "fresh", archive, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    ib_run(&r, home, "device", "add", archive, "--name", "fresh2", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    CHECK(!entry_exists(devices, ".import-live03"));
    CHECK(!entry_exists(devices, ".create-dead05"));
    CHECK(entry_exists(devices, live_removing));
    /* And the operations that ran left no folder of their own. */
    DIR *d = opendir(devices);
    struct dirent *de;
    int hidden = 0;
    while (d && (de = readdir(d)) != NULL)
        hidden += de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    CHECK_INT(hidden, 2); /* live_removing and .create-young4 */
}

/* --- progress ----------------------------------------------------------------------------- */

TEST(progress_bar_only_on_a_terminal)
{
    const char *home = noisy_home("bar", 8);
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/bar.piotr", test_tmpdir());
    struct cmd_result r;
    ib_run(&r, home, "device", "export", "bar", dest, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_NOT_CONTAINS(r.err, "MB/s");
    CHECK_NOT_CONTAINS(r.err, "\r");
    cmd_result_free(&r);

    int master, slave;
    CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(master);
        dup2(slave, 2);
        int out = open("/dev/null", O_WRONLY);
        dup2(out, 1);
        setenv("IOTBENCH_HOME", home, 1);
        execl(ib_bin(), ib_bin(), "device", "export", "bar", dest, "--force", (char *)NULL);
        _exit(127);
    }
    close(slave);
    char buf[65536];
    size_t n = 0;
    for (;;) {
        ssize_t got = read(master, buf + n, sizeof buf - 1 - n);
        if (got <= 0)
            break; /* EIO once the child is gone */
        n += (size_t)got;
    }
    buf[n] = '\0';
    close(master);
    int st;
    waitpid(pid, &st, 0);
    CHECK_INT(WEXITSTATUS(st), 0);
    CHECK_CONTAINS(buf, "export [");
    CHECK_CONTAINS(buf, "MB/s");
    CHECK_CONTAINS(buf, " MB ");
}
