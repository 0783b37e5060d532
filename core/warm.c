/* warm.c - see warm.h for what a warm state is and why 9P shapes it. */
#include "core/warm.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/ports.h"
#include "core/qemu_argv.h"
#include "core/qga.h"
#include "core/qmp.h"
#include "core/spawn.h"
#include "core/trace.h"
#include "core/util.h"

#define WARM_META "warm.json"
#define WARM_RAM "ram.mig"
#define WARM_DISK "disk.qcow2"
#define SAVE_TIMEOUT_MS 120000

static char *warm_dir(const struct store *st, const char *device)
{
    return xasprintf("%s/warm/%s", st->home, device);
}

/* --- fingerprints ------------------------------------------------------------
 * A file is known by size, mtime and SHA-256; the hash is computed only
 * when size or mtime moved, so an untouched store costs a few stat calls.
 * A folder (embedded rootfs, SD card) is known by a digest of every
 * entry's path, type, mode, size and mtime. */

static json_t *file_print(const char *path)
{
    struct stat sb;
    char hex[65];
    if (path == NULL || stat(path, &sb) < 0 || ib_sha256_file(path, hex, NULL) < 0)
        return json_null();
    return json_pack("{s:s, s:I, s:I, s:s}", "path", path, "size", (json_int_t)sb.st_size,
                     "mtime_ns", (json_int_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec,
                     "sha256", hex);
}

static bool file_matches(const json_t *print, const char *path)
{
    if (json_is_null(print) || path == NULL)
        return json_is_null(print) && path == NULL;
    const char *was = json_string_value(json_object_get(print, "path"));
    struct stat sb;
    if (was == NULL || strcmp(was, path) != 0 || stat(path, &sb) < 0)
        return false;
    json_int_t size = json_integer_value(json_object_get(print, "size"));
    json_int_t mtime = json_integer_value(json_object_get(print, "mtime_ns"));
    if (size != (json_int_t)sb.st_size)
        return false;
    if (mtime == (json_int_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec)
        return true;
    char hex[65];
    const char *sha = json_string_value(json_object_get(print, "sha256"));
    return sha && ib_sha256_file(path, hex, NULL) == 0 && strcmp(hex, sha) == 0;
}

struct tree_walk {
    char **lines;
    size_t n, cap;
    size_t root_len;
};

static struct tree_walk *walking;

static int tree_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)flag, (void)ftw;
    struct tree_walk *w = walking;
    if (w->n == w->cap)
        w->lines = xrealloc(w->lines, (w->cap = w->cap ? w->cap * 2 : 256) * sizeof *w->lines);
    w->lines[w->n++] = xasprintf("%s|%o|%lld|%lld.%09ld", path + w->root_len,
                                 (unsigned)sb->st_mode, (long long)sb->st_size,
                                 (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec);
    return 0;
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hex digest of a folder tree, or NULL when it cannot be read. */
static char *tree_print(const char *root)
{
    if (root == NULL)
        return NULL;
    struct tree_walk w = {.root_len = strlen(root)};
    walking = &w;
    int rc = nftw(root, tree_entry, 32, FTW_PHYS);
    walking = NULL;
    char *hex = NULL;
    if (rc == 0) {
        qsort(w.lines, w.n, sizeof *w.lines, cmp_lines);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        for (size_t i = 0; i < w.n; i++)
            EVP_DigestUpdate(ctx, w.lines[i], strlen(w.lines[i]) + 1);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_DigestFinal_ex(ctx, md, &len);
        EVP_MD_CTX_free(ctx);
        hex = xmalloc(2 * len + 1);
        for (unsigned i = 0; i < len; i++)
            sprintf(hex + 2 * i, "%02x", md[i]);
    }
    for (size_t i = 0; i < w.n; i++)
        free(w.lines[i]);
    free(w.lines);
    return hex;
}

/* The QEMU binary a start runs (IOTBENCH_QEMU or qemu-system-arm on the
 * PATH), resolved, or NULL. A RAM stream only loads into the QEMU that
 * wrote it, or one compatible: another binary is another warm state. */
static char *qemu_binary_path(void)
{
    const char *name = getenv("IOTBENCH_QEMU");
    if (name == NULL || *name == '\0')
        name = "qemu-system-arm";
    if (strchr(name, '/'))
        return realpath(name, NULL);
    const char *path = getenv("PATH");
    char *copy = xstrdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *found = NULL, *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *candidate = ib_path_join(*d ? d : ".", name);
        if (access(candidate, X_OK) == 0)
            found = realpath(candidate, NULL);
        free(candidate);
    }
    free(copy);
    return found;
}

/* SHA-256 of the QEMU command line iotbench would build for this device,
 * with the instance's own parts (name, folder, ports) fixed: a new
 * iotbench that builds it differently (another device model, another
 * option) cannot load a state saved under the old shape. */
static char *argv_shape(const struct device *dev, const struct device_resolution *res)
{
    struct qemu_argv_input in = {
        .cfg = dev->cfg, .instance = "warm-shape", .dir = "/warm-shape",
        .kernel = res->kernel.path, .initrd = res->initrd.path, .dtb = res->dtb.path,
        .rootfs = res->rootfs.path, .has_sd = res->sd.path != NULL,
        .mapped_xattr = geteuid() != 0, .binary = getenv("IOTBENCH_QEMU"),
        .incoming_file = "/warm-shape/" WARM_RAM,
    };
    char **argv = NULL;
    size_t argc = 0;
    if (qemu_argv_build(&in, &argv, &argc, NULL) < 0)
        return NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < argc; i++)
        EVP_DigestUpdate(ctx, argv[i], strlen(argv[i]) + 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    qemu_argv_free(argv);
    char *hex = xmalloc(2 * len + 1);
    for (unsigned i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return hex;
}

/* What the warm state depends on. The rootfs of a virtfs device is not in
 * it: the share is mounted again after every restore, so a restored
 * instance sees the files as they are. */
static json_t *inputs_print(const struct device *dev, const struct device_resolution *res)
{
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o}", "config", file_print(dev->config_path),
                          "kernel", file_print(res->kernel.path), "initrd",
                          file_print(res->initrd.path), "hostfs", file_print(res->hostfs.path),
                          "dtb", file_print(res->dtb.path));
    char *qemu = qemu_binary_path(), *shape = argv_shape(dev, res);
    json_object_set_new(o, "qemu", file_print(qemu));
    json_object_set_new(o, "argv_sha256", shape ? json_string(shape) : json_null());
    free(qemu);
    free(shape);
    if (dev->cfg->guestfs == CONFIG_GUESTFS_EMBED) {
        char *t = tree_print(res->rootfs.path);
        json_object_set_new(o, "rootfs", t ? json_string(t) : json_null());
        free(t);
    }
    if (res->sd.path) {
        char *t = tree_print(res->sd.path);
        json_object_set_new(o, "sd", t ? json_string(t) : json_null());
        free(t);
    }
    return o;
}

