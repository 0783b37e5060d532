/* qga.c - see qga.h. */
#include "core/qga.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/jsonl.h"
#include "core/safetext.h"
#include "core/unixsock.h"
#include "core/util.h"

enum qga_state { QGA_LOCKING, QGA_SYNCING, QGA_READY, QGA_DEAD };
enum { LOCK_POLL_MS = 5, EXEC_FIRST_POLL_MS = 10, EXEC_MAX_POLL_MS = 100 };

struct qga_req {
    struct qga *g;
    long id;
    char *cmd;
    json_t *args; /* until sent */
    int timeout_ms;
    long timer;
    bool sent, no_reply;
    qga_reply_fn cb;
    void *arg;
    struct qga_req *next;
};

struct qga_exec_op {
    struct qga *g;
    long id;
    char *what; /* argv[0], for messages */
    int timeout_ms;
    int64_t deadline, pid;
    int delay_ms;
    long timer;
    qga_exec_fn cb;
    void *arg;
    struct ib_error refused; /* arguments that cannot be sent, reported from the loop */
    struct qga_exec_op *next;
};

struct qga {
    struct loop *lp;
    char *name, *lock_path;
    int lock_fd;
    struct jsonl s;
    struct qga_opts o;
    enum qga_state state;
    long lock_timer, fail_timer;
    int64_t lock_deadline;
    json_int_t sync_id;
    struct qga_req *reqs; /* the head is in flight once sent */
    struct qga_exec_op *execs;
    long next_id;
    struct ib_error dead;
    int busy;
    bool closing, watch_write;
};

static void on_io(struct loop *lp, int fd, int events, void *arg);
static void pump(struct qga *g);

/* ---- lifetime and re-entrancy (same scheme as qmp.c) ---- */

static void req_free(struct qga_req *r)
{
    free(r->cmd);
    json_decref(r->args);
    free(r);
}

static void exec_op_free(struct qga *g, struct qga_exec_op *op)
{
    if (op->timer)
        loop_cancel(g->lp, op->timer);
    free(op->what);
    free(op);
}

static void release_fd(struct qga *g)
{
    if (g->s.fd >= 0) {
        loop_unwatch(g->lp, g->s.fd);
        close(g->s.fd);
        g->s.fd = -1;
    }
    /* Closing the lock file releases the flock: the next opener may go. */
    if (g->lock_fd >= 0) {
        close(g->lock_fd);
        g->lock_fd = -1;
    }
}

static void destroy(struct qga *g)
{
    for (struct qga_req *r = g->reqs, *next; r; r = next) {
        next = r->next;
        if (r->timer)
            loop_cancel(g->lp, r->timer);
        req_free(r);
    }
    for (struct qga_exec_op *op = g->execs, *next; op; op = next) {
        next = op->next;
        exec_op_free(g, op);
    }
    if (g->lock_timer)
        loop_cancel(g->lp, g->lock_timer);
    if (g->fail_timer)
        loop_cancel(g->lp, g->fail_timer);
    release_fd(g);
    jsonl_free(&g->s);
    free(g->name);
    free(g->lock_path);
    free(g);
}

void qga_close(struct qga *g)
{
    if (g == NULL)
        return;
    if (g->busy > 0) {
        g->closing = true;
        release_fd(g);
        return;
    }
    destroy(g);
}

static void enter(struct qga *g)
{
    g->busy++;
}

static bool leave(struct qga *g)
{
    if (--g->busy == 0 && g->closing) {
        destroy(g);
        return false;
    }
    return !g->closing;
}

/* ---- completing requests ---- */

