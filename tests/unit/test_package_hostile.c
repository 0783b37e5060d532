/*
 * test_package_hostile.c - archives built here with libarchive's writer,
 * imported with `iotbench device add`.
 *
 * First the good ones: the builder's plain archive imports (with and
 * without a manifest), and so does one laid out as Piotr's tarfile writes
 * it. Then each hostile archive is that same plain archive with one change;
 * each must be refused with its own message and a non-zero status, and
 * leave every byte of the test's folder (the store and a canary folder the
 * attacks aim at) exactly as it was: no temporary folder left, nothing
 * installed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "core/package.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"

#define KERNEL "virt.cortex-a15.little-6.1.176"
#define HOSTFS "virt.cortex-a15.little-6.1.176.ext2"
#define GIB (1LL << 30)

/* --- building archives ----------------------------------------------------- */

struct mem {
    const char *path;
    char type;          /* f d l h (hard link) c b p */
    const char *data;   /* file data */
    const char *target; /* symlink or hard link target */
    int64_t claim;      /* > 0: a sparse file of this size, 4 KiB of data at 0 */
    unsigned mode;      /* permission bits; 0: the usual ones */
};

static const char CONFIG[] = "version: \"1.0\"\n"
                             "device:\n"
                             "  name: box\n"
                             "  machine:\n"
                             "    cpu: cortex-a15\n"
                             "  bootargs: \"console=ttyAMA0 root=/dev/vda rw\"\n"
                             "  drive_type: virtio\n";

static const struct mem BASE[] = {
    {"config.yaml", 'f', CONFIG, NULL, 0, 0},
    {"rootfs", 'd', NULL, NULL, 0, 0},
    {"rootfs/piotr", 'd', NULL, NULL, 0, 0},
    {"rootfs/piotr/init.sh", 'f', "#!/bin/sh\nexec /bin/sh\n", NULL, 0, 0},
    {"rootfs/etc", 'd', NULL, NULL, 0, 0},
    {"rootfs/etc/hostname", 'f', "box\n", NULL, 0, 0},
    {"deps", 'd', NULL, NULL, 0, 0},
    {"deps/kernel", 'd', NULL, NULL, 0, 0},
    {"deps/kernel/" KERNEL, 'f', "a kernel image", NULL, 0, 0},
    {"deps/hostfs", 'd', NULL, NULL, 0, 0},
    {"deps/hostfs/" HOSTFS, 'f', "a host filesystem image", NULL, 0, 0},
};
#define N_BASE (sizeof BASE / sizeof BASE[0])

enum manifest_mode { NO_MANIFEST, MANIFEST, MANIFEST_BAD_HASH, MANIFEST_LATE };

static void sha_hex(const char *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static const struct mem *find(const struct mem *const *list, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i]->path, path) == 0)
            return list[i];
    return NULL;
}

/* The manifest text of the members, as iotbench writes it. */
static char *manifest_of(const struct mem *const *list, size_t n, bool bad_hash)
{
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    len += (size_t)snprintf(out, cap, "iotbench-manifest\t1\ntotal\t%zu\t0\n", n);
    for (size_t i = 0; i < n; i++) {
        const struct mem *m = list[i];
        char hex[65];
        if (m->type == 'f' || m->type == 'h') {
            const struct mem *d = m->type == 'h' ? find(list, n, m->target) : m;
            sha_hex(d->data, strlen(d->data), hex);
            if (bad_hash && strcmp(m->path, "config.yaml") == 0)
                hex[0] = hex[0] == '0' ? '1' : '0';
            len += (size_t)snprintf(out + len, cap - len, "f\t%zu\t%s\t%s\n", strlen(d->data), hex,
                                    m->path);
        } else if (m->type == 'l') {
            len += (size_t)snprintf(out + len, cap - len, "l\t-\t-\t%s\t%s\n", m->path, m->target);
        } else {
            len += (size_t)snprintf(out + len, cap - len, "%c\t-\t-\t%s\n", m->type, m->path);
        }
    }
    return out;
}

static void add_file(struct archive *a, const char *path, const char *data)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)strlen(data));
    archive_entry_set_mtime(e, 1600000000, 0);
    archive_write_header(a, e);
    archive_write_data(a, data, strlen(data));
    archive_entry_free(e);
}

