/*
 * fuzz_qmp.c - what QEMU (or whoever holds qmp.sock) sends the QMP client:
 * greetings, replies, events, garbage, overlong lines, hang-ups, through the
 * real client (core/qmp.c over core/jsonl.c) on the event loop.
 *
 * The input is a peer script (see fuzz.h) with these client actions:
 *   !q CMD [JSON]   qmp_request(CMD, JSON as the arguments)
 *   !h TEXT         qmp_hmp(TEXT)
 *   !c              qmp_cancel() of the last request
 *   !e              pops every queued event
 *   !E              from now on the event callback pops events itself
 *   !X              the next callback (reply or event) closes the client
 *
 * Promises checked besides memory safety and leaks: a callback runs at most
 * once, never after qmp_cancel(); a result has "return" or a message; once
 * the peer hangs up, every request not cancelled has been answered.
 */
#include <jansson.h>

#include "core/qmp.h"
#include "tests/fuzz/fuzz.h"

#define QMPF_MAX_REQS 64

struct qmpf;

struct qmpf_req {
    struct qmpf *f;
    long id;
    int calls;
    bool cancelled;
};

struct qmpf {
    struct loop *lp;
    struct qmp *q;
    struct fuzz_peer peer;
    size_t lines, waited; /* client lines seen; lines the script waited for */
    bool close_in_cb, pop_in_cb;
    struct qmpf_req reqs[QMPF_MAX_REQS];
    size_t n_reqs;
};

static void qmpf_count(const uint8_t *b, size_t n, void *arg)
{
    struct qmpf *f = arg;
    for (size_t i = 0; i < n; i++)
        f->lines += b[i] == '\n';
}

static void qmpf_close_now(struct qmpf *f)
{
    f->close_in_cb = false;
    qmp_close(f->q);
    f->q = NULL;
}

static void qmpf_pop_events(struct qmp *q)
{
    struct qmp_event ev;
    while (qmp_event_pop(q, &ev)) {
        if (ev.name == NULL)
            fuzz_fail("an event without a name");
        fuzz_debug("event %s at %lld us", ev.name, (long long)ev.ts_us);
        if (ev.data != NULL) {
            char *s = json_dumps(ev.data, JSON_ENCODE_ANY | JSON_COMPACT);
            free(s);
        }
        qmp_event_clear(&ev);
    }
}

static void qmpf_on_reply(struct qmp *q, const struct qmp_result *res, void *arg)
{
    struct qmpf_req *r = arg;
    struct qmpf *f = r->f;
    if (r->cancelled)
        fuzz_fail("request %ld was called back after qmp_cancel", r->id);
    if (++r->calls > 1)
        fuzz_fail("request %ld was called back %d times", r->id, r->calls);
    fuzz_debug("request %ld: %s%s", r->id,
               res->ret ? "ok" : "error: ", res->ret ? "" : res->err.msg);
    if (res->ret != NULL) {
        char *s = json_dumps(res->ret, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s == NULL)
            fuzz_fail("a reply that cannot be printed");
        free(s);
    } else if (res->err.msg[0] == '\0') {
        fuzz_fail("request %ld failed without a message", r->id);
    }
    if (res->error_class != NULL && strlen(res->error_class) > (1u << 20))
        fuzz_fail("error class out of bounds");
    if (f->close_in_cb && f->q == q)
        qmpf_close_now(f);
}

static void qmpf_on_event(struct qmp *q, void *arg)
{
    struct qmpf *f = arg;
    if (f->pop_in_cb)
        qmpf_pop_events(q);
    if (f->close_in_cb && f->q == q)
        qmpf_close_now(f);
}