static void unlink_req(struct qga *g, struct qga_req *r)
{
    for (struct qga_req **pp = &g->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (r->timer)
        loop_cancel(g->lp, r->timer);
    r->timer = 0;
}

static void finish(struct qga *g, struct qga_req *r, struct qga_result *res)
{
    unlink_req(g, r);
    if (r->cb != NULL)
        r->cb(g, res, r->arg);
    req_free(r);
}

static void finish_ok_empty(struct qga *g, struct qga_req *r)
{
    struct qga_result res = {.ret = json_object()};
    json_t *keep = res.ret;
    finish(g, r, &res);
    json_decref(keep);
}

static void fail_all(struct loop *lp, void *arg)
{
    (void)lp;
    struct qga *g = arg;
    g->fail_timer = 0;
    enter(g);
    while (g->reqs != NULL && !g->closing) {
        struct qga_result res = {.err = g->dead};
        finish(g, g->reqs, &res);
    }
    leave(g);
}

static void die(struct qga *g, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void die(struct qga *g, int status, const char *fmt, ...)
{
    if (g->state == QGA_DEAD)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->dead.msg, sizeof g->dead.msg, fmt, ap);
    va_end(ap);
    g->dead.status = status;
    g->state = QGA_DEAD;
    if (g->lock_timer)
        loop_cancel(g->lp, g->lock_timer);
    g->lock_timer = 0;
    release_fd(g);
    if (g->fail_timer == 0)
        g->fail_timer = loop_timer(g->lp, 0, fail_all, g);
}

/* ---- the lock file ---- */

char *qga_lock_path(const char *sock_path)
{
    const char *slash = strrchr(sock_path, '/');
    if (slash == NULL)
        return xstrdup("qga.lock");
    return xasprintf("%.*s/qga.lock", (int)(slash - sock_path), sock_path);
}

static long lock_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? pid : 0;
}

static void busy_message(struct qga *g, struct ib_error *err)
{
    long pid = g->lock_fd >= 0 ? lock_holder(g->lock_fd) : 0;
    if (pid > 0)
        ib_err(err, IB_ECONFLICT, "agent busy: held by another iotbench process (pid %ld)", pid);
    else
        ib_err(err, IB_ECONFLICT, "agent busy: held by another iotbench process (pid unknown)");
}

/* 1: locked (our pid written), 0: someone else holds it, -1: error. */
static int try_lock(struct qga *g, struct ib_error *err)
{
    if (flock(g->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return ib_err_sys(err, IB_EFAIL, "cannot lock %s", g->lock_path);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(g->lock_fd, 0) < 0 || pwrite(g->lock_fd, pid, (size_t)n, 0) != n)
        return ib_err_sys(err, IB_EFAIL, "cannot write %s", g->lock_path);
    return 1;
}

/* ---- sending ---- */

static void update_watch(struct qga *g)
{
    if (g->s.fd < 0)
        return;
    bool want = jsonl_pending(&g->s);
    if (want != g->watch_write || want) {
        loop_watch(g->lp, g->s.fd, LOOP_READ | (want ? LOOP_WRITE : 0), on_io, g);
        g->watch_write = want;
    }
}

static void flush(struct qga *g)
{
    struct ib_error err = {0};
    if (g->s.fd >= 0 && jsonl_flush(&g->s, &err) < 0) {
        die(g, IB_EFAIL, "guest agent connection to %s lost: %s", g->name, err.msg);
        return;
    }
    update_watch(g);
}

static json_int_t random_id(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint32_t)ib_now_ms() ^ ((uint32_t)getpid() << 16);
    v &= 0x7fffffff;
    return v ? v : 1;
}

/* send_ff: reset the agent's parser first (it answers the 0xFF with a parse
 * error, skipped like everything else before our sync reply). */
static void resync(struct qga *g, bool send_ff)
{
    json_int_t id = random_id();
    while (id == g->sync_id)
        id = random_id();
    g->sync_id = id;
    json_t *doc = json_pack("{s:s, s:{s:I}}", "execute", "guest-sync-delimited", "arguments",
                            "id", id);
    if (send_ff)
        jsonl_queue(&g->s, "\xff", 1);
    jsonl_queue_json(&g->s, doc);
    json_decref(doc);
    g->state = QGA_SYNCING;
    flush(g);
}

static void send_head(struct qga *g, struct qga_req *r)
{
    json_t *doc = json_pack("{s:s}", "execute", r->cmd);
    if (r->args != NULL)
        json_object_set_new(doc, "arguments", r->args);
    r->args = NULL;
    r->sent = true;
    jsonl_queue_json(&g->s, doc);
    json_decref(doc);
    if (r->no_reply)
        resync(g, false); /* no 0xFF: its parse error would look like our answer */
    else
        flush(g);
}