static void add_member(struct archive *a, const struct mem *m, bool piotr)
{
    struct archive_entry *e = archive_entry_new();
    char name[4096];
    /* Python's tarfile writes folders with a trailing '/'. */
    snprintf(name, sizeof name, "%s%s", m->path, piotr && m->type == 'd' ? "/" : "");
    archive_entry_set_pathname(e, name);
    archive_entry_set_mtime(e, 1600000000, 0);
    archive_entry_set_uname(e, "root");
    archive_entry_set_gname(e, "root");
    switch (m->type) {
    case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, m->mode ? m->mode : 0755);
        break;
    case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_perm(e, 0777);
        archive_entry_set_symlink(e, m->target);
        break;
    case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_hardlink(e, m->target);
        archive_entry_set_size(e, 0);
        break;
    case 'c':
    case 'b':
        archive_entry_set_filetype(e, m->type == 'c' ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_perm(e, 0660);
        archive_entry_set_rdev(e, makedev(8, 0));
        break;
    case 'p':
        archive_entry_set_filetype(e, AE_IFIFO);
        archive_entry_set_perm(e, 0644);
        break;
    default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, m->claim > 0 ? m->claim : (la_int64_t)strlen(m->data));
        if (m->claim > 0) {
            archive_entry_sparse_add_entry(e, 0, 4096);
            archive_entry_sparse_add_entry(e, m->claim, 0);
        }
    }
    archive_write_header(a, e);
    if (m->type == 'f' && m->claim > 0) {
        static char block[4096] = "bomb";
        archive_write_data(a, block, sizeof block);
    } else if (m->type == 'f') {
        archive_write_data(a, m->data, strlen(m->data));
    }
    archive_entry_free(e);
}

/* Writes base + extra to file; piotr: the root entry "/" and folder names
 * with a trailing '/', as Piotr's tarfile makes them. */
static void build(const char *file, const struct mem *base, size_t nb, const struct mem *extra,
                  size_t ne, enum manifest_mode mm, bool piotr)
{
    const struct mem *all[256];
    size_t n = 0;
    for (size_t i = 0; i < nb; i++)
        all[n++] = &base[i];
    for (size_t i = 0; i < ne; i++)
        all[n++] = &extra[i];
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax(a);
    if (archive_write_open_filename(a, file) != ARCHIVE_OK) {
        fprintf(stderr, "cannot write %s\n", file);
        exit(1);
    }
    char *manifest = mm != NO_MANIFEST ? manifest_of(all, n, mm == MANIFEST_BAD_HASH) : NULL;
    if (mm != NO_MANIFEST && mm != MANIFEST_LATE)
        add_file(a, PACKAGE_MANIFEST, manifest);
    if (piotr) {
        struct mem root = {"/", 'd', NULL, NULL, 0, 0};
        add_member(a, &root, false);
    }
    for (size_t i = 0; i < n; i++) {
        add_member(a, all[i], piotr);
        if (i == 0 && mm == MANIFEST_LATE)
            add_file(a, PACKAGE_MANIFEST, manifest);
    }
    free(manifest);
    archive_write_close(a);
    archive_write_free(a);
}

/* --- the store, the canary, snapshots ------------------------------------------ */

static const char *canary(void)
{
    static char dir[4096];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/canary", test_tmpdir());
        mkdir(dir, 0755);
        char p[4200];
        snprintf(p, sizeof p, "%s/keep", dir);
        test_write_file(p, "the canary's own bytes\n");
    }
    return dir;
}

static const char *home(void)
{
    static char dir[4096];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/home", test_tmpdir());
        struct store st;
        struct ib_error err = {0};
        if (store_open(&st, dir, &err) < 0)
            exit(1);
        store_close(&st);
        /* The nobody runs need to reach and write it. */
        chmod(test_tmpdir(), 0755);
        if (geteuid() == 0) {
            char cmd[4300];
            snprintf(cmd, sizeof cmd, "chown -R 65534:65534 '%s'", dir);
            if (system(cmd) != 0)
                exit(1);
        }
    }
    return dir;
}

static struct {
    char *text;
    size_t len, cap;
} snap;

