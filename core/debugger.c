/*
 * debugger.c - gdbserver and gdbstub sessions; see debugger.h.
 *
 * Attaching is a small state machine on the loop: the forward (QMP) and
 * gdbserver's start (agent) go out together, the agent then reads the
 * maps, and once both the forward and gdbserver exist the rsp client
 * probes the port until gdbserver answers - a slirp forward accepts a
 * connection even when nothing listens in the guest, then closes it, so
 * only a real answer counts. A failed attach undoes what it set up in the
 * background (the "janitor"): kill gdbserver, SIGCONT the process it had
 * stopped, remove the forward.
 */
#include "core/debugger.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "core/device.h"
#include "core/guestproc.h"
#include "core/ports.h"
#include "core/qga.h"
#include "core/qmp.h"
#include "core/safetext.h"
#include "core/util.h"

#define PROBE_RETRY_MS 40

static const char SERVER_SCRIPT[] =
    "if [ \"$1\" = \"$PPID\" ]; then\n"
    "  echo \"process $1 is the guest agent: stopping it would cut iotbench off the guest\" >&2\n"
    "  exit 1\n"
    "fi\n"
    "exec gdbserver $3 --attach \"$2\" \"$1\"\n";
#define GDB_SIGTRAP 5

struct debugger {
    struct loop *lp;
    bool own_loop;
    struct rsp *r;
    struct symbols *sy;
    char *notes;
    int pid;
    bool system;
    int host_port, guest_port;
    char netdev[32];
    char *qmp_sock, *qga_sock;
    char *instance; /* its name and QEMU's pid: a lost connection checks whether it died */
    pid_t qemu_pid;
    int64_t server_pid; /* gdbserver in the guest, 0 unknown */
    int op_timeout;
    struct debugger_bp *bps;
    size_t n_bps;
    uint8_t *regs; /* 'g' bytes while stopped, NULL when stale */
    size_t regs_len;
    struct debugger_stop last;
    bool have_last;
    bool running, stepping, stop_pending;
    bool interrupting; /* an interrupt was sent and its stop not seen yet */
    struct debugger_stop pending;
    /* A breakpoint taken out for a step that did not end (the step went
     * into a blocking system call): it goes back in at the next stop. */
    bool have_bp_out;
    uint64_t bp_out_addr;
    int bp_out_kind;
};

static int janitors; /* background clean-ups still running (blocking callers wait) */

/* ---- small helpers ---- */

const char *debugger_user_netdev(char *const *argv, size_t argc, char *buf, size_t cap)
{
    for (size_t i = 0; i + 1 < argc && argv[i] != NULL; i++) {
        if (strcmp(argv[i], "-netdev") != 0 || strncmp(argv[i + 1], "user,", 5) != 0)
            continue;
        const char *id = strstr(argv[i + 1], ",id=");
        if (id == NULL)
            continue;
        id += 4;
        size_t n = strcspn(id, ",");
        if (n == 0 || n >= cap)
            continue;
        memcpy(buf, id, n);
        buf[n] = '\0';
        return buf;
    }
    return NULL;
}

static struct debugger *debugger_new(struct loop *lp, bool own_loop)
{
    struct debugger *d = xcalloc(1, sizeof *d);
    d->lp = lp;
    d->own_loop = own_loop;
    d->op_timeout = 5000;
    d->sy = symbols_new();
    return d;
}

static void debugger_free(struct debugger *d)
{
    if (d == NULL)
        return;
    if (d->r != NULL)
        rsp_close(d->r);
    symbols_free(d->sy);
    free(d->notes);
    free(d->qmp_sock);
    free(d->qga_sock);
    free(d->instance);
    free(d->bps);
    free(d->regs);
    if (d->own_loop)
        loop_free(d->lp);
    free(d);
}

/* QEMU still there: a zombie does not count. */
static bool qemu_alive(pid_t pid)
{
    char path[64], *stat = NULL;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (pid <= 0 || ib_read_file(path, 4096, &stat, NULL, NULL) < 0)
        return false;
    const char *paren = strrchr(stat, ')');
    bool alive = paren != NULL && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
    free(stat);
    return alive;
}

static int instance_died(struct debugger *d, struct ib_error *err)
{
    return ib_err(err, IB_EFAIL, "instance %s died (its QEMU, pid %d, is gone): the debugging "
                  "session is over", d->instance ? d->instance : "?", (int)d->qemu_pid);
}

/* A request failed. When the connection was closed, says why: the whole
 * instance died, or gdbserver alone ended. QEMU closes our connection as
 * it exits: give it a moment to be gone before deciding. (A stub that
 * stopped answering - a timeout - keeps its own message.) */
static int lost(struct debugger *d, struct ib_error *err)
{
    struct ib_error e;
    if (err == NULL || d->r == NULL || !rsp_failed(d->r, &e))
        return -1;
    bool closed = e.status != IB_ETIMEOUT;
    for (int i = 0; closed && i < 10 && qemu_alive(d->qemu_pid); i++)
        ib_sleep_ms(50);
    if (d->qemu_pid > 0 && !qemu_alive(d->qemu_pid))
        return instance_died(d, err);
    if (closed && !d->system)
        return ib_err(err, IB_EFAIL, "%s: gdbserver ended in the guest (killed?); the session "
                      "is over", e.msg);
    return -1;
}

static void on_any_stop(struct rsp *r, const struct rsp_stop *stop, const struct ib_error *err,
                        void *arg)
{
    (void)r;
    struct debugger *d = arg;
    if (err != NULL || stop == NULL)
        return;
    free(d->regs);
    d->regs = NULL;
    debugger_describe_stop(d, stop, d->stepping, &d->pending);
    d->last = d->pending;
    d->have_last = true;
    d->stop_pending = true;
    d->running = false;
}

static void stop_pc(struct debugger *d, const struct rsp_stop *raw, uint64_t *pc, bool *have)
{
    const struct rsp_reg *g = d->r ? rsp_reg_find(d->r, "pc") : NULL;
    *have = false;
    for (size_t i = 0; g && i < raw->n_regs; i++) {
        if (raw->regs[i].regnum != g->regnum || raw->regs[i].len < 4)
            continue;
        uint64_t v = 0;
        for (size_t k = 0; k < raw->regs[i].len && k < 8; k++)
            v |= (uint64_t)raw->regs[i].bytes[k] << (8 * k);
        *pc = v;
        *have = true;
    }
}

void debugger_describe_stop(struct debugger *d, const struct rsp_stop *raw, bool stepping,
                            struct debugger_stop *out)
{
    memset(out, 0, sizeof *out);
    out->raw = *raw;
    out->signal = raw->signal;
    out->exit_code = raw->exit_code;
    if (raw->kind == RSP_STOP_EXITED) {
        out->reason = DEBUGGER_STOP_EXITED;
        snprintf(out->where, sizeof out->where, "exited with %d", raw->exit_code);
        return;
    }
    if (raw->kind == RSP_STOP_TERMINATED) {
        out->reason = DEBUGGER_STOP_KILLED;
        snprintf(out->where, sizeof out->where, "killed by signal %d", raw->signal);
        return;
    }
    bool have = false;
    stop_pc(d, raw, &out->pc, &have);
    out->have_pc = have;
    out->reason = DEBUGGER_STOP_SIGNAL;
    if (raw->signal == GDB_SIGTRAP) {
        /* gdbserver steps with breakpoints of its own and says "swbreak"
         * for those too: while stepping only ours count. */
        bool at_bp = !stepping && strcmp(raw->reason, "swbreak") == 0;
        for (size_t i = 0; have && i < d->n_bps && !at_bp; i++)
            at_bp = d->bps[i].addr == out->pc;
        if (at_bp)
            out->reason = DEBUGGER_STOP_BREAKPOINT;
        else if (stepping)
            out->reason = DEBUGGER_STOP_STEP;
    }
    if (have)
        symbols_format(d->sy, out->pc, out->where, sizeof out->where);
}

