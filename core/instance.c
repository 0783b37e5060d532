/*
 * instance.c - starting, finding, waiting for and stopping instances; see
 * instance.h for the runtime folder layout.
 *
 * The folder is the only state: meta.json is written (atomically) once
 * QEMU has daemonized and its pid is known, so a folder without meta.json
 * is an instance still starting (or a start that crashed, cleaned after a
 * minute).
 */
#include "core/instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/device.h"
#include "core/namegen.h"
#include "core/ports.h"
#include "core/qemu_argv.h"
#include "core/qga.h"
#include "core/spawn.h"
#include "core/trace.h"
#include "core/qmp.h"
#include "core/safetext.h"
#include "core/util.h"
#include "core/warm.h"

#define META_FILE "meta.json"
#define ERR_FILE "qemu.err"
#define STALE_START_MS 60000
#define RESTORE_TIMEOUT_MS 30000
#define CONSOLE_SCAN_MAX (8u << 20)
#define BANNER_TEXT "Host system ready"
#define TARGET_MARKER "/run/iotbench/target-started"
#define INSTANCE_TARGET_BASE "target-base.ext2"
#define INSTANCE_SD_BASE "sd-base.ext2"

/* --- small helpers ------------------------------------------------------- */

static char *run_path(const char *dir, const char *name)
{
    return ib_path_join(dir, name);
}

static bool pid_is_our_qemu(pid_t pid, const char *name)
{
    if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    char *cmd = NULL;
    size_t len = 0;
    if (ib_read_file(path, 1 << 20, &cmd, &len, NULL) < 0)
        return false;
    /* argv is NUL-separated: look for "-name" followed by our name. */
    bool ours = false;
    for (size_t i = 0; i + 1 < len;) {
        const char *arg = cmd + i;
        size_t alen = strlen(arg);
        if (strcmp(arg, "-name") == 0 && i + alen + 1 < len &&
            strcmp(arg + alen + 1, name) == 0)
            ours = true;
        i += alen + 1;
    }
    free(cmd);
    return ours;
}

/* --- meta.json ------------------------------------------------------------ */

static int write_meta(const struct instance_info *info, struct ib_error *err)
{
    json_t *fw = json_array(), *argv = json_array();
    for (size_t i = 0; i < info->n_forwards; i++) {
        const struct instance_forward *f = &info->forwards[i];
        json_array_append_new(fw, json_pack("{s:s, s:i, s:i, s:s}", "proto",
                                            config_proto_name(f->proto), "host_port",
                                            f->host_port, "guest_port", f->guest_port, "name",
                                            f->name));
    }
    for (size_t i = 0; i < info->argc; i++)
        json_array_append_new(argv, json_string(info->argv[i]));
    json_t *o = json_pack("{s:i, s:s, s:s, s:i, s:I, s:i, s:I, s:o, s:o}", "format", 1, "name",
                          info->name, "device", info->device, "pid", (int)info->pid, "started_ms",
                          (json_int_t)info->started_ms, "gdbstub_port", info->gdbstub_port,
                          "warm_made_ms", (json_int_t)info->warm_made_ms, "forwards", fw, "argv",
                          argv);
    char *text = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    char *path = run_path(info->dir, META_FILE);
    int rc = ib_write_file_atomic(path, text, strlen(text), 0600, err);
    free(path);
    free(text);
    return rc;
}

static void fill_paths(struct instance_info *info)
{
    info->qmp_sock = run_path(info->dir, QEMU_QMP_SOCK);
    info->qga_sock = run_path(info->dir, QEMU_QGA_SOCK);
    info->console_sock = run_path(info->dir, QEMU_CONSOLE_SOCK);
    info->console_log = run_path(info->dir, QEMU_CONSOLE_LOG);
}