static int snap_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    char line[8192], extra[4200] = "";
    /* The import's temporary folder is made and removed in devices/, as it
     * must be: that folder's own mtime moves, nothing else may. */
    size_t n_home = strlen(home());
    bool devices = strncmp(path, home(), n_home) == 0 && strcmp(path + n_home, "/devices") == 0;
    if (S_ISREG(sb->st_mode)) {
        struct ib_error err = {0};
        if (ib_sha256_file(path, extra, &err) < 0)
            snprintf(extra, sizeof extra, "unreadable");
    } else if (S_ISLNK(sb->st_mode)) {
        ssize_t n = readlink(path, extra, sizeof extra - 1);
        extra[n > 0 ? n : 0] = '\0';
    }
    int n = snprintf(line, sizeof line, "%s %o %lld %lld.%09ld %d:%d %s\n", path, sb->st_mode,
                     (long long)sb->st_size, devices ? 0LL : (long long)sb->st_mtim.tv_sec,
                     devices ? 0L : sb->st_mtim.tv_nsec, (int)sb->st_uid, (int)sb->st_gid, extra);
    if (snap.len + (size_t)n + 1 > snap.cap) {
        snap.cap = (snap.len + (size_t)n + 1) * 2;
        snap.text = realloc(snap.text, snap.cap);
    }
    memcpy(snap.text + snap.len, line, (size_t)n + 1);
    snap.len += (size_t)n;
    return 0;
}

/* Every entry of the test's folder: path, mode, size, mtime, owner, and
 * the bytes (hash) or link target. */
static char *snapshot(void)
{
    snap.text = NULL;
    snap.len = snap.cap = 0;
    nftw(test_tmpdir(), snap_entry, 32, FTW_PHYS);
    return snap.text ? snap.text : strdup("");
}

static const char *first_difference(const char *a, const char *b)
{
    static char line[600];
    while (*a && *a == *b)
        a++, b++;
    while (a > snap.text && a[-1] != '\n')
        a--;
    snprintf(line, sizeof line, "%.*s", (int)strcspn(a, "\n"), a);
    return line;
}

/* --- running -------------------------------------------------------------------------- */

/* device add as the current user, or as nobody (when root). */
static void add(struct cmd_result *r, bool nobody, const char *file, const char *a1, const char *a2)
{
    char env_home[4200];
    snprintf(env_home, sizeof env_home, "IOTBENCH_HOME=%s", home());
    char *argv[16];
    int n = 0;
    if (nobody && geteuid() == 0) {
        argv[n++] = "setpriv";
        argv[n++] = "--reuid=65534";
        argv[n++] = "--regid=65534";
        argv[n++] = "--clear-groups";
        argv[n++] = "--";
    }
    argv[n++] = (char *)ib_bin();
    argv[n++] = "device";
    argv[n++] = "add";
    argv[n++] = (char *)file;
    if (a1)
        argv[n++] = (char *)a1;
    if (a2)
        argv[n++] = (char *)a2;
    argv[n] = NULL;
    char *env[] = {env_home, "NO_COLOR=1", NULL};
    if (cmd_run(argv, env, NULL, 120, r) < 0)
        exit(1);
}

static const char *archive_path(const char *name)
{
    static char path[4][4096];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, sizeof path[0], "%s/%s.piotr", test_tmpdir(), name);
    return p;
}

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
            ok = false;                                                                            \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* Imports file (with up to two extra arguments) and expects a refusal
 * with status (0: any non-zero), a message holding expect, and no change
 * at all to the test's folder. */
static bool refused(const char *file, bool nobody, const char *a1, const char *a2, int status,
                    const char *expect)
{
    bool ok = true;
    canary();
    home();
    char *before = snapshot();
    struct cmd_result r;
    add(&r, nobody, file, a1, a2);
    char *after = snapshot();
    EXPECT(r.status != 0, "import of %s succeeded: %s", file, r.out);
    EXPECT(status == 0 || r.status == status, "status %d, expected %d: %s", r.status, status,
           r.err);
    EXPECT(strstr(r.err, expect) != NULL, "message does not contain \"%s\": %s", expect, r.err);
    EXPECT(strcmp(before, after) == 0, "the test folder changed: %s",
           first_difference(after, before));
out:
    free(before);
    free(after);
    cmd_result_free(&r);
    return ok;
}

static const char *hostile(const char *name, const struct mem *extra, size_t n)
{
    const char *file = archive_path(name);
    build(file, BASE, N_BASE, extra, n, NO_MANIFEST, false);
    return file;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void remove_device_and_deps(const char *alias)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/devices/%s' '%s/kernels/%s' '%s/hostfs/%s'", home(),
             alias, home(), KERNEL, home(), HOSTFS);
    if (system(cmd) != 0)
        exit(1);
}