static void qmpf_request(struct qmpf *f, const char *arg, bool hmp)
{
    if (f->n_reqs == QMPF_MAX_REQS)
        return;
    struct qmpf_req *r = &f->reqs[f->n_reqs++];
    r->f = f;
    if (hmp) {
        r->id = qmp_hmp(f->q, arg, 30000, qmpf_on_reply, r);
        return;
    }
    /* Command names are the program's own words, never the peer's: keep
     * them ASCII (qmp_request aborts on a name that is not UTF-8). */
    char cmd[64];
    size_t n = strcspn(arg, " ");
    snprintf(cmd, sizeof cmd, "%.*s", (int)(n < sizeof cmd ? n : sizeof cmd - 1), arg);
    for (char *c = cmd; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            *c = '_';
    json_t *args = arg[n] ? json_loads(arg + n + 1, JSON_DECODE_ANY, NULL) : NULL;
    if (args != NULL && !json_is_object(args)) {
        json_decref(args);
        args = NULL;
    }
    r->id = qmp_request(f->q, cmd, args, 30000, qmpf_on_reply, r);
}

static void qmpf_action(struct qmpf *f, const char *a)
{
    switch (a[0]) {
    case 'q':
        qmpf_request(f, a[1] == ' ' ? a + 2 : a + 1, false);
        break;
    case 'h':
        qmpf_request(f, a[1] == ' ' ? a + 2 : a + 1, true);
        break;
    case 'c':
        if (f->n_reqs > 0 && !f->reqs[f->n_reqs - 1].cancelled &&
            f->reqs[f->n_reqs - 1].calls == 0) {
            f->reqs[f->n_reqs - 1].cancelled = true;
            qmp_cancel(f->q, f->reqs[f->n_reqs - 1].id);
        }
        break;
    case 'e':
        qmpf_pop_events(f->q);
        break;
    case 'E':
        f->pop_in_cb = true;
        break;
    case 'X':
        f->close_in_cb = true;
        break;
    default:
        break;
    }
}

static void qmpf_line(struct qmpf *f, const struct fuzz_line *l)
{
    if (l->n == 0)
        return;
    size_t len;
    char *arg;
    switch (l->p[0]) {
    case '>':
    case '+':
        arg = fuzz_line_arg(l, 1, true, &len);
        fuzz_peer_send(&f->peer, arg, len);
        if (l->p[0] == '>')
            fuzz_peer_send(&f->peer, "\r\n", 2);
        free(arg);
        fuzz_pump(f->lp, 4);
        break;
    case '<':
        fuzz_peer_wait(&f->peer, qmpf_count, f, &f->lines, ++f->waited, 0);
        break;
    case '!':
        arg = fuzz_line_arg(l, 1, true, NULL);
        qmpf_action(f, arg);
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

FUZZ_ENTRY(qmp)
{
    struct qmpf *f = xcalloc(1, sizeof *f);
    f->lp = loop_new();
    int cfd;
    fuzz_peer_open(&f->peer, f->lp, &cfd);
    /* Small limits, so that overlong lines and a full event queue are
     * reachable; a greeting timeout no run lasts. */
    struct qmp_opts o = {.greeting_timeout_ms = 60000, .max_line = 2048, .max_events = 4};
    f->q = qmp_open_fd(f->lp, cfd, "fuzz.sock", &o);
    qmp_set_event_fn(f->q, qmpf_on_event, f);
    size_t off = 0;
    struct fuzz_line l;
    while (f->q != NULL && fuzz_next_line(data, size, &off, &l))
        qmpf_line(f, &l);
    /* The peer hangs up: everything pending must now fail, from the loop. */
    fuzz_peer_close(&f->peer);
    for (int i = 0; i < 8 && f->q != NULL; i++)
        fuzz_pump(f->lp, 16);
    if (f->q != NULL) {
        if (!qmp_failed(f->q, NULL))
            fuzz_fail("the client did not notice the hang-up");
        if (qmp_ready(f->q) && qmp_greeting(f->q) == NULL)
            fuzz_fail("ready without a greeting");
        for (size_t i = 0; i < f->n_reqs; i++)
            if (!f->reqs[i].cancelled && f->reqs[i].calls != 1)
                fuzz_fail("request %ld never answered after the hang-up", f->reqs[i].id);
        qmpf_pop_events(f->q);
        qmp_close(f->q);
    }
    fuzz_peer_free(&f->peer);
    loop_free(f->lp);
    free(f);
    return 0;
}