static int read_meta(const struct store *st, const char *name, struct instance_info *info,
                     struct ib_error *err)
{
    memset(info, 0, sizeof *info);
    info->dir = ib_path_join(st->run, name);
    char *path = run_path(info->dir, META_FILE);
    json_error_t jerr;
    json_t *o = json_load_file(path, 0, &jerr);
    free(path);
    if (o == NULL) {
        instance_info_free(info);
        return ib_err(err, IB_ENOTFOUND, "instance %s has no readable metadata (%s)", name,
                      jerr.text);
    }
    const char *dev = json_string_value(json_object_get(o, "device"));
    info->name = xstrdup(name);
    info->device = xstrdup(dev ? dev : "?");
    info->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
    info->started_ms = (int64_t)json_integer_value(json_object_get(o, "started_ms"));
    info->gdbstub_port = (int)json_integer_value(json_object_get(o, "gdbstub_port"));
    info->warm_made_ms = (int64_t)json_integer_value(json_object_get(o, "warm_made_ms"));
    json_t *fw = json_object_get(o, "forwards"), *argv = json_object_get(o, "argv"), *v;
    size_t i;
    info->forwards = xcalloc(json_array_size(fw) + 1, sizeof *info->forwards);
    json_array_foreach(fw, i, v) {
        struct instance_forward *f = &info->forwards[info->n_forwards++];
        const char *proto = json_string_value(json_object_get(v, "proto"));
        f->proto = proto && strcmp(proto, "udp") == 0 ? CONFIG_UDP : CONFIG_TCP;
        f->host_port = (int)json_integer_value(json_object_get(v, "host_port"));
        f->guest_port = (int)json_integer_value(json_object_get(v, "guest_port"));
        const char *fname = json_string_value(json_object_get(v, "name"));
        snprintf(f->name, sizeof f->name, "%s", fname ? fname : "");
    }
    info->argv = xcalloc(json_array_size(argv) + 1, sizeof *info->argv);
    json_array_foreach(argv, i, v) {
        const char *s = json_string_value(v);
        info->argv[info->argc++] = xstrdup(s ? s : "");
    }
    json_decref(o);
    fill_paths(info);
    info->state = pid_is_our_qemu(info->pid, name) ? INSTANCE_RUNNING : INSTANCE_DEAD;
    return 0;
}

void instance_info_free(struct instance_info *info)
{
    if (info == NULL)
        return;
    free(info->name);
    free(info->device);
    free(info->dir);
    free(info->qmp_sock);
    free(info->qga_sock);
    free(info->console_sock);
    free(info->console_log);
    free(info->dead_reason);
    free(info->last_console);
    free(info->notice);
    free(info->forwards);
    if (info->argv)
        for (size_t i = 0; i < info->argc; i++)
            free(info->argv[i]);
    free(info->argv);
    memset(info, 0, sizeof *info);
}

/* --- why an instance died --------------------------------------------------- */

/* The last n lines of a text (malloc'd). */
static char *tail_lines(const char *text, size_t len, int n)
{
    size_t start = len;
    int lines = 0;
    while (start > 0) {
        if (text[start - 1] == '\n' && start != len && ++lines >= n)
            break;
        start--;
    }
    return xstrndup(text + start, len - start);
}

static char *last_nonempty_line(const char *text)
{
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    size_t start = len;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    return xstrndup(text + start, len - start);
}

/* A console line for a message: guest bytes, so whatever a terminal could
 * act on (safetext's rule) becomes '?', and at most 160 bytes of it. */
static char *console_line_for_message(const char *line)
{
    size_t len = strcspn(line, "\r\n");
    return safetext_mask(line, len > 160 ? 160 : len, '?');
}

/* The last `cap` bytes of a file, NUL-terminated (malloc'd), or NULL. What
 * ends a guest - a panic, a power-down, a reboot - is at the end of its
 * console log, and the log of a chatty guest can be gigabytes: the workbench
 * lists instances on its UI loop. */
static char *read_tail(const char *path, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat sb;
    off_t from = 0;
    if (fstat(fd, &sb) == 0 && sb.st_size > (off_t)cap)
        from = sb.st_size - (off_t)cap;
    char *buf = xmalloc(cap + 1);
    size_t got = 0;
    while (got < cap) {
        ssize_t r = pread(fd, buf + got, cap - got, from + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
}

static void explain_death(struct instance_info *info)
{
    char *errpath = run_path(info->dir, ERR_FILE);
    char *qerr = NULL;
    size_t clen = 0;
    ib_read_file(errpath, 1 << 16, &qerr, NULL, NULL);
    free(errpath);
    char *console = read_tail(info->console_log, 1u << 20, &clen);
    if (console != NULL) {
        /* NULs from the guest would end the searches below early. */
        for (size_t i = 0; i < clen; i++)
            if (console[i] == '\0')
                console[i] = ' ';
        size_t from = clen > 65536 ? clen - 65536 : 0;
        info->last_console = tail_lines(console + from, clen - from, 20);
    }
    const char *panic = console ? strstr(console, "Kernel panic") : NULL;
    if (panic) {
        char *line = console_line_for_message(panic);
        info->dead_reason = xasprintf("guest kernel panic: %s", line);
        free(line);
    } else if (console && (strstr(console, "reboot: Power down") ||
                           strstr(console, "System halted"))) {
        info->dead_reason = xstrdup("the guest powered off");
    } else if (console && strstr(console, "reboot: Restarting system")) {
        /* -no-reboot (see qemu_argv_kernel_cmdline) makes a reboot QEMU's end. */
        info->dead_reason = xstrdup("the guest rebooted (an instance ends at a reboot: start it "
                                    "again)");
    } else if (qerr && *qerr) {
        char *line = last_nonempty_line(qerr);
        info->dead_reason = xasprintf("QEMU exited: %s", line);
        free(line);
    } else {
        /* After -daemonize QEMU's stderr is /dev/null: a kill and an error
         * of its own look the same from here. */
        char *raw = console ? last_nonempty_line(console) : NULL;
        char *last = raw ? console_line_for_message(raw) : NULL;
        free(raw);
        info->dead_reason = xasprintf("QEMU is gone without a message (it had daemonized: "
                                      "killed, or it quit on an error it could not report)%s%s%s",
                                      last && *last ? "; the console's last line: \"" : "",
                                      last && *last ? last : "", last && *last ? "\"" : "");
        free(last);
    }
    free(qerr);
    free(console);
}

/* --- listing ------------------------------------------------------------------ */

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const struct instance_info *)a)->name,
                  ((const struct instance_info *)b)->name);
}