/* --- the good ones ---------------------------------------------------------------- */

TEST(plain_archive_with_manifest_imports_verified)
{
    const char *file = archive_path("plain");
    build(file, BASE, N_BASE, NULL, 0, MANIFEST, false);
    struct cmd_result r;
    add(&r, false, file, NULL, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "verified against its manifest");
    CHECK_CONTAINS(r.out, "installed");
    cmd_result_free(&r);
    char p[4300];
    snprintf(p, sizeof p, "%s/devices/plain/rootfs/etc/hostname", home());
    char *text = test_read_file(p);
    CHECK_STR(text, "box\n");
    free(text);
    remove_device_and_deps("plain");
}

TEST(piotr_archive_without_manifest_imports_with_a_notice)
{
    const struct mem extra[] = {
        {"rootfs/bin", 'd', NULL, NULL, 0, 0},
        {"rootfs/bin/busybox", 'f', "busybox binary", NULL, 0, 0},
        {"rootfs/bin/sh", 'h', NULL, "rootfs/bin/busybox", 0, 0},
        {"rootfs/bin/ls", 'l', NULL, "/bin/busybox", 0, 0},
        {"rootfs/dev", 'd', NULL, NULL, 0, 0},
        {"rootfs/dev/ttyAMA0", 'c', NULL, NULL, 0, 0},
        {"rootfs/etc/m\xc3\xb6td", 'f', "unicode name\n", NULL, 0, 0},
    };
    const char *file = archive_path("from-piotr");
    build(file, BASE, N_BASE, extra, sizeof extra / sizeof extra[0], NO_MANIFEST, true);
    struct cmd_result r;
    add(&r, false, file, NULL, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.err, "has no " PACKAGE_MANIFEST " (made by Piotr?): nothing could be "
                          "verified");
    CHECK_CONTAINS(r.out, "device from-piotr");
    CHECK_CONTAINS(r.out, "not verified (no manifest)");
    cmd_result_free(&r);
    char p[4300];
    snprintf(p, sizeof p, "%s/devices/from-piotr/rootfs/etc/m\xc3\xb6td", home());
    CHECK(ib_path_is_file(p));
    struct stat a, b;
    snprintf(p, sizeof p, "%s/devices/from-piotr/rootfs/bin/busybox", home());
    CHECK(lstat(p, &a) == 0);
    snprintf(p, sizeof p, "%s/devices/from-piotr/rootfs/bin/sh", home());
    CHECK(lstat(p, &b) == 0 && a.st_ino == b.st_ino);
    snprintf(p, sizeof p, "%s/devices/from-piotr/rootfs/dev/ttyAMA0", home());
    if (geteuid() == 0)
        CHECK(lstat(p, &a) == 0 && S_ISCHR(a.st_mode));
    snprintf(p, sizeof p, "%s/kernels/" KERNEL, home());
    char *k = test_read_file(p);
    CHECK_STR(k, "a kernel image");
    free(k);
    /* The root entry "/" Piotr writes made nothing, and deps/ stayed out. */
    snprintf(p, sizeof p, "%s/devices/from-piotr/deps", home());
    CHECK(!ib_path_exists(p));
    ib_run(&r, home(), "device", "check", "from-piotr", NULL);
    CHECK_MSG(r.status == 0, "%s", r.out);
    cmd_result_free(&r);
    remove_device_and_deps("from-piotr");
}

/* A folder's own entry may come after its members (not from tar or
 * Piotr, but valid): its mode and times are still those of the archive. */