/* ---- the janitor: undo a half-made attach without blocking ---- */

struct janitor {
    struct qga *g;
    struct qmp *q;
    int left;
};

static void janitor_step(struct janitor *j)
{
    if (--j->left > 0)
        return;
    /* Closing from inside their own callbacks is allowed. */
    qga_close(j->g);
    qmp_close(j->q);
    free(j);
    janitors--;
}

static void janitor_exec_done(struct qga *g, struct qga_exec_result *r, const struct ib_error *e,
                              void *arg)
{
    (void)g, (void)r, (void)e;
    janitor_step(arg);
}

static void janitor_hmp_done(struct qmp *q, const struct qmp_result *res, void *arg)
{
    (void)q, (void)res;
    janitor_step(arg);
}

/* Takes over g and q (either may be NULL). */
static void janitor_start(struct loop *lp, struct qga *g, const char *qmp_sock, const char *netdev,
                          int host_port, int64_t server_pid, int pid)
{
    struct janitor *j = xcalloc(1, sizeof *j);
    j->g = g;
    j->left = 1; /* released below */
    janitors++;
    if (g != NULL && server_pid > 0) {
        char sp[24], tp[24];
        snprintf(sp, sizeof sp, "%lld", (long long)server_pid);
        snprintf(tp, sizeof tp, "%d", pid);
        /* gdbserver had stopped the process: wake it once gdbserver is gone. */
        const char *argv[] = {
            "/bin/sh", "-c", "kill -9 \"$1\"; sleep 0.2; kill -CONT \"$2\"", "sh", sp, tp, NULL};
        j->left++;
        qga_exec(g, argv, NULL, 0, 3000, janitor_exec_done, j);
    }
    if (qmp_sock != NULL && host_port > 0) {
        struct ib_error e;
        j->q = qmp_open(lp, qmp_sock, &e);
        if (j->q != NULL) {
            char cmd[128];
            snprintf(cmd, sizeof cmd, "hostfwd_remove %s tcp:127.0.0.1:%d", netdev, host_port);
            j->left++;
            qmp_hmp(j->q, cmd, 2000, janitor_hmp_done, j);
        }
    }
    janitor_step(j);
}

/* ---- attaching to a process ---- */

struct debugger_attach {
    struct loop *lp;
    struct debugger *d;
    debugger_attach_fn cb;
    void *arg;
    struct qmp *qmp;
    struct qga *qga;
    struct rsp *probe;
    int probe_fd; /* the raw connection before rsp takes it */
    long probe_timer;
    char probe_buf[256];
    size_t probe_len;
    char *rootfs;
    int timeout_ms;
    int64_t deadline;
    long deadline_timer, retry_timer;
    int fwd_tries;
    long maps_req;
    bool fwd_ok, server_started, maps_done, probe_ok, finished, keep_server;
    struct guestproc_maps maps;
    bool have_maps;
    char maps_err[300];
};

static void probe_drop(struct debugger_attach *a)
{
    if (a->probe_fd >= 0) {
        loop_unwatch(a->lp, a->probe_fd);
        close(a->probe_fd);
        a->probe_fd = -1;
    }
    if (a->probe_timer)
        loop_cancel(a->lp, a->probe_timer);
    a->probe_timer = 0;
}

static void attach_free(struct debugger_attach *a)
{
    probe_drop(a);
    if (a->deadline_timer)
        loop_cancel(a->lp, a->deadline_timer);
    if (a->retry_timer)
        loop_cancel(a->lp, a->retry_timer);
    guestproc_maps_free(&a->maps);
    free(a->rootfs);
    free(a);
}

/* Ends the attach with an error: cleans up in the background. */
static void attach_fail(struct debugger_attach *a, const struct ib_error *err)
{
    if (a->finished)
        return;
    a->finished = true;
    struct debugger *d = a->d;
    if (a->probe != NULL)
        rsp_close(a->probe);
    a->probe = NULL;
    probe_drop(a);
    qmp_close(a->qmp);
    a->qmp = NULL;
    if (!a->maps_done && a->qga != NULL)
        guestproc_cancel(a->qga, a->maps_req);
    janitor_start(a->lp, a->qga, d->qmp_sock, d->netdev, a->fwd_ok ? d->host_port : 0,
                  d->server_pid, d->pid);
    a->qga = NULL;
    struct ib_error e = *err;
    debugger_attach_fn cb = a->cb;
    void *arg = a->arg;
    debugger_free(d);
    attach_free(a);
    if (cb != NULL)
        cb(NULL, &e, arg);
}

