/* qmp.c - see qmp.h. */
#include "core/qmp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/jsonl.h"
#include "core/unixsock.h"
#include "core/util.h"

enum qmp_state { QMP_GREETING, QMP_NEGOTIATING, QMP_READY, QMP_DEAD };

struct qmp_req {
    struct qmp *q;
    long handle; /* for qmp_cancel */
    long id;     /* on the wire, given when sent: ids follow the order of sending */
    char *cmd;
    json_t *args; /* until sent */
    int timeout_ms;
    long timer;
    bool sent, internal, hmp;
    qmp_reply_fn cb;
    void *arg;
    struct qmp_req *next;
};

struct qmp {
    struct loop *lp;
    char *name;
    struct jsonl s;
    struct qmp_opts o;
    enum qmp_state state;
    long greet_timer, fail_timer;
    json_t *greeting;
    struct qmp_req *reqs; /* in submission order */
    long next_id, next_handle;
    struct qmp_event *events; /* ring of o.max_events */
    size_t ev_head, ev_count, ev_dropped;
    qmp_event_fn ev_fn;
    void *ev_arg;
    struct ib_error dead;
    int busy;     /* depth of loop callbacks running on q */
    bool closing; /* qmp_close called while busy: free on the way out */
    bool watch_write;
};

static void on_io(struct loop *lp, int fd, int events, void *arg);

/* ---- lifetime and re-entrancy ---- */

static void req_free(struct qmp_req *r)
{
    free(r->cmd);
    json_decref(r->args);
    free(r);
}

static void destroy(struct qmp *q)
{
    for (struct qmp_req *r = q->reqs, *next; r; r = next) {
        next = r->next;
        if (r->timer)
            loop_cancel(q->lp, r->timer);
        req_free(r);
    }
    struct qmp_event ev;
    while (qmp_event_pop(q, &ev))
        qmp_event_clear(&ev);
    if (q->greet_timer)
        loop_cancel(q->lp, q->greet_timer);
    if (q->fail_timer)
        loop_cancel(q->lp, q->fail_timer);
    if (q->s.fd >= 0)
        loop_unwatch(q->lp, q->s.fd);
    jsonl_free(&q->s);
    json_decref(q->greeting);
    free(q->events);
    free(q->name);
    free(q);
}

void qmp_close(struct qmp *q)
{
    if (q == NULL)
        return;
    if (q->busy > 0) {
        /* Inside one of our callbacks: stop everything now, free on return. */
        q->closing = true;
        if (q->s.fd >= 0) {
            loop_unwatch(q->lp, q->s.fd);
            close(q->s.fd);
            q->s.fd = -1;
        }
        return;
    }
    destroy(q);
}

static void enter(struct qmp *q)
{
    q->busy++;
}

/* Returns false when q was closed meanwhile (and is now freed). */
static bool leave(struct qmp *q)
{
    if (--q->busy == 0 && q->closing) {
        destroy(q);
        return false;
    }
    return !q->closing;
}

/* ---- completing requests ---- */