static void pump(struct qga *g)
{
    if (g->state == QGA_READY && g->reqs != NULL && !g->reqs->sent)
        send_head(g, g->reqs);
}

/* ---- receiving ---- */

static struct qga_req *in_flight(struct qga *g)
{
    return g->reqs != NULL && g->reqs->sent ? g->reqs : NULL;
}

static void complete_reply(struct qga *g, struct qga_req *r, json_t *doc)
{
    struct qga_result res = {0};
    json_t *error = json_object_get(doc, "error");
    res.ret = json_object_get(doc, "return");
    if (res.ret == NULL) {
        const char *cls = json_string_value(json_object_get(error, "class"));
        const char *desc = json_string_value(json_object_get(error, "desc"));
        res.error_class = cls ? cls : "GenericError";
        char *safe = safetext_str(desc ? desc : "command failed");
        ib_err(&res.err, IB_EFAIL, "guest agent: %s", safe);
        free(safe);
    }
    finish(g, r, &res);
}

static bool is_reply(const json_t *doc)
{
    return doc != NULL && (json_object_get(doc, "return") != NULL ||
                           json_is_object(json_object_get(doc, "error")));
}

static void on_sync_line(struct qga *g, const char *ff, const char *line, size_t len)
{
    struct qga_req *r = in_flight(g);
    if (ff == NULL) {
        /* Only a no-reply command's failure may come before the sync reply;
         * anything else is stale output of an earlier client or request. */
        json_t *doc = r && r->no_reply ? jsonl_parse_object(line, len, NULL) : NULL;
        if (doc != NULL && json_is_object(json_object_get(doc, "error")))
            complete_reply(g, r, doc);
        json_decref(doc);
        return;
    }
    size_t rest = len - (size_t)(ff + 1 - line);
    json_t *doc = jsonl_parse_object(ff + 1, rest, NULL);
    json_t *ret = json_object_get(doc, "return");
    bool ours = json_is_integer(ret) && json_integer_value(ret) == g->sync_id;
    json_decref(doc);
    if (!ours)
        return; /* the answer to an older sync */
    g->state = QGA_READY;
    if (r != NULL && r->no_reply)
        finish_ok_empty(g, r);
    if (!g->closing)
        pump(g);
}

static void on_ready_line(struct qga *g, const char *line, size_t len)
{
    struct qga_req *r = in_flight(g);
    struct ib_error err = {0};
    json_t *doc = jsonl_parse_object(line, len, &err);
    if (r != NULL && is_reply(doc)) {
        complete_reply(g, r, doc);
        json_decref(doc);
        if (!g->closing)
            pump(g);
        return;
    }
    json_decref(doc);
    if (r != NULL) {
        struct qga_result res = {0};
        if (err.msg[0] == '\0') {
            char *safe = safetext_escape(line, strnlen(line, 80));
            ib_err(&err, IB_EFAIL, "an unexpected reply: %s", safe);
            free(safe);
        }
        ib_err(&res.err, IB_EFAIL, "guest agent sent %s", err.msg);
        finish(g, r, &res);
    }
    if (!g->closing && g->state != QGA_DEAD)
        resync(g, true);
}

static void handle_line(struct qga *g, const char *line, size_t len)
{
    /* 0xFF never occurs in JSON text: it marks the delimited sync reply, and
     * whatever precedes it on the line is stale. */
    const char *ff = memrchr(line, 0xff, len);
    if (g->state == QGA_SYNCING)
        on_sync_line(g, ff, line, len);
    else if (ff == NULL && len > 0)
        on_ready_line(g, line, len);
    /* else: a late sync reply while in sync, or an empty line: nothing. */
}

static void on_eof(struct qga *g)
{
    struct qga_req *r = in_flight(g);
    /* guest-shutdown's success: the guest went away without objecting. */
    if (r != NULL && r->no_reply)
        finish_ok_empty(g, r);
    if (!g->closing)
        die(g, IB_EFAIL, "guest agent connection to %s closed", g->name);
}