/* NULL when the inputs are unchanged, else the first that changed. */
static const char *changed_input(const json_t *was, const struct device *dev,
                                 const struct device_resolution *res)
{
    const struct {
        const char *key;
        const char *path;
    } files[] = {{"config", dev->config_path}, {"kernel", res->kernel.path},
                 {"initrd", res->initrd.path}, {"hostfs", res->hostfs.path},
                 {"dtb", res->dtb.path}};
    for (size_t i = 0; i < IB_ARRAY_LEN(files); i++)
        if (!file_matches(json_object_get(was, files[i].key), files[i].path))
            return i == 0 ? "config.yaml" : files[i].key;
    /* A state made before these were recorded has neither: stale too. */
    char *qemu = qemu_binary_path();
    bool same_qemu = qemu && file_matches(json_object_get(was, "qemu"), qemu);
    free(qemu);
    if (!same_qemu)
        return "the QEMU binary";
    char *shape = argv_shape(dev, res);
    const char *old_shape = json_string_value(json_object_get(was, "argv_sha256"));
    bool same_shape = shape && old_shape && strcmp(shape, old_shape) == 0;
    free(shape);
    if (!same_shape)
        return "iotbench's QEMU command line";
    const struct {
        const char *key;
        const char *path;
    } trees[] = {{"rootfs", dev->cfg->guestfs == CONFIG_GUESTFS_EMBED ? res->rootfs.path : NULL},
                 {"sd", res->sd.path}};
    for (size_t i = 0; i < IB_ARRAY_LEN(trees); i++) {
        const char *old = json_string_value(json_object_get(was, trees[i].key));
        if (trees[i].path == NULL && old == NULL)
            continue;
        char *now = tree_print(trees[i].path);
        bool same = now && old && strcmp(now, old) == 0;
        free(now);
        if (!same)
            return trees[i].key;
    }
    return NULL;
}