TEST(folders_listed_after_their_members_keep_mode_and_times)
{
    const struct mem extra[] = {
        {"rootfs/late/file", 'f', "x", NULL, 0, 0},
        {"rootfs/late", 'd', NULL, NULL, 0, 0710},
        {"rootfs/late/more", 'f', "y", NULL, 0, 0},
    };
    const char *file = archive_path("late-folder");
    build(file, BASE, N_BASE, extra, 3, MANIFEST, false);
    struct cmd_result r;
    add(&r, false, file, NULL, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    char p[4300];
    snprintf(p, sizeof p, "%s/devices/late-folder/rootfs/late", home());
    struct stat sb;
    CHECK(lstat(p, &sb) == 0);
    CHECK_INT(sb.st_mode & 07777, 0710);
    CHECK_INT(sb.st_mtime, 1600000000);
    remove_device_and_deps("late-folder");
}

/* --- hostile archives ------------------------------------------------------------------ */

TEST(hostile_absolute_path)
{
    char abs[4200];
    snprintf(abs, sizeof abs, "%s/written-by-archive", canary());
    const struct mem extra[] = {{abs, 'f', "pwned", NULL, 0, 0}};
    CHECK(refused(hostile("abs", extra, 1), false, NULL, NULL, IB_EINPUT, "has an absolute path"));
}

TEST(hostile_dotdot_paths)
{
    const struct mem extra[] = {{"a/../../x", 'f', "pwned", NULL, 0, 0}};
    CHECK(refused(hostile("dotdot", extra, 1), false, NULL, NULL, IB_EINPUT,
                  "member \"a/../../x\" has a \"..\" component"));
    /* Aimed at the canary from devices/.import-XXXXXX/device/rootfs/. */
    const struct mem deep[] = {{"rootfs/../../../../../canary/keep", 'f', "pwned", NULL, 0, 0}};
    CHECK(refused(hostile("dotdot2", deep, 1), false, NULL, NULL, IB_EINPUT,
                  "has a \"..\" component"));
}

TEST(hostile_symlink_escape_then_write_through_it)
{
    const struct mem extra[] = {
        {"rootfs/escape", 'l', NULL, canary(), 0, 0},
        {"rootfs/escape/keep", 'f', "pwned", NULL, 0, 0},
    };
    CHECK(refused(hostile("symlink-escape", extra, 2), false, NULL, NULL, IB_EINPUT,
                  "member rootfs/escape/keep lies below rootfs/escape, which the archive made a "
                  "symlink"));
    const struct mem rel[] = {
        {"rootfs/up", 'l', NULL, "../../../../..", 0, 0},
        {"rootfs/up/canary/keep", 'f', "pwned", NULL, 0, 0},
    };
    CHECK(refused(hostile("symlink-escape2", rel, 2), false, NULL, NULL, IB_EINPUT,
                  "which the archive made a symlink"));
}

TEST(hostile_hard_link_to_outside)
{
    char target[4200];
    snprintf(target, sizeof target, "%s/keep", canary());
    const struct mem extra[] = {{"rootfs/hl", 'h', NULL, target, 0, 0}};
    CHECK(refused(hostile("hardlink-abs", extra, 1), false, NULL, NULL, IB_EINPUT,
                  "member rootfs/hl is a hard link to \"/"));
    CHECK(refused(archive_path("hardlink-abs"), false, NULL, NULL, IB_EINPUT,
                  "canary/keep\", which is outside the device folder"));
    const struct mem rel[] = {{"rootfs/hl", 'h', NULL, "../../canary/keep", 0, 0}};
    CHECK(refused(hostile("hardlink-rel", rel, 1), false, NULL, NULL, IB_EINPUT,
                  "is a hard link to \"../../canary/keep\", which is outside the device folder"));
    const struct mem via[] = {
        {"rootfs/esc", 'l', NULL, canary(), 0, 0},
        {"rootfs/hl", 'h', NULL, "rootfs/esc/keep", 0, 0},
    };
    CHECK(refused(hostile("hardlink-via-symlink", via, 2), false, NULL, NULL, IB_EINPUT,
                  "is a hard link to rootfs/esc/keep, which is not an earlier regular file"));
}

TEST(hostile_device_node_outside_rootfs_as_non_root)
{
    /* A block device the config hands to QEMU as its disk. */
    static const char cfg[] = "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                              "  bootargs: \"x\"\n  hostfs: disk.img\n";
    const struct mem members[] = {
        {"config.yaml", 'f', cfg, NULL, 0, 0},
        {"rootfs", 'd', NULL, NULL, 0, 0},
        {"disk.img", 'b', NULL, NULL, 0, 0},
    };
    const char *file = archive_path("devnode");
    build(file, members, 3, NULL, 0, NO_MANIFEST, false);
    CHECK(refused(file, true, NULL, NULL, IB_EINPUT,
                  "member disk.img is a device node outside rootfs/"));
}

TEST(hostile_duplicate_member)
{
    const struct mem extra[] = {
        {"config.yaml", 'f', "version: \"1.0\"\nhacked: yes\n", NULL, 0, 0}};
    CHECK(refused(hostile("duplicate", extra, 1), false, NULL, NULL, IB_EINPUT,
                  "member config.yaml appears twice in the archive"));
    const struct mem replace[] = {{"rootfs/etc", 'l', NULL, "/etc", 0, 0}};
    CHECK(refused(hostile("duplicate2", replace, 1), false, NULL, NULL, IB_EINPUT,
                  "member rootfs/etc appears twice"));
}

TEST(hostile_truncated_gzip)
{
    const char *file = archive_path("truncated");
    build(file, BASE, N_BASE, NULL, 0, MANIFEST, false);
    struct stat sb;
    CHECK(stat(file, &sb) == 0);
    CHECK(truncate(file, sb.st_size * 6 / 10) == 0);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT, "(damaged or truncated archive)"));
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT, "truncated"));
}