static void read_lines(struct qga *g)
{
    struct ib_error err = {0};
    int rc = jsonl_fill(&g->s, &err);
    char *line;
    size_t len;
    int got;
    while (!g->closing && g->state != QGA_DEAD && (got = jsonl_next(&g->s, &line, &len)) != 0) {
        if (got < 0) {
            rc = -1;
            ib_err(&err, IB_EFAIL, "reply line longer than the %zu-byte limit", g->o.max_line);
            break;
        }
        handle_line(g, line, len);
    }
    if (rc >= 0 || g->closing || g->state == QGA_DEAD)
        return;
    if (strcmp(err.msg, "closed") == 0)
        on_eof(g);
    else
        die(g, IB_EFAIL, "guest agent on %s: %s; connection dropped", g->name, err.msg);
}

static void on_io(struct loop *lp, int fd, int events, void *arg)
{
    (void)lp;
    (void)fd;
    struct qga *g = arg;
    enter(g);
    if (events & LOOP_WRITE)
        flush(g);
    if ((events & LOOP_READ) && g->state != QGA_DEAD && !g->closing)
        read_lines(g);
    leave(g);
}

/* ---- connecting ---- */

static void attach_fd(struct qga *g, int fd)
{
    jsonl_init(&g->s, fd, g->o.max_line);
    loop_watch(g->lp, fd, LOOP_READ, on_io, g);
    resync(g, true);
}

static int connect_now(struct qga *g, struct ib_error *err)
{
    int fd = unixsock_connect(g->name, err);
    if (fd < 0)
        return ib_err_prefix(err, "guest agent: ");
    attach_fd(g, fd);
    return 0;
}

static void on_lock_poll(struct loop *lp, void *arg)
{
    (void)lp;
    struct qga *g = arg;
    struct ib_error err = {0};
    g->lock_timer = 0;
    int rc = try_lock(g, &err);
    if (rc == 0 && ib_now_ms() < g->lock_deadline) {
        g->lock_timer = loop_timer(g->lp, LOCK_POLL_MS, on_lock_poll, g);
        return;
    }
    if (rc == 0)
        busy_message(g, &err);
    if (rc <= 0 || connect_now(g, &err) < 0)
        die(g, err.status, "%s", err.msg);
}

static struct qga *qga_new(struct loop *lp, const char *name, const struct qga_opts *o)
{
    struct qga *g = xcalloc(1, sizeof *g);
    g->lp = lp;
    g->name = xstrdup(name);
    g->lock_fd = -1;
    g->s.fd = -1;
    g->o = o ? *o : (struct qga_opts){0};
    if (g->o.lock_timeout_ms == 0)
        g->o.lock_timeout_ms = 1000;
    if (g->o.max_line == 0)
        g->o.max_line = 48u << 20; /* guest-exec-status: two 16 MiB streams in base64 */
    g->next_id = 1;
    g->state = QGA_LOCKING;
    return g;
}

struct qga *qga_open_fd(struct loop *lp, int fd, const char *name, const struct qga_opts *o)
{
    struct qga *g = qga_new(lp, name, o);
    attach_fd(g, fd);
    return g;
}

