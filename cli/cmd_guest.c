/*
 * cmd_guest.c - inside a running instance, from the command line:
 * `instance ps|exec|kill|maps|sockets|debug` (Piotr's Instance.ps, exec_host,
 * exec_target, kill, pid and debug), all through core/guestproc and
 * core/debugger.
 *
 * What the guest chose (process names, command lines, paths) and symbol
 * names from the device's ELF files are shown with control characters
 * escaped (core/safetext), so a process cannot drive the user's
 * terminal through a listing; JSON output carries it escaped, as valid
 * UTF-8. `instance exec` is the exception: its output is the user's own
 * command's and goes out raw, byte for byte (like ssh or docker exec), so
 * that binary output can be piped.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/debugger.h"
#include "core/guestproc.h"
#include "core/instance.h"
#include "core/safetext.h"
#include "core/util.h"

#define AGENT_TIMEOUT_MS 10000
#define MAX_STDIN (8u << 20)

/* ---- output helpers ---- */

/* For a terminal: valid printable UTF-8 kept, every other byte as \xHH. */
static char *display(const char *s)
{
    return safetext_str(s);
}

/* A JSON string from guest bytes: invalid UTF-8 becomes U+FFFD. */
static json_t *json_bytes(const char *s, size_t n)
{
    char *buf = xmalloc(n * 3 + 1), *w = buf;
    for (size_t i = 0; i < n;) {
        size_t l = safetext_utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0 || (l == 1 && s[i] == '\0')) {
            memcpy(w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
            continue;
        }
        memcpy(w, s + i, l);
        w += l;
        i += l;
    }
    json_t *v = json_stringn(buf, (size_t)(w - buf));
    free(buf);
    return v ? v : json_string("");
}

static json_t *json_text(const char *s)
{
    return json_bytes(s, strlen(s));
}

static int parse_num(struct cli_ctx *ctx, const char *what, const char *s, long long min,
                     long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end || end == s || v < min || v > max)
        return ib_err(&ctx->err, IB_EINPUT, "%s expects a number from %lld to %lld, got \"%s\"",
                      what, min, max, s);
    *out = v;
    return 0;
}

static int get_instance(struct cli_ctx *ctx, const char *name, struct instance_info *info)
{
    struct store *st = cli_store(ctx);
    if (st == NULL || instance_get(st, name, info, &ctx->err) < 0)
        return -1;
    if (info->state != INSTANCE_RUNNING) {
        ib_err(&ctx->err, IB_ECONFLICT, "instance %s is not running (%s)", name,
               info->dead_reason ? info->dead_reason : "dead");
        instance_info_free(info);
        return -1;
    }
    return 0;
}

/* A pid, or the single process of that name or path. */
static int resolve_pid(struct cli_ctx *ctx, const struct instance_info *info, const char *what,
                       int *pid)
{
    char *end;
    errno = 0;
    long v = strtol(what, &end, 10);
    if (*end == '\0' && end != what && errno == 0) {
        if (v <= 0 || v > 4194304)
            return ib_err(&ctx->err, IB_EINPUT, "bad pid \"%s\"", what);
        *pid = (int)v;
        return 0;
    }
    struct guestproc_snapshot snap;
    if (guestproc_list_sync(info->qga_sock, AGENT_TIMEOUT_MS, &snap, &ctx->err) < 0)
        return -1;
    int rc = guestproc_find_one(&snap, what, pid, &ctx->err);
    guestproc_snapshot_free(&snap);
    return rc;
}

/* ---- ps ---- */

static const char *where_label(const struct guestproc *p)
{
    return p->kthread ? "kernel" : guestproc_where_name(p->where);
}