static void attach_failf(struct debugger_attach *a, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void attach_failf(struct debugger_attach *a, int status, const char *fmt, ...)
{
    struct ib_error e = {.status = status};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    attach_fail(a, &e);
}

static void attach_finish(struct debugger_attach *a)
{
    struct debugger *d = a->d;
    if (a->finished || !a->probe_ok || !a->maps_done)
        return;
    a->finished = true;
    if (a->have_maps && a->rootfs != NULL) {
        struct ib_error e = {0};
        if (symbols_load_maps(d->sy, a->rootfs, &a->maps, &d->notes, &e) < 0)
            d->notes = xstrdup(e.msg);
    } else if (!a->have_maps) {
        d->notes = xasprintf("no symbols: %s\n", a->maps_err);
    } else {
        d->notes = xstrdup("no symbols: the device's rootfs folder is unknown\n");
    }
    qga_close(a->qga);
    a->qga = NULL;
    qmp_close(a->qmp);
    a->qmp = NULL;
    d->r = a->probe;
    a->probe = NULL;
    rsp_set_stop_fn(d->r, on_any_stop, d);
    struct rsp_stop raw;
    if (rsp_last_stop(d->r, &raw)) {
        debugger_describe_stop(d, &raw, false, &d->last);
        d->have_last = true;
    }
    debugger_attach_fn cb = a->cb;
    void *arg = a->arg;
    attach_free(a);
    cb(d, NULL, arg);
}

static void on_deadline(struct loop *lp, void *arg)
{
    (void)lp;
    struct debugger_attach *a = arg;
    a->deadline_timer = 0;
    const char *what = !a->fwd_ok           ? "the port forward was not set up"
                       : !a->server_started ? "gdbserver did not start"
                       : !a->probe_ok       ? "gdbserver did not answer on the forwarded port"
                                            : "the process's maps were not read";
    attach_failf(a, IB_ETIMEOUT, "attaching to process %d timed out after %d ms: %s", a->d->pid,
                 a->timeout_ms, what);
}

static void start_probe(struct debugger_attach *a);
static void on_server_status(struct qga *g, const struct qga_result *res, void *arg);

static void on_retry(struct loop *lp, void *arg)
{
    (void)lp;
    struct debugger_attach *a = arg;
    a->retry_timer = 0;
    start_probe(a);
}

static void on_server_status(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct debugger_attach *a = arg;
    if (a->finished)
        return;
    json_t *ret = res->ret;
    if (ret != NULL && json_is_true(json_object_get(ret, "exited"))) {
        char *msg = NULL;
        size_t len = 0;
        json_t *v = json_object_get(ret, "err-data");
        if (!json_is_string(v))
            v = json_object_get(ret, "out-data");
        if (json_is_string(v))
            qga_b64_decode(json_string_value(v), json_string_length(v), &msg, &len, NULL);
        /* Its lines say why ("Cannot attach to process 7: ..."), then "Exiting". */
        char *text = msg ? msg : xstrdup("");
        char why[400] = "";
        char *save = NULL;
        for (char *line = strtok_r(text, "\r\n", &save); line;
             line = strtok_r(NULL, "\r\n", &save)) {
            if (strcmp(line, "Exiting") == 0 || strlen(why) > 300)
                continue;
            char *safe = safetext_escape(line, strnlen(line, 200)); /* gdbserver echoes argv */
            snprintf(why + strlen(why), sizeof why - strlen(why), "%s%s", why[0] ? "; " : "",
                     safe);
            free(safe);
        }
        (void)len;
        a->d->server_pid = 0; /* nothing to kill */
        attach_failf(a, IB_EFAIL, "gdbserver exited at once: %s", why[0] ? why : "(no message)");
        free(text);
        return;
    }
    a->retry_timer = loop_timer(a->lp, PROBE_RETRY_MS, on_retry, a);
}

static void on_probe_reply(struct rsp *r, const uint8_t *reply, size_t len,
                           const struct ib_error *err, void *arg)
{
    (void)r, (void)reply, (void)len;
    struct debugger_attach *a = arg;
    if (a->finished)
        return;
    if (err != NULL) {
        /* gdbserver answered Hg0 but not the handshake: it is not one to retry. */
        attach_failf(a, err->status ? err->status : IB_EFAIL, "gdbserver handshake: %s", err->msg);
        return;
    }
    a->probe_ok = true;
    attach_finish(a);
}

/* gdbserver 13 on ARM asserts (and dies) when asked for target.xml
 * before a thread is selected, which rsp's handshake does: select one
 * with Hg0 first, as gdb does, then hand the connection to rsp. This
 * exchange also tells a listening gdbserver from slirp's empty accept. */
static const char PROBE_PACKET[] = "$Hg0#df";

static void probe_failed(struct debugger_attach *a)
{
    probe_drop(a);
    /* Not listening yet, or gone: ask the agent which. */
    json_t *args = json_pack("{s:I}", "pid", (json_int_t)a->d->server_pid);
    qga_request(a->qga, "guest-exec-status", args, 2000, on_server_status, a);
}

static void on_probe_timeout(struct loop *lp, void *arg)
{
    (void)lp;
    struct debugger_attach *a = arg;
    a->probe_timer = 0;
    probe_failed(a);
}

static void on_probe_io(struct loop *lp, int fd, int events, void *arg)
{
    (void)lp;
    struct debugger_attach *a = arg;
    if (events & LOOP_WRITE) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0 ||
            write(fd, PROBE_PACKET, sizeof PROBE_PACKET - 1) != (ssize_t)sizeof PROBE_PACKET - 1) {
            probe_failed(a);
            return;
        }
        loop_watch(a->lp, fd, LOOP_READ, on_probe_io, a);
        return;
    }
    ssize_t n = read(fd, a->probe_buf + a->probe_len, sizeof a->probe_buf - 1 - a->probe_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        probe_failed(a);
        return;
    }
    a->probe_len += (size_t)n;
    a->probe_buf[a->probe_len] = '\0';
    /* '+' then "$OK#9a" (or "$E..#.." / "$#00"): any whole packet will do. */
    char *dollar = strchr(a->probe_buf, '$');
    char *hash = dollar ? strchr(dollar, '#') : NULL;
    if (hash == NULL || strlen(hash) < 3) {
        if (a->probe_len >= sizeof a->probe_buf - 1)
            probe_failed(a);
        return;
    }
    if (write(fd, "+", 1) != 1) {
        probe_failed(a);
        return;
    }
    loop_unwatch(a->lp, fd);
    if (a->probe_timer)
        loop_cancel(a->lp, a->probe_timer);
    a->probe_timer = 0;
    a->probe_fd = -1;
    char name[64];
    snprintf(name, sizeof name, "gdbserver at 127.0.0.1:%d", a->d->host_port);
    a->probe = rsp_open_fd(a->lp, fd, name, NULL);
    /* '?' waits for the handshake, then gives the attach stop. */
    rsp_request(a->probe, "?", 5000, on_probe_reply, a);
}

static void start_probe(struct debugger_attach *a)
{
    a->probe_len = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        a->retry_timer = loop_timer(a->lp, PROBE_RETRY_MS, on_retry, a);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->d->host_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        close(fd);
        a->retry_timer = loop_timer(a->lp, PROBE_RETRY_MS, on_retry, a);
        return;
    }
    a->probe_fd = fd;
    loop_watch(a->lp, fd, LOOP_WRITE, on_probe_io, a);
    a->probe_timer = loop_timer(a->lp, 3000, on_probe_timeout, a);
}

static void maybe_probe(struct debugger_attach *a)
{
    if (a->fwd_ok && a->server_started && a->probe == NULL && a->probe_fd < 0 && !a->probe_ok &&
        a->retry_timer == 0)
        start_probe(a);
}

static void send_forward(struct debugger_attach *a);

static void on_forward(struct qmp *q, const struct qmp_result *res, void *arg)
{
    (void)q;
    struct debugger_attach *a = arg;
    if (a->finished)
        return;
    if (res->ret == NULL) {
        attach_failf(a, res->err.status ? res->err.status : IB_EFAIL,
                     "cannot forward a port for gdbserver: %s", res->err.msg);
        return;
    }
    const char *text = json_is_string(res->ret) ? json_string_value(res->ret) : "?";
    if (text[strspn(text, " \r\n")] != '\0') {
        /* hostfwd_add prints nothing on success; the port was taken meanwhile? */
        if (++a->fwd_tries < 4 && strstr(text, "Could not set up") != NULL) {
            a->d->host_port = ports_pick_free();
            send_forward(a);
            return;
        }
        attach_failf(a, IB_EFAIL, "cannot forward a port for gdbserver: %.*s",
                     (int)strcspn(text, "\r\n"), text);
        return;
    }
    a->fwd_ok = true;
    maybe_probe(a);
}

static void send_forward(struct debugger_attach *a)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "hostfwd_add %s tcp:127.0.0.1:%d-:%d", a->d->netdev, a->d->host_port,
             a->d->guest_port);
    qmp_hmp(a->qmp, cmd, 3000, on_forward, a);
}

static void on_server_started(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct debugger_attach *a = arg;
    if (a->finished)
        return;
    json_t *pid = res->ret ? json_object_get(res->ret, "pid") : NULL;
    if (!json_is_integer(pid)) {
        attach_failf(a, res->err.status ? res->err.status : IB_EFAIL,
                     "cannot start gdbserver in the guest: %s",
                     res->ret ? "no pid in the agent's reply" : res->err.msg);
        return;
    }
    a->d->server_pid = json_integer_value(pid);
    a->server_started = true;
    maybe_probe(a);
}