struct qga *qga_open_opts(struct loop *lp, const char *sock_path, const struct qga_opts *o,
                          struct ib_error *err)
{
    struct qga *g = qga_new(lp, sock_path, o);
    g->lock_path = qga_lock_path(sock_path);
    g->lock_fd = open(g->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (g->lock_fd < 0) {
        ib_err_sys(err, IB_EFAIL, "guest agent: cannot open %s", g->lock_path);
        destroy(g);
        return NULL;
    }
    int rc = try_lock(g, err);
    if (rc == 0 && g->o.lock_timeout_ms < 0) {
        busy_message(g, err);
        rc = -1;
    }
    if (rc < 0 || (rc == 1 && connect_now(g, err) < 0)) {
        destroy(g);
        return NULL;
    }
    if (rc == 0) {
        g->lock_deadline = ib_now_ms() + g->o.lock_timeout_ms;
        g->lock_timer = loop_timer(lp, LOCK_POLL_MS, on_lock_poll, g);
    }
    return g;
}

struct qga *qga_open(struct loop *lp, const char *sock_path, struct ib_error *err)
{
    return qga_open_opts(lp, sock_path, NULL, err);
}

/* ---- requests ---- */

static void on_req_timeout(struct loop *lp, void *arg)
{
    (void)lp;
    struct qga_req *r = arg;
    struct qga *g = r->g;
    struct qga_result res = {0};
    bool was_sent = r->sent;
    r->timer = 0;
    if (g->state == QGA_DEAD)
        res.err = g->dead;
    else if (g->state == QGA_LOCKING)
        busy_message(g, &res.err);
    else
        ib_err(&res.err, IB_ETIMEOUT, "agent not responding after %d ms", r->timeout_ms);
    enter(g);
    finish(g, r, &res);
    /* A late answer would be taken for the next request's: resync. A sync
     * that itself got no answer is replaced by a fresh one. */
    if (!g->closing && (was_sent || g->state == QGA_SYNCING) && g->state != QGA_DEAD &&
        g->state != QGA_LOCKING)
        resync(g, true);
    leave(g);
}

static const char *const no_reply_cmds[] = {
    "guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
};

static bool cmd_has_no_reply(const char *cmd)
{
    for (size_t i = 0; i < IB_ARRAY_LEN(no_reply_cmds); i++)
        if (strcmp(cmd, no_reply_cmds[i]) == 0)
            return true;
    return false;
}

long qga_request(struct qga *g, const char *cmd, json_t *args, int timeout_ms, qga_reply_fn cb,
                 void *arg)
{
    struct qga_req *r = xcalloc(1, sizeof *r);
    r->g = g;
    r->id = g->next_id++;
    r->cmd = xstrdup(cmd);
    r->args = args;
    r->no_reply = cmd_has_no_reply(cmd);
    r->timeout_ms = timeout_ms;
    r->cb = cb;
    r->arg = arg;
    struct qga_req **pp = &g->reqs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    if (timeout_ms >= 0)
        r->timer = loop_timer(g->lp, timeout_ms, on_req_timeout, r);
    if (g->state == QGA_DEAD && g->fail_timer == 0)
        g->fail_timer = loop_timer(g->lp, 0, fail_all, g);
    pump(g);
    return r->id;
}

bool qga_ready(const struct qga *g)
{
    return g->state == QGA_READY;
}

bool qga_failed(const struct qga *g, struct ib_error *err)
{
    if (g->state != QGA_DEAD)
        return false;
    if (err != NULL)
        *err = g->dead;
    return true;
}

/* ---- base64 ---- */

static bool b64_symbol(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

/* EVP_DecodeBlock skips surrounding whitespace and returns padding as zero
 * bytes; validate first so that only canonical text gets through. */
static int b64_check(const char *text, size_t len, size_t *pad, struct ib_error *err)
{
    if (len % 4 != 0)
        return ib_err(err, IB_EFAIL, "base64 length %zu is not a multiple of 4", len);
    if (len > (size_t)INT_MAX / 2)
        return ib_err(err, IB_EFAIL, "base64 text of %zu bytes is too long", len);
    *pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '=' && i + 2 >= len) {
            (*pad)++;
        } else if (!b64_symbol(c) || *pad > 0) {
            return ib_err(err, IB_EFAIL, "invalid base64 at offset %zu (byte 0x%02x)", i, c);
        }
    }
    /* The bits of the last symbol beyond the data must be zero: "QR==" is
     * not the encoding of "A" (that is "QQ=="), so it is refused. */
    if (*pad > 0 && (b64_value((unsigned char)text[len - 1 - *pad]) & (*pad == 1 ? 0x3 : 0xf)))
        return ib_err(err, IB_EFAIL, "non-canonical base64 padding at offset %zu",
                      len - 1 - *pad);
    return 0;
}