static json_t *proc_json(const struct guestproc *p)
{
    json_t *argv = json_array();
    for (size_t i = 0; i < p->argc; i++)
        json_array_append_new(argv, json_text(p->argv[i]));
    char state[2] = {p->state, '\0'};
    json_t *o = json_pack("{s:i, s:i, s:o, s:o, s:f, s:I, s:I, s:i, s:i, s:s, s:b, s:o, s:o, "
                          "s:o}",
                          "pid", p->pid, "ppid", p->ppid, "user", json_text(p->user), "state",
                          json_text(state), "cpu", p->cpu, "rss_kb", (json_int_t)p->rss_kb, "vsize",
                          (json_int_t)p->vsize, "threads", p->threads, "nice", p->nice, "where",
                          where_label(p), "kthread", p->kthread, "comm", json_text(p->comm), "argv",
                          argv, "cmdline", json_text(p->cmdline));
    json_object_set_new(o, "uid",
                        p->uid == GUESTPROC_UID_UNKNOWN ? json_null() : json_integer(p->uid));
    return o;
}

static int cmd_ps(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *json = NULL, *nokernel = NULL;
    const struct cli_opt opts[] = {
        {"--json", false, &json}, {"--no-kernel", false, &nokernel}, {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct instance_info info;
    if (get_instance(ctx, pos[0], &info) < 0)
        return -1;
    struct guestproc_snapshot snap;
    rc = guestproc_list_sync(info.qga_sock, AGENT_TIMEOUT_MS, &snap, &ctx->err);
    instance_info_free(&info);
    if (rc < 0)
        return -1;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < snap.n; i++)
            if (!nokernel || !snap.procs[i].kthread)
                json_array_append_new(arr, proc_json(&snap.procs[i]));
        cli_print_json(arr);
    } else {
        printf("%6s %6s %-9s %s %5s %8s %-7s %s\n", "PID", "PPID", "USER", "S", "%CPU", "RSS",
               "WHERE", "COMMAND");
        for (size_t i = 0; i < snap.n; i++) {
            const struct guestproc *p = &snap.procs[i];
            if (nokernel && p->kthread)
                continue;
            char *user = display(p->user), *cmdline = display(p->cmdline);
            char rss[32];
            cli_format_size((long long)p->rss_kb * 1024, rss, sizeof rss);
            printf("%6d %6d %-9.9s %c %5.1f %8s %-7s %s\n", p->pid, p->ppid, user,
                   isprint((unsigned char)p->state) ? p->state : '?', p->cpu, p->rss_kb ? rss : "-",
                   where_label(p), cmdline);
            free(user);
            free(cmdline);
        }
    }
    guestproc_snapshot_free(&snap);
    return 0;
}

/* ---- exec ---- */

static int read_input(struct cli_ctx *ctx, const char *path, char **data, size_t *len)
{
    if (strcmp(path, "-") != 0)
        return ib_read_file(path, MAX_STDIN, data, len, &ctx->err);
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_STDIN) {
                free(buf);
                return ib_err(&ctx->err, IB_EINPUT, "standard input is larger than %u MiB",
                              MAX_STDIN >> 20);
            }
            buf = xrealloc(buf, cap *= 2);
        }
        ssize_t r = read(0, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return ib_err_sys(&ctx->err, IB_EFAIL, "reading standard input");
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *data = buf;
    *len = n;
    return 0;
}