static void on_maps(struct guestproc_maps *maps, const struct ib_error *err, void *arg)
{
    struct debugger_attach *a = arg;
    if (a->finished)
        return;
    a->maps_done = true;
    if (err != NULL) {
        snprintf(a->maps_err, sizeof a->maps_err, "%.299s", err->msg);
    } else {
        a->maps = *maps;
        maps->v = NULL;
        maps->exe = NULL;
        maps->n = 0;
        a->have_maps = true;
    }
    attach_finish(a);
}

struct debugger_attach *debugger_attach_start(struct loop *lp, const struct store *st,
                                              const struct instance_info *info, int pid,
                                              const struct debugger_opts *o, debugger_attach_fn cb,
                                              void *arg, struct ib_error *err)
{
    static const struct debugger_opts defaults = {0};
    if (o == NULL)
        o = &defaults;
    if (pid <= 0)
        return ib_err(err, IB_EINPUT, "bad pid %d", pid), NULL;
    if (info->state != INSTANCE_RUNNING)
        return ib_err(err, IB_ECONFLICT, "instance %s is not running", info->name), NULL;
    char netdev[32];
    if (debugger_user_netdev(info->argv, info->argc, netdev, sizeof netdev) == NULL)
        return ib_err(err, IB_EINPUT,
                      "device %s of instance %s has no user-mode network card: "
                      "the debugger reaches gdbserver through a forwarded port (add e.g. "
                      "\"network: {nic0: user}\" to its config.yaml)",
                      info->device, info->name),
               NULL;
    struct debugger_attach *a = xcalloc(1, sizeof *a);
    struct debugger *d = debugger_new(lp, false);
    a->lp = lp;
    a->d = d;
    a->probe_fd = -1;
    a->cb = cb;
    a->arg = arg;
    a->keep_server = o->keep_server;
    a->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 20000;
    if (o->op_timeout_ms > 0)
        d->op_timeout = o->op_timeout_ms;
    d->pid = pid;
    d->instance = xstrdup(info->name);
    d->qemu_pid = info->pid;
    snprintf(d->netdev, sizeof d->netdev, "%s", netdev);
    d->qmp_sock = xstrdup(info->qmp_sock);
    d->qga_sock = xstrdup(info->qga_sock);
    if (o->rootfs != NULL) {
        a->rootfs = xstrdup(o->rootfs);
    } else if (st != NULL) {
        struct device *dev;
        struct ib_error e = {0};
        if (device_load(st, info->device, &dev, &e) == 0) {
            a->rootfs = xstrdup(dev->rootfs);
            device_free(dev);
        }
    }
    d->host_port = ports_pick_free();
    d->guest_port = d->host_port; /* any port free in the guest will do: the same one */
    if (d->host_port == 0) {
        debugger_free(d);
        attach_free(a);
        return ib_err(err, IB_EFAIL, "cannot find a free loopback port"), NULL;
    }
    a->qga = qga_open(lp, info->qga_sock, err);
    a->qmp = a->qga ? qmp_open(lp, info->qmp_sock, err) : NULL;
    if (a->qmp == NULL) {
        qga_close(a->qga);
        debugger_free(d);
        attach_free(a);
        return NULL;
    }
    a->deadline_timer = loop_timer(lp, a->timeout_ms, on_deadline, a);
    send_forward(a);
    char port[24], spid[24];
    snprintf(port, sizeof port, ":%d", d->guest_port);
    snprintf(spid, sizeof spid, "%d", pid);
    /* A small shell first: stopping the agent itself would cut the only
     * line to the guest (its parent is the agent), then it becomes
     * gdbserver (same pid). --once: if our connection drops, gdbserver
     * detaches and exits. */
    json_t *args =
        json_pack("{s:s, s:[s,s,s,s,s,s], s:b}", "path", "/bin/sh", "arg", "-c", SERVER_SCRIPT,
                  "sh", spid, port, o->keep_server ? "" : "--once", "capture-output", 1);
    qga_request(a->qga, "guest-exec", args, a->timeout_ms, on_server_started, a);
    a->maps_req = guestproc_maps(a->qga, pid, a->timeout_ms, on_maps, a);
    return a;
}

void debugger_attach_cancel(struct debugger_attach *a)
{
    if (a == NULL || a->finished)
        return;
    a->cb = NULL;
    struct ib_error e = {.status = IB_EFAIL};
    snprintf(e.msg, sizeof e.msg, "cancelled");
    attach_fail(a, &e);
}

struct attach_sync {
    bool done;
    struct debugger *d;
    struct ib_error err;
};

static void attach_sync_done(struct debugger *d, const struct ib_error *err, void *arg)
{
    struct attach_sync *s = arg;
    s->done = true;
    s->d = d;
    if (err != NULL)
        s->err = *err;
}

static void wait_janitors(struct loop *lp)
{
    int64_t end = ib_now_ms() + 3000;
    while (janitors > 0 && ib_now_ms() < end)
        loop_run_once(lp, 50);
}

int debugger_attach(const struct store *st, const struct instance_info *info, int pid,
                    const struct debugger_opts *o, struct debugger **out, struct ib_error *err)
{
    struct loop *lp = loop_new();
    struct attach_sync s = {0};
    if (debugger_attach_start(lp, st, info, pid, o, attach_sync_done, &s, err) == NULL) {
        loop_free(lp);
        return -1;
    }
    while (!s.done)
        loop_run_once(lp, 100);
    if (s.d == NULL) {
        wait_janitors(lp);
        loop_free(lp);
        if (err != NULL)
            *err = s.err;
        return -1;
    }
    s.d->own_loop = true;
    *out = s.d;
    return 0;
}

/* ---- QEMU's gdbstub ---- */

int debugger_attach_system(const struct instance_info *info, const struct debugger_opts *o,
                           struct debugger **out, struct ib_error *err)
{
    if (info->gdbstub_port <= 0)
        return ib_err(err, IB_EINPUT,
                      "instance %s has no gdbstub: start it with "
                      "`iotbench device start ... --gdbstub`",
                      info->name);
    int timeout = o && o->timeout_ms > 0 ? o->timeout_ms : 5000;
    struct loop *lp = loop_new();
    struct rsp_opts ro = {.connect_timeout_ms = timeout};
    struct rsp *r = rsp_open(lp, "127.0.0.1", info->gdbstub_port, &ro, err);
    if (r == NULL || rsp_wait_ready_sync(r, timeout + 100, err) < 0) {
        rsp_close(r);
        loop_free(lp);
        return ib_err_prefix(err, "QEMU gdbstub of %s: ", info->name);
    }
    struct debugger *d = debugger_new(lp, true);
    d->system = true;
    d->instance = xstrdup(info->name);
    d->qemu_pid = info->pid;
    d->r = r;
    d->host_port = info->gdbstub_port;
    if (o && o->op_timeout_ms > 0)
        d->op_timeout = o->op_timeout_ms;
    rsp_set_stop_fn(r, on_any_stop, d);
    struct rsp_stop raw;
    /* QEMU sends T02 on connect; ask in case it came before we listened. */
    char *reply = NULL;
    if (!rsp_last_stop(r, &raw) && rsp_request_sync(r, "?", d->op_timeout, &reply, NULL, NULL) == 0)
        free(reply);
    if (rsp_last_stop(r, &raw)) {
        debugger_describe_stop(d, &raw, false, &d->last);
        d->have_last = true;
    }
    d->stop_pending = false;
    *out = d;
    return 0;
}