TEST(hostile_sparse_bomb)
{
    const struct mem extra[] = {{"rootfs/bomb.img", 'f', NULL, NULL, 10 * GIB, 0}};
    const char *file = hostile("bomb", extra, 1);
    CHECK(refused(file, false, "--max-size", "1G", IB_EINPUT,
                  "the archive members claim at least 10.0 GiB of data, more than 1.0 GiB (the "
                  "--max-size limit); nothing was kept"));
    /* By default a claim above 1 GiB and 100 times the archive's size is a
     * bomb, whatever room the store has. */
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT,
                  "the archive members claim at least 10.0 GiB of data, more than 100 times the "
                  "archive's own "));
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT, "allow it with --max-size"));
    /* The default limit: 16 GiB, or the free space when there is less. */
    const struct mem big[] = {{"rootfs/bomb.img", 'f', NULL, NULL, 17 * GIB, 0}};
    CHECK(refused(hostile("bomb-default", big, 1), false, NULL, NULL, IB_EINPUT,
                  "the archive members claim at least 17.0 GiB of data, more than"));
}

TEST(hostile_control_characters_in_a_name)
{
    const struct mem extra[] = {{"rootfs/evil\x1b[31mred", 'f', "x", NULL, 0, 0}};
    CHECK(refused(hostile("control", extra, 1), false, NULL, NULL, IB_EINPUT,
                  "member \"rootfs/evil\\x1b[31mred\" has a control character (byte 0x1b)"));
}

TEST(hostile_alias_with_a_slash)
{
    const char *file = hostile("alias", NULL, 0);
    CHECK(refused(file, false, "--name", "a/b", IB_EINPUT,
                  "device alias \"a/b\" must not contain '/'"));
    CHECK(refused(file, false, "--name", "../evil", IB_EINPUT, "must not contain '/'"));
}

TEST(hostile_manifest_hash_mismatch)
{
    const char *file = archive_path("badhash");
    build(file, BASE, N_BASE, NULL, 0, MANIFEST_BAD_HASH, false);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT, "member config.yaml has SHA-256"));
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT, "the archive is damaged or was altered"));
}

/* An archive of BASE with a manifest of the first n_listed members and
 * the first n_written members. */
static void build_partial(const char *file, size_t n_listed, size_t n_written)
{
    const struct mem *all[N_BASE];
    for (size_t i = 0; i < N_BASE; i++)
        all[i] = &BASE[i];
    char *manifest = manifest_of(all, n_listed, false);
    struct archive *w = archive_write_new();
    archive_write_add_filter_gzip(w);
    archive_write_set_format_pax(w);
    archive_write_open_filename(w, file);
    add_file(w, PACKAGE_MANIFEST, manifest);
    for (size_t i = 0; i < n_written; i++)
        add_member(w, &BASE[i], false);
    archive_write_close(w);
    archive_write_free(w);
    free(manifest);
}

TEST(hostile_manifest_and_archive_disagree)
{
    /* A member slipped in after the manifest was made. */
    const char *file = archive_path("slipped");
    build_partial(file, N_BASE - 1, N_BASE);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT,
                  "member deps/hostfs/" HOSTFS " is not listed in " PACKAGE_MANIFEST));
    /* A member the manifest lists is missing. */
    file = archive_path("missing");
    build_partial(file, N_BASE, N_BASE - 1);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT,
                  "is listed in " PACKAGE_MANIFEST " but missing from the archive"));
    /* The manifest must come first: later, members were already written. */
    file = archive_path("late");
    build(file, BASE, N_BASE, NULL, 0, MANIFEST_LATE, false);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT, "must be the archive's first member"));
}