static int cmd_exec(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *target = NULL, *timeout = NULL, *input = NULL;
    const struct cli_opt opts[] = {{"--target", false, &target},
                                   {"--timeout", true, &timeout},
                                   {"--stdin-file", true, &input},
                                   {NULL, false, NULL}};
    char **pos = xcalloc((size_t)argc + 1, sizeof *pos);
    int n = 0;
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 2, argc, &n);
    if (rc != 0) {
        free(pos);
        return rc < 0 ? -1 : 0;
    }
    long long secs = 30;
    struct guestproc_exec_opts o = {.target = target != NULL};
    char *data = NULL;
    size_t len = 0;
    struct instance_info info;
    if ((timeout && parse_num(ctx, "--timeout", timeout, 1, 86400, &secs) < 0) ||
        (input && read_input(ctx, input, &data, &len) < 0) ||
        get_instance(ctx, pos[0], &info) < 0) {
        free(pos);
        free(data);
        return -1;
    }
    o.timeout_ms = (int)secs * 1000;
    o.stdin_data = data;
    o.stdin_len = len;
    if (input && data == NULL)
        o.stdin_data = "";
    struct guestproc_exec_result r;
    rc = guestproc_exec_sync(info.qga_sock, (const char *const *)pos + 1, &o, &r, &ctx->err);
    instance_info_free(&info);
    free(pos);
    free(data);
    if (rc < 0)
        return -1;
    fwrite(r.out, 1, r.out_len, stdout);
    fflush(stdout);
    fwrite(r.err, 1, r.err_len, stderr);
    if (r.out_truncated || r.err_truncated)
        fprintf(stderr, "iotbench: the agent cut the command's output (it keeps 16 MiB)\n");
    int status = r.exit_code;
    if (r.timed_out) {
        fprintf(stderr, "iotbench: the command ran past %lld s and was killed in the guest\n",
                secs);
        status = 124; /* as timeout(1) */
    } else if (r.signal > 0) {
        status = 128 + r.signal;
    }
    guestproc_exec_result_free(&r);
    return status < 0 || status > 255 ? 1 : status;
}

/* ---- kill ---- */

static int cmd_kill(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *sig = NULL;
    const struct cli_opt opts[] = {
        {"-s", true, &sig}, {"--signal", true, &sig}, {NULL, false, NULL}};
    char *pos[2];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 2, 2, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    int signo = sig ? guestproc_signal_parse(sig) : 15;
    if (signo < 0)
        return ib_err(&ctx->err, IB_EINPUT,
                      "unknown signal \"%s\" (give a number or a name "
                      "like TERM, KILL, HUP)",
                      sig);
    struct instance_info info;
    if (get_instance(ctx, pos[0], &info) < 0)
        return -1;
    int pid;
    rc = resolve_pid(ctx, &info, pos[1], &pid);
    if (rc == 0)
        rc = guestproc_kill_sync(info.qga_sock, pid, signo, AGENT_TIMEOUT_MS, &ctx->err);
    instance_info_free(&info);
    if (rc < 0)
        return -1;
    const char *name = guestproc_signal_name(signo);
    printf("sent %s%s to process %d\n", name ? "SIG" : "signal ", name ? name : sig, pid);
    return 0;
}

/* ---- maps, sockets ---- */

/* The path as the process sees it (a device process's "/target/x" is "/x"). */
static const char *seen_path(const struct guestproc_maps *m, const char *path)
{
    size_t n = strlen(GUESTPROC_TARGET_ROOT);
    if (m->where == GUESTPROC_DEVICE && strncmp(path, GUESTPROC_TARGET_ROOT, n) == 0 &&
        path[n] == '/')
        return path + n;
    return path;
}

/* INSTANCE PID|NAME [--json], the start of maps and sockets: 1 after -h,
 * -1 on error; on 0, *qga is the agent's socket (free it) and *pid set. */
static int instance_and_pid(struct cli_ctx *ctx, const struct cli_command *cmd, int argc,
                            char **argv, char **qga, int *pid, bool *json)
{
    const char *want_json = NULL;
    const struct cli_opt opts[] = {{"--json", false, &want_json}, {NULL, false, NULL}};
    char *pos[2];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 2, 2, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 1;
    struct instance_info info;
    if (get_instance(ctx, pos[0], &info) < 0)
        return -1;
    rc = resolve_pid(ctx, &info, pos[1], pid);
    if (rc == 0)
        *qga = xstrdup(info.qga_sock);
    instance_info_free(&info);
    *json = want_json != NULL;
    return rc < 0 ? -1 : 0;
}