/* ---- accessors ---- */

struct rsp *debugger_rsp(struct debugger *d)
{
    return d->r;
}

const struct symbols *debugger_symbols(const struct debugger *d)
{
    return d->sy;
}

int debugger_pid(const struct debugger *d)
{
    return d->pid;
}

bool debugger_is_system(const struct debugger *d)
{
    return d->system;
}

int debugger_port(const struct debugger *d)
{
    return d->host_port;
}

const char *debugger_notes(const struct debugger *d)
{
    return d->notes;
}

bool debugger_last_stop(const struct debugger *d, struct debugger_stop *out)
{
    if (d->have_last && out != NULL)
        *out = d->last;
    return d->have_last;
}

bool debugger_running(const struct debugger *d)
{
    return d->running;
}

/* ---- registers, memory ---- */

static int need_stopped(struct debugger *d, const char *what, struct ib_error *err)
{
    if (d->running)
        return ib_err(err, IB_ECONFLICT,
                      "cannot %s while the process runs: interrupt it or "
                      "wait for a stop",
                      what);
    return 0;
}

static int load_regs(struct debugger *d, struct ib_error *err)
{
    if (d->regs != NULL)
        return 0;
    if (need_stopped(d, "read registers", err) < 0)
        return -1;
    if (rsp_read_registers_sync(d->r, d->op_timeout, &d->regs, &d->regs_len, err) < 0)
        return lost(d, err);
    return 0;
}

int debugger_regs(struct debugger *d, struct rsp_arm_regs *regs, struct ib_error *err)
{
    if (load_regs(d, err) < 0)
        return -1;
    return rsp_regs_arm(d->r, d->regs, d->regs_len, regs, err);
}

static const char *reg_alias(const char *name)
{
    static const char *const alias[][2] = {
        {"r13", "sp"}, {"r14", "lr"}, {"r15", "pc"}, {"fp", "r11"}, {"ip", "r12"}};
    for (size_t i = 0; i < IB_ARRAY_LEN(alias); i++)
        if (strcmp(name, alias[i][0]) == 0)
            return alias[i][1];
    return name;
}

int debugger_reg_read(struct debugger *d, const char *name, uint64_t *val, struct ib_error *err)
{
    if (load_regs(d, err) < 0)
        return -1;
    return rsp_regs_get(d->r, d->regs, d->regs_len, reg_alias(name), val, err);
}

int debugger_reg_write(struct debugger *d, const char *name, uint64_t val, struct ib_error *err)
{
    if (load_regs(d, err) < 0)
        return -1;
    uint8_t *copy = xmalloc(d->regs_len);
    memcpy(copy, d->regs, d->regs_len);
    int rc = rsp_regs_set(d->r, copy, d->regs_len, reg_alias(name), val, err);
    if (rc == 0)
        rc = rsp_write_registers_sync(d->r, copy, d->regs_len, d->op_timeout, err);
    if (rc == 0) {
        free(d->regs);
        d->regs = copy;
    } else {
        free(copy);
    }
    return rc;
}

int debugger_mem_read(struct debugger *d, uint64_t addr, void *buf, size_t len, size_t *got,
                      struct ib_error *err)
{
    if (need_stopped(d, "read memory", err) < 0)
        return -1;
    if (rsp_read_memory_sync(d->r, addr, buf, len, d->op_timeout, got, err) < 0)
        return lost(d, err);
    return 0;
}

int debugger_mem_write(struct debugger *d, uint64_t addr, const void *data, size_t len,
                       struct ib_error *err)
{
    if (need_stopped(d, "write memory", err) < 0)
        return -1;
    return rsp_write_memory_sync(d->r, addr, data, len, d->op_timeout, err);
}

/* ---- breakpoints ---- */

int debugger_break(struct debugger *d, const char *where, struct debugger_bp *out,
                   struct ib_error *err)
{
    uint64_t addr;
    bool thumb;
    if (symbols_parse_location(d->sy, where, &addr, &thumb, err) < 0)
        return -1;
    if (need_stopped(d, "set a breakpoint", err) < 0)
        return -1;
    for (size_t i = 0; i < d->n_bps; i++)
        if (d->bps[i].addr == addr) {
            if (out)
                *out = d->bps[i];
            return 0;
        }
    /* Thumb-2 32-bit instructions take the 4-byte Thumb breakpoint (kind 3). */
    int kind = RSP_BP_ARM;
    if (thumb) {
        uint8_t hw[2];
        size_t got = 0;
        kind = RSP_BP_THUMB;
        if (rsp_read_memory_sync(d->r, addr, hw, 2, d->op_timeout, &got, NULL) == 0 && got == 2 &&
            (hw[1] & 0xf8) >= 0xe8)
            kind = RSP_BP_THUMB2;
    }
    /* The code under it, as the stub shows it (its own breakpoints hidden):
     * what to put back should gdbserver die with the breakpoint inserted. */
    uint8_t orig[4];
    size_t orig_len = kind == RSP_BP_THUMB ? 2 : 4, got = 0;
    if (rsp_read_memory_sync(d->r, addr, orig, orig_len, d->op_timeout, &got, NULL) < 0 ||
        got != orig_len)
        orig_len = 0;
    if (rsp_set_breakpoint_sync(d->r, addr, kind, d->op_timeout, err) < 0)
        return lost(d, err);
    d->bps = xrealloc(d->bps, (d->n_bps + 1) * sizeof *d->bps);
    struct debugger_bp *bp = &d->bps[d->n_bps++];
    memcpy(bp->orig, orig, sizeof orig);
    bp->orig_len = orig_len;
    bp->addr = addr;
    bp->thumb = thumb;
    bp->kind = kind;
    symbols_format(d->sy, addr, bp->where, sizeof bp->where);
    if (out)
        *out = *bp;
    return 0;
}

static int bp_kind(struct debugger *d, const struct debugger_bp *bp)
{
    (void)d;
    return bp->kind ? bp->kind : RSP_BP_ARM;
}

int debugger_unbreak(struct debugger *d, const char *where, struct ib_error *err)
{
    uint64_t addr;
    bool thumb;
    if (symbols_parse_location(d->sy, where, &addr, &thumb, err) < 0)
        return -1;
    if (need_stopped(d, "clear a breakpoint", err) < 0)
        return -1;
    for (size_t i = 0; i < d->n_bps; i++) {
        if (d->bps[i].addr != addr)
            continue;
        if (d->have_bp_out && d->bp_out_addr == addr)
            d->have_bp_out = false; /* not in memory: nothing to take out */
        else if (rsp_clear_breakpoint_sync(d->r, addr, bp_kind(d, &d->bps[i]), d->op_timeout,
                                           err) < 0)
            return -1;
        memmove(&d->bps[i], &d->bps[i + 1], (d->n_bps - i - 1) * sizeof *d->bps);
        d->n_bps--;
        return 0;
    }
    return ib_err(err, IB_ENOTFOUND, "no breakpoint at %s", where);
}