/* --- using a warm state ------------------------------------------------------------ */

static long long dir_bytes(const char *dir)
{
    long long total = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char *p = ib_path_join(dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
            total += (long long)sb.st_blocks * 512;
        free(p);
    }
    if (d)
        closedir(d);
    return total;
}

static void format_date(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

int warm_find(const struct store *st, const struct device *dev,
              const struct device_resolution *res, struct warm_state *w, char **notice,
              struct ib_error *err)
{
    (void)err;
    memset(w, 0, sizeof *w);
    char *dir = warm_dir(st, dev->alias);
    char *meta = ib_path_join(dir, WARM_META);
    json_t *o = json_load_file(meta, 0, NULL);
    free(meta);
    if (o == NULL) {
        free(dir);
        return 0;
    }
    w->dir = dir;
    w->made_ms = (int64_t)json_integer_value(json_object_get(o, "made_ms"));
    const char *level = json_string_value(json_object_get(o, "level"));
    if (level == NULL || instance_ready_parse(level, &w->level) < 0)
        w->level = INSTANCE_READY_AGENT;
    w->services_saved = json_is_true(json_object_get(o, "services_saved"));
    const char *changed = changed_input(json_object_get(o, "inputs"), dev, res);
    json_decref(o);
    char date[64];
    format_date(w->made_ms, date, sizeof date);
    if (changed) {
        if (notice)
            *notice = xasprintf("the warm state of %s (made %s) is stale: %s changed since; "
                                "booting cold (iotbench device warm %s to renew it)",
                                dev->alias, date, changed, dev->alias);
        warm_state_free(w);
        return 0;
    }
    w->ram = ib_path_join(dir, WARM_RAM);
    w->disk = ib_path_join(dir, WARM_DISK);
    if (dev->cfg->guestfs == CONFIG_GUESTFS_EMBED)
        w->target = ib_path_join(dir, QEMU_TARGET_IMAGE);
    if (res->sd.path)
        w->sd = ib_path_join(dir, QEMU_SD_IMAGE);
    const char *needed[] = {w->ram, w->disk, w->target, w->sd};
    for (size_t i = 0; i < IB_ARRAY_LEN(needed); i++) {
        if (needed[i] && !ib_path_is_file(needed[i])) {
            if (notice)
                *notice = xasprintf("the warm state of %s is incomplete (%s is missing); booting "
                                    "cold", dev->alias, ib_path_base(needed[i]));
            warm_state_free(w);
            return 0;
        }
    }
    w->bytes = dir_bytes(dir);
    return 1;
}

void warm_state_free(struct warm_state *w)
{
    free(w->dir);
    free(w->ram);
    free(w->disk);
    free(w->target);
    free(w->sd);
    memset(w, 0, sizeof *w);
}

/* The guest's clock is as old as the warm state: set it to ours (in ns:
 * without an argument the agent only reaches the RTC's whole second). */
static int set_guest_time(const struct instance_info *info, struct ib_error *err)
{
    json_int_t ns = (json_int_t)ib_wall_ms() * 1000000;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        ns = (json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return qga_call(info->qga_sock, "guest-set-time", json_pack("{s:I}", "time", ns), 5000, NULL,
                    err);
}

int warm_after_restore(const struct instance_info *info, const struct warm_state *w,
                       struct ib_error *err)
{
    if (set_guest_time(info, err) < 0)
        return ib_err_prefix(err, "restored instance %s: ", info->name);
    ib_trace("restore %s: guest clock set", info->name);
    char date[64];
    format_date(w->made_ms, date, sizeof date);
    char *line = xasprintf("\n[iotbench] %s restored from the warm state of %s made %s\n",
                           info->name, info->device, date);
    /* The notice reaches the console through stdin, never through a shell
     * command line; the level is a fixed word. */
    /* Built-ins only where it can (read/echo, no cat): on an emulated
     * CPU every fork costs tens of ms, and this is a start's critical path. */
    const char *script =
        "while IFS= read -r l; do echo \"$l\"; done > /dev/console; "
        "/sbin/iotbench-after-restore || exit 3; "
        "if [ \"$1\" = target ]; then /sbin/target-start --background || exit 4; fi";
    const char *argv[] = {"/bin/sh", "-c", script, "sh",
                          w->level == INSTANCE_READY_TARGET ? "target" : "agent", NULL};
    struct qga_exec_result res;
    int rc = qga_exec_sync(info->qga_sock, argv, line, strlen(line), 15000, &res, err);
    free(line);
    if (rc < 0)
        return ib_err_prefix(err, "restored instance %s: ", info->name);
    if (res.exit_code != 0)
        rc = ib_err(err, IB_EFAIL, "restored instance %s: %s failed (exit %d): %.*s", info->name,
                    res.exit_code == 4 ? "target-start" : "remounting the device's files",
                    res.exit_code, (int)res.err_len, res.err ? res.err : "");
    qga_exec_result_free(&res);
    return rc;
}

/* --- making a warm state ------------------------------------------------------------ */

static void say(void (*progress)(const char *, void *), void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(void (*progress)(const char *, void *), void *arg, const char *fmt, ...)
{
    if (progress == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    progress(line, arg);
}

/* An offset under which every forward of the device is free, so warming
 * does not collide with running instances (forwards may differ on restore). */
static int free_offset(const struct config *cfg)
{
    for (int offset = 20000; offset < 40000; offset += 97) {
        bool ok = true;
        for (size_t i = 0; ok && i < cfg->n_redirects; i++) {
            int port = cfg->redirects[i].host_port + offset;
            ok = port <= 65535 && ports_is_free(cfg->redirects[i].proto, port);
        }
        if (ok)
            return offset;
    }
    return 0;
}

/* Migrates the RAM of the running instance into path, waiting for the end. */
static int save_ram(const struct instance_info *info, const char *path, struct ib_error *err)
{
    /* The default 128 MiB/s cap would make a save take 0.3 s instead of 0.07. */
    if (qmp_call(info->qmp_sock, "migrate-set-parameters",
                 json_pack("{s:I}", "max-bandwidth", (json_int_t)1 << 34), 5000, NULL, err) < 0)
        return -1;
    char *quoted = xmalloc(strlen(path) * 4 + 3), *o = quoted;
    *o++ = '\'';
    for (const char *p = path; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    char *uri = xasprintf("exec:cat > %s", quoted);
    free(quoted);
    int rc = qmp_call(info->qmp_sock, "migrate", json_pack("{s:s}", "uri", uri), 5000, NULL, err);
    free(uri);
    if (rc < 0)
        return -1;
    int64_t deadline = ib_now_ms() + SAVE_TIMEOUT_MS;
    while (ib_now_ms() < deadline) {
        json_t *ret = NULL;
        if (qmp_call(info->qmp_sock, "query-migrate", NULL, 5000, &ret, err) < 0)
            return -1;
        const char *status = json_string_value(json_object_get(ret, "status"));
        if (status && strcmp(status, "completed") == 0) {
            json_decref(ret);
            return 0;
        }
        if (status && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)) {
            const char *why = json_string_value(json_object_get(ret, "error-desc"));
            ib_err(err, IB_EFAIL, "QEMU could not save the state: %s", why ? why : status);
            json_decref(ret);
            return -1;
        }
        json_decref(ret);
        ib_sleep_ms(10);
    }
    return ib_err(err, IB_ETIMEOUT, "saving the state took longer than %d s",
                  SAVE_TIMEOUT_MS / 1000);
}

/* Moves a layer of the warming instance into the warm folder; a layer with
 * a base of its own (embedded rootfs, SD) moves with it and is pointed at
 * the base's new place. */
static int keep_disk(const char *from_dir, const char *to_dir, const char *layer,
                     const char *base, struct ib_error *err)
{
    char *src = ib_path_join(from_dir, layer), *dst = ib_path_join(to_dir, layer);
    char *bsrc = base ? ib_path_join(from_dir, base) : NULL;
    char *bdst = base ? ib_path_join(to_dir, base) : NULL;
    int rc = 0;
    if (rename(src, dst) < 0)
        rc = ib_err_sys(err, IB_EFAIL, "cannot keep %s", src);
    else if (base && rename(bsrc, bdst) < 0)
        rc = ib_err_sys(err, IB_EFAIL, "cannot keep %s", bsrc);
    if (rc == 0 && base) {
        /* -u: only the header's backing path changes. Relative, so the
         * pair still works once the new folder is renamed into place. */
        char *log = ib_path_join(to_dir, "qemu-img.err");
        char *argv[] = {"qemu-img", "rebase", "-u", "-F", "raw", "-b", (char *)base, dst, NULL};
        rc = spawn_tool(argv, log, err);
        unlink(log);
        free(log);
    }
    free(src), free(dst), free(bsrc), free(bdst);
    return rc;
}

/* Replaces the device's warm folder by the complete new one. */
static int install_folder(const char *tmp, const char *dir, struct ib_error *err)
{
    char *old = xasprintf("%s.old.%d", dir, (int)getpid());
    bool had = ib_path_exists(dir);
    if (had && rename(dir, old) < 0) {
        free(old);
        return ib_err_sys(err, IB_EFAIL, "cannot replace %s", dir);
    }
    int rc = 0;
    if (rename(tmp, dir) < 0) {
        rc = ib_err_sys(err, IB_EFAIL, "cannot install %s", dir);
        if (had)
            rename(old, dir);
    } else if (had) {
        ib_rm_rf(old, NULL);
    }
    free(old);
    return rc;
}

/* Saves a running, prepared instance into a new warm folder. */
static int save_instance(const struct store *st, const struct device *dev,
                         const struct device_resolution *res, const struct instance_info *info,
                         enum instance_ready level, bool services_saved, struct ib_error *err)
{
    char *dir = warm_dir(st, dev->alias);
    char *parent = xasprintf("%s/warm", st->home);
    char *tmp = xasprintf("%s/.new-%s.%d", parent, dev->alias, (int)getpid());
    int rc = ib_mkdir_p(tmp, 0700, err);
    char *ram = ib_path_join(tmp, WARM_RAM);
    if (rc == 0)
        rc = save_ram(info, ram, err);
    if (rc == 0)
        chmod(ram, 0600); /* QEMU's daemon runs with umask 027 */
    /* The VM is paused after the migration: stop it before moving disks. */
    qmp_call(info->qmp_sock, "quit", NULL, 3000, NULL, NULL);
    for (int i = 0; i < 150 && kill(info->pid, 0) == 0 && ib_path_exists(info->qmp_sock); i++)
        ib_sleep_ms(20);
    if (rc == 0)
        rc = keep_disk(info->dir, tmp, QEMU_OVERLAY, NULL, err);
    if (rc == 0 && dev->cfg->guestfs == CONFIG_GUESTFS_EMBED)
        rc = keep_disk(info->dir, tmp, QEMU_TARGET_IMAGE, "target-base.ext2", err);
    if (rc == 0 && res->sd.path)
        rc = keep_disk(info->dir, tmp, QEMU_SD_IMAGE, "sd-base.ext2", err);
    if (rc == 0) {
        /* The overlay was created as disk layer "overlay.qcow2": rename it
         * to what warm_find expects. */
        char *from = ib_path_join(tmp, QEMU_OVERLAY), *to = ib_path_join(tmp, WARM_DISK);
        if (rename(from, to) < 0)
            rc = ib_err_sys(err, IB_EFAIL, "cannot keep the disk");
        free(from), free(to);
    }
    if (rc == 0) {
        json_t *o = json_pack("{s:i, s:s, s:I, s:s, s:b, s:o}", "format", 1, "device", dev->alias,
                              "made_ms", (json_int_t)ib_wall_ms(), "level",
                              instance_ready_name(level), "services_saved", services_saved,
                              "inputs", inputs_print(dev, res));
        char *text = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        char *meta = ib_path_join(tmp, WARM_META);
        rc = ib_write_file_atomic(meta, text, strlen(text), 0600, err);
        free(meta);
        free(text);
    }
    if (rc == 0)
        rc = install_folder(tmp, dir, err);
    if (rc < 0)
        ib_rm_rf(tmp, NULL);
    free(ram), free(tmp), free(parent), free(dir);
    return rc;
}

/* Unmounts the 9P share (QEMU refuses to save while it is mounted). */
static int prepare_guest(const struct instance_info *info, struct ib_error *err)
{
    const char *argv[] = {"/sbin/iotbench-prepare-save", NULL};
    struct qga_exec_result res;
    if (qga_exec_sync(info->qga_sock, argv, NULL, 0, 20000, &res, err) < 0)
        return -1;
    int rc = 0;
    if (res.exit_code != 0)
        rc = ib_err(err, IB_EFAIL, "the host system could not unmount the device's 9P share "
                    "(%.*s)", (int)res.err_len, res.err ? res.err : "");
    qga_exec_result_free(&res);
    return rc;
}

/* The name of the instance that boots to be saved: instance names are
 * plain words and device aliases need not be, so other characters become
 * '_' and a short hash of the alias keeps two aliases apart. */
static void warming_name(const char *device, char *buf, size_t cap)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)device; *p; p++)
        h = (h ^ *p) * 16777619u;
    char word[41];
    size_t n = 0;
    for (const char *p = device; *p && n + 1 < sizeof word; p++)
        word[n++] = (char)(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                                  *p) ? *p : '_');
    word[n] = '\0';
    snprintf(buf, cap, "warming_%s-%06x", word, h & 0xffffff);
}