static int cmd_maps(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    char *qga = NULL;
    int pid;
    bool json;
    int rc = instance_and_pid(ctx, cmd, argc, argv, &qga, &pid, &json);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct guestproc_maps m = {0};
    rc = guestproc_maps_sync(qga, pid, AGENT_TIMEOUT_MS, &m, &ctx->err);
    free(qga);
    if (rc < 0)
        return -1;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < m.n; i++) {
            const struct guestproc_map *e = &m.v[i];
            char dev[16];
            snprintf(dev, sizeof dev, "%02x:%02x", e->dev_major, e->dev_minor);
            json_array_append_new(
                arr, json_pack("{s:I, s:I, s:s, s:I, s:s, s:I, s:o, s:o, s:b}", "start",
                               (json_int_t)e->start, "end", (json_int_t)e->end, "perms", e->perms,
                               "offset", (json_int_t)e->offset, "dev", dev, "inode",
                               (json_int_t)e->inode, "path", json_text(seen_path(&m, e->path)),
                               "host_path", json_text(e->path), "deleted", e->deleted));
        }
        json_t *o = json_pack("{s:i, s:s, s:o}", "pid", pid, "where", guestproc_where_name(m.where),
                              "maps", arr);
        if (m.exe)
            json_object_set_new(o, "exe", json_text(seen_path(&m, m.exe)));
        cli_print_json(o);
    } else {
        char *exe = display(m.exe ? seen_path(&m, m.exe) : "?");
        printf("process %d (%s), executable %s\n", pid, guestproc_where_name(m.where), exe);
        free(exe);
        printf("%-17s %-4s %-8s %-5s %-10s %s\n", "ADDRESS", "PERM", "OFFSET", "DEV", "INODE",
               "PATH");
        for (size_t i = 0; i < m.n; i++) {
            const struct guestproc_map *e = &m.v[i];
            char *path = display(seen_path(&m, e->path));
            printf("%08" PRIx64 "-%08" PRIx64 " %-4s %08" PRIx64 " %02x:%02x %-10" PRIu64 " %s%s\n",
                   e->start, e->end, e->perms, e->offset, e->dev_major, e->dev_minor, e->inode,
                   path, e->deleted ? " (deleted)" : "");
            free(path);
        }
    }
    guestproc_maps_free(&m);
    return 0;
}

static void endpoint(char *buf, size_t cap, const char *addr, int port, bool v6)
{
    if (addr[0] == '\0')
        snprintf(buf, cap, "-");
    else if (v6)
        snprintf(buf, cap, "[%s]:%d", addr, port);
    else
        snprintf(buf, cap, "%s:%d", addr, port);
}

static int cmd_sockets(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    char *qga = NULL;
    int pid;
    bool json;
    int rc = instance_and_pid(ctx, cmd, argc, argv, &qga, &pid, &json);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct guestproc_sockets s = {0};
    rc = guestproc_sockets_sync(qga, pid, AGENT_TIMEOUT_MS, &s, &ctx->err);
    free(qga);
    if (rc < 0)
        return -1;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < s.n; i++) {
            const struct guestproc_socket *k = &s.v[i];
            json_t *o =
                json_pack("{s:i, s:I, s:s, s:s}", "fd", k->fd, "inode", (json_int_t)k->inode,
                          "proto", guestproc_sock_proto_name(k->proto), "state", k->state);
            if (k->proto == GUESTPROC_UNIX) {
                json_object_set_new(o, "type", json_string(k->local));
                json_object_set_new(o, "path", json_text(k->path ? k->path : ""));
            } else if (k->proto != GUESTPROC_SOCK_OTHER) {
                json_object_set_new(o, "local", json_string(k->local));
                json_object_set_new(o, "local_port", json_integer(k->local_port));
                json_object_set_new(o, "remote", json_string(k->remote));
                json_object_set_new(o, "remote_port", json_integer(k->remote_port));
            }
            json_array_append_new(arr, o);
        }
        cli_print_json(json_pack("{s:i, s:o}", "pid", pid, "sockets", arr));
    } else {
        printf("%4s %-5s %-24s %-24s %-12s %s\n", "FD", "PROTO", "LOCAL", "REMOTE", "STATE",
               "INODE/PATH");
        for (size_t i = 0; i < s.n; i++) {
            const struct guestproc_socket *k = &s.v[i];
            char l[96], r[96];
            bool v6 = k->proto == GUESTPROC_TCP6 || k->proto == GUESTPROC_UDP6;
            if (k->proto == GUESTPROC_UNIX) {
                char *path = display(k->path && k->path[0] ? k->path : "(unnamed)");
                printf("%4d %-5s %-24s %-24s %-12s %s\n", k->fd, "unix", k->local, "-", k->state,
                       path);
                free(path);
                continue;
            }
            endpoint(l, sizeof l, k->local, k->local_port, v6);
            endpoint(r, sizeof r, k->remote, k->remote_port, v6);
            printf("%4d %-5s %-24s %-24s %-12s %" PRIu64 "\n", k->fd,
                   guestproc_sock_proto_name(k->proto), l, r, k->state[0] ? k->state : "-",
                   k->inode);
        }
        if (s.n == 0)
            printf("(process %d has no open sockets)\n", pid);
    }
    guestproc_sockets_free(&s);
    return 0;
}