size_t debugger_breakpoints(const struct debugger *d, const struct debugger_bp **list)
{
    *list = d->bps;
    return d->n_bps;
}

/* ---- execution ---- */

/* The breakpoint at the stopped pc, if any. */
static const struct debugger_bp *bp_at_pc(struct debugger *d)
{
    if (d->n_bps == 0)
        return NULL;
    uint64_t pc;
    if (d->have_last && d->last.have_pc) {
        pc = d->last.pc;
    } else {
        struct rsp_arm_regs regs;
        if (debugger_regs(d, &regs, NULL) < 0)
            return NULL;
        pc = regs.r[15];
    }
    for (size_t i = 0; i < d->n_bps; i++)
        if (d->bps[i].addr == pc)
            return &d->bps[i];
    return NULL;
}

/* One instruction, stepping over our own breakpoint at pc: the stub
 * leaves that to the client (gdbserver reports the same breakpoint
 * again), so take it out, step, and put it back. */
static int step_once(struct debugger *d, struct ib_error *err)
{
    const struct debugger_bp *bp = bp_at_pc(d);
    struct debugger_bp saved = {0};
    int kind = 0;
    if (bp != NULL) {
        saved = *bp;
        kind = bp_kind(d, bp);
        if (rsp_clear_breakpoint_sync(d->r, saved.addr, kind, d->op_timeout, err) < 0)
            return -1;
    }
    free(d->regs);
    d->regs = NULL;
    d->stop_pending = false;
    d->stepping = true;
    int rc = rsp_step_sync(d->r, d->op_timeout, NULL, err);
    d->stepping = false;
    if (rc < 0 && rsp_running(d->r)) {
        /* The step went into a system call that blocks (accept, read): the
         * process runs until it returns. Say so, so that wait, interrupt
         * and detach deal with a running process; the breakpoint cannot
         * go back in before the next stop. */
        d->running = true;
        if (bp != NULL) {
            d->have_bp_out = true;
            d->bp_out_addr = saved.addr;
            d->bp_out_kind = kind;
        }
        return -1;
    }
    if (bp != NULL && !rsp_failed(d->r, NULL) && d->pending.reason != DEBUGGER_STOP_EXITED &&
        d->pending.reason != DEBUGGER_STOP_KILLED) {
        struct ib_error e2;
        if (rsp_set_breakpoint_sync(d->r, saved.addr, kind, d->op_timeout, &e2) < 0 && rc == 0) {
            if (err != NULL)
                *err = e2;
            rc = -1;
        }
    }
    if (rc < 0)
        return lost(d, err);
    if (!d->stop_pending)
        return ib_err(err, IB_EFAIL, "the step ended without a stop reply");
    return 0;
}

int debugger_cont(struct debugger *d, struct ib_error *err)
{
    if (d->running)
        return 0;
    if (rsp_failed(d->r, err))
        return lost(d, err);
    if (bp_at_pc(d) != NULL) {
        if (step_once(d, err) < 0)
            return -1;
        /* The step itself may have ended things (a signal, the exit, the
         * next breakpoint): then that is the stop to wait for. */
        if (d->pending.reason != DEBUGGER_STOP_STEP)
            return 0;
    }
    free(d->regs);
    d->regs = NULL;
    d->stop_pending = false;
    d->stepping = false;
    d->running = true;
    rsp_continue(d->r, NULL, NULL);
    return 0;
}

/* gdbserver's interrupt (0x03) signals the process GROUP of the pid it
 * attached to, which does nothing when the process leads none (a service
 * started with & by a script, like demod). When no stop follows soon, the
 * process itself gets SIGINT through the agent: gdbserver reports it, and
 * continuing or detaching does not deliver it. */
#define INTERRUPT_GRACE_MS 100
#define DETACH_GRACE_MS 500

static int wait_interrupted(struct debugger *d, int timeout_ms, struct ib_error *err)
{
    int first = timeout_ms < INTERRUPT_GRACE_MS ? timeout_ms : INTERRUPT_GRACE_MS;
    if (rsp_wait_stop_sync(d->r, first, NULL, err) == 0)
        return 0;
    if (err != NULL && err->status != IB_ETIMEOUT)
        return lost(d, err);
    if (timeout_ms <= first)
        return -1;
    struct ib_error kerr = {0};
    if (d->pid > 0 && guestproc_kill_sync(d->qga_sock, d->pid, SIGINT, 3000, &kerr) < 0) {
        if (err != NULL)
            *err = kerr;
        return ib_err_prefix(err, "interrupting process %d: ", d->pid);
    }
    if (rsp_wait_stop_sync(d->r, timeout_ms - first, NULL, err) < 0)
        return lost(d, err);
    return 0;
}

/* The breakpoint a step that timed out took out, back in now that the
 * process stopped (unless it is gone). */
static int bp_put_back(struct debugger *d, struct ib_error *err)
{
    if (!d->have_bp_out || d->running || rsp_failed(d->r, NULL) ||
        d->pending.reason == DEBUGGER_STOP_EXITED || d->pending.reason == DEBUGGER_STOP_KILLED)
        return 0;
    d->have_bp_out = false;
    if (rsp_set_breakpoint_sync(d->r, d->bp_out_addr, d->bp_out_kind, d->op_timeout, err) < 0)
        return ib_err_prefix(err, "putting the breakpoint at 0x%08llx back: ",
                             (unsigned long long)d->bp_out_addr);
    return 0;
}

int debugger_wait(struct debugger *d, int timeout_ms, struct debugger_stop *stop,
                  struct ib_error *err)
{
    if (!d->stop_pending) {
        if (!d->running)
            return ib_err(err, IB_ECONFLICT, "the process is stopped: continue or step first");
        int rc = d->interrupting && !d->system ? wait_interrupted(d, timeout_ms, err)
                                               : rsp_wait_stop_sync(d->r, timeout_ms, NULL, err);
        if (rc < 0)
            return d->interrupting ? -1 : lost(d, err);
    }
    if (!d->stop_pending)
        return ib_err(err, IB_EFAIL, "no stop came");
    d->stop_pending = false;
    d->interrupting = false;
    if (stop != NULL)
        *stop = d->pending;
    return bp_put_back(d, err);
}

int debugger_step(struct debugger *d, struct debugger_stop *stop, struct ib_error *err)
{
    if (need_stopped(d, "step", err) < 0)
        return -1;
    if (step_once(d, err) < 0)
        return -1;
    d->stop_pending = false;
    if (stop != NULL)
        *stop = d->pending;
    return 0;
}

int debugger_interrupt(struct debugger *d, struct ib_error *err)
{
    (void)err;
    if (d->running) {
        rsp_interrupt(d->r);
        d->interrupting = true; /* debugger_wait() makes sure it stops */
    }
    return 0;
}

/* ---- disassembly ---- */

struct mem_ctx {
    struct debugger *d;
};

static size_t read_for_disasm(void *ctx, uint64_t addr, uint8_t *buf, size_t len)
{
    struct debugger *d = ((struct mem_ctx *)ctx)->d;
    size_t got = 0;
    if (!d->running && rsp_read_memory_sync(d->r, addr, buf, len, d->op_timeout, &got, NULL) == 0 &&
        got > 0)
        return got;
    return symbols_read(d->sy, addr, buf, len);
}

