/*
 * fuzz_qga.c - what the guest agent (a program in the guest: untrusted)
 * sends the agent client: sync replies, stale answers, garbage, 0xFF
 * bytes, exec statuses with base64 output, hang-ups, through the real
 * client (core/qga.c over core/jsonl.c) on the event loop.
 *
 * The input is a peer script (see fuzz.h). In '>' and '+' lines "$SYNC"
 * becomes the id of the client's latest guest-sync-delimited and "$OLD"
 * the one before (the client draws them at random). Client actions:
 *   !r CMD [JSON]   qga_request(CMD, JSON as the arguments)
 *   !x ARG...       qga_exec(ARG...) (at most 8 words)
 *   !i TEXT         qga_exec("cat") with TEXT as its input
 *   !s              qga_request("guest-shutdown"), which never answers
 *   !t              the next request times out at once (0 ms)
 *   !c              qga_cancel() of the last request or exec
 *   !X              the next callback closes the client
 *
 * Promises checked besides memory safety and leaks: a callback runs at
 * most once, never after qga_cancel(); an exec result has its buffers
 * NUL-terminated at their lengths; once the peer hangs up, everything not
 * cancelled has been answered.
 */
#include <jansson.h>

#include "core/qga.h"
#include "tests/fuzz/fuzz.h"

#define QGAF_MAX_OPS 64

struct qgaf;

struct qgaf_op {
    struct qgaf *f;
    long id;
    int calls;
    bool cancelled, exec;
};

struct qgaf {
    struct loop *lp;
    struct qga *g;
    struct fuzz_peer peer;
    size_t lines, waited;
    char partial[4096]; /* the client line being received (syncs are short) */
    size_t partial_len;
    bool partial_long;
    long long sync_id, old_sync_id;
    bool close_in_cb, next_times_out;
    struct qgaf_op ops[QGAF_MAX_OPS];
    size_t n_ops;
};

/* A complete client line: remember the id of a sync. */
static void qgaf_client_line(struct qgaf *f, const char *line, size_t len)
{
    while (len > 0 && (unsigned char)*line == 0xff)
        line++, len--;
    if (memmem(line, len, "guest-sync-delimited", 20) == NULL)
        return;
    json_t *doc = json_loadb(line, len, 0, NULL);
    json_t *id = json_object_get(json_object_get(doc, "arguments"), "id");
    if (json_is_integer(id)) {
        f->old_sync_id = f->sync_id;
        f->sync_id = json_integer_value(id);
    }
    json_decref(doc);
}

static void qgaf_count(const uint8_t *b, size_t n, void *arg)
{
    struct qgaf *f = arg;
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '\n') {
            f->lines++;
            if (!f->partial_long)
                qgaf_client_line(f, f->partial, f->partial_len);
            f->partial_len = 0;
            f->partial_long = false;
        } else if (f->partial_len < sizeof f->partial) {
            f->partial[f->partial_len++] = (char)b[i];
        } else {
            f->partial_long = true;
        }
    }
}

static bool qgaf_pending_exec(const struct qgaf *f)
{
    for (size_t i = 0; i < f->n_ops; i++)
        if (f->ops[i].exec && !f->ops[i].cancelled && f->ops[i].calls == 0)
            return true;
    return false;
}

static bool qgaf_pending(const struct qgaf *f)
{
    for (size_t i = 0; i < f->n_ops; i++)
        if (!f->ops[i].cancelled && f->ops[i].calls == 0)
            return true;
    return false;
}

static void qgaf_called(struct qgaf_op *op)
{
    if (op->cancelled)
        fuzz_fail("operation %ld was called back after qga_cancel", op->id);
    if (++op->calls > 1)
        fuzz_fail("operation %ld was called back %d times", op->id, op->calls);
}

static void qgaf_maybe_close(struct qgaf *f, struct qga *g)
{
    if (f->close_in_cb && f->g == g) {
        f->close_in_cb = false;
        qga_close(g);
        f->g = NULL;
    }
}