/* ---- debug ---- */

static const char *reason_name(enum debugger_stop_reason r)
{
    static const char *const names[] = {"breakpoint", "step", "signal", "exited", "killed"};
    return (unsigned)r < IB_ARRAY_LEN(names) ? names[r] : "?";
}

static json_t *stop_json(const struct debugger_stop *s)
{
    json_t *o = json_pack("{s:s, s:i}", "reason", reason_name(s->reason), "signal", s->signal);
    if (s->reason == DEBUGGER_STOP_EXITED)
        json_object_set_new(o, "exit_code", json_integer(s->exit_code));
    if (s->have_pc) {
        json_object_set_new(o, "pc", json_integer((json_int_t)s->pc));
        json_object_set_new(o, "where", json_text(s->where));
    }
    return o;
}

/* s->where holds a symbol name from the device's (untrusted) ELF files. */
static void print_stop(const char *what, const struct debugger_stop *s)
{
    char *where = display(s->where);
    if (s->reason == DEBUGGER_STOP_EXITED || s->reason == DEBUGGER_STOP_KILLED)
        printf("%s: %s\n", what, where);
    else if (s->have_pc)
        printf("%s: %s (signal %d) at 0x%08" PRIx64 " %s\n", what, reason_name(s->reason),
               s->signal, s->pc, where);
    else
        printf("%s: %s (signal %d)\n", what, reason_name(s->reason), s->signal);
    free(where);
}

/* "name+0x10" when a symbol covers addr, escaped for the terminal. */
static bool sym_name(struct debugger *d, uint64_t addr, char *buf, size_t cap)
{
    struct symbol s;
    if (!symbols_at(debugger_symbols(d), addr, &s, NULL))
        return false;
    symbols_format(debugger_symbols(d), addr, buf, cap);
    char *safe = display(buf);
    snprintf(buf, cap, "%s", safe);
    free(safe);
    return true;
}

/* An address: a register name, a symbol (+off) or a number. */
static int parse_addr(struct debugger *d, const char *s, uint64_t *addr, struct ib_error *err)
{
    uint64_t v;
    if (debugger_reg_read(d, s, &v, NULL) == 0) {
        *addr = v;
        return 0;
    }
    bool thumb;
    return symbols_parse_location(debugger_symbols(d), s, addr, &thumb, err);
}

struct debug_args {
    const char *brk, *wait, *regs, *step, *disasm, *json, *system;
    const char *mem_addr, *mem_len;
};