int qga_b64_decode(const char *text, size_t len, char **out, size_t *out_len,
                   struct ib_error *err)
{
    size_t pad = 0;
    if (b64_check(text, len, &pad, err) < 0)
        return -1;
    unsigned char *buf = xmalloc(len / 4 * 3 + 1);
    int n = len ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len) : 0;
    if (n < 0 || (size_t)n < pad) {
        free(buf);
        return ib_err(err, IB_EFAIL, "invalid base64");
    }
    n -= (int)pad;
    buf[n] = '\0';
    *out = (char *)buf;
    *out_len = (size_t)n;
    return 0;
}

char *qga_b64_encode(const void *data, size_t len)
{
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        abort(); /* callers stay far below: the agent refuses megabytes long before */
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[n] = '\0';
    return out;
}

/* ---- guest-exec ---- */

static void exec_unlink(struct qga *g, struct qga_exec_op *op)
{
    for (struct qga_exec_op **pp = &g->execs; *pp; pp = &(*pp)->next) {
        if (*pp == op) {
            *pp = op->next;
            return;
        }
    }
}

static void exec_finish(struct qga_exec_op *op, struct qga_exec_result *res,
                        const struct ib_error *err)
{
    struct qga *g = op->g;
    exec_unlink(g, op);
    if (op->cb != NULL)
        op->cb(g, err ? NULL : res, err, op->arg);
    if (res != NULL)
        qga_exec_result_free(res);
    exec_op_free(g, op);
}