static void qgaf_on_reply(struct qga *g, const struct qga_result *res, void *arg)
{
    struct qgaf_op *op = arg;
    qgaf_called(op);
    fuzz_debug("request %ld: %s%s", op->id,
               res->ret ? "ok" : "error: ", res->ret ? "" : res->err.msg);
    if (res->ret != NULL) {
        char *s = json_dumps(res->ret, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s == NULL)
            fuzz_fail("a reply that cannot be printed");
        free(s);
    } else if (res->err.msg[0] == '\0') {
        fuzz_fail("request %ld failed without a message", op->id);
    }
    qgaf_maybe_close(op->f, g);
}

static void qgaf_on_exec(struct qga *g, struct qga_exec_result *res, const struct ib_error *err,
                         void *arg)
{
    struct qgaf_op *op = arg;
    qgaf_called(op);
    fuzz_debug("exec %ld: %s", op->id, err ? err->msg : "done");
    if ((res == NULL) == (err == NULL))
        fuzz_fail("exec %ld: a result and an error, or neither", op->id);
    if (err != NULL && err->msg[0] == '\0')
        fuzz_fail("exec %ld failed without a message", op->id);
    if (res != NULL) {
        if (res->out == NULL || res->err == NULL || res->out[res->out_len] != '\0' ||
            res->err[res->err_len] != '\0')
            fuzz_fail("exec %ld: output buffers not NUL-terminated at their lengths", op->id);
        if (res->signal != 0 && res->exit_code != -1)
            fuzz_fail("exec %ld: both a signal and an exit code", op->id);
    }
    qgaf_maybe_close(op->f, g);
}

static struct qgaf_op *qgaf_new_op(struct qgaf *f, bool exec)
{
    if (f->n_ops == QGAF_MAX_OPS)
        return NULL;
    struct qgaf_op *op = &f->ops[f->n_ops++];
    op->f = f;
    op->exec = exec;
    return op;
}

static int qgaf_timeout(struct qgaf *f)
{
    int t = f->next_times_out ? 0 : 30000;
    f->next_times_out = false;
    return t;
}