static void unlink_req(struct qmp *q, struct qmp_req *r)
{
    for (struct qmp_req **pp = &q->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (r->timer)
        loop_cancel(q->lp, r->timer);
    r->timer = 0;
}

/* Runs the callback of an unlinked request and frees it. */
static void finish(struct qmp *q, struct qmp_req *r, struct qmp_result *res)
{
    if (r->cb != NULL)
        r->cb(q, res, r->arg);
    req_free(r);
}

static void finish_err(struct qmp *q, struct qmp_req *r, int status, const char *msg)
{
    struct qmp_result res = {0};
    ib_err(&res.err, status, "%s", msg);
    finish(q, r, &res);
}

static void fail_all(struct loop *lp, void *arg)
{
    (void)lp;
    struct qmp *q = arg;
    q->fail_timer = 0;
    enter(q);
    while (q->reqs != NULL && !q->closing) {
        struct qmp_req *r = q->reqs;
        unlink_req(q, r);
        finish_err(q, r, q->dead.status, q->dead.msg);
    }
    leave(q);
}

/* The connection is unusable: close it at once (QMP takes one client, the
 * next one should not wait for us) and fail what is pending from the loop. */
static void die(struct qmp *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void die(struct qmp *q, int status, const char *fmt, ...)
{
    if (q->state == QMP_DEAD)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->dead.msg, sizeof q->dead.msg, fmt, ap);
    va_end(ap);
    q->dead.status = status;
    q->state = QMP_DEAD;
    if (q->greet_timer)
        loop_cancel(q->lp, q->greet_timer);
    q->greet_timer = 0;
    if (q->s.fd >= 0) {
        loop_unwatch(q->lp, q->s.fd);
        close(q->s.fd);
        q->s.fd = -1;
    }
    if (q->fail_timer == 0)
        q->fail_timer = loop_timer(q->lp, 0, fail_all, q);
}

/* ---- sending ---- */

static void update_watch(struct qmp *q)
{
    if (q->s.fd < 0)
        return;
    bool want = jsonl_pending(&q->s);
    if (want != q->watch_write || want) {
        loop_watch(q->lp, q->s.fd, LOOP_READ | (want ? LOOP_WRITE : 0), on_io, q);
        q->watch_write = want;
    }
}

static void flush(struct qmp *q)
{
    struct ib_error err = {0};
    if (q->s.fd >= 0 && jsonl_flush(&q->s, &err) < 0) {
        die(q, IB_EFAIL, "QMP connection to %s lost: %s", q->name, err.msg);
        return;
    }
    update_watch(q);
}

static void send_req(struct qmp *q, struct qmp_req *r)
{
    r->id = q->next_id++;
    json_t *doc = json_pack("{s:s, s:I}", "execute", r->cmd, "id", (json_int_t)r->id);
    if (r->args != NULL)
        json_object_set_new(doc, "arguments", r->args);
    r->args = NULL;
    r->sent = true;
    jsonl_queue_json(&q->s, doc);
    json_decref(doc);
}

static void send_unsent(struct qmp *q)
{
    for (struct qmp_req *r = q->reqs; r; r = r->next)
        if (!r->sent)
            send_req(q, r);
    flush(q);
}

/* ---- receiving ---- */

static struct qmp_req *find_sent(struct qmp *q, const json_t *id)
{
    /* Our ids are small integers: anything else (a huge real, whose
     * conversion would be undefined) answers nothing of ours. */
    json_int_t want;
    if (json_is_integer(id))
        want = json_integer_value(id);
    else if (json_is_real(id) && json_real_value(id) >= 0 && json_real_value(id) < 1e15)
        want = (json_int_t)json_real_value(id);
    else
        return NULL;
    for (struct qmp_req *r = q->reqs; r; r = r->next)
        if (r->sent && r->id == want)
            return r;
    return NULL;
}

static int error_status(const char *cls)
{
    if (cls && (strcmp(cls, "CommandNotFound") == 0 || strcmp(cls, "DeviceNotFound") == 0))
        return IB_ENOTFOUND;
    return IB_EFAIL;
}

static void complete_reply(struct qmp *q, struct qmp_req *r, json_t *doc)
{
    struct qmp_result res = {0};
    json_t *ret = json_object_get(doc, "return");
    json_t *error = json_object_get(doc, "error");
    unlink_req(q, r);
    if (ret != NULL) {
        res.ret = ret;
        if (r->hmp && qmp_hmp_check(ret, &res.err) < 0)
            res.ret = NULL;
    } else if (json_is_object(error)) {
        const char *cls = json_string_value(json_object_get(error, "class"));
        const char *desc = json_string_value(json_object_get(error, "desc"));
        res.error_class = cls ? cls : "GenericError";
        ib_err(&res.err, error_status(cls), "%s", desc ? desc : "QEMU refused the command");
    } else {
        ib_err(&res.err, IB_EFAIL, "QMP reply to '%s' has neither return nor error", r->cmd);
    }
    finish(q, r, &res);
}

static void push_event(struct qmp *q, json_t *doc)
{
    struct qmp_event ev = {0};
    ev.name = xstrdup(json_string_value(json_object_get(doc, "event")));
    ev.data = json_incref(json_object_get(doc, "data"));
    json_t *ts = json_object_get(doc, "timestamp");
    json_t *sec = json_object_get(ts, "seconds"), *usec = json_object_get(ts, "microseconds");
    /* The peer's numbers: kept only within a sane range (year < 2^31 s,
     * so the product cannot overflow). */
    double s_val = json_is_number(sec) ? json_number_value(sec) : -1;
    double u_val = json_is_number(usec) ? json_number_value(usec) : -1;
    if (s_val >= 0 && s_val < 2147483648.0 && u_val >= 0 && u_val < 1000000.0)
        ev.ts_us = (int64_t)s_val * 1000000 + (int64_t)u_val;
    if (q->ev_count == q->o.max_events) {
        qmp_event_clear(&q->events[q->ev_head]);
        q->ev_head = (q->ev_head + 1) % q->o.max_events;
        q->ev_count--;
        q->ev_dropped++;
    }
    q->events[(q->ev_head + q->ev_count) % q->o.max_events] = ev;
    q->ev_count++;
    if (q->ev_fn != NULL)
        q->ev_fn(q, q->ev_arg);
}

static void on_req_timeout(struct loop *lp, void *arg);

static void on_capabilities(struct qmp *q, const struct qmp_result *res, void *arg)
{
    (void)arg;
    if (res->ret == NULL) {
        die(q, res->err.status, "QMP capabilities negotiation with %s failed: %s", q->name,
            res->err.msg);
        return;
    }
    q->state = QMP_READY;
    send_unsent(q);
}

static void start_negotiation(struct qmp *q, json_t *doc)
{
    loop_cancel(q->lp, q->greet_timer);
    q->greet_timer = 0;
    q->greeting = json_incref(json_object_get(doc, "QMP"));
    q->state = QMP_NEGOTIATING;
    struct qmp_req *r = xcalloc(1, sizeof *r);
    r->q = q;
    r->cmd = xstrdup("qmp_capabilities");
    r->internal = true;
    r->cb = on_capabilities;
    r->timeout_ms = q->o.greeting_timeout_ms;
    r->timer = loop_timer(q->lp, r->timeout_ms, on_req_timeout, r);
    /* Ahead of the caller's requests: they may only follow a success. */
    r->next = q->reqs;
    q->reqs = r;
    send_req(q, r);
    flush(q);
}

static void handle_line(struct qmp *q, const char *line, size_t len)
{
    struct ib_error err = {0};
    if (len == 0)
        return;
    json_t *doc = jsonl_parse_object(line, len, &err);
    if (doc == NULL) {
        die(q, IB_EFAIL, "QMP on %s sent %s; connection dropped", q->name, err.msg);
        return;
    }
    if (q->state == QMP_GREETING) {
        if (json_is_object(json_object_get(doc, "QMP")))
            start_negotiation(q, doc);
        else
            die(q, IB_EFAIL, "%s does not speak QMP: it began with %.80s", q->name, line);
    } else if (json_is_string(json_object_get(doc, "event"))) {
        push_event(q, doc);
    } else {
        /* No id (e.g. QEMU's answer to unparsable input) or an id we gave
         * up on: nobody is waiting for it. */
        struct qmp_req *r = find_sent(q, json_object_get(doc, "id"));
        if (r != NULL)
            complete_reply(q, r, doc);
    }
    json_decref(doc);
}

static void read_lines(struct qmp *q)
{
    struct ib_error err = {0};
    int rc = jsonl_fill(&q->s, &err);
    char *line;
    size_t len;
    int got;
    /* Lines that arrived before an EOF still count. */
    while (!q->closing && q->state != QMP_DEAD && (got = jsonl_next(&q->s, &line, &len)) != 0) {
        if (got < 0) {
            rc = -1;
            ib_err(&err, IB_EFAIL, "reply line longer than the %zu-byte limit", q->o.max_line);
            break;
        }
        handle_line(q, line, len);
    }
    if (rc < 0 && !q->closing && q->state != QMP_DEAD) {
        if (strcmp(err.msg, "closed") == 0)
            die(q, IB_EFAIL, "QMP connection to %s closed", q->name);
        else
            die(q, IB_EFAIL, "QMP on %s: %s; connection dropped", q->name, err.msg);
    }
}

static void on_io(struct loop *lp, int fd, int events, void *arg)
{
    (void)lp;
    (void)fd;
    struct qmp *q = arg;
    enter(q);
    if (events & LOOP_WRITE)
        flush(q);
    if ((events & LOOP_READ) && q->state != QMP_DEAD && !q->closing)
        read_lines(q);
    leave(q);
}

/* ---- timers ---- */

static void on_greeting_timeout(struct loop *lp, void *arg)
{
    (void)lp;
    struct qmp *q = arg;
    q->greet_timer = 0;
    die(q, IB_ECONFLICT, "QMP is busy: another client holds %s", q->name);
}

static void on_req_timeout(struct loop *lp, void *arg)
{
    (void)lp;
    struct qmp_req *r = arg;
    struct qmp *q = r->q;
    struct qmp_result res = {0};
    r->timer = 0;
    unlink_req(q, r);
    if (q->state == QMP_DEAD)
        res.err = q->dead;
    else if (q->state == QMP_GREETING) /* nothing came back: usually another client */
        ib_err(&res.err, IB_ECONFLICT, "QMP is busy: another client holds %s", q->name);
    else
        ib_err(&res.err, IB_ETIMEOUT, "QEMU did not answer '%s' within %d ms", r->cmd,
               r->timeout_ms);
    enter(q);
    finish(q, r, &res);
    leave(q);
}

/* ---- public API ---- */

struct qmp *qmp_open_fd(struct loop *lp, int fd, const char *name, const struct qmp_opts *o)
{
    struct qmp *q = xcalloc(1, sizeof *q);
    q->lp = lp;
    q->name = xstrdup(name);
    q->o = o ? *o : (struct qmp_opts){0};
    if (q->o.greeting_timeout_ms <= 0)
        q->o.greeting_timeout_ms = 3000;
    if (q->o.max_line == 0)
        q->o.max_line = 16u << 20;
    if (q->o.max_events == 0)
        q->o.max_events = 256;
    q->events = xcalloc(q->o.max_events, sizeof *q->events);
    q->next_id = 1;
    jsonl_init(&q->s, fd, q->o.max_line);
    loop_watch(lp, fd, LOOP_READ, on_io, q);
    q->greet_timer = loop_timer(lp, q->o.greeting_timeout_ms, on_greeting_timeout, q);
    return q;
}

struct qmp *qmp_open_opts(struct loop *lp, const char *sock_path, const struct qmp_opts *o,
                          struct ib_error *err)
{
    int fd = unixsock_connect(sock_path, err);
    if (fd < 0) {
        ib_err_prefix(err, "QMP: ");
        return NULL;
    }
    return qmp_open_fd(lp, fd, sock_path, o);
}

struct qmp *qmp_open(struct loop *lp, const char *sock_path, struct ib_error *err)
{
    return qmp_open_opts(lp, sock_path, NULL, err);
}

static long add_request(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, bool hmp,
                        qmp_reply_fn cb, void *arg)
{
    struct qmp_req *r = xcalloc(1, sizeof *r);
    r->q = q;
    r->handle = ++q->next_handle;
    r->cmd = xstrdup(cmd);
    r->args = args;
    r->hmp = hmp;
    r->timeout_ms = timeout_ms;
    r->cb = cb;
    r->arg = arg;
    struct qmp_req **pp = &q->reqs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    if (timeout_ms >= 0)
        r->timer = loop_timer(q->lp, timeout_ms, on_req_timeout, r);
    if (q->state == QMP_READY) {
        send_req(q, r);
        flush(q);
    } else if (q->state == QMP_DEAD && q->fail_timer == 0) {
        q->fail_timer = loop_timer(q->lp, 0, fail_all, q);
    }
    return r->handle;
}

long qmp_request(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, qmp_reply_fn cb,
                 void *arg)
{
    return add_request(q, cmd, args, timeout_ms, false, cb, arg);
}

long qmp_hmp(struct qmp *q, const char *command_line, int timeout_ms, qmp_reply_fn cb, void *arg)
{
    json_t *args = json_pack("{s:s}", "command-line", command_line);
    return add_request(q, "human-monitor-command", args, timeout_ms, true, cb, arg);
}

void qmp_cancel(struct qmp *q, long id)
{
    for (struct qmp_req *r = q->reqs; r; r = r->next) {
        if (r->handle == id && !r->internal) {
            /* A sent request stays listed so its late reply is recognised
             * and dropped; it just has nobody to call any more. */
            r->cb = NULL;
            return;
        }
    }
}

/* The first line of HMP's output that reports a failure, or NULL. Most
 * commands say "Error: ..."; a few (hostfwd_add, hostfwd_remove) print
 * their own sentence instead. */
static const char *line_start_error(const char *text)
{
    static const char *const starts[] = {"Error: ", "unknown command:", "Could not ",
                                         "invalid "};
    for (const char *p = text; p != NULL; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        for (size_t i = 0; i < IB_ARRAY_LEN(starts); i++)
            if (strncmp(p, starts[i], strlen(starts[i])) == 0)
                return p;
        const char *eol = p + strcspn(p, "\r\n");
        const char *nf = strstr(p, " not found");
        if (nf != NULL && nf < eol)
            return p;
    }
    return NULL;
}

int qmp_hmp_check(const json_t *ret, struct ib_error *err)
{
    if (!json_is_string(ret))
        return ib_err(err, IB_EFAIL, "human-monitor-command returned no text");
    const char *bad = line_start_error(json_string_value(ret));
    if (bad == NULL)
        return 0;
    size_t n = strcspn(bad, "\r\n");
    if (strncmp(bad, "Error: ", 7) == 0) {
        bad += 7;
        n -= 7;
    }
    return ib_err(err, IB_EFAIL, "HMP: %.*s", (int)n, bad);
}

bool qmp_ready(const struct qmp *q)
{
    return q->state == QMP_READY;
}

bool qmp_failed(const struct qmp *q, struct ib_error *err)
{
    if (q->state != QMP_DEAD)
        return false;
    if (err != NULL)
        *err = q->dead;
    return true;
}

const json_t *qmp_greeting(const struct qmp *q)
{
    return q->greeting;
}

void qmp_set_event_fn(struct qmp *q, qmp_event_fn fn, void *arg)
{
    q->ev_fn = fn;
    q->ev_arg = arg;
}

bool qmp_event_pop(struct qmp *q, struct qmp_event *ev)
{
    if (q->ev_count == 0)
        return false;
    *ev = q->events[q->ev_head];
    q->events[q->ev_head] = (struct qmp_event){0};
    q->ev_head = (q->ev_head + 1) % q->o.max_events;
    q->ev_count--;
    return true;
}

void qmp_event_clear(struct qmp_event *ev)
{
    free(ev->name);
    json_decref(ev->data);
    *ev = (struct qmp_event){0};
}

size_t qmp_events_dropped(const struct qmp *q)
{
    return q->ev_dropped;
}

/* ---- blocking wrappers ---- */

struct call_ctx {
    bool done;
    json_t *ret;
    struct ib_error err;
};

static void call_done(struct qmp *q, const struct qmp_result *res, void *arg)
{
    (void)q;
    struct call_ctx *c = arg;
    c->done = true;
    c->ret = json_incref(res->ret);
    c->err = res->err;
}

static int call(const char *sock_path, const char *cmd, json_t *args, bool hmp, int timeout_ms,
                json_t **ret, struct ib_error *err)
{
    struct loop *lp = loop_new();
    struct qmp_opts o = {.greeting_timeout_ms = timeout_ms};
    struct qmp *q = qmp_open_opts(lp, sock_path, &o, err);
    if (q == NULL) {
        json_decref(args);
        loop_free(lp);
        return -1;
    }
    struct call_ctx c = {0};
    add_request(q, cmd, args, timeout_ms, hmp, call_done, &c);
    /* The request's own timer ends this; the deadline only guards a bug. */
    int64_t deadline = ib_now_ms() + timeout_ms + 1000;
    while (!c.done && ib_now_ms() < deadline)
        loop_run_once(lp, 100);
    qmp_close(q);
    loop_free(lp);
    if (!c.done)
        return ib_err(err, IB_ETIMEOUT, "QEMU did not answer '%s' within %d ms", cmd, timeout_ms);
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

int qmp_call(const char *sock_path, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
             struct ib_error *err)
{
    return call(sock_path, cmd, args, false, timeout_ms, ret, err);
}

int qmp_hmp_call(const char *sock_path, const char *command_line, int timeout_ms, char **out,
                 struct ib_error *err)
{
    json_t *ret = NULL;
    json_t *args = json_pack("{s:s}", "command-line", command_line);
    if (call(sock_path, "human-monitor-command", args, true, timeout_ms, &ret, err) < 0)
        return -1;
    if (out != NULL)
        *out = xstrdup(json_string_value(ret));
    json_decref(ret);
    return 0;
}