static int debug_session(struct cli_ctx *ctx, struct debugger *d, const struct debug_args *a,
                         json_t *out)
{
    struct ib_error *err = &ctx->err;
    long long wait_s = 30, steps = 0, ninsn = 0, mem_len = 0;
    if ((a->wait && parse_num(ctx, "--wait", a->wait, 0, 86400, &wait_s) < 0) ||
        (a->step && parse_num(ctx, "--step", a->step, 1, 100000, &steps) < 0) ||
        (a->disasm && parse_num(ctx, "--disasm", a->disasm, 1, 200, &ninsn) < 0) ||
        (a->mem_len && parse_num(ctx, "--mem LEN", a->mem_len, 1, 65536, &mem_len) < 0))
        return -1;
    struct debugger_stop stop;
    if (debugger_last_stop(d, &stop)) {
        if (out)
            json_object_set_new(out, "attach_stop", stop_json(&stop));
        else if (stop.have_pc) {
            char *where = display(stop.where);
            printf("stopped at 0x%08" PRIx64 " %s\n", stop.pc, where);
            free(where);
        }
    }
    if (a->brk) {
        struct debugger_bp bp;
        if (debugger_break(d, a->brk, &bp, err) < 0)
            return -1;
        if (out)
            json_object_set_new(out, "breakpoint",
                                json_pack("{s:I, s:o, s:b}", "addr", (json_int_t)bp.addr, "where",
                                          json_text(bp.where), "thumb", bp.thumb));
        else {
            char *where = display(bp.where);
            printf("breakpoint at 0x%08" PRIx64 " %s (%s)\n", bp.addr, where,
                   bp.thumb ? "thumb" : "arm");
            free(where);
        }
    }
    if (a->brk || a->wait) {
        if (!out) {
            printf("continuing; waiting up to %lld s for a stop\n", wait_s);
            fflush(stdout);
        }
        if (debugger_cont(d, err) < 0)
            return -1;
        if (debugger_wait(d, (int)wait_s * 1000, &stop, err) < 0) {
            if (err->status != IB_ETIMEOUT)
                return -1;
            /* Stop it again so the detach is clean, and say so. */
            struct ib_error e2;
            debugger_interrupt(d, &e2);
            debugger_wait(d, 3000, NULL, &e2);
            return ib_err(err, IB_ETIMEOUT, "no stop within %lld s%s%s", wait_s,
                          a->brk ? ": the breakpoint at " : "", a->brk ? a->brk : "");
        }
        if (out)
            json_object_set_new(out, "stop", stop_json(&stop));
        else
            print_stop("stopped", &stop);
        if (stop.reason == DEBUGGER_STOP_EXITED || stop.reason == DEBUGGER_STOP_KILLED)
            return 0;
    }
    if (steps > 0) {
        json_t *arr = out ? json_array() : NULL;
        for (long long i = 0; i < steps; i++) {
            if (debugger_step(d, &stop, err) < 0) {
                json_decref(arr);
                return -1;
            }
            if (arr)
                json_array_append_new(arr, stop_json(&stop));
            else
                print_stop("step", &stop);
            if (stop.reason == DEBUGGER_STOP_EXITED || stop.reason == DEBUGGER_STOP_KILLED)
                break;
        }
        if (arr)
            json_object_set_new(out, "steps", arr);
    }
    if (a->regs) {
        struct rsp_arm_regs regs;
        if (debugger_regs(d, &regs, err) < 0)
            return -1;
        static const char *const names[17] = {"r0",  "r1", "r2", "r3", "r4",  "r5",
                                              "r6",  "r7", "r8", "r9", "r10", "r11",
                                              "r12", "sp", "lr", "pc", "cpsr"};
        json_t *o = out ? json_object() : NULL;
        for (int i = 0; i < 17; i++) {
            uint32_t v = i < 16 ? regs.r[i] : regs.cpsr;
            if (o) {
                json_object_set_new(o, names[i], json_integer(v));
                continue;
            }
            char sym[160] = "";
            if ((i == 14 || i == 15) && !sym_name(d, v, sym, sizeof sym))
                sym[0] = '\0';
            printf("%-4s 0x%08x%s%s%s", names[i], v, sym[0] ? " <" : "", sym, sym[0] ? ">" : "");
            printf(i % 4 == 3 || i >= 13 ? "\n" : "   ");
        }
        if (o)
            json_object_set_new(out, "registers", o);
        else
            printf("mode %s, %s\n", (regs.cpsr & 0x20) ? "thumb" : "arm",
                   debugger_is_system(d) ? "whole system (QEMU gdbstub)" : "user process");
    }
    if (a->mem_addr) {
        uint64_t addr;
        if (parse_addr(d, a->mem_addr, &addr, err) < 0)
            return -1;
        uint8_t *buf = xmalloc((size_t)mem_len);
        size_t got = 0;
        if (debugger_mem_read(d, addr, buf, (size_t)mem_len, &got, err) < 0) {
            free(buf);
            return -1;
        }
        if (out) {
            char *hex = xmalloc(got * 2 + 1);
            for (size_t i = 0; i < got; i++)
                snprintf(hex + 2 * i, 3, "%02x", buf[i]);
            json_object_set_new(out, "memory",
                                json_pack("{s:I, s:s, s:I}", "addr", (json_int_t)addr, "hex", hex,
                                          "length", (json_int_t)got));
            free(hex);
        } else {
            for (size_t i = 0; i < got; i += 16) {
                printf("%08" PRIx64 "  ", addr + i);
                for (size_t k = 0; k < 16; k++)
                    printf(i + k < got ? "%02x " : "   ", buf[i + k]);
                printf(" ");
                for (size_t k = 0; k < 16 && i + k < got; k++)
                    putchar(buf[i + k] >= 0x20 && buf[i + k] < 0x7f ? buf[i + k] : '.');
                printf("\n");
            }
            if (got < (size_t)mem_len)
                printf("(only %zu of %lld bytes are readable)\n", got, mem_len);
        }
        free(buf);
    }
    if (ninsn > 0) {
        struct disasm_insn insn[200];
        size_t pc_at = 0, before = (size_t)ninsn / 4;
        size_t n = debugger_disasm(d, 0, before, (size_t)ninsn - before, insn, IB_ARRAY_LEN(insn),
                                   &pc_at, err);
        if (n == 0)
            return -1;
        json_t *arr = out ? json_array() : NULL;
        for (size_t i = 0; i < n; i++) {
            char bytes[16] = "";
            for (size_t k = 0; k < (insn[i].size ? insn[i].size : 4) && k < 4; k++)
                snprintf(bytes + 2 * k, 3, "%02x", insn[i].bytes[k]);
            if (arr) {
                json_array_append_new(arr,
                                      json_pack("{s:I, s:s, s:o, s:b}", "addr",
                                                (json_int_t)insn[i].addr, "bytes", bytes, "text",
                                                json_text(insn[i].text), "pc", i == pc_at));
                continue;
            }
            char sym[160];
            if (!sym_name(d, insn[i].addr, sym, sizeof sym))
                sym[0] = '\0';
            printf("%s %08" PRIx64 " %-24.24s %-8s  %s\n", i == pc_at ? "=>" : "  ", insn[i].addr,
                   sym, bytes, insn[i].text);
        }
        if (arr)
            json_object_set_new(out, "disasm", arr);
    }
    return 0;
}