static void qgaf_request(struct qgaf *f, const char *arg)
{
    struct qgaf_op *op = qgaf_new_op(f, false);
    if (op == NULL)
        return;
    char cmd[64];
    size_t n = strcspn(arg, " ");
    snprintf(cmd, sizeof cmd, "%.*s", (int)(n < sizeof cmd ? n : sizeof cmd - 1), arg);
    for (char *c = cmd; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            *c = '_'; /* command names are ours, never the peer's */
    json_t *args = arg[n] ? json_loads(arg + n + 1, JSON_DECODE_ANY, NULL) : NULL;
    if (args != NULL && !json_is_object(args)) {
        json_decref(args);
        args = NULL;
    }
    op->id = qga_request(f->g, cmd, args, qgaf_timeout(f), qgaf_on_reply, op);
}

static void qgaf_exec(struct qgaf *f, char *words, const char *input)
{
    struct qgaf_op *op = qgaf_new_op(f, true);
    if (op == NULL)
        return;
    const char *argv[9] = {"cat"};
    size_t n = 0;
    for (char *w = strtok(words, " "); w && n < 8; w = strtok(NULL, " "))
        argv[n++] = w;
    argv[n ? n : 1] = NULL;
    op->id =
        qga_exec(f->g, argv, input, input ? strlen(input) : 0, qgaf_timeout(f), qgaf_on_exec, op);
}

static void qgaf_action(struct qgaf *f, char *a)
{
    char *rest = a[0] && a[1] == ' ' ? a + 2 : a[0] ? a + 1 : a;
    switch (a[0]) {
    case 'r':
        qgaf_request(f, rest);
        break;
    case 'x':
        qgaf_exec(f, rest, NULL);
        break;
    case 'i': {
        char cat[] = "cat";
        qgaf_exec(f, cat, rest);
        break;
    }
    case 's': {
        char shutdown[] = "guest-shutdown {\"mode\": \"powerdown\"}";
        qgaf_request(f, shutdown);
        break;
    }
    case 't':
        f->next_times_out = true;
        break;
    case 'c':
        if (f->n_ops > 0 && f->ops[f->n_ops - 1].calls == 0 && !f->ops[f->n_ops - 1].cancelled) {
            f->ops[f->n_ops - 1].cancelled = true;
            qga_cancel(f->g, f->ops[f->n_ops - 1].id);
        }
        break;
    case 'X':
        f->close_in_cb = true;
        break;
    default:
        break;
    }
}

/* TEXT with $SYNC and $OLD replaced by the ids the client drew. */
static char *qgaf_expand(const struct qgaf *f, const char *text, size_t len, size_t *out_len)
{
    char *out = xmalloc(len * 4 + 64), *o = out;
    for (size_t i = 0; i < len;) {
        if (len - i >= 5 && memcmp(text + i, "$SYNC", 5) == 0) {
            o += sprintf(o, "%lld", f->sync_id);
            i += 5;
        } else if (len - i >= 4 && memcmp(text + i, "$OLD", 4) == 0) {
            o += sprintf(o, "%lld", f->old_sync_id);
            i += 4;
        } else {
            *o++ = text[i++];
        }
    }
    *out_len = (size_t)(o - out);
    return out;
}

static void qgaf_line(struct qgaf *f, const struct fuzz_line *l)
{
    if (l->n == 0)
        return;
    size_t len, elen;
    char *arg, *exp;
    switch (l->p[0]) {
    case '>':
    case '+':
        fuzz_peer_drain(&f->peer, qgaf_count, f); /* the latest sync id */
        arg = fuzz_line_arg(l, 1, true, &len);
        exp = qgaf_expand(f, arg, len, &elen);
        fuzz_peer_send(&f->peer, exp, elen);
        if (l->p[0] == '>')
            fuzz_peer_send(&f->peer, "\n", 1);
        free(exp);
        free(arg);
        fuzz_pump(f->lp, 4);
        break;
    case '<':
        fuzz_peer_wait(&f->peer, qgaf_count, f, &f->lines, ++f->waited,
                       qgaf_pending_exec(f) ? 40 : 0);
        break;
    case '!':
        arg = fuzz_line_arg(l, 1, true, NULL);
        qgaf_action(f, arg);
        free(arg);
        break;
    case '~':
        fuzz_pump(f->lp, 16);
        break;
    default:
        if (fuzz_line_is(l, "close"))
            fuzz_peer_close(&f->peer);
        break;
    }
}

FUZZ_ENTRY(qga)
{
    struct qgaf *f = xcalloc(1, sizeof *f);
    f->lp = loop_new();
    int cfd;
    fuzz_peer_open(&f->peer, f->lp, &cfd);
    struct qga_opts o = {.max_line = 4096};
    f->g = qga_open_fd(f->lp, cfd, "fuzz-qga.sock", &o);
    size_t off = 0;
    struct fuzz_line l;
    while (f->g != NULL && fuzz_next_line(data, size, &off, &l))
        qgaf_line(f, &l);
    fuzz_peer_close(&f->peer);
    /* An exec between two polls notices the hang-up at its next poll. */
    fuzz_pump(f->lp, 16);
    for (int i = 0; i < 12 && f->g != NULL && qgaf_pending(f); i++)
        if (fuzz_pump(f->lp, 16) == 0)
            loop_run_once(f->lp, qgaf_pending_exec(f) ? 50 : 0);
    if (f->g != NULL) {
        if (!qga_failed(f->g, NULL))
            fuzz_fail("the client did not notice the hang-up");
        for (size_t i = 0; i < f->n_ops; i++)
            if (!f->ops[i].cancelled && f->ops[i].calls != 1)
                fuzz_fail("operation %ld never answered after the hang-up", f->ops[i].id);
        qga_close(f->g);
    }
    fuzz_peer_free(&f->peer);
    loop_free(f->lp);
    free(f);
    return 0;
}