size_t debugger_disasm(struct debugger *d, uint64_t addr, size_t before, size_t after,
                       struct disasm_insn *out, size_t max, size_t *pc_index, struct ib_error *err)
{
    bool thumb = false;
    if (addr == 0) {
        struct rsp_arm_regs regs;
        if (debugger_regs(d, &regs, err) < 0)
            return 0;
        addr = regs.r[15];
        thumb = (regs.cpsr & 0x20) != 0; /* the T bit */
    } else {
        thumb = symbols_thumb_at(d->sy, addr) == 1 || (addr & 1);
        addr &= ~(uint64_t)1;
    }
    struct mem_ctx ctx = {d};
    size_t n =
        disasm_around(read_for_disasm, &ctx, addr, thumb, before, after, d->sy, out, max, pc_index);
    if (n == 0)
        ib_err(err, IB_EFAIL, "no readable code at 0x%llx", (unsigned long long)addr);
    return n;
}

/* ---- detaching ---- */

struct detach_op {
    struct debugger *d;
    debugger_done_fn cb;
    void *arg;
    struct ib_error err;
    size_t bps_left;
    struct qmp *qmp;
    struct qga *qga;
    int polls;
    long timer;
    int step;
    bool lost, qemu_gone; /* the connection was gone; so was QEMU */
    bool sigint_sent;     /* the interrupt's fallback (see wait_interrupted) */
};

static void detach_next(struct detach_op *op);

static void detach_keep_err(struct detach_op *op, const struct ib_error *e)
{
    if (e != NULL && op->err.msg[0] == '\0')
        op->err = *e;
}

static void on_detach_sigint(const struct ib_error *err, void *arg);

/* No stop after gdbserver's interrupt: the process leads no process group
 * (see wait_interrupted), so it gets SIGINT through the agent once. Without
 * a stop, the breakpoints could not be taken out nor D be sent. */
static void on_detach_stopped(struct rsp *r, const struct rsp_stop *stop,
                              const struct ib_error *err, void *arg)
{
    (void)stop;
    struct detach_op *op = arg;
    struct debugger *d = op->d;
    if (err == NULL || !rsp_running(r) || op->sigint_sent || d->system || d->pid <= 0 ||
        d->qga_sock == NULL) {
        detach_next(op);
        return;
    }
    op->sigint_sent = true;
    struct ib_error e = {0};
    struct qga_opts qo = {.lock_timeout_ms = 500};
    op->qga = qga_open_opts(d->lp, d->qga_sock, &qo, &e);
    if (op->qga == NULL) {
        ib_err_prefix(&e, "interrupting process %d: ", d->pid);
        detach_keep_err(op, &e);
        detach_next(op);
        return;
    }
    guestproc_kill(op->qga, d->pid, SIGINT, 3000, on_detach_sigint, op);
}

static void on_detach_sigint(const struct ib_error *err, void *arg)
{
    struct detach_op *op = arg;
    if (err != NULL) {
        struct ib_error e = *err;
        ib_err_prefix(&e, "interrupting process %d: ", op->d->pid);
        detach_keep_err(op, &e);
        detach_next(op);
        return;
    }
    rsp_wait_stop(op->d->r, 3000, on_detach_stopped, op);
}

static void on_bp_cleared(struct rsp *r, const struct ib_error *err, void *arg)
{
    (void)r;
    struct detach_op *op = arg;
    detach_keep_err(op, err);
    if (--op->bps_left == 0)
        detach_next(op);
}

static void on_detached(struct rsp *r, const struct ib_error *err, void *arg)
{
    (void)r;
    struct detach_op *op = arg;
    detach_keep_err(op, err);
    detach_next(op);
}

static void on_fwd_removed(struct qmp *q, const struct qmp_result *res, void *arg)
{
    (void)q;
    struct detach_op *op = arg;
    if (res->ret == NULL) {
        detach_keep_err(op, &res->err);
    } else if (json_is_string(res->ret) && strstr(json_string_value(res->ret), "removed") == NULL) {
        struct ib_error e;
        ib_err(&e, IB_EFAIL, "removing the forward: %.200s", json_string_value(res->ret));
        detach_keep_err(op, &e);
    }
    detach_next(op);
}

/* Run when gdbserver is lost: puts the code under our breakpoints back
 * through /proc/PID/mem (arguments BS:SEEK:COUNT, the bytes on stdin in the
 * same order) and says whether the process is still there. */
static const char FATE_SCRIPT[] =
    "pid=$1; shift\n"
    "[ -d /proc/$pid ] || { echo gone; exit 0; }\n"
    "for bp; do\n"
    "  bs=${bp%%:*}; rest=${bp#*:}; seek=${rest%%:*}; count=${rest#*:}\n"
    "  dd of=/proc/$pid/mem bs=$bs seek=$seek count=$count conv=notrunc 2>/dev/null ||\n"
    "    echo cannot-restore\n"
    "done\n"
    "[ -d /proc/$pid ] && echo runs || echo gone\n";

static void on_fate(struct qga *g, struct qga_exec_result *r, const struct ib_error *e, void *arg)
{
    (void)g;
    struct detach_op *op = arg;
    struct debugger *d = op->d;
    const char *out = r && r->out ? r->out : "";
    bool bps = d->n_bps > 0, unknown = false;
    for (size_t i = 0; i < d->n_bps; i++)
        unknown |= d->bps[i].orig_len == 0;
    if (e != NULL)
        ib_err(&op->err, IB_EFAIL, "what became of process %d is unknown: %s", d->pid, e->msg);
    else if (strstr(out, "gone") != NULL)
        ib_err(&op->err, IB_EFAIL, "process %d is gone%s", d->pid,
               bps ? " (a breakpoint gdbserver left in its code most likely ended it with SIGTRAP)"
                   : "");
    else if (strstr(out, "cannot-restore") != NULL || unknown)
        ib_err(&op->err, IB_EFAIL, "process %d runs on, but a breakpoint could not be taken out "
               "of its code: the next hit will end it", d->pid);
    else
        ib_err(&op->err, IB_EFAIL, "process %d runs on%s", d->pid,
               bps ? " (the breakpoints gdbserver left in its code were taken out through the "
                     "agent)"
                   : "");
    d->n_bps = 0;
    detach_next(op);
}

static void fate_start(struct detach_op *op)
{
    struct debugger *d = op->d;
    size_t n = 0, len = 0;
    const char **argv = xcalloc(d->n_bps + 6, sizeof *argv);
    char **owned = xcalloc(d->n_bps + 1, sizeof *owned);
    uint8_t *bytes = xmalloc(d->n_bps * 4 + 1);
    char spid[24];
    snprintf(spid, sizeof spid, "%d", d->pid);
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = FATE_SCRIPT;
    argv[n++] = "sh";
    argv[n++] = spid;
    for (size_t i = 0; i < d->n_bps; i++) {
        const struct debugger_bp *bp = &d->bps[i];
        if (bp->orig_len == 0)
            continue;
        /* One write per instruction where the address allows it, so the
         * running process never meets half of one. */
        uint64_t bs = bp->addr % bp->orig_len == 0 ? bp->orig_len : 2;
        owned[i] = xasprintf("%llu:%llu:%llu", (unsigned long long)bs,
                             (unsigned long long)(bp->addr / bs),
                             (unsigned long long)(bp->orig_len / bs));
        argv[n++] = owned[i];
        memcpy(bytes + len, bp->orig, bp->orig_len);
        len += bp->orig_len;
    }
    argv[n] = NULL;
    qga_exec(op->qga, argv, (const char *)bytes, len, 5000, on_fate, op);
    for (size_t i = 0; i < d->n_bps; i++)
        free(owned[i]);
    free(owned);
    free(argv);
    free(bytes);
}