static int cmd_debug(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    struct debug_args a = {0};
    /* --mem takes two values: lift them out before the generic parser. */
    char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--mem") == 0) {
            if (i + 2 >= argc) {
                free(rest);
                return ib_err(&ctx->err, IB_EINPUT, "--mem needs ADDR and LEN");
            }
            a.mem_addr = argv[i + 1];
            a.mem_len = argv[i + 2];
            i += 2;
            continue;
        }
        rest[nrest++] = argv[i];
    }
    const struct cli_opt opts[] = {{"--break", true, &a.brk},      {"--wait", true, &a.wait},
                                   {"--regs", false, &a.regs},     {"--step", true, &a.step},
                                   {"--disasm", true, &a.disasm},  {"--json", false, &a.json},
                                   {"--system", false, &a.system}, {NULL, false, NULL}};
    char *pos[2];
    int n = 0;
    int rc = cli_parse(ctx, cmd, nrest, rest, opts, pos, 1, 2, &n);
    free(rest);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if ((n == 2) == (a.system != NULL))
        return ib_err(&ctx->err, IB_EINPUT,
                      "give a PID or process name, or --system for the "
                      "whole VM (QEMU's gdbstub)");
    struct instance_info info;
    if (get_instance(ctx, pos[0], &info) < 0)
        return -1;
    struct debugger *d = NULL;
    int pid = 0;
    int64_t t0 = ib_now_ms();
    if (a.system) {
        rc = debugger_attach_system(&info, NULL, &d, &ctx->err);
    } else {
        rc = resolve_pid(ctx, &info, pos[1], &pid);
        if (rc == 0)
            rc = debugger_attach(cli_store(ctx), &info, pid, NULL, &d, &ctx->err);
    }
    instance_info_free(&info);
    if (rc < 0)
        return -1;
    json_t *out = a.json ? json_object() : NULL;
    if (out) {
        json_object_set_new(out, "pid", json_integer(pid));
        json_object_set_new(out, "system", json_boolean(a.system != NULL));
        json_object_set_new(out, "attach_ms", json_integer(ib_now_ms() - t0));
        if (debugger_notes(d))
            json_object_set_new(out, "notes", json_text(debugger_notes(d)));
    } else {
        if (a.system)
            printf("attached to QEMU's gdbstub on 127.0.0.1:%d (the VM is paused)\n",
                   debugger_port(d));
        else
            printf("attached to process %d through gdbserver on 127.0.0.1:%d (%zu symbols)\n", pid,
                   debugger_port(d), symbols_count(debugger_symbols(d)));
        if (debugger_notes(d) && debugger_notes(d)[0]) {
            char *notes = display(debugger_notes(d));
            printf("note: %s\n", notes);
            free(notes);
        }
    }
    rc = debug_session(ctx, d, &a, out);
    struct ib_error derr = {0};
    int drc = debugger_detach(d, &derr);
    if (rc == 0 && drc < 0) {
        ctx->err = derr;
        rc = -1;
    } else if (rc < 0 && drc < 0 && strstr(ctx->err.msg, derr.msg) == NULL) {
        /* A lost session: what the detach found (the process's fate). */
        size_t len = strlen(ctx->err.msg);
        snprintf(ctx->err.msg + len, sizeof ctx->err.msg - len, "; %s", derr.msg);
    }
    if (out) {
        json_object_set_new(out, "detached", json_boolean(drc == 0));
        if (rc < 0)
            json_object_set_new(out, "error", json_text(ctx->err.msg));
        cli_print_json(out);
    } else if (drc == 0) {
        printf("detached%s\n", a.system ? " (the VM runs again)" : " (the process runs on)");
    }
    return rc;
}