static void exec_fail(struct qga_exec_op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void exec_fail(struct qga_exec_op *op, int status, const char *fmt, ...)
{
    struct ib_error err = {.status = status};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    exec_finish(op, NULL, &err);
}

static void exec_reply_failed(struct qga_exec_op *op, const struct ib_error *err)
{
    /* The request's own timeout is whatever time was left: name the whole. */
    if (err->status == IB_ETIMEOUT)
        exec_fail(op, IB_ETIMEOUT, "agent not responding after %d ms", op->timeout_ms);
    else
        exec_fail(op, err->status, "%s", err->msg);
}

static int decode_stream(const json_t *ret, const char *key, char **buf, size_t *len,
                         struct ib_error *err)
{
    json_t *v = json_object_get(ret, key);
    if (v == NULL) {
        *buf = xstrdup("");
        *len = 0;
        return 0;
    }
    if (!json_is_string(v))
        return ib_err(err, IB_EFAIL, "guest-exec-status: %s is not a string", key);
    if (qga_b64_decode(json_string_value(v), json_string_length(v), buf, len, err) < 0)
        return ib_err_prefix(err, "guest-exec-status: %s: ", key);
    return 0;
}

static void exec_done(struct qga_exec_op *op, const json_t *ret)
{
    struct qga_exec_result res = {.pid = op->pid, .exit_code = -1};
    struct ib_error err = {0};
    json_t *code = json_object_get(ret, "exitcode");
    json_t *sig = json_object_get(ret, "signal");
    if (json_is_integer(code))
        res.exit_code = (int)json_integer_value(code);
    if (json_is_integer(sig))
        res.signal = (int)json_integer_value(sig);
    res.out_truncated = json_is_true(json_object_get(ret, "out-truncated"));
    res.err_truncated = json_is_true(json_object_get(ret, "err-truncated"));
    if (decode_stream(ret, "out-data", &res.out, &res.out_len, &err) < 0 ||
        decode_stream(ret, "err-data", &res.err, &res.err_len, &err) < 0) {
        qga_exec_result_free(&res);
        exec_finish(op, NULL, &err);
        return;
    }
    exec_finish(op, &res, NULL);
}

static void exec_poll(struct loop *lp, void *arg);

static void exec_schedule(struct qga_exec_op *op)
{
    int64_t left = op->deadline - ib_now_ms();
    if (left <= 0) {
        exec_fail(op, IB_ETIMEOUT,
                  "'%s' still running in the guest after %d ms (pid %lld); the agent cannot "
                  "kill it, so it may keep running",
                  op->what, op->timeout_ms, (long long)op->pid);
        return;
    }
    op->timer = loop_timer(op->g->lp, op->delay_ms < left ? op->delay_ms : left, exec_poll, op);
    /* 10 ms at first (most commands end in tens of ms), then back off. */
    op->delay_ms += op->delay_ms / 2;
    if (op->delay_ms > EXEC_MAX_POLL_MS)
        op->delay_ms = EXEC_MAX_POLL_MS;
}

static void exec_on_status(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct qga_exec_op *op = arg;
    if (res->ret == NULL) {
        exec_reply_failed(op, &res->err);
        return;
    }
    json_t *exited = json_object_get(res->ret, "exited");
    if (!json_is_boolean(exited)) {
        exec_fail(op, IB_EFAIL, "guest-exec-status: no 'exited' in the reply");
        return;
    }
    if (json_is_true(exited))
        exec_done(op, res->ret);
    else
        exec_schedule(op);
}

static void exec_poll(struct loop *lp, void *arg)
{
    (void)lp;
    struct qga_exec_op *op = arg;
    struct qga *g = op->g;
    op->timer = 0;
    int64_t left = op->deadline - ib_now_ms();
    enter(g);
    if (left <= 0) {
        exec_schedule(op); /* reports the timeout */
    } else {
        json_t *args = json_pack("{s:I}", "pid", (json_int_t)op->pid);
        qga_request(g, "guest-exec-status", args, (int)left, exec_on_status, op);
    }
    leave(g);
}

static void exec_on_started(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct qga_exec_op *op = arg;
    if (res->ret == NULL) {
        exec_reply_failed(op, &res->err);
        return;
    }
    json_t *pid = json_object_get(res->ret, "pid");
    if (!json_is_integer(pid)) {
        exec_fail(op, IB_EFAIL, "guest-exec: no pid in the reply");
        return;
    }
    op->pid = json_integer_value(pid);
    exec_schedule(op);
}

json_t *qga_exec_args(const char *const argv[], const char *stdin_data, size_t stdin_len,
                      struct ib_error *err)
{
    /* json_string() refuses text that is not UTF-8; a dropped argument
     * would shift the others (`rm $'\xff' -r /data` running `rm -r /data`),
     * so the whole command is refused instead. */
    json_t *path = json_string(argv[0]);
    if (path == NULL) {
        ib_err(err, IB_EINPUT, "the program name is not valid UTF-8: the agent cannot take it");
        return NULL;
    }
    json_t *args = json_pack("{s:o, s:b}", "path", path, "capture-output", 1);
    json_t *list = json_array();
    for (size_t i = 1; argv[i] != NULL; i++) {
        json_t *a = json_string(argv[i]);
        if (a == NULL) {
            json_decref(list);
            json_decref(args);
            ib_err(err, IB_EINPUT, "argument %zu of %s is not valid UTF-8: the agent cannot take "
                   "it, and the command was not run", i, argv[0]);
            return NULL;
        }
        json_array_append_new(list, a);
    }
    json_object_set_new(args, "arg", list);
    if (stdin_data != NULL || stdin_len > 0) {
        char *b64 = qga_b64_encode(stdin_data ? stdin_data : "", stdin_data ? stdin_len : 0);
        json_object_set_new(args, "input-data", json_string(b64));
        free(b64);
    }
    return args;
}

static void exec_refused(struct loop *lp, void *arg)
{
    (void)lp;
    struct qga_exec_op *op = arg;
    op->timer = 0;
    exec_fail(op, op->refused.status, "%s", op->refused.msg);
}

long qga_exec(struct qga *g, const char *const argv[], const char *stdin_data, size_t stdin_len,
              int timeout_ms, qga_exec_fn cb, void *arg)
{
    if (argv == NULL || argv[0] == NULL)
        abort(); /* a caller bug, not a guest's: there is nothing to run */
    struct qga_exec_op *op = xcalloc(1, sizeof *op);
    op->g = g;
    op->id = g->next_id++;
    op->what = xstrdup(argv[0]);
    op->timeout_ms = timeout_ms;
    op->deadline = ib_now_ms() + timeout_ms;
    op->delay_ms = EXEC_FIRST_POLL_MS;
    op->cb = cb;
    op->arg = arg;
    op->next = g->execs;
    g->execs = op;
    json_t *args = qga_exec_args(argv, stdin_data, stdin_len, &op->refused);
    if (args == NULL)
        op->timer = loop_timer(g->lp, 0, exec_refused, op); /* callbacks run from the loop */
    else
        qga_request(g, "guest-exec", args, timeout_ms, exec_on_started, op);
    return op->id;
}

void qga_cancel(struct qga *g, long id)
{
    for (struct qga_req *r = g->reqs; r; r = r->next)
        if (r->id == id)
            r->cb = NULL;
    for (struct qga_exec_op *op = g->execs; op; op = op->next)
        if (op->id == id)
            op->cb = NULL;
}

void qga_exec_result_free(struct qga_exec_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}

/* ---- blocking wrappers ---- */

struct sync_ctx {
    bool done;
    json_t *ret;
    struct qga_exec_result exec;
    struct ib_error err;
};

static void sync_reply(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct sync_ctx *c = arg;
    c->done = true;
    c->ret = json_incref(res->ret);
    c->err = res->err;
}

static void sync_exec(struct qga *g, struct qga_exec_result *res, const struct ib_error *err,
                      void *arg)
{
    (void)g;
    struct sync_ctx *c = arg;
    c->done = true;
    if (err != NULL) {
        c->err = *err;
        return;
    }
    c->exec = *res;
    res->out = res->err = NULL; /* moved */
}

static struct qga *sync_open(struct loop *lp, const char *sock_path, int timeout_ms,
                             struct ib_error *err)
{
    struct qga_opts o = {.lock_timeout_ms = timeout_ms > 0 ? timeout_ms : -1};
    return qga_open_opts(lp, sock_path, &o, err);
}

static void sync_run(struct loop *lp, struct sync_ctx *c, int timeout_ms)
{
    /* The request's timers end this; the deadline only guards a bug. */
    int64_t deadline = ib_now_ms() + timeout_ms + 1000;
    while (!c->done && ib_now_ms() < deadline)
        loop_run_once(lp, 100);
    if (!c->done)
        ib_err(&c->err, IB_ETIMEOUT, "agent not responding after %d ms", timeout_ms);
}

int qga_call(const char *sock_path, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
             struct ib_error *err)
{
    struct loop *lp = loop_new();
    struct qga *g = sync_open(lp, sock_path, timeout_ms, err);
    if (g == NULL) {
        json_decref(args);
        loop_free(lp);
        return -1;
    }
    struct sync_ctx c = {0};
    qga_request(g, cmd, args, timeout_ms, sync_reply, &c);
    sync_run(lp, &c, timeout_ms);
    qga_close(g);
    loop_free(lp);
    if (c.ret == NULL) {
        if (err != NULL)
            *err = c.err;
        return -1;
    }
    if (ret != NULL)
        *ret = c.ret;
    else
        json_decref(c.ret);
    return 0;
}

int qga_exec_sync(const char *sock_path, const char *const argv[], const char *stdin_data,
                  size_t stdin_len, int timeout_ms, struct qga_exec_result *res,
                  struct ib_error *err)
{
    memset(res, 0, sizeof *res);
    struct loop *lp = loop_new();
    struct qga *g = sync_open(lp, sock_path, timeout_ms, err);
    if (g == NULL) {
        loop_free(lp);
        return -1;
    }
    struct sync_ctx c = {0};
    qga_exec(g, argv, stdin_data, stdin_len, timeout_ms, sync_exec, &c);
    sync_run(lp, &c, timeout_ms);
    qga_close(g);
    loop_free(lp);
    if (c.err.msg[0] != '\0') {
        qga_exec_result_free(&c.exec);
        if (err != NULL)
            *err = c.err;
        return -1;
    }
    *res = c.exec;
    return 0;
}

int qga_ping(const char *sock_path, int timeout_ms, struct ib_error *err)
{
    return qga_call(sock_path, "guest-ping", NULL, timeout_ms, NULL, err);
}