static void on_reap_timer(struct loop *lp, void *arg);

static void on_reaped(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct detach_op *op = arg;
    /* gdbserver exits shortly after D: ask again a few times, so that the
     * agent forgets it (it keeps every exec until its status is read). */
    if (res->ret != NULL && !json_is_true(json_object_get(res->ret, "exited")) &&
        ++op->polls < 10) {
        op->timer = loop_timer(op->d->lp, 50, on_reap_timer, op);
        return;
    }
    detach_next(op);
}

static void on_reap_timer(struct loop *lp, void *arg)
{
    (void)lp;
    struct detach_op *op = arg;
    op->timer = 0;
    json_t *args = json_pack("{s:I}", "pid", (json_int_t)op->d->server_pid);
    qga_request(op->qga, "guest-exec-status", args, 1000, on_reaped, op);
}

/* Steps: 0 stop a running target, 1 take our breakpoints out (gdbserver
 * leaves them in memory on D, and the process would die on the next
 * one), 2 detach, 3 remove the forward, 4 when the connection was lost:
 * the process's fate (see FATE_SCRIPT), 5 reap gdbserver, 6 done. Each
 * step either starts something whose callback comes back here, or falls
 * through to the next. When QEMU is gone, only the report is left. */
static void detach_next(struct detach_op *op)
{
    struct debugger *d = op->d;
    struct ib_error e = {0};
    for (;;) {
        int step = op->step++;
        if (step == 0) {
            if (d->running && !rsp_failed(d->r, NULL)) {
                rsp_interrupt(d->r);
                /* Longer than wait_interrupted's grace: a SIGINT sent while
                 * the interrupt's stop is on its way would stay pending and
                 * reach the process after D. */
                rsp_wait_stop(d->r, d->system ? 2000 : DETACH_GRACE_MS, on_detach_stopped, op);
                return;
            }
        } else if (step == 1) {
            d->running = false;
            /* One taken out for a step that did not end is not in memory. */
            size_t in_memory = d->n_bps - (d->have_bp_out ? 1 : 0);
            if (in_memory > 0 && !rsp_failed(d->r, NULL) && !rsp_running(d->r)) {
                op->bps_left = in_memory;
                for (size_t i = 0; i < d->n_bps; i++)
                    if (!d->have_bp_out || d->bps[i].addr != d->bp_out_addr)
                        rsp_clear_breakpoint(d->r, d->bps[i].addr, bp_kind(d, &d->bps[i]),
                                             d->op_timeout, on_bp_cleared, op);
                d->n_bps = 0;
                d->have_bp_out = false;
                return;
            }
            /* A lost connection keeps them: the fate script (step 4) puts
             * their bytes back through the agent. */
            if (!rsp_failed(d->r, NULL)) {
                d->n_bps = 0;
                d->have_bp_out = false;
            }
        } else if (step == 2) {
            d->running = false;
            if (!rsp_failed(d->r, &e)) {
                rsp_detach(d->r, d->system ? 0 : d->pid, d->op_timeout, on_detached, op);
                return;
            }
            op->lost = true;
            op->qemu_gone = d->qemu_pid > 0 && !qemu_alive(d->qemu_pid);
            if (op->qemu_gone)
                instance_died(d, &e);
            /* A process session's error is its fate, found below. */
            if (d->system || op->qemu_gone)
                detach_keep_err(op, &e);
        } else if (step == 3) {
            rsp_close(d->r);
            d->r = NULL;
            if (!d->system && d->qmp_sock != NULL && !op->qemu_gone) {
                op->qmp = qmp_open(d->lp, d->qmp_sock, &e);
                if (op->qmp != NULL) {
                    char cmd[128];
                    snprintf(cmd, sizeof cmd, "hostfwd_remove %s tcp:127.0.0.1:%d", d->netdev,
                             d->host_port);
                    qmp_hmp(op->qmp, cmd, 3000, on_fwd_removed, op);
                    return;
                }
                detach_keep_err(op, &e);
            }
        } else if (step == 4) {
            qmp_close(op->qmp);
            op->qmp = NULL;
            bool fate = op->lost && !d->system && !op->qemu_gone;
            if (op->qga == NULL && !d->system && !op->qemu_gone && (fate || d->server_pid > 0) &&
                d->qga_sock != NULL) {
                struct qga_opts qo = {.lock_timeout_ms = 500};
                op->qga = qga_open_opts(d->lp, d->qga_sock, &qo, &e);
                if (op->qga == NULL && fate)
                    ib_err(&op->err, IB_EFAIL, "what became of process %d is unknown: %s",
                           d->pid, e.msg);
            }
            if (fate && op->qga != NULL) {
                fate_start(op);
                return;
            }
        } else if (step == 5) {
            if (d->server_pid > 0 && op->qga != NULL) {
                on_reap_timer(d->lp, op);
                return;
            }
        } else {
            qga_close(op->qga);
            op->qga = NULL;
            debugger_done_fn cb = op->cb;
            void *arg = op->arg;
            struct ib_error err = op->err;
            debugger_free(d);
            free(op);
            cb(err.msg[0] ? &err : NULL, arg);
            return;
        }
    }
}

void debugger_detach_start(struct debugger *d, debugger_done_fn cb, void *arg)
{
    struct detach_op *op = xcalloc(1, sizeof *op);
    op->d = d;
    op->cb = cb;
    op->arg = arg;
    detach_next(op);
}

struct detach_sync {
    bool done;
    bool abandoned; /* the caller gave up waiting: the callback frees it */
    struct ib_error err;
};

static void detach_sync_done(const struct ib_error *err, void *arg)
{
    struct detach_sync *s = arg;
    if (s->abandoned) {
        free(s);
        return;
    }
    s->done = true;
    if (err != NULL)
        s->err = *err;
}

int debugger_detach(struct debugger *d, struct ib_error *err)
{
    if (d == NULL)
        return 0;
    struct loop *lp = d->lp;
    bool own = d->own_loop;
    d->own_loop = false; /* freed below, after the last callback */
    /* On the heap: when the wait below gives up on a loop that is not
     * ours, the detach goes on and its callback comes later. */
    struct detach_sync *s = xcalloc(1, sizeof *s);
    debugger_detach_start(d, detach_sync_done, s);
    int64_t end = ib_now_ms() + 20000;
    while (!s->done && ib_now_ms() < end)
        loop_run_once(lp, 100);
    if (own)
        loop_free(lp); /* no callback can come any more */
    if (!s->done) {
        if (own)
            free(s);
        else
            s->abandoned = true;
        return ib_err(err, IB_ETIMEOUT, "detaching did not finish within 20 s");
    }
    int rc = 0;
    if (s->err.msg[0] != '\0') {
        if (err != NULL)
            *err = s->err;
        rc = -1;
    }
    free(s);
    return rc;
}

void debugger_close(struct debugger *d)
{
    debugger_free(d);
}