static bool folder_is_stale_start(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) < 0)
        return false;
    return (int64_t)time(NULL) * 1000 - (int64_t)sb.st_mtime * 1000 > STALE_START_MS;
}

int instance_list(const struct store *st, struct instance_info **list, size_t *n,
                  struct ib_error *err)
{
    *list = NULL;
    *n = 0;
    DIR *d = opendir(st->run);
    if (d == NULL)
        return ib_err_sys(err, IB_EFAIL, "cannot list %s", st->run);
    struct dirent *de;
    size_t cap = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        struct instance_info info;
        if (read_meta(st, de->d_name, &info, NULL) < 0) {
            char *dir = ib_path_join(st->run, de->d_name);
            char *meta = run_path(dir, META_FILE);
            /* No metadata: starting now, or a start that died early. */
            if (!ib_path_exists(meta) && folder_is_stale_start(dir))
                ib_rm_rf(dir, NULL);
            free(meta);
            free(dir);
            continue;
        }
        if (info.state == INSTANCE_DEAD) {
            explain_death(&info);
            ib_rm_rf(info.dir, NULL);
        }
        if (*n == cap)
            *list = xrealloc(*list, (cap = cap ? cap * 2 : 8) * sizeof **list);
        (*list)[(*n)++] = info;
    }
    closedir(d);
    if (*n > 1)
        qsort(*list, *n, sizeof **list, cmp_info);
    return 0;
}

void instance_list_free(struct instance_info *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        instance_info_free(&list[i]);
    free(list);
}

int instance_get(const struct store *st, const char *name, struct instance_info *out,
                 struct ib_error *err)
{
    if (names_validate(name, "instance name", err) < 0)
        return -1;
    char *dir = ib_path_join(st->run, name);
    bool exists = ib_path_is_dir(dir);
    free(dir);
    if (!exists)
        return ib_err(err, IB_ENOTFOUND, "no instance named %s (see iotbench device running)",
                      name);
    if (read_meta(st, name, out, err) < 0)
        return ib_err(err, IB_ENOTFOUND, "instance %s is still starting", name);
    if (out->state == INSTANCE_DEAD) {
        explain_death(out);
        ib_rm_rf(out->dir, NULL);
    }
    return 0;
}

/* --- readiness ------------------------------------------------------------------ */

static const char *const READY_NAMES[] = {"qemu", "kernel", "banner", "agent", "target"};

const char *instance_ready_name(enum instance_ready level)
{
    return (size_t)level < IB_ARRAY_LEN(READY_NAMES) ? READY_NAMES[level] : "?";
}

int instance_ready_parse(const char *s, enum instance_ready *out)
{
    for (size_t i = 0; i < IB_ARRAY_LEN(READY_NAMES); i++) {
        if (strcmp(s, READY_NAMES[i]) == 0) {
            *out = (enum instance_ready)i;
            return 0;
        }
    }
    return -1;
}

static bool target_started(const struct instance_info *info, int timeout_ms)
{
    json_t *ret = NULL;
    json_t *args = json_pack("{s:s, s:s}", "path", TARGET_MARKER, "mode", "r");
    if (qga_call(info->qga_sock, "guest-file-open", args, timeout_ms, &ret, NULL) < 0)
        return false;
    json_int_t handle = json_integer_value(ret);
    json_decref(ret);
    qga_call(info->qga_sock, "guest-file-close", json_pack("{s:I}", "handle", handle),
             timeout_ms, NULL, NULL);
    return true;
}

/* How far the console says the boot went. The markers come early in a
 * boot, so the log is read from its start in chunks until one shows up, at
 * most CONSOLE_SCAN_MAX bytes: a chatty guest's log of any size costs
 * that at worst and never reads as "no console". */