/* The pid ending a leftover name ("ALIAS.old.PID", ".new-ALIAS.PID"), or 0. */
static pid_t leftover_pid(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot[1] == '\0' || strspn(dot + 1, "0123456789") != strlen(dot + 1))
        return 0;
    bool fresh = strncmp(name, ".new-", 5) == 0;
    bool old = (size_t)(dot - name) > 4 && strncmp(dot - 4, ".old", 4) == 0;
    return fresh || old ? (pid_t)atol(dot + 1) : 0;
}

/* Removes what a save that crashed left behind: a new folder not yet
 * installed, an old one not yet removed, whose process is gone. A folder
 * named like a device's own warm state is never one of them. */
static void sweep_leftovers(const struct store *st)
{
    char *parent = xasprintf("%s/warm", st->home);
    DIR *d = opendir(parent);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        pid_t pid = leftover_pid(de->d_name);
        if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        char *dev = ib_path_join(st->devices, de->d_name);
        if (!ib_path_is_dir(dev)) {
            char *p = ib_path_join(parent, de->d_name);
            ib_rm_rf(p, NULL);
            free(p);
        }
        free(dev);
    }
    if (d)
        closedir(d);
    free(parent);
}

int warm_make(const struct store *st, const char *device, enum instance_ready level,
              void (*progress)(const char *line, void *arg), void *arg, struct ib_error *err)
{
    if (level != INSTANCE_READY_AGENT && level != INSTANCE_READY_TARGET)
        return ib_err(err, IB_EINPUT, "a warm state is made at level agent or target");
    sweep_leftovers(st);
    struct device *dev;
    if (device_load(st, device, &dev, err) < 0)
        return -1;
    struct device_resolution res;
    int rc = device_resolve(st, dev, &res, err);
    /* A virtfs device is saved with its share unmounted, before its
     * services start; they start after each restore (see warm.h). */
    bool embed = dev->cfg->guestfs == CONFIG_GUESTFS_EMBED;
    bool services_saved = embed && level == INSTANCE_READY_TARGET;
    struct instance_info info = {0};
    if (rc == 0) {
        char name[96];
        warming_name(device, name, sizeof name);
        struct instance_start_opts o = {.name = name, .cold = true, .timeout_ms = 120000,
                                        .port_offset = free_offset(dev->cfg),
                                        .wait = INSTANCE_READY_AGENT,
                                        .start_target = services_saved};
        if (services_saved)
            o.wait = INSTANCE_READY_TARGET;
        say(progress, arg, "booting %s cold as %s", device, name);
        int64_t t0 = ib_now_ms();
        rc = instance_start(st, device, &o, &info, err);
        if (rc == 0)
            say(progress, arg, "reached %s after %.1f s", instance_ready_name(o.wait),
                (double)(ib_now_ms() - t0) / 1000);
    }
    if (rc == 0 && services_saved)
        ib_sleep_ms(500); /* let the services finish starting before the save */
    if (rc == 0 && !embed) {
        say(progress, arg, "unmounting the 9P share for the save");
        rc = prepare_guest(&info, err);
    }
    if (rc == 0) {
        say(progress, arg, "saving RAM and disks");
        rc = save_instance(st, dev, &res, &info, level, services_saved, err);
    }
    if (info.name) {
        instance_stop(st, info.name, 0, true, NULL);
        instance_info_free(&info);
    }
    if (rc == 0)
        say(progress, arg, "warm state of %s ready (%.1f MiB)", device,
            (double)warm_bytes(st, device) / (1024 * 1024));
    device_resolution_free(&res);
    device_free(dev);
    return rc;
}

int warm_clear(const struct store *st, const char *device, struct ib_error *err)
{
    if (names_validate(device, "device alias", err) < 0)
        return -1;
    sweep_leftovers(st);
    char *dir = warm_dir(st, device);
    char *dev = ib_path_join(st->devices, device);
    int rc = 0;
    /* A warm state outliving its device (removed by an older iotbench)
     * can still be cleared; a name that is neither is a typo. */
    if (!ib_path_is_dir(dev) && !ib_path_exists(dir))
        rc = ib_err(err, IB_ENOTFOUND, "no device named %s (see iotbench device list)", device);
    else
        rc = ib_rm_rf(dir, err);
    free(dev);
    free(dir);
    return rc;
}

long long warm_bytes(const struct store *st, const char *device)
{
    sweep_leftovers(st);
    char *dir = warm_dir(st, device);
    long long n = ib_path_is_dir(dir) ? dir_bytes(dir) : 0;
    free(dir);
    return n;
}