const struct cli_command cli_guest_commands[] = {
    {"instance", "ps", "INSTANCE [--json] [--no-kernel]",
     "list the guest's processes: host system or device, user, CPU %, memory", cmd_ps},
    {"instance", "exec", "INSTANCE [--target] [--timeout S] [--stdin-file F|-] -- CMD...",
     "run a command in the host system (--target: inside the device); its exit code is "
     "iotbench's (124 on timeout)",
     cmd_exec},
    {"instance", "kill", "INSTANCE PID|NAME [-s SIG]",
     "send a signal (default TERM) to a guest process", cmd_kill},
    {"instance", "maps", "INSTANCE PID|NAME [--json]", "show a guest process's memory maps",
     cmd_maps},
    {"instance", "sockets", "INSTANCE PID|NAME [--json]",
     "show a guest process's open sockets (tcp, udp, unix)", cmd_sockets},
    {"instance", "debug",
     "INSTANCE PID|NAME [--break SYM|ADDR] [--wait S] [--step N] [--regs] [--mem ADDR LEN] "
     "[--disasm N] [--json] | INSTANCE --system [--regs] [--mem ADDR LEN] [--disasm N]",
     "attach gdbserver (or QEMU's gdbstub with --system), do the asked steps, detach", cmd_debug},
    {NULL, NULL, NULL, NULL, NULL},
};