TEST(hostile_dep_name_that_is_not_a_store_name)
{
    const struct mem extra[] = {{"deps/kernel/not-a-kernel", 'f', "x", NULL, 0, 0}};
    CHECK(refused(hostile("badname", extra, 1), false, NULL, NULL, IB_EINPUT,
                  "member deps/kernel/not-a-kernel does not have a valid store name"));
    const struct mem deeper[] = {{"deps/kernel/sub/x", 'f', "x", NULL, 0, 0}};
    CHECK(refused(hostile("baddeps", deeper, 1), false, NULL, NULL, IB_EINPUT,
                  "is nested deeper than deps/<kind>/<name>"));
}

TEST(hostile_conflicting_dep_installs_nothing)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/kernels/" KERNEL, home());
    test_write_file(p, "a different kernel of the same name");
    /* Folders a non-root user cannot enter or change once extracted: the
     * temporary folder must go all the same. */
    const struct mem locked[] = {
        {"rootfs/ro", 'd', NULL, NULL, 0, 0500},
        {"rootfs/ro/file", 'f', "x", NULL, 0, 0},
        {"rootfs/none", 'd', NULL, NULL, 0, 0000},
    };
    const char *file = hostile("conflict", locked, 3);
    /* The host filesystem is absent from the store and must stay so. */
    bool ok = refused(file, true, NULL, NULL, IB_ECONFLICT,
                      "the store already has a different kernel " KERNEL
                      " under the same name; nothing was installed");
    snprintf(p, sizeof p, "%s/hostfs", home());
    int hostfs_left = count_entries(p);
    /* The list names the conflict and says the rest was not installed. */
    struct cmd_result r;
    add(&r, false, file, NULL, NULL);
    bool conflict_listed = strstr(r.out, "kernel  " KERNEL) != NULL &&
                           strstr(r.out, "CONFLICT") != NULL;
    bool hostfs_not_installed = strstr(r.out, "not installed (the import is refused)") != NULL;
    bool claims_installed = strstr(r.out, " installed\n") != NULL;
    char *out = xstrdup(r.out);
    cmd_result_free(&r);
    snprintf(p, sizeof p, "%s/kernels/" KERNEL, home());
    unlink(p);
    CHECK(ok);
    CHECK_MSG(conflict_listed && hostfs_not_installed, "output: %s", out);
    CHECK_MSG(!claims_installed, "output: %s", out);
    free(out);
    CHECK_INT(hostfs_left, 0);
}

TEST(hostile_config_or_rootfs_as_symlink)
{
    const struct mem cfg[] = {
        {"config.yaml", 'l', NULL, "/etc/shadow", 0, 0},
        {"rootfs", 'd', NULL, NULL, 0, 0},
    };
    const char *file = archive_path("config-symlink");
    build(file, cfg, 2, NULL, 0, NO_MANIFEST, false);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT,
                  "member config.yaml must be a regular file, not a symlink"));
    const struct mem root[] = {
        {"config.yaml", 'f', CONFIG, NULL, 0, 0},
        {"rootfs", 'l', NULL, "/", 0, 0},
    };
    file = archive_path("rootfs-symlink");
    build(file, root, 2, NULL, 0, NO_MANIFEST, false);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT,
                  "member rootfs must be a folder, not a symlink"));
}

TEST(hostile_config_names_a_symlink_as_custom_kernel)
{
    static const char cfg[] = "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                              "  bootargs: \"x\"\n  kernel: boot/zImage\n";
    const struct mem members[] = {
        {"config.yaml", 'f', cfg, NULL, 0, 0},
        {"rootfs", 'd', NULL, NULL, 0, 0},
        {"boot", 'l', NULL, "/root", 0, 0},
    };
    const char *file = archive_path("custom-kernel");
    build(file, members, 3, NULL, 0, NO_MANIFEST, false);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT,
                  "config.yaml: device.kernel \"boot/zImage\" goes through boot, a symlink"));
}

TEST(hostile_too_many_members_and_not_a_device)
{
    CHECK(refused(hostile("many", NULL, 0), false, "--max-files", "5", IB_EINPUT,
                  "more than the limit of 5 (--max-files)"));
    const struct mem nocfg[] = {{"rootfs", 'd', NULL, NULL, 0, 0}};
    const char *file = archive_path("noconfig");
    build(file, nocfg, 1, NULL, 0, NO_MANIFEST, false);
    CHECK(refused(file, false, NULL, NULL, IB_EINPUT,
                  "noconfig.piotr is not a device package: it has no config.yaml"));
}