static enum instance_ready console_level(const struct instance_info *info)
{
    static const char *const markers[] = {BANNER_TEXT, "[Host]# "};
    enum { CHUNK = 64 * 1024, OVERLAP = sizeof BANNER_TEXT };
    int fd = open(info->console_log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return INSTANCE_READY_NONE;
    enum instance_ready level = INSTANCE_READY_NONE;
    char *buf = xmalloc(OVERLAP + CHUNK);
    size_t keep = 0, total = 0;
    while (total < CONSOLE_SCAN_MAX && level < INSTANCE_READY_BANNER) {
        ssize_t n = read(fd, buf + keep, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        level = INSTANCE_READY_KERNEL;
        size_t len = keep + (size_t)n;
        for (size_t i = 0; i < IB_ARRAY_LEN(markers); i++)
            if (memmem(buf, len, markers[i], strlen(markers[i])))
                level = INSTANCE_READY_BANNER;
        /* A marker may straddle two chunks: carry the tail over. */
        keep = len < OVERLAP ? len : OVERLAP;
        memmove(buf, buf + len - keep, keep);
        total += (size_t)n;
    }
    free(buf);
    close(fd);
    return level;
}

enum instance_ready instance_readiness(const struct instance_info *info)
{
    /* A restored guest booted long ago: its console log starts after the
     * banner, so only the agent and the target tell. */
    enum instance_ready level = info->warm_made_ms ? INSTANCE_READY_BANNER : console_level(info);
    if (level == INSTANCE_READY_BANNER && qga_ping(info->qga_sock, 500, NULL) == 0) {
        level = INSTANCE_READY_AGENT;
        if (target_started(info, 1000))
            level = INSTANCE_READY_TARGET;
    }
    return level;
}

int instance_wait(const struct instance_info *info, enum instance_ready level, int timeout_ms,
                  struct ib_error *err)
{
    int64_t deadline = ib_now_ms() + timeout_ms;
    enum instance_ready reached = INSTANCE_READY_NONE;
    for (;;) {
        if (!pid_is_our_qemu(info->pid, info->name)) {
            /* Why, as the next listing will say (it also cleans the folder). */
            struct instance_info why = {.dir = info->dir, .console_log = info->console_log};
            explain_death(&why);
            ib_err(err, IB_EFAIL, "instance %s died while waiting for %s: %s", info->name,
                   instance_ready_name(level), why.dead_reason);
            free(why.dead_reason);
            free(why.last_console);
            return -1;
        }
        reached = instance_readiness(info);
        if (reached >= level)
            return 0;
        if (ib_now_ms() >= deadline)
            break;
        ib_sleep_ms(50);
    }
    return ib_err(err, IB_ETIMEOUT, "instance %s did not reach %s within %d ms (reached: %s)",
                  info->name, instance_ready_name(level), timeout_ms,
                  instance_ready_name(reached));
}

int instance_start_target(const struct instance_info *info, int timeout_ms,
                          struct ib_error *err)
{
    const char *argv[] = {"/sbin/target-start", "--background", NULL};
    struct qga_exec_result res;
    if (qga_exec_sync(info->qga_sock, argv, NULL, 0, timeout_ms, &res, err) < 0)
        return ib_err_prefix(err, "target-start: ");
    int rc = 0;
    if (res.exit_code != 0)
        rc = ib_err(err, IB_EFAIL, "target-start --background exited with %d: %.*s",
                    res.exit_code, (int)res.err_len, res.err ? res.err : "");
    qga_exec_result_free(&res);
    return rc;
}

/* --- starting ---------------------------------------------------------------------- */

static int choose_name(const struct store *st, const char *wanted, char *buf, size_t cap,
                       struct ib_error *err)
{
    if (wanted) {
        if (names_validate(wanted, "instance name", err) < 0)
            return -1;
        if (strlen(wanted) > 64)
            return ib_err(err, IB_EINPUT, "instance name is longer than 64 characters");
        /* The name goes into QEMU's -name (where ',' is special) and is
         * how its process is recognised: keep it to a plain word. */
        size_t bad = strspn(wanted, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789._-");
        if (wanted[bad] != '\0')
            return ib_err(err, IB_EINPUT, "instance name \"%s\" may hold only letters, digits, "
                          "'.', '_' and '-' (not '%c')", wanted, wanted[bad]);
        snprintf(buf, cap, "%s", wanted);
        return 0;
    }
    unsigned seed = (unsigned)(ib_wall_ms() ^ (getpid() << 8));
    for (int i = 0; i < 200; i++) {
        namegen_make(seed + (unsigned)i, buf, cap);
        char *dir = ib_path_join(st->run, buf);
        bool taken = ib_path_exists(dir);
        free(dir);
        if (!taken)
            return 0;
    }
    return ib_err(err, IB_EFAIL, "cannot find a free instance name; give one");
}

/* Refuses a forward whose host port is taken, naming the holder. */
static int check_ports(const struct store *st, const struct config *cfg, int offset,
                       struct ib_error *err)
{
    for (size_t i = 0; i < cfg->n_redirects; i++) {
        const struct config_redirect *r = &cfg->redirects[i];
        int port = r->host_port + offset;
        if (port < 1 || port > 65535)
            return ib_err(err, IB_EINPUT, "redirect %s.%s: host port %d + offset %d is out of "
                          "range 1-65535", r->nic, r->name, r->host_port, offset);
        if (ports_is_free(r->proto, port))
            continue;
        char comm[64];
        pid_t holder = ports_holder(r->proto, port, comm, sizeof comm);
        struct instance_info *list;
        size_t n;
        if (holder > 0 && instance_list(st, &list, &n, NULL) == 0) {
            for (size_t k = 0; k < n; k++) {
                if (list[k].pid == holder && list[k].state == INSTANCE_RUNNING) {
                    ib_err(err, IB_ECONFLICT, "host port %s %d (redirect %s.%s) is used by "
                           "instance %s; stop it or use --port-offset", config_proto_name(r->proto),
                           port, r->nic, r->name, list[k].name);
                    instance_list_free(list, n);
                    return -1;
                }
            }
            instance_list_free(list, n);
        }
        if (holder > 0)
            return ib_err(err, IB_ECONFLICT, "host port %s %d (redirect %s.%s) is used by process "
                          "%d (%s); use --port-offset", config_proto_name(r->proto), port, r->nic,
                          r->name, (int)holder, comm);
        return ib_err(err, IB_ECONFLICT, "host port %s %d (redirect %s.%s) is in use; use "
                      "--port-offset", config_proto_name(r->proto), port, r->nic, r->name);
    }
    return 0;
}

/* A tap NIC needs its interface made beforehand (by root, once). */
static int check_taps(const struct config *cfg, struct ib_error *err)
{
    for (size_t i = 0; i < cfg->n_nics; i++) {
        const struct config_nic *nic = &cfg->nics[i];
        if (nic->type != CONFIG_NIC_TAP)
            continue;
        char *dir = xasprintf("/sys/class/net/%s", nic->ifname);
        char *flags = xasprintf("%s/tun_flags", dir);
        bool exists = ib_path_exists(dir), is_tap = ib_path_exists(flags);
        free(dir);
        free(flags);
        if (!exists)
            return ib_err(err, IB_ENOTFOUND, "device.network.%s: tap interface %s does not "
                          "exist; create it once with: ip tuntap add dev %s mode tap user "
                          "$USER && ip link set %s up", nic->name, nic->ifname, nic->ifname,
                          nic->ifname);
        if (!is_tap)
            return ib_err(err, IB_EINPUT, "device.network.%s: %s exists but is not a tap "
                          "interface", nic->name, nic->ifname);
    }
    return 0;
}

static long long tree_bytes_total;

static int add_bytes(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    tree_bytes_total += (long long)sb->st_blocks * 512 + 4096;
    return 0;
}

/* An ext2 image of a folder (embedded rootfs, SD card), sized to fit. */
static int make_ext2(const char *dir, const char *src, const char *image, const char *label,
                     struct ib_error *err)
{
    tree_bytes_total = 0;
    if (nftw(src, add_bytes, 32, FTW_PHYS) < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot read %s", src);
    long long mib = tree_bytes_total * 13 / 10 / (1024 * 1024) + 16;
    char size[32];
    snprintf(size, sizeof size, "%lldM", mib);
    char *img = run_path(dir, image);
    char *log = run_path(dir, ERR_FILE);
    char *argv[] = {"mke2fs", "-q", "-F", "-t", "ext2", "-L", (char *)label, "-d", (char *)src,
                    img, size, NULL};
    int rc = spawn_tool(argv, log, err);
    free(img);
    free(log);
    return rc;
}

/* A qcow2 layer `name` in dir over base (whose format is base_fmt). */
static int make_layer(const char *dir, const char *name, const char *base, const char *base_fmt,
                      struct ib_error *err)
{
    char *layer = run_path(dir, name);
    char *log = run_path(dir, ERR_FILE);
    char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", (char *)base_fmt, "-b",
                    (char *)base, layer, NULL};
    int rc = spawn_tool(argv, log, err);
    free(layer);
    free(log);
    return rc;
}

/* An extra disk (embedded rootfs, SD card): cold, an ext2 image of the
 * folder under a qcow2 layer; warm, a layer over the warm state's copy. */
static int make_extra_disk(const char *dir, const char *folder, const char *warm_base,
                           const char *layer, const char *base_name, const char *label,
                           struct ib_error *err)
{
    if (warm_base)
        return make_layer(dir, layer, warm_base, "qcow2", err);
    if (make_ext2(dir, folder, base_name, label, err) < 0)
        return -1;
    char *base = run_path(dir, base_name);
    int rc = make_layer(dir, layer, base, "raw", err);
    free(base);
    return rc;
}

static int make_disks(const struct instance_info *info, const struct device *dev,
                      const struct device_resolution *res, const struct warm_state *warm,
                      struct ib_error *err)
{
    if (make_layer(info->dir, QEMU_OVERLAY, warm ? warm->disk : res->hostfs.path,
                   warm ? "qcow2" : "raw", err) < 0)
        return -1;
    if (dev->cfg->guestfs == CONFIG_GUESTFS_EMBED &&
        make_extra_disk(info->dir, res->rootfs.path, warm ? warm->target : NULL,
                        QEMU_TARGET_IMAGE, INSTANCE_TARGET_BASE, QEMU_TARGET_LABEL, err) < 0)
        return -1;
    if (res->sd.path && make_extra_disk(info->dir, res->sd.path, warm ? warm->sd : NULL,
                                        QEMU_SD_IMAGE, INSTANCE_SD_BASE, QEMU_SD_LABEL, err) < 0)
        return -1;
    return 0;
}

/* Starts QEMU with the runtime folder as working directory; -daemonize
 * makes the first process exit once the VM is set up, with status 0, or
 * non-zero after printing why (to qemu.err). */
/* What spawn_qemu, start_in_folder and create_instance return when QEMU
 * daemonized and then quit at once (-1: any other failure). */
enum { START_QEMU_GONE = -2 };

static int spawn_qemu(const struct instance_info *info, const char *device, pid_t *pid_out,
                      struct ib_error *err)
{
    char *errpath = run_path(info->dir, ERR_FILE);
    pid_t pid = fork();
    if (pid < 0) {
        free(errpath);
        return ib_err_sys(err, IB_EFAIL, "fork");
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        int log = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(log >= 0 ? log : devnull, 2);
        if (chdir(info->dir) < 0)
            _exit(126);
        /* Sockets, logs and the overlay: for the owner only. */
        umask(077);
        setenv("PIOTR_GUEST", device, 1);
        setenv("PIOTR_SOCK", info->qga_sock, 1);
        setenv("PIOTR_INSTNAME", info->name, 1);
        execvp(info->argv[0], info->argv);
        dprintf(2, "cannot run %s: %s\n", info->argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char *log = NULL;
        ib_read_file(errpath, 1 << 16, &log, NULL, NULL);
        char *line = last_nonempty_line(log ? log : "");
        ib_err(err, IB_EFAIL, "QEMU refused to start: %s", *line ? line : "(no message)");
        free(line);
        free(log);
        free(errpath);
        return -1;
    }
    free(errpath);
    char *pidpath = run_path(info->dir, QEMU_PIDFILE);
    char *text = NULL;
    int rc = ib_read_file(pidpath, 64, &text, NULL, err);
    bool gone = rc < 0 && access(pidpath, F_OK) < 0 && errno == ENOENT;
    free(pidpath);
    if (gone) {
        /* QEMU removes its pid file when it exits: one that quit at once
         * (say on a warm state's stream it could not load) left nothing. */
        ib_err(err, IB_EFAIL, "QEMU exited right after it started (no message: it had "
               "daemonized)");
        return START_QEMU_GONE;
    }
    if (rc < 0)
        return ib_err_prefix(err, "QEMU started but wrote no pid: ");
    *pid_out = (pid_t)atoi(text);
    free(text);
    return 0;
}

static void copy_forwards(struct instance_info *info, const struct config *cfg, int offset)
{
    info->forwards = xcalloc(cfg->n_redirects + 1, sizeof *info->forwards);
    for (size_t i = 0; i < cfg->n_redirects; i++) {
        struct instance_forward *f = &info->forwards[info->n_forwards++];
        f->proto = cfg->redirects[i].proto;
        f->host_port = cfg->redirects[i].host_port + offset;
        f->guest_port = cfg->redirects[i].guest_port;
        snprintf(f->name, sizeof f->name, "%s", cfg->redirects[i].name);
    }
}

/* Everything of a start that happens inside the new runtime folder. */
static int start_in_folder(const struct device *dev, const struct device_resolution *res,
                           const struct warm_state *warm, const struct instance_start_opts *opts,
                           struct instance_info *info, struct ib_error *err)
{
    const struct config *cfg = dev->cfg;
    ib_trace("start %s: making disks", info->name);
    if (make_disks(info, dev, res, warm, err) < 0)
        return -1;
    ib_trace("start %s: disks ready", info->name);
    if (opts->gdbstub && (info->gdbstub_port = ports_pick_free()) == 0)
        return ib_err(err, IB_EFAIL, "cannot find a free port for the gdbstub");
    struct qemu_argv_input in = {
        .cfg = cfg, .instance = info->name, .dir = info->dir, .kernel = res->kernel.path,
        .initrd = res->initrd.path, .dtb = res->dtb.path, .rootfs = res->rootfs.path,
        .has_sd = res->sd.path != NULL, .port_offset = opts->port_offset,
        .gdbstub_port = info->gdbstub_port, .mapped_xattr = geteuid() != 0,
        .binary = getenv("IOTBENCH_QEMU"), .incoming_file = warm ? warm->ram : NULL,
    };
    if (qemu_argv_build(&in, &info->argv, &info->argc, err) < 0)
        return -1;
    copy_forwards(info, cfg, opts->port_offset);
    int spawned = spawn_qemu(info, dev->alias, &info->pid, err);
    if (spawned < 0)
        return spawned;
    ib_trace("start %s: QEMU runs (pid %d)", info->name, (int)info->pid);
    /* QEMU's -daemonize sets umask 027 before it creates its sockets:
     * tighten them (the 0700 folder already keeps others out). */
    const char *private_files[] = {QEMU_QMP_SOCK, QEMU_QGA_SOCK, QEMU_CONSOLE_SOCK,
                                   QEMU_CONSOLE_LOG, QEMU_PIDFILE};
    for (size_t i = 0; i < IB_ARRAY_LEN(private_files); i++) {
        char *p = run_path(info->dir, private_files[i]);
        chmod(p, 0600);
        free(p);
    }
    info->started_ms = ib_wall_ms();
    info->state = INSTANCE_RUNNING;
    info->warm_made_ms = warm ? warm->made_ms : 0;
    if (write_meta(info, err) < 0) {
        kill(info->pid, SIGKILL);
        return -1;
    }
    return 0;
}

/* A restore: waits until QEMU has loaded the warm state's RAM. A failed
 * load makes QEMU exit, and after -daemonize its message goes nowhere,
 * so the exit itself is the report. */
static int restore_loaded(const struct instance_info *info, struct ib_error *err)
{
    int64_t deadline = ib_now_ms() + RESTORE_TIMEOUT_MS;
    while (ib_now_ms() < deadline) {
        if (!pid_is_our_qemu(info->pid, info->name))
            return ib_err(err, IB_EFAIL, "restoring the warm state of %s failed: QEMU exited "
                          "while loading it (no message: it had daemonized)", info->device);
        json_t *ret = NULL;
        if (qmp_call(info->qmp_sock, "query-status", NULL, 2000, &ret, NULL) == 0) {
            const char *status = json_string_value(json_object_get(ret, "status"));
            bool loading = status == NULL || strcmp(status, "inmigrate") == 0;
            json_decref(ret);
            if (!loading) {
                ib_trace("start %s: warm state loaded", info->name);
                return 0;
            }
        }
        ib_sleep_ms(10);
    }
    return ib_err(err, IB_ETIMEOUT, "restoring the warm state of %s failed: QEMU was still "
                  "loading it after %d s", info->device, RESTORE_TIMEOUT_MS / 1000);
}

/* Waits for the level asked, running target-start on the way when the
 * caller wants the device's services and nothing started them yet. */
static int reach_level(struct instance_info *out, const struct instance_start_opts *opts,
                       bool start_target, enum instance_ready reached, struct ib_error *err)
{
    int timeout = opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
    enum instance_ready want = opts->wait;
    if (!start_target && want <= reached)
        return 0;
    if (start_target) {
        if (instance_wait(out, INSTANCE_READY_AGENT, timeout, err) < 0 ||
            instance_start_target(out, 10000, err) < 0)
            return -1;
    }
    if (want > INSTANCE_READY_NONE)
        return instance_wait(out, want, timeout, err);
    return 0;
}

/* Folder, disks, QEMU; on failure nothing of the instance is left. */
static int create_instance(const struct store *st, const struct device *dev,
                           const struct device_resolution *res, const struct warm_state *warm,
                           const struct instance_start_opts *opts, struct instance_info *out,
                           struct ib_error *err)
{
    char name[80];
    if (choose_name(st, opts->name, name, sizeof name, err) < 0)
        return -1;
    out->name = xstrdup(name);
    out->device = xstrdup(dev->alias);
    out->dir = ib_path_join(st->run, name);
    fill_paths(out);
    /* mkdir is the lock: two starts of the same name cannot both win. */
    if (mkdir(out->dir, 0700) < 0)
        return errno == EEXIST
            ? ib_err(err, IB_ECONFLICT, "an instance named %s exists already", name)
            : ib_err_sys(err, IB_EFAIL, "cannot create %s", out->dir);
    int started = start_in_folder(dev, res, warm, opts, out, err);
    if (started < 0) {
        ib_rm_rf(out->dir, NULL);
        return started;
    }
    return 0;
}

int instance_start(const struct store *st, const char *device,
                   const struct instance_start_opts *opts, struct instance_info *out,
                   struct ib_error *err)
{
    struct instance_start_opts defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    memset(out, 0, sizeof *out);
    struct device *dev;
    if (device_load(st, device, &dev, err) < 0)
        return -1;
    struct device_resolution res;
    struct warm_state warm = {0};
    int found = 0, rc = -1;
    if (device_resolve(st, dev, &res, err) == 0 &&
        check_ports(st, dev->cfg, opts->port_offset, err) == 0 && check_taps(dev->cfg, err) == 0 &&
        (opts->cold || (found = warm_find(st, dev, &res, &warm, &out->notice, err)) >= 0))
        rc = create_instance(st, dev, &res, found == 1 ? &warm : NULL, opts, out, err);
    struct ib_error why = {0};
    bool quit_at_once = rc == START_QEMU_GONE && found == 1;
    if (quit_at_once)
        ib_err(&why, IB_EFAIL, "restoring the warm state of %s failed: QEMU exited at once "
               "(no message: it had daemonized)", dev->alias);
    if (quit_at_once || (rc == 0 && found == 1 && restore_loaded(out, &why) < 0)) {
        /* The warm state did not load (QEMU exited): a cold boot still
         * gives what was asked, and the notice says why it is cold. */
        char *notice = xasprintf("%s; booting cold (iotbench device warm %s to renew it)",
                                 why.msg, dev->alias);
        if (pid_is_our_qemu(out->pid, out->name)) {
            kill(out->pid, SIGKILL); /* only slow: it holds the forwards */
            for (int i = 0; i < 100 && pid_is_our_qemu(out->pid, out->name); i++)
                ib_sleep_ms(20);
        }
        ib_rm_rf(out->dir, NULL);
        instance_info_free(out);
        warm_state_free(&warm);
        found = 0;
        out->notice = notice;
        rc = create_instance(st, dev, &res, NULL, opts, out, err);
    }
    device_resolution_free(&res);
    device_free(dev);
    /* Waiting for target means wanting the services: without this a cold
     * start (the warm state stale or absent) would wait for a target nobody
     * starts, while a restore of a target-level state would reach it. */
    bool start_target = opts->start_target || opts->wait == INSTANCE_READY_TARGET;
    enum instance_ready reached = INSTANCE_READY_NONE;
    if (rc == 0 && found == 1) {
        /* A restored guest: its clock, its shares and maybe its services. */
        bool services_wanted = start_target || warm.level == INSTANCE_READY_TARGET;
        struct warm_state w = warm;
        w.level = services_wanted && !warm.services_saved ? INSTANCE_READY_TARGET
                                                          : INSTANCE_READY_AGENT;
        rc = warm_after_restore(out, &w, err);
        ib_trace("start %s: restored guest set up", out->name);
        start_target = false;
        /* The agent just answered, and target-start succeeded if asked. */
        reached = w.level == INSTANCE_READY_TARGET || warm.services_saved ? INSTANCE_READY_TARGET
                                                                           : INSTANCE_READY_AGENT;
    }
    warm_state_free(&warm);
    if (rc == 0)
        rc = reach_level(out, opts, start_target, reached, err);
    if (rc == 0)
        ib_trace("start %s: reached %s", out->name, instance_ready_name(opts->wait));
    if (rc < 0 && out->name == NULL)
        instance_info_free(out);
    return rc;
}

/* --- stopping ---------------------------------------------------------------------- */

static bool wait_gone(const struct instance_info *info, int timeout_ms)
{
    int64_t deadline = ib_now_ms() + timeout_ms;
    while (pid_is_our_qemu(info->pid, info->name)) {
        if (ib_now_ms() >= deadline)
            return false;
        ib_sleep_ms(20);
    }
    return true;
}

int instance_stop_how(const struct store *st, const char *name, int timeout_ms, bool now,
                      enum instance_stop_way *way, struct ib_error *err)
{
    struct instance_info info;
    enum instance_stop_way how = INSTANCE_STOP_QUIT;
    if (instance_get(st, name, &info, err) < 0)
        return -1;
    if (info.state != INSTANCE_RUNNING)
        how = INSTANCE_STOP_WAS_DEAD;
    /* An agent not up yet (early boot) would make the power-down wait its
     * whole timeout for nothing: ask it first, briefly. */
    if (info.state == INSTANCE_RUNNING && !now && qga_ping(info.qga_sock, 500, NULL) == 0) {
        /* guest-shutdown never answers on success: the agent is gone by
         * then. Its error is not ours to report; the exit tells. */
        qga_call(info.qga_sock, "guest-shutdown", json_pack("{s:s}", "mode", "powerdown"), 1000,
                 NULL, NULL);
        if (wait_gone(&info, timeout_ms > 0 ? timeout_ms : 10000))
            how = INSTANCE_STOP_POWERED_OFF;
    }
    if (pid_is_our_qemu(info.pid, info.name)) {
        qmp_call(info.qmp_sock, "quit", NULL, 2000, NULL, NULL);
        if (!wait_gone(&info, 3000)) {
            how = INSTANCE_STOP_KILLED;
            kill(info.pid, SIGKILL);
            wait_gone(&info, 2000);
        }
    }
    int rc = ib_rm_rf(info.dir, err);
    instance_info_free(&info);
    if (way)
        *way = how;
    return rc;
}

int instance_stop(const struct store *st, const char *name, int timeout_ms, bool now,
                  struct ib_error *err)
{
    return instance_stop_how(st, name, timeout_ms, now, NULL, err);
}
