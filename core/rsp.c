/* rsp.c - see rsp.h. Sections: codec, stop replies, client core, handshake
 * and target description, operations, register helpers, blocking forms. */
#include "core/rsp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/safetext.h"
#include "core/util.h"

/* ======================= codec ======================= */

enum { DEC_IDLE, DEC_DATA, DEC_ESC, DEC_RLE, DEC_CS1, DEC_CS2 };

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void rsp_decoder_init(struct rsp_decoder *d, size_t max_packet)
{
    memset(d, 0, sizeof *d);
    d->max = max_packet ? max_packet : 256 * 1024;
}

void rsp_decoder_free(struct rsp_decoder *d)
{
    free(d->buf);
    memset(d, 0, sizeof *d);
}

static void dec_start(struct rsp_decoder *d, bool notify)
{
    d->state = DEC_DATA;
    d->notify = notify;
    d->overflow = false;
    d->bad = NULL;
    d->len = 0;
    d->sum = 0;
}

static void dec_put(struct rsp_decoder *d, uint8_t c, size_t count)
{
    if (d->overflow || count > d->max - d->len) {
        d->overflow = true;
        return;
    }
    if (d->cap < d->len + count + 1) {
        d->cap = (d->len + count + 1) * 2;
        if (d->cap > d->max + 1)
            d->cap = d->max + 1;
        d->buf = xrealloc(d->buf, d->cap);
    }
    memset(d->buf + d->len, c, count);
    d->len += count;
}

static void dec_bad(struct rsp_decoder *d, const char *why)
{
    if (d->bad == NULL)
        d->bad = why;
}

/* The end of a packet: checksum and verdict. */
static void dec_finish(struct rsp_decoder *d, int lo, struct rsp_frame *f)
{
    d->state = DEC_IDLE;
    if (d->buf == NULL)
        d->buf = xmalloc(d->cap = 64);
    d->buf[d->overflow ? 0 : d->len] = '\0';
    f->data = d->buf;
    f->len = d->overflow ? 0 : d->len;
    f->too_long = d->overflow;
    if (d->hi < 0x10 && lo >= 0 && (uint8_t)(d->hi << 4 | lo) != d->sum)
        dec_bad(d, "bad checksum");
    if (d->hi >= 0x10 || lo < 0)
        dec_bad(d, "checksum is not hex");
    if (d->overflow)
        dec_bad(d, "packet too long");
    f->kind = d->bad ? RSP_FRAME_BAD : d->notify ? RSP_FRAME_NOTIFY : RSP_FRAME_PACKET;
    f->why = d->bad;
}

/* One byte inside a packet; true when it completed a frame in f. */
static bool dec_data_byte(struct rsp_decoder *d, uint8_t c, struct rsp_frame *f)
{
    if (c == '$') {
        /* A new start inside a packet: the old one was cut short. ('%' is
         * plain data here: binary payloads do not escape it.) */
        f->kind = RSP_FRAME_BAD;
        f->data = (const uint8_t *)"";
        f->len = 0;
        f->too_long = false;
        f->why = "truncated packet";
        dec_start(d, false);
        return true;
    }
    if (c == '#') {
        if (d->state != DEC_DATA)
            dec_bad(d, d->state == DEC_ESC ? "escape at end of packet" : "run length at end");
        d->state = DEC_CS1;
        return false;
    }
    d->sum = (uint8_t)(d->sum + c);
    if (d->state == DEC_ESC) {
        dec_put(d, c ^ 0x20, 1);
        d->state = DEC_DATA;
    } else if (d->state == DEC_RLE) {
        /* n+29 repeats the previous byte n more times; GDB never sends the
         * counts that would read as '#' or '$' (6, 7). */
        if (c < 32 || c > 126)
            dec_bad(d, "bad run length");
        else
            dec_put(d, d->buf[d->len - 1], (size_t)(c - 29));
        d->state = DEC_DATA;
    } else if (c == '}') {
        d->state = DEC_ESC;
    } else if (c == '*') {
        if (d->len == 0 || d->overflow)
            dec_bad(d, "run length with nothing to repeat");
        else
            d->state = DEC_RLE;
    } else {
        dec_put(d, c, 1);
    }
    return false;
}

size_t rsp_decoder_feed(struct rsp_decoder *d, const uint8_t *in, size_t n, struct rsp_frame *f)
{
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        switch (d->state) {
        case DEC_IDLE:
            if (c == '+' || c == '-') {
                f->kind = c == '+' ? RSP_FRAME_ACK : RSP_FRAME_NAK;
                return i + 1;
            }
            if (c == '$' || c == '%')
                dec_start(d, c == '%');
            break; /* anything else between packets is noise */
        case DEC_CS1:
            d->hi = hexval(c) < 0 ? 0x10 : (uint8_t)hexval(c);
            d->state = DEC_CS2;
            break;
        case DEC_CS2:
            dec_finish(d, hexval(c), f);
            return i + 1;
        default:
            if (dec_data_byte(d, c, f))
                return i + 1;
        }
    }
    return n;
}

uint8_t *rsp_frame_encode(const void *data, size_t len, size_t *out_len)
{
    const uint8_t *p = data;
    /* '$', every byte escaped at worst, "#xx" and sprintf's NUL. */
    uint8_t *out = xmalloc(len * 2 + 5);
    size_t n = 0;
    uint8_t sum = 0;
    out[n++] = '$';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            out[n++] = '}';
            sum = (uint8_t)(sum + '}');
            c ^= 0x20;
        }
        out[n++] = c;
        sum = (uint8_t)(sum + c);
    }
    n += (size_t)sprintf((char *)out + n, "#%02x", sum);
    *out_len = n;
    return out;
}

/* ======================= stop replies ======================= */

static bool hex2(const uint8_t *p, size_t len, int *val)
{
    if (len < 2 || hexval(p[0]) < 0 || hexval(p[1]) < 0)
        return false;
    *val = hexval(p[0]) << 4 | hexval(p[1]);
    return true;
}

/* An error that quotes (at most 40 bytes of) a stub's reply, escaped: the
 * reply is the guest's and the message may reach a terminal. */
static int reply_err(struct ib_error *err, const uint8_t *reply, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reply_err(struct ib_error *err, const uint8_t *reply, size_t len, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char *safe = safetext_escape((const char *)reply, len > 40 ? 40 : len);
    ib_err(err, IB_EFAIL, "%s %s", what, safe);
    free(safe);
    return -1;
}

/* gdbserver writes W and X with "%x" once multiprocess is on ("X9;process:b3"):
 * one digit or two, then the end or ';'. Returns the digits, 0 if not so. */
static size_t exit_digits(const uint8_t *pkt, size_t len, int *val)
{
    if (len < 2 || (pkt[0] != 'W' && pkt[0] != 'X') || hexval(pkt[1]) < 0)
        return 0;
    if (len == 2 || pkt[2] == ';') {
        *val = hexval(pkt[1]);
        return 1;
    }
    return hex2(pkt + 1, len - 1, val) && (len == 3 || pkt[3] == ';') ? 2 : 0;
}

bool rsp_is_stop_reply(const uint8_t *pkt, size_t len)
{
    int v;
    if (exit_digits(pkt, len, &v) > 0)
        return true;
    if (len < 3 || !strchr("ST", pkt[0]) || !hex2(pkt + 1, len - 1, &v))
        return false;
    /* "T0;tnotrun:0" (qTStatus) is not one: a stop has exactly two digits. */
    return len == 3 || pkt[3] == ';' || (pkt[0] == 'T' && len > 3);
}

/* Parses hex into *out; false on an empty, overlong or non-hex field. */
static bool parse_hex_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint64_t)h;
    }
    *out = v;
    return true;
}

/* "p<pid>.<tid>", "<tid>", with -1 for "all". */
static bool parse_thread_id(const char *s, size_t len, long *pid, long *tid)
{
    uint64_t v;
    const char *dot = memchr(s, '.', len);
    if (len > 0 && s[0] == 'p') {
        size_t plen = dot ? (size_t)(dot - s - 1) : len - 1;
        if (plen == 2 && strncmp(s + 1, "-1", 2) == 0)
            *pid = -1;
        else if (parse_hex_u64(s + 1, plen, &v) && v <= 0x7fffffff)
            *pid = (long)v;
        else
            return false;
        if (dot == NULL)
            return true;
        len -= (size_t)(dot + 1 - s);
        s = dot + 1;
    }
    if (len == 2 && strncmp(s, "-1", 2) == 0) {
        *tid = -1;
        return true;
    }
    if (!parse_hex_u64(s, len, &v) || v > 0x7fffffff)
        return false;
    *tid = (long)v;
    return true;
}

static const char *const stop_reasons[] = {
    "watch", "rwatch", "awatch", "syscall_entry", "syscall_return", "library", "replaylog",
    "swbreak", "hwbreak", "fork", "vfork", "vforkdone", "exec", "create",
};

static bool known_reason(const char *name, size_t len)
{
    for (size_t i = 0; i < IB_ARRAY_LEN(stop_reasons); i++)
        if (strlen(stop_reasons[i]) == len && strncmp(stop_reasons[i], name, len) == 0)
            return true;
    return false;
}

static int stop_register(struct rsp_stop *out, uint64_t regnum, const char *val, size_t vlen,
                         struct ib_error *err)
{
    if (vlen % 2 != 0 || vlen / 2 > sizeof out->regs[0].bytes || regnum > 0xffff)
        return ib_err(err, IB_EFAIL, "stop reply: bad value for register %llx",
                      (unsigned long long)regnum);
    if (out->n_regs == RSP_STOP_MAX_REGS)
        return 0; /* more than we keep: the rest is read with 'g' anyway */
    size_t k = out->n_regs++;
    out->regs[k].regnum = (int)regnum;
    out->regs[k].len = vlen / 2;
    for (size_t i = 0; i < vlen / 2; i++) {
        int b;
        /* "xx" marks an unavailable value: keep it as 0. */
        out->regs[k].bytes[i] = hex2((const uint8_t *)val + 2 * i, 2, &b) ? (uint8_t)b : 0;
    }
    return 0;
}

/* One "name:value" pair of a T packet. */
static int stop_pair(struct rsp_stop *out, const char *s, size_t len, struct ib_error *err)
{
    const char *colon = memchr(s, ':', len);
    size_t nlen = colon ? (size_t)(colon - s) : len;
    const char *val = colon ? colon + 1 : s + len;
    size_t vlen = colon ? len - nlen - 1 : 0;
    uint64_t num;
    if (nlen == 6 && strncmp(s, "thread", 6) == 0) {
        if (!parse_thread_id(val, vlen, &out->pid, &out->tid))
            return ib_err(err, IB_EFAIL, "stop reply: bad thread id");
    } else if (nlen == 4 && strncmp(s, "core", 4) == 0) {
        if (parse_hex_u64(val, vlen, &num) && num < 65536)
            out->core = (int)num;
    } else if (known_reason(s, nlen)) {
        snprintf(out->reason, sizeof out->reason, "%.*s", (int)nlen, s);
        if (parse_hex_u64(val, vlen, &num))
            out->reason_value = num;
    } else if (parse_hex_u64(s, nlen, &num)) {
        return stop_register(out, num, val, vlen, err);
    }
    /* Unknown names must be ignored, says the protocol. */
    return 0;
}

int rsp_stop_parse(const uint8_t *pkt, size_t len, struct rsp_stop *out, struct ib_error *err)
{
    memset(out, 0, sizeof *out);
    out->core = -1;
    int v;
    size_t digits = exit_digits(pkt, len, &v);
    if (digits == 0 && (!rsp_is_stop_reply(pkt, len) || !hex2(pkt + 1, len - 1, &v)))
        return reply_err(err, pkt, len, "not a stop reply:");
    if (digits == 0)
        digits = 2;
    out->kind = pkt[0] == 'W' ? RSP_STOP_EXITED : pkt[0] == 'X' ? RSP_STOP_TERMINATED
                                                                : RSP_STOP_SIGNAL;
    if (out->kind == RSP_STOP_EXITED)
        out->exit_code = v;
    else
        out->signal = v;
    const char *p = (const char *)pkt + 1 + digits, *end = (const char *)pkt + len;
    if (pkt[0] != 'T') {
        /* W/X may carry ";process:pid". */
        uint64_t pid;
        if (end - p > 9 && strncmp(p, ";process:", 9) == 0 &&
            parse_hex_u64(p + 9, (size_t)(end - p - 9), &pid) && pid <= 0x7fffffff)
            out->pid = (long)pid;
        return 0;
    }
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        size_t n = semi ? (size_t)(semi - p) : (size_t)(end - p);
        if (n > 0 && stop_pair(out, p, n, err) < 0)
            return -1;
        p += n + 1;
    }
    return 0;
}

/* ======================= client core ======================= */

enum rsp_state { RSP_CONNECTING, RSP_HANDSHAKE, RSP_READY, RSP_DEAD };
enum req_kind { REQ_NORMAL, REQ_STOP_NOW, REQ_RESUME, REQ_WAIT };
enum { MAX_NAKS = 10, MAX_DOCS = 32, MAX_DOC_BYTES = 1 << 20, MAX_REGS = 1024 };

struct rsp_req {
    struct rsp *r;
    long id;
    enum req_kind kind;
    bool internal;     /* handshake: goes before the caller's requests */
    bool deliver_last; /* a wait for a stop that had already come */
    uint8_t *pkt;
    size_t len;
    int timeout_ms;
    long timer;
    rsp_reply_fn cb;
    void *arg;
    void (*arg_free)(void *arg); /* when dropped unanswered by rsp_close */
    /* Builds the packet when it is sent: what the handshake learnt (packet
     * size, multiprocess, vCont) is known only then. */
    void (*prepare)(struct rsp_req *q);
    char *refusal; /* never sent: answered with this error (see refuse) */
    struct rsp_req *next;
};

struct feature {
    char *name, *value;
};

struct rsp {
    struct loop *lp;
    bool own_loop;
    char *name;
    int fd;
    struct rsp_opts o;
    enum rsp_state state;
    long connect_timer, fail_timer;
    int64_t handshake_deadline;
    struct rsp_decoder dec;
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    bool watch_write;
    uint8_t *last_frame; /* for a '-' from the peer */
    size_t last_frame_len;
    int naks;
    bool ack_mode;
    size_t packet_size;
    struct feature *features;
    size_t n_features;
    bool multiprocess, vcont_c, vcont_s;
    char *arch;
    struct rsp_reg *regs;
    size_t n_regs;
    int next_regnum;
    char **docs; /* target description documents still to read */
    size_t n_docs, docs_done;
    uint8_t *doc;
    size_t doc_len;
    struct rsp_req *queue, *inflight, *waiters;
    struct rsp_req *refused; /* answered with their refusal from the loop */
    long next_id;
    bool running, stop_unclaimed, have_stop;
    struct rsp_stop last_stop;
    long last_pid;
    rsp_stop_fn stop_fn;
    void *stop_arg;
    rsp_output_fn out_fn;
    void *out_arg;
    struct ib_error dead;
    int busy;
    bool closing;
};

static void on_io(struct loop *lp, int fd, int events, void *arg);
static void pump(struct rsp *r);
static void handshake_start(struct rsp *r);

static void req_free(struct rsp_req *q, bool dropped)
{
    if (dropped && q->arg_free != NULL)
        q->arg_free(q->arg);
    free(q->pkt);
    free(q->refusal);
    free(q);
}

static void free_list(struct rsp *r, struct rsp_req *q)
{
    for (struct rsp_req *next; q; q = next) {
        next = q->next;
        if (q->timer)
            loop_cancel(r->lp, q->timer);
        req_free(q, true);
    }
}

static void release_fd(struct rsp *r)
{
    if (r->fd >= 0) {
        loop_unwatch(r->lp, r->fd);
        close(r->fd);
        r->fd = -1;
    }
}

static void destroy(struct rsp *r)
{
    free_list(r, r->queue);
    free_list(r, r->inflight);
    free_list(r, r->waiters);
    free_list(r, r->refused);
    if (r->connect_timer)
        loop_cancel(r->lp, r->connect_timer);
    if (r->fail_timer)
        loop_cancel(r->lp, r->fail_timer);
    release_fd(r);
    rsp_decoder_free(&r->dec);
    for (size_t i = 0; i < r->n_features; i++) {
        free(r->features[i].name);
        free(r->features[i].value);
    }
    for (size_t i = 0; i < r->n_docs; i++)
        free(r->docs[i]);
    free(r->features);
    free(r->docs);
    free(r->doc);
    free(r->regs);
    free(r->arch);
    free(r->out);
    free(r->last_frame);
    free(r->name);
    if (r->own_loop)
        loop_free(r->lp);
    free(r);
}

void rsp_close(struct rsp *r)
{
    if (r == NULL)
        return;
    if (r->busy > 0) {
        r->closing = true;
        release_fd(r);
        return;
    }
    destroy(r);
}

static void enter(struct rsp *r)
{
    r->busy++;
}

static bool leave(struct rsp *r)
{
    if (--r->busy == 0 && r->closing) {
        destroy(r);
        return false;
    }
    return !r->closing;
}

/* Printable start of a packet, for messages. */
static const char *describe(const uint8_t *pkt, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < cap && i < 40; i++)
        buf[n++] = pkt[i] >= 32 && pkt[i] < 127 ? (char)pkt[i] : '.';
    if (len > 40 && n + 4 < cap)
        buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = '\0';
    return buf;
}

/* Unlinks q from whichever list holds it. */
static void req_unlink(struct rsp *r, struct rsp_req *q)
{
    if (r->inflight == q) {
        r->inflight = NULL;
    } else {
        struct rsp_req **lists[] = {&r->queue, &r->waiters, &r->refused};
        for (size_t i = 0; i < IB_ARRAY_LEN(lists); i++)
            for (struct rsp_req **pp = lists[i]; *pp; pp = &(*pp)->next)
                if (*pp == q) {
                    *pp = q->next;
                    goto unlinked;
                }
    }
unlinked:
    q->next = NULL;
    if (q->timer)
        loop_cancel(r->lp, q->timer);
    q->timer = 0;
}

static void req_finish(struct rsp *r, struct rsp_req *q, const uint8_t *reply, size_t len,
                       const struct ib_error *err)
{
    req_unlink(r, q);
    if (q->cb != NULL)
        q->cb(r, reply, len, err, q->arg);
    req_free(q, q->cb == NULL);
}

static void fail_all(struct loop *lp, void *arg)
{
    (void)lp;
    struct rsp *r = arg;
    r->fail_timer = 0;
    enter(r);
    struct rsp_req **lists[] = {&r->inflight, &r->waiters, &r->queue, &r->refused};
    for (size_t i = 0; i < IB_ARRAY_LEN(lists) && !r->closing; i++)
        while (*lists[i] != NULL && !r->closing)
            req_finish(r, *lists[i], NULL, 0, &r->dead);
    leave(r);
}

static void die(struct rsp *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void die(struct rsp *r, int status, const char *fmt, ...)
{
    if (r->state == RSP_DEAD)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->dead.msg, sizeof r->dead.msg, fmt, ap);
    va_end(ap);
    r->dead.status = status;
    r->state = RSP_DEAD;
    r->running = false;
    if (r->connect_timer)
        loop_cancel(r->lp, r->connect_timer);
    r->connect_timer = 0;
    release_fd(r);
    if (r->fail_timer == 0)
        r->fail_timer = loop_timer(r->lp, 0, fail_all, r);
}

/* ---- output ---- */

static void update_watch(struct rsp *r)
{
    if (r->fd < 0)
        return;
    bool want = r->out_off < r->out_len || r->state == RSP_CONNECTING;
    if (want != r->watch_write || want) {
        loop_watch(r->lp, r->fd, LOOP_READ | (want ? LOOP_WRITE : 0), on_io, r);
        r->watch_write = want;
    }
}

static void flush(struct rsp *r)
{
    while (r->fd >= 0 && r->state != RSP_CONNECTING && r->out_off < r->out_len) {
        ssize_t n = send(r->fd, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            die(r, IB_EFAIL, "connection to %s lost: %s", r->name, strerror(errno));
            return;
        }
        r->out_off += (size_t)n;
    }
    if (r->out_off == r->out_len)
        r->out_off = r->out_len = 0;
    update_watch(r);
}

static void queue_bytes(struct rsp *r, const void *data, size_t len)
{
    if (r->out_cap - r->out_len < len) {
        r->out_cap = (r->out_len + len) * 2;
        r->out = xrealloc(r->out, r->out_cap);
    }
    memcpy(r->out + r->out_len, data, len);
    r->out_len += len;
}

static void send_packet(struct rsp *r, const uint8_t *pkt, size_t len)
{
    free(r->last_frame);
    r->last_frame = rsp_frame_encode(pkt, len, &r->last_frame_len);
    r->naks = 0;
    queue_bytes(r, r->last_frame, r->last_frame_len);
    flush(r);
}

/* ---- requests ---- */

static enum req_kind classify(const uint8_t *p, size_t len)
{
    if (len == 0)
        return REQ_NORMAL;
    if (strchr("csCS", p[0]) && (len == 1 || p[0] == 'C' || p[0] == 'S' ||
                                 hexval(p[1]) >= 0))
        return REQ_RESUME;
    if (len > 6 && memcmp(p, "vCont;", 6) == 0)
        return REQ_RESUME;
    if ((len == 1 && p[0] == '?') || (len > 8 && memcmp(p, "vAttach;", 8) == 0) ||
        (len > 5 && memcmp(p, "vRun;", 5) == 0))
        return REQ_STOP_NOW;
    return REQ_NORMAL;
}

static void on_req_timeout(struct loop *lp, void *arg);

static struct rsp_req *req_new(struct rsp *r, const void *pkt, size_t len, int timeout_ms,
                               rsp_reply_fn cb, void *arg)
{
    struct rsp_req *q = xcalloc(1, sizeof *q);
    q->r = r;
    q->id = ++r->next_id;
    q->pkt = xmalloc(len + 1);
    memcpy(q->pkt, pkt, len);
    q->pkt[len] = '\0';
    q->len = len;
    q->kind = classify(q->pkt, len);
    q->timeout_ms = timeout_ms;
    q->cb = cb;
    q->arg = arg;
    if (timeout_ms >= 0)
        q->timer = loop_timer(r->lp, timeout_ms, on_req_timeout, q);
    return q;
}

static void enqueue(struct rsp *r, struct rsp_req *q)
{
    struct rsp_req **pp = &r->queue;
    if (q->internal) {
        /* After the other internal steps, before the caller's requests. */
        while (*pp && (*pp)->internal)
            pp = &(*pp)->next;
    } else {
        while (*pp)
            pp = &(*pp)->next;
    }
    q->next = *pp;
    *pp = q;
    if (r->state == RSP_DEAD && r->fail_timer == 0)
        r->fail_timer = loop_timer(r->lp, 0, fail_all, r);
}

static void add_waiter(struct rsp *r, struct rsp_req *q)
{
    struct rsp_req **pp = &r->waiters;
    while (*pp)
        pp = &(*pp)->next;
    q->next = NULL;
    *pp = q;
}

/* Sends the queue's head when nothing is in flight and the target is
 * stopped; a resume then waits among the waiters for the stop. */
static void pump(struct rsp *r)
{
    while (!r->closing && r->inflight == NULL && !r->running && r->queue != NULL &&
           (r->state == RSP_READY || (r->state == RSP_HANDSHAKE && r->queue->internal))) {
        struct rsp_req *q = r->queue;
        r->queue = q->next;
        q->next = NULL;
        if (q->prepare != NULL) {
            q->prepare(q);
            q->kind = classify(q->pkt, q->len);
        }
        send_packet(r, q->pkt, q->len);
        if (r->state == RSP_DEAD) {
            r->inflight = q; /* fail_all will answer it */
            return;
        }
        if (q->kind != REQ_RESUME) {
            r->inflight = q;
            return;
        }
        r->running = true;
        r->stop_unclaimed = false;
        add_waiter(r, q);
    }
}

static void on_req_timeout(struct loop *lp, void *arg)
{
    (void)lp;
    struct rsp_req *q = arg;
    struct rsp *r = q->r;
    struct ib_error err = {0};
    char what[64];
    q->timer = 0;
    describe(q->pkt, q->len, what, sizeof what);
    enter(r);
    if (q->refusal != NULL) {
        ib_err(&err, IB_EINPUT, "%s", q->refusal);
        req_finish(r, q, NULL, 0, &err);
    } else if (q->deliver_last) {
        struct rsp_req *w = q;
        req_unlink(r, w);
        if (w->cb != NULL)
            w->cb(r, NULL, 0, NULL, w->arg); /* NULL reply: the last stop */
        req_free(w, w->cb == NULL);
    } else if (q->kind == REQ_RESUME || q->kind == REQ_WAIT) {
        if (q->kind == REQ_WAIT || r->running)
            ib_err(&err, IB_ETIMEOUT, "target still running after %d ms", q->timeout_ms);
        else /* never sent: something ahead of it hung */
            ib_err(&err, IB_ETIMEOUT, "%s did not take '%s' within %d ms", r->name, what,
                   q->timeout_ms);
        req_finish(r, q, NULL, 0, &err);
    } else if (r->inflight == q) {
        int ms = q->timeout_ms;
        ib_err(&err, IB_ETIMEOUT, "%s did not answer '%s' within %d ms", r->name, what, ms);
        req_finish(r, q, NULL, 0, &err);
        /* RSP has no ids: a late answer would be taken for the next one. */
        die(r, IB_ETIMEOUT, "%s did not answer '%s' within %d ms; the session is out of step "
            "(reconnect)", r->name, what, ms);
    } else {
        if (r->running)
            ib_err(&err, IB_ETIMEOUT, "the target is running: '%s' waited %d ms (interrupt it "
                   "first)", what, q->timeout_ms);
        else
            ib_err(&err, IB_ETIMEOUT, "%s did not answer '%s' within %d ms", r->name, what,
                   q->timeout_ms);
        req_finish(r, q, NULL, 0, &err);
    }
    leave(r);
}

/* ---- input ---- */

static bool is_output(const uint8_t *p, size_t len)
{
    if (len < 3 || p[0] != 'O' || (len - 1) % 2 != 0)
        return false;
    for (size_t i = 1; i < len; i++)
        if (hexval(p[i]) < 0)
            return false;
    return true;
}

static size_t hex_decode(const uint8_t *hex, size_t len, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
        /* 'x' marks an unavailable byte (registers): 0. */
        out[n++] = hi < 0 || lo < 0 ? 0 : (uint8_t)(hi << 4 | lo);
    }
    return n;
}

static void deliver_output(struct rsp *r, const uint8_t *p, size_t len)
{
    if (r->out_fn == NULL)
        return;
    uint8_t *buf = xmalloc(len / 2 + 1);
    size_t n = hex_decode(p + 1, len - 1, buf);
    r->out_fn(r, buf, n, r->out_arg);
    free(buf);
}

static void handle_stop(struct rsp *r, const uint8_t *p, size_t len)
{
    struct rsp_stop stop;
    if (rsp_stop_parse(p, len, &stop, NULL) < 0)
        return;
    r->last_stop = stop;
    r->have_stop = true;
    if (stop.pid > 0)
        r->last_pid = stop.pid;
    r->running = false;
    r->stop_unclaimed = r->waiters == NULL;
    if (r->stop_fn != NULL)
        r->stop_fn(r, &stop, NULL, r->stop_arg);
    while (r->waiters != NULL && !r->closing)
        req_finish(r, r->waiters, p, len, NULL);
}

/* A packet while resumed that is neither output nor a stop: the stub
 * refused to resume ("E01"), so the target is not running after all. */
static void resume_refused(struct rsp *r, const uint8_t *p, size_t len)
{
    struct ib_error err;
    char what[64];
    ib_err(&err, IB_EFAIL, "%s refused to resume: %s", r->name,
           describe(p, len, what, sizeof what));
    r->running = false;
    while (r->waiters != NULL && !r->closing)
        req_finish(r, r->waiters, NULL, 0, &err);
}

static void handle_packet(struct rsp *r, const uint8_t *p, size_t len)
{
    if (r->ack_mode)
        queue_bytes(r, "+", 1), flush(r);
    if (is_output(p, len)) {
        deliver_output(r, p, len);
    } else if (r->running) {
        if (rsp_is_stop_reply(p, len))
            handle_stop(r, p, len);
        else
            resume_refused(r, p, len);
    } else if (r->inflight != NULL && r->inflight->kind == REQ_STOP_NOW &&
               rsp_is_stop_reply(p, len)) {
        struct rsp_stop stop;
        if (rsp_stop_parse(p, len, &stop, NULL) == 0) {
            r->last_stop = stop;
            r->have_stop = true;
            if (stop.pid > 0)
                r->last_pid = stop.pid;
            if (r->stop_fn != NULL)
                r->stop_fn(r, &stop, NULL, r->stop_arg);
        }
        if (!r->closing && r->inflight != NULL)
            req_finish(r, r->inflight, p, len, NULL);
    } else if (rsp_is_stop_reply(p, len)) {
        /* Unsolicited (QEMU's T02 on connect): no normal reply looks like
         * this, so the request in flight keeps waiting for its own. */
        handle_stop(r, p, len);
    } else if (r->inflight != NULL) {
        req_finish(r, r->inflight, p, len, NULL);
    }
    /* else: an answer nobody waits for; dropped. */
    if (!r->closing)
        pump(r);
}

static void handle_bad(struct rsp *r, const struct rsp_frame *f)
{
    struct ib_error err;
    if (!f->too_long && r->ack_mode) {
        queue_bytes(r, "-", 1); /* the stub sends it again */
        flush(r);
        return;
    }
    if (f->too_long && r->ack_mode) {
        queue_bytes(r, "+", 1); /* received fine, we just will not take it */
        flush(r);
    }
    if (f->too_long)
        ib_err(&err, IB_EFAIL, "%s sent a packet longer than %zu bytes", r->name, r->o.max_packet);
    else
        ib_err(&err, IB_EFAIL, "%s sent a corrupt packet (%s)", r->name, f->why);
    if (r->inflight != NULL)
        req_finish(r, r->inflight, NULL, 0, &err);
    if (!r->closing)
        pump(r);
}

static void handle_frame(struct rsp *r, const struct rsp_frame *f)
{
    switch (f->kind) {
    case RSP_FRAME_NAK:
        if (++r->naks > MAX_NAKS) {
            die(r, IB_EFAIL, "%s rejected our packet %d times", r->name, MAX_NAKS);
        } else if (r->last_frame != NULL) {
            queue_bytes(r, r->last_frame, r->last_frame_len);
            flush(r);
        }
        break;
    case RSP_FRAME_PACKET:
        handle_packet(r, f->data, f->len);
        break;
    case RSP_FRAME_BAD:
        handle_bad(r, f);
        break;
    default: /* acks, and notifications: we run all-stop */
        break;
    }
}

static void read_input(struct rsp *r)
{
    uint8_t buf[65536];
    ssize_t n = recv(r->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        die(r, IB_EFAIL, "%s closed the connection%s%s", r->name, n < 0 ? ": " : "",
            n < 0 ? strerror(errno) : "");
        return;
    }
    size_t off = 0;
    while (off < (size_t)n && !r->closing && r->state != RSP_DEAD) {
        struct rsp_frame f;
        off += rsp_decoder_feed(&r->dec, buf + off, (size_t)n - off, &f);
        if (f.kind != RSP_FRAME_NONE)
            handle_frame(r, &f);
    }
}

static void finish_connect(struct rsp *r)
{
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr != 0) {
        die(r, soerr == ECONNREFUSED ? IB_ENOTFOUND : IB_EFAIL, "cannot connect to %s: %s",
            r->name, strerror(soerr));
        return;
    }
    /* connect_timer keeps running: it bounds the handshake too. */
    handshake_start(r);
}

static void on_io(struct loop *lp, int fd, int events, void *arg)
{
    (void)lp;
    (void)fd;
    struct rsp *r = arg;
    enter(r);
    if (r->state == RSP_CONNECTING && (events & (LOOP_WRITE | LOOP_READ)))
        finish_connect(r);
    else if (events & LOOP_WRITE)
        flush(r);
    if ((events & LOOP_READ) && r->state != RSP_DEAD && r->state != RSP_CONNECTING &&
        !r->closing)
        read_input(r);
    leave(r);
}

static void on_connect_timeout(struct loop *lp, void *arg)
{
    (void)lp;
    struct rsp *r = arg;
    r->connect_timer = 0;
    if (r->state == RSP_CONNECTING)
        die(r, IB_ETIMEOUT, "cannot connect to %s: no answer within %d ms", r->name,
            r->o.connect_timeout_ms);
    else
        die(r, IB_ETIMEOUT, "%s did not finish the handshake within %d ms", r->name,
            r->o.connect_timeout_ms);
}

/* ======================= handshake, target description ======================= */

static void hs_send(struct rsp *r, const char *pkt, rsp_reply_fn cb)
{
    /* No timer of its own: connect_timer bounds the whole handshake. */
    struct rsp_req *q = req_new(r, pkt, strlen(pkt), -1, cb, NULL);
    q->internal = true;
    enqueue(r, q);
    pump(r);
}

static bool hs_failed(struct rsp *r, const struct ib_error *err)
{
    if (err == NULL)
        return false;
    die(r, err->status, "%s", err->msg);
    return true;
}

const char *rsp_feature(const struct rsp *r, const char *name)
{
    for (size_t i = 0; i < r->n_features; i++)
        if (strcmp(r->features[i].name, name) == 0)
            return r->features[i].value;
    return NULL;
}

static void add_feature(struct rsp *r, const char *s, size_t len)
{
    const char *eq = memchr(s, '=', len);
    size_t nlen = eq ? (size_t)(eq - s) : len;
    const char *val = eq ? eq + 1 : "+";
    size_t vlen = eq ? len - nlen - 1 : 1;
    if (!eq && len > 0 && strchr("+-?", s[len - 1])) {
        nlen = len - 1;
        val = s + len - 1;
    }
    if (nlen == 0 || nlen > 64 || vlen > 64 || r->n_features >= 128)
        return;
    r->features = xrealloc(r->features, (r->n_features + 1) * sizeof *r->features);
    r->features[r->n_features].name = xstrndup(s, nlen);
    r->features[r->n_features].value = xstrndup(val, vlen);
    r->n_features++;
}

static void hs_ready(struct rsp *r)
{
    r->state = RSP_READY;
    if (r->connect_timer)
        loop_cancel(r->lp, r->connect_timer);
    r->connect_timer = 0;
    pump(r);
}

static void hs_vcont(struct rsp *r, const uint8_t *reply, size_t len, const struct ib_error *err,
                     void *arg)
{
    (void)arg;
    if (hs_failed(r, err))
        return;
    if (len >= 5 && memcmp(reply, "vCont", 5) == 0) {
        const char *s = (const char *)reply;
        r->vcont_c = strstr(s, ";c") != NULL;
        r->vcont_s = strstr(s, ";s") != NULL;
    }
    hs_ready(r);
}

/* The value of attribute name inside one tag, or false. */
static bool xml_attr(const char *tag, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (size_t i = 1; i + nlen + 2 < len; i++) {
        if (strchr(" \t\r\n", tag[i - 1]) == NULL || strncmp(tag + i, name, nlen) != 0)
            continue;
        size_t j = i + nlen;
        while (j < len && strchr(" \t\r\n", tag[j]))
            j++;
        if (j + 1 >= len || tag[j] != '=')
            continue;
        j++;
        while (j < len && strchr(" \t\r\n", tag[j]))
            j++;
        if (j >= len || (tag[j] != '"' && tag[j] != '\''))
            continue;
        const char *end = memchr(tag + j + 1, tag[j], len - j - 1);
        if (end == NULL || (size_t)(end - tag - j - 1) >= cap)
            return false;
        snprintf(out, cap, "%.*s", (int)(end - tag - j - 1), tag + j + 1);
        return true;
    }
    return false;
}

static void add_reg(struct rsp *r, const char *name, int regnum, int bits)
{
    if (r->n_regs >= MAX_REGS || bits <= 0 || bits > 4096 || bits % 8 != 0 || regnum < 0 ||
        regnum > 65535)
        return;
    r->regs = xrealloc(r->regs, (r->n_regs + 1) * sizeof *r->regs);
    struct rsp_reg *g = &r->regs[r->n_regs++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->regnum = regnum;
    g->bits = bits;
    r->next_regnum = regnum + 1;
}

/* An annex we would put in a packet: no separators, no framing bytes. */
static bool safe_annex(const char *s)
{
    if (*s == '\0' || strlen(s) > 100)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127 || strchr(":;,#$}*", *s))
            return false;
    return true;
}

static void xml_tag(struct rsp *r, const char *tag, size_t len)
{
    char name[64], num[16], bits[16];
    if (len > 4 && strncmp(tag, "reg", 3) == 0 && strchr(" \t\r\n", tag[3])) {
        if (!xml_attr(tag, len, "name", name, sizeof name) ||
            !xml_attr(tag, len, "bitsize", bits, sizeof bits))
            return;
        int regnum = xml_attr(tag, len, "regnum", num, sizeof num) ? atoi(num) : r->next_regnum;
        add_reg(r, name, regnum, atoi(bits));
    } else if (len > 11 && strncmp(tag, "xi:include", 10) == 0 &&
               xml_attr(tag, len, "href", name, sizeof name) && safe_annex(name) &&
               r->n_docs < MAX_DOCS) {
        r->docs = xrealloc(r->docs, (r->n_docs + 1) * sizeof *r->docs);
        r->docs[r->n_docs++] = xstrdup(name);
    } else if (len > 13 && strncmp(tag, "architecture", 12) == 0 && tag[12] == '>') {
        const char *end = memchr(tag + 13, '<', len - 13);
        if (end != NULL && r->arch == NULL)
            r->arch = xstrndup(tag + 13, (size_t)(end - tag - 13));
    }
}

/* Just enough XML for gdb-target.dtd: <reg .../>, <xi:include/>, and
 * <architecture>; comments skipped. */
static void tdesc_parse(struct rsp *r, const char *xml, size_t len)
{
    const char *p = xml, *end = xml + len;
    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        if (end - p >= 4 && strncmp(p, "<!--", 4) == 0) {
            const char *c = memmem(p, (size_t)(end - p), "-->", 3);
            if (c == NULL)
                return;
            p = c + 3;
            continue;
        }
        const char *close = memchr(p, '>', (size_t)(end - p));
        if (close == NULL)
            return;
        size_t tlen = (size_t)(close - p - 1);
        /* <architecture>arm</...>: let the tag see its text. */
        if (tlen == 12 && strncmp(p + 1, "architecture", 12) == 0)
            tlen = (size_t)(end - p - 1);
        xml_tag(r, p + 1, tlen);
        p = close + 1;
    }
}

static int cmp_regnum(const void *a, const void *b)
{
    const struct rsp_reg *x = a, *y = b;
    return (x->regnum > y->regnum) - (x->regnum < y->regnum);
}

static void layout_finish(struct rsp *r)
{
    if (r->n_regs == 0) {
        /* No description: GDB's classic ARM 'g' layout, with the old FPA
         * registers between pc and cpsr. */
        static const char *const core[] = {"r0", "r1", "r2", "r3", "r4",  "r5", "r6", "r7",
                                           "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"};
        for (int i = 0; i < 16; i++)
            add_reg(r, core[i], i, 32);
        for (int i = 0; i < 8; i++) {
            char f[16];
            snprintf(f, sizeof f, "f%d", i);
            add_reg(r, f, 16 + i, 96);
        }
        add_reg(r, "fps", 24, 32);
        add_reg(r, "cpsr", 25, 32);
    }
    qsort(r->regs, r->n_regs, sizeof *r->regs, cmp_regnum);
    size_t off = 0;
    for (size_t i = 0; i < r->n_regs; i++) {
        r->regs[i].offset = off;
        off += (size_t)r->regs[i].bits / 8;
    }
}

static void hs_tdesc_done(struct rsp *r)
{
    layout_finish(r);
    hs_send(r, "vCont?", hs_vcont);
}

static void hs_read_doc(struct rsp *r);

static void hs_xfer(struct rsp *r, const uint8_t *reply, size_t len, const struct ib_error *err,
                    void *arg)
{
    (void)arg;
    if (hs_failed(r, err))
        return;
    if (len == 0 || (reply[0] != 'm' && reply[0] != 'l') ||
        r->doc_len + len - 1 > MAX_DOC_BYTES) {
        /* No description after all ("", "E00", too big): guess. */
        r->n_regs = 0;
        r->doc_len = 0;
        hs_tdesc_done(r);
        return;
    }
    r->doc = xrealloc(r->doc, r->doc_len + len);
    memcpy(r->doc + r->doc_len, reply + 1, len - 1);
    r->doc_len += len - 1;
    if (reply[0] == 'm' && len > 1) {
        hs_read_doc(r);
        return;
    }
    tdesc_parse(r, (const char *)r->doc, r->doc_len);
    r->doc_len = 0;
    r->docs_done++;
    if (r->docs_done < r->n_docs)
        hs_read_doc(r);
    else
        hs_tdesc_done(r);
}

static void hs_read_doc(struct rsp *r)
{
    size_t chunk = (r->packet_size < r->o.max_packet ? r->packet_size : r->o.max_packet) - 5;
    char pkt[200];
    snprintf(pkt, sizeof pkt, "qXfer:features:read:%s:%zx,%zx", r->docs[r->docs_done],
             r->doc_len, chunk);
    hs_send(r, pkt, hs_xfer);
}

static void hs_after_noack(struct rsp *r)
{
    const char *x = rsp_feature(r, "qXfer:features:read");
    if (x != NULL && strcmp(x, "+") == 0) {
        r->docs = xmalloc(sizeof *r->docs);
        r->docs[0] = xstrdup("target.xml");
        r->n_docs = 1;
        hs_read_doc(r);
    } else {
        hs_tdesc_done(r);
    }
}

static void hs_noack(struct rsp *r, const uint8_t *reply, size_t len, const struct ib_error *err,
                     void *arg)
{
    (void)arg;
    if (hs_failed(r, err))
        return;
    /* The OK itself was still acknowledged (handle_packet did). */
    if (len == 2 && memcmp(reply, "OK", 2) == 0)
        r->ack_mode = false;
    hs_after_noack(r);
}

static void hs_supported(struct rsp *r, const uint8_t *reply, size_t len,
                         const struct ib_error *err, void *arg)
{
    (void)arg;
    if (hs_failed(r, err))
        return;
    const char *s = (const char *)reply, *end = s + len;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        size_t n = semi ? (size_t)(semi - s) : (size_t)(end - s);
        add_feature(r, s, n);
        s += n + 1;
    }
    uint64_t size;
    const char *ps = rsp_feature(r, "PacketSize");
    if (ps && parse_hex_u64(ps, strlen(ps), &size) && size >= 64 && size <= (1u << 24))
        r->packet_size = (size_t)size;
    const char *mp = rsp_feature(r, "multiprocess");
    r->multiprocess = mp && strcmp(mp, "+") == 0;
    const char *na = rsp_feature(r, "QStartNoAckMode");
    if (na && strcmp(na, "+") == 0 && !r->o.keep_acks)
        hs_send(r, "QStartNoAckMode", hs_noack);
    else
        hs_after_noack(r);
}

static void handshake_start(struct rsp *r)
{
    r->state = RSP_HANDSHAKE;
    update_watch(r);
    hs_send(r, "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+", hs_supported);
}

/* ======================= operations ======================= */

/* Allocation for op structs that live across requests: freed by their last
 * callback, or by rsp_close through arg_free. */
static long send_req(struct rsp *r, const void *pkt, size_t len, int timeout_ms, rsp_reply_fn cb,
                     void *arg, void (*arg_free)(void *))
{
    struct rsp_req *q = req_new(r, pkt, len, timeout_ms, cb, arg);
    q->arg_free = arg_free;
    enqueue(r, q);
    pump(r);
    return q->id;
}

static void op_free(void *p);

/* A request whose packet prepare() writes when it is sent. */
static long send_prepared(struct rsp *r, void (*prepare)(struct rsp_req *), int timeout_ms,
                          rsp_reply_fn cb, void *op)
{
    struct rsp_req *q = req_new(r, "", 0, timeout_ms, cb, op);
    q->arg_free = op_free;
    q->prepare = prepare;
    enqueue(r, q);
    pump(r);
    return q->id;
}

static void set_packet(struct rsp_req *q, const char *pkt)
{
    free(q->pkt);
    q->pkt = (uint8_t *)xstrdup(pkt);
    q->len = strlen(pkt);
}

long rsp_request_bin(struct rsp *r, const void *packet, size_t len, int timeout_ms,
                     rsp_reply_fn cb, void *arg)
{
    return send_req(r, packet, len, timeout_ms, cb, arg, NULL);
}

long rsp_request(struct rsp *r, const char *packet, int timeout_ms, rsp_reply_fn cb, void *arg)
{
    return send_req(r, packet, strlen(packet), timeout_ms, cb, arg, NULL);
}

int rsp_reply_check(const uint8_t *reply, size_t len, const char *what, struct ib_error *err)
{
    if (len == 0)
        return ib_err(err, IB_EFAIL, "%s: not supported by the stub", what);
    if (reply[0] == 'E' && (len == 3 || (len > 1 && reply[1] == '.')))
        return reply_err(err, reply, len, "%s: the stub answered", what);
    return 0;
}

/* ---- ops with one callback type adapted from raw replies ---- */

struct op {
    struct rsp *r;
    char what[64];
    union {
        rsp_done_fn done;
        rsp_data_fn data;
        rsp_stop_fn stop;
    } cb;
    void *arg;
    /* memory */
    uint64_t addr;
    uint8_t *buf;
    size_t len, pos;
    bool write;
    size_t chunk; /* bytes asked in the packet in flight */
    int timeout_ms;
    int64_t deadline;
    long pid;      /* detach */
    bool asked_qc; /* detach: the packet in flight is qC */
    bool step;     /* resume: s, not c */
};

static void op_free(void *p)
{
    struct op *op = p;
    free(op->buf);
    free(op);
}

static struct op *op_new(struct rsp *r, const char *what, void *arg)
{
    struct op *op = xcalloc(1, sizeof *op);
    op->r = r;
    snprintf(op->what, sizeof op->what, "%s", what);
    op->arg = arg;
    return op;
}

static void on_done_reply(struct rsp *r, const uint8_t *reply, size_t len,
                          const struct ib_error *err, void *arg)
{
    struct op *op = arg;
    struct ib_error e = {0};
    if (err == NULL && rsp_reply_check(reply, len, op->what, &e) == 0 &&
        !(len == 2 && memcmp(reply, "OK", 2) == 0))
        reply_err(&e, reply, len, "%s: unexpected answer", op->what);
    if (op->cb.done != NULL)
        op->cb.done(r, err ? err : e.msg[0] ? &e : NULL, op->arg);
    op_free(op);
}

static long send_done_op(struct rsp *r, const char *pkt, size_t len, const char *what,
                         int timeout_ms, rsp_done_fn cb, void *arg)
{
    struct op *op = op_new(r, what, arg);
    op->cb.done = cb;
    return send_req(r, pkt, len, timeout_ms, on_done_reply, op, op_free);
}

static void on_stop_reply(struct rsp *r, const uint8_t *reply, size_t len,
                          const struct ib_error *err, void *arg)
{
    struct op *op = arg;
    struct rsp_stop stop;
    struct ib_error e = {0};
    if (err == NULL && reply == NULL) {
        stop = r->last_stop; /* a wait for a stop that had already come */
    } else if (err == NULL && rsp_stop_parse(reply, len, &stop, &e) < 0) {
        err = &e;
    }
    if (op->cb.stop != NULL)
        op->cb.stop(r, err ? NULL : &stop, err, op->arg);
    op_free(op);
}

static void resume_prepare(struct rsp_req *q)
{
    struct op *op = q->arg;
    bool vcont = op->step ? op->r->vcont_s : op->r->vcont_c;
    set_packet(q, vcont ? (op->step ? "vCont;s" : "vCont;c") : (op->step ? "s" : "c"));
}

static long send_resume(struct rsp *r, bool step, int timeout_ms, rsp_stop_fn cb, void *arg)
{
    struct op *op = op_new(r, step ? "step" : "continue", arg);
    op->cb.stop = cb;
    op->step = step;
    struct rsp_req *q = req_new(r, "c", 1, timeout_ms, on_stop_reply, op);
    q->arg_free = op_free;
    q->prepare = resume_prepare;
    enqueue(r, q);
    pump(r);
    return q->id;
}

/* ---- registers ---- */

static bool all_hex(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (hexval(p[i]) < 0 && p[i] != 'x')
            return false;
    return true;
}

static void on_data_reply(struct rsp *r, const uint8_t *reply, size_t len,
                          const struct ib_error *err, void *arg)
{
    struct op *op = arg;
    struct ib_error e = {0};
    uint8_t *buf = NULL;
    size_t n = 0;
    if (err == NULL && rsp_reply_check(reply, len, op->what, &e) == 0) {
        if (len % 2 != 0 || !all_hex(reply, len))
            ib_err(&e, IB_EFAIL, "%s: the answer is not hex", op->what);
        else
            buf = xmalloc(len / 2 + 1), n = hex_decode(reply, len, buf);
    }
    if (err == NULL && e.msg[0] != '\0')
        err = &e;
    if (op->cb.data != NULL)
        op->cb.data(r, err ? NULL : buf, n, err, op->arg);
    free(buf);
    op_free(op);
}

long rsp_read_registers(struct rsp *r, int timeout_ms, rsp_data_fn cb, void *arg)
{
    struct op *op = op_new(r, "reading registers", arg);
    op->cb.data = cb;
    return send_req(r, "g", 1, timeout_ms, on_data_reply, op, op_free);
}

static char *hex_encode(const uint8_t *data, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);
    char *out = xmalloc(plen + len * 2 + 1);
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < len; i++)
        sprintf(out + plen + 2 * i, "%02x", data[i]);
    out[plen + 2 * len] = '\0';
    return out;
}

long rsp_write_registers(struct rsp *r, const uint8_t *raw, size_t len, int timeout_ms,
                         rsp_done_fn cb, void *arg)
{
    char *pkt = hex_encode(raw, len, "G");
    long id = send_done_op(r, pkt, strlen(pkt), "writing registers", timeout_ms, cb, arg);
    free(pkt);
    return id;
}

/* ---- memory, chunked ---- */

static void mem_next(struct op *op);

static void mem_end(struct op *op, const struct ib_error *err)
{
    struct rsp *r = op->r;
    if (op->write) {
        if (op->cb.done)
            op->cb.done(r, err, op->arg);
    } else if (err != NULL && op->pos == 0) {
        if (op->cb.data)
            op->cb.data(r, NULL, 0, err, op->arg);
    } else if (op->cb.data) {
        op->cb.data(r, op->buf, op->pos, NULL, op->arg);
    }
    op_free(op);
}

/* 0 when the chunk in flight went through, else -1 with e filled (a read
 * that came back short ends the whole read without an error). */
static int mem_chunk_done(struct op *op, const uint8_t *reply, size_t len, struct ib_error *e)
{
    if (rsp_reply_check(reply, len, op->what, e) < 0)
        return -1;
    if (op->write) {
        if (len != 2 || memcmp(reply, "OK", 2) != 0)
            return reply_err(e, reply, len, "%s: unexpected answer", op->what);
        op->pos += op->chunk;
        return 0;
    }
    if (len % 2 != 0 || len / 2 > op->chunk || !all_hex(reply, len))
        return ib_err(e, IB_EFAIL, "%s: malformed answer", op->what);
    op->pos += hex_decode(reply, len, op->buf + op->pos);
    if (len / 2 < op->chunk)
        op->len = op->pos; /* the stub could read no further */
    return 0;
}

static void on_mem_reply(struct rsp *r, const uint8_t *reply, size_t len,
                         const struct ib_error *err, void *arg)
{
    (void)r;
    struct op *op = arg;
    struct ib_error e = {0};
    if (err != NULL)
        mem_end(op, err);
    else if (mem_chunk_done(op, reply, len, &e) < 0)
        mem_end(op, &e);
    else
        mem_next(op);
}

static void mem_prepare(struct rsp_req *q)
{
    struct op *op = q->arg;
    struct rsp *r = op->r;
    size_t ps = r->packet_size < r->o.max_packet ? r->packet_size : r->o.max_packet;
    /* "Maddr,len:" takes at most 35 bytes; hex doubles the data. */
    size_t max = op->write ? (ps - 40) / 2 : (ps - 8) / 2;
    op->chunk = op->len - op->pos < max ? op->len - op->pos : max;
    char head[64];
    snprintf(head, sizeof head, "%c%llx,%zx%s", op->write ? 'M' : 'm',
             (unsigned long long)(op->addr + op->pos), op->chunk, op->write ? ":" : "");
    char *pkt = op->write ? hex_encode(op->buf + op->pos, op->chunk, head) : xstrdup(head);
    set_packet(q, pkt);
    free(pkt);
}

static long mem_send(struct op *op)
{
    int64_t left = op->deadline - ib_now_ms();
    return send_prepared(op->r, mem_prepare, op->timeout_ms < 0 ? -1 : left > 0 ? (int)left : 0,
                         on_mem_reply, op);
}

static void mem_next(struct op *op)
{
    if (op->pos >= op->len)
        mem_end(op, NULL);
    else
        mem_send(op);
}

static struct op *mem_op(struct rsp *r, uint64_t addr, size_t len, int timeout_ms, bool write,
                         void *arg)
{
    struct op *op = op_new(r, "", arg);
    snprintf(op->what, sizeof op->what, "%s memory at 0x%llx", write ? "writing" : "reading",
             (unsigned long long)addr);
    op->addr = addr;
    op->len = len;
    op->write = write;
    op->buf = xmalloc(len + 1);
    op->timeout_ms = timeout_ms;
    op->deadline = ib_now_ms() + timeout_ms;
    return op;
}

/* A request that is never sent: its callback gets the refusal from the
 * loop, like any answer (rsp_close and a lost connection see it too). */
static long refuse(struct rsp *r, struct op *op, rsp_reply_fn cb, char *why)
{
    struct rsp_req *q = req_new(r, "", 0, 0, cb, op);
    q->arg_free = op_free;
    q->refusal = why;
    q->next = r->refused;
    r->refused = q;
    return q->id;
}

/* Longer reads and writes are refused (the buffer is allocated at once). */
#define MAX_MEM_LEN (64u << 20)

static long mem_refuse(struct rsp *r, uint64_t addr, size_t len, bool write, struct op *op)
{
    op->write = write;
    return refuse(r, op, on_mem_reply,
                  xasprintf("%s %zu bytes at 0x%llx: more than the %u MiB one request may move",
                            write ? "writing" : "reading", len, (unsigned long long)addr,
                            MAX_MEM_LEN >> 20));
}

long rsp_read_memory(struct rsp *r, uint64_t addr, size_t len, int timeout_ms, rsp_data_fn cb,
                     void *arg)
{
    if (len > MAX_MEM_LEN) {
        struct op *op = op_new(r, "reading memory", arg);
        op->cb.data = cb;
        return mem_refuse(r, addr, len, false, op);
    }
    struct op *op = mem_op(r, addr, len, timeout_ms, false, arg);
    op->cb.data = cb;
    return mem_send(op); /* even for len 0: answers come from the loop */
}

long rsp_write_memory(struct rsp *r, uint64_t addr, const void *data, size_t len, int timeout_ms,
                      rsp_done_fn cb, void *arg)
{
    if (len > MAX_MEM_LEN) {
        struct op *op = op_new(r, "writing memory", arg);
        op->cb.done = cb;
        return mem_refuse(r, addr, len, true, op);
    }
    struct op *op = mem_op(r, addr, len, timeout_ms, true, arg);
    op->cb.done = cb;
    memcpy(op->buf, data, len);
    return mem_send(op);
}

/* ---- breakpoints, execution ---- */

static long breakpoint(struct rsp *r, char op, uint64_t addr, int kind, int timeout_ms,
                       rsp_done_fn cb, void *arg)
{
    char pkt[64], what[64];
    snprintf(pkt, sizeof pkt, "%c0,%llx,%x", op, (unsigned long long)addr, kind);
    snprintf(what, sizeof what, "%s the breakpoint at 0x%llx", op == 'Z' ? "setting" : "clearing",
             (unsigned long long)addr);
    return send_done_op(r, pkt, strlen(pkt), what, timeout_ms, cb, arg);
}

long rsp_set_breakpoint(struct rsp *r, uint64_t addr, int kind, int timeout_ms, rsp_done_fn cb,
                        void *arg)
{
    return breakpoint(r, 'Z', addr, kind, timeout_ms, cb, arg);
}

long rsp_clear_breakpoint(struct rsp *r, uint64_t addr, int kind, int timeout_ms,
                          rsp_done_fn cb, void *arg)
{
    return breakpoint(r, 'z', addr, kind, timeout_ms, cb, arg);
}

long rsp_continue(struct rsp *r, rsp_stop_fn cb, void *arg)
{
    return send_resume(r, false, -1, cb, arg);
}

long rsp_step(struct rsp *r, int timeout_ms, rsp_stop_fn cb, void *arg)
{
    return send_resume(r, true, timeout_ms, cb, arg);
}

static bool resume_queued(const struct rsp *r)
{
    for (const struct rsp_req *q = r->queue; q; q = q->next)
        if (q->kind == REQ_RESUME)
            return true;
    return false;
}

long rsp_wait_stop(struct rsp *r, int timeout_ms, rsp_stop_fn cb, void *arg)
{
    struct op *op = op_new(r, "waiting for a stop", arg);
    op->cb.stop = cb;
    struct rsp_req *q = xcalloc(1, sizeof *q);
    q->r = r;
    q->id = ++r->next_id;
    q->kind = REQ_WAIT;
    q->pkt = (uint8_t *)xstrdup("");
    q->timeout_ms = timeout_ms;
    q->cb = on_stop_reply;
    q->arg = op;
    q->arg_free = op_free;
    if (r->state == RSP_DEAD) {
        enqueue(r, q); /* fail_all answers it */
        return q->id;
    }
    if (r->stop_unclaimed && !r->running && !resume_queued(r)) {
        r->stop_unclaimed = false;
        q->deliver_last = true;
        timeout_ms = 0;
    }
    if (timeout_ms >= 0)
        q->timer = loop_timer(r->lp, timeout_ms, on_req_timeout, q);
    add_waiter(r, q);
    return q->id;
}

int rsp_interrupt(struct rsp *r)
{
    if (!r->running || r->state == RSP_DEAD)
        return 0;
    queue_bytes(r, "\x03", 1);
    flush(r);
    return 0;
}

/* D;pid with multiprocess (QEMU refuses a plain D then); the pid comes from
 * the caller, the last stop reply, or a qC asked first. */
static void detach_prepare(struct rsp_req *q)
{
    struct op *op = q->arg;
    struct rsp *r = op->r;
    char pkt[32];
    long pid = op->pid > 0 ? op->pid : r->last_pid;
    op->asked_qc = r->multiprocess && pid <= 0 && !op->asked_qc;
    if (op->asked_qc)
        snprintf(pkt, sizeof pkt, "qC");
    else if (r->multiprocess)
        snprintf(pkt, sizeof pkt, "D;%lx", pid > 0 ? pid : 1); /* 1: QEMU's first process */
    else
        snprintf(pkt, sizeof pkt, "D");
    set_packet(q, pkt);
}

static void on_detach_reply(struct rsp *r, const uint8_t *reply, size_t len,
                            const struct ib_error *err, void *arg)
{
    struct op *op = arg;
    if (err != NULL || !op->asked_qc) {
        on_done_reply(r, reply, len, err, arg);
        return;
    }
    long tid = 0;
    if (len > 2 && memcmp(reply, "QC", 2) == 0)
        parse_thread_id((const char *)reply + 2, len - 2, &op->pid, &tid);
    int64_t left = op->deadline - ib_now_ms();
    send_prepared(r, detach_prepare, left > 0 ? (int)left : 0, on_detach_reply, op);
}

long rsp_detach(struct rsp *r, long pid, int timeout_ms, rsp_done_fn cb, void *arg)
{
    struct op *op = op_new(r, "detaching", arg);
    op->cb.done = cb;
    op->pid = pid;
    op->deadline = ib_now_ms() + timeout_ms;
    return send_prepared(r, detach_prepare, timeout_ms, on_detach_reply, op);
}

/* ======================= opening, accessors ======================= */

static struct rsp *rsp_new(struct loop *lp, int fd, const char *name, const struct rsp_opts *o)
{
    struct rsp *r = xcalloc(1, sizeof *r);
    r->lp = lp;
    r->fd = fd;
    r->name = xstrdup(name);
    r->o = o ? *o : (struct rsp_opts){0};
    if (r->o.connect_timeout_ms <= 0)
        r->o.connect_timeout_ms = 5000;
    if (r->o.max_packet < 1024)
        r->o.max_packet = 256 * 1024;
    r->packet_size = 1024; /* until qSupported says */
    r->ack_mode = true;
    rsp_decoder_init(&r->dec, r->o.max_packet);
    r->connect_timer = loop_timer(lp, r->o.connect_timeout_ms, on_connect_timeout, r);
    return r;
}

struct rsp *rsp_open_fd(struct loop *lp, int fd, const char *name, const struct rsp_opts *o)
{
    struct rsp *r = rsp_new(lp, fd, name, o);
    ib_fd_set_nonblock(fd);
    loop_watch(lp, fd, LOOP_READ, on_io, r);
    handshake_start(r);
    return r;
}

static int parse_host(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    return -1;
}

struct rsp *rsp_open(struct loop *lp, const char *host, int port, const struct rsp_opts *o,
                     struct ib_error *err)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    if (port <= 0 || port > 65535 || parse_host(host, port, &ss, &slen) < 0) {
        ib_err(err, IB_EINPUT, "GDB stub address %s:%d is not a numeric address and port", host,
               port);
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        ib_err_sys(err, IB_EFAIL, "socket");
        return NULL;
    }
    int one = 1;
    /* Nagle + delayed ACK cost 44 ms per round trip; without: 0.7 ms. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char name[128];
    snprintf(name, sizeof name, "GDB stub at %s:%d", host, port);
    if (connect(fd, (struct sockaddr *)&ss, slen) < 0 && errno != EINPROGRESS) {
        ib_err_sys(err, errno == ECONNREFUSED ? IB_ENOTFOUND : IB_EFAIL, "cannot connect to %s",
                   name);
        close(fd);
        return NULL;
    }
    struct rsp *r = rsp_new(lp, fd, name, o);
    r->state = RSP_CONNECTING;
    loop_watch(lp, fd, LOOP_READ | LOOP_WRITE, on_io, r);
    r->watch_write = true;
    return r;
}

bool rsp_ready(const struct rsp *r)
{
    return r->state == RSP_READY;
}

bool rsp_failed(const struct rsp *r, struct ib_error *err)
{
    if (r->state != RSP_DEAD)
        return false;
    if (err != NULL)
        *err = r->dead;
    return true;
}

bool rsp_running(const struct rsp *r)
{
    return r->running;
}

size_t rsp_packet_size(const struct rsp *r)
{
    return r->packet_size;
}

bool rsp_multiprocess(const struct rsp *r)
{
    return r->multiprocess;
}

bool rsp_acks_off(const struct rsp *r)
{
    return !r->ack_mode;
}

const char *rsp_architecture(const struct rsp *r)
{
    return r->arch;
}

size_t rsp_reg_count(const struct rsp *r)
{
    return r->n_regs;
}

const struct rsp_reg *rsp_reg_at(const struct rsp *r, size_t i)
{
    return i < r->n_regs ? &r->regs[i] : NULL;
}

const struct rsp_reg *rsp_reg_find(const struct rsp *r, const char *name)
{
    for (size_t i = 0; i < r->n_regs; i++)
        if (strcmp(r->regs[i].name, name) == 0)
            return &r->regs[i];
    return NULL;
}

bool rsp_last_stop(const struct rsp *r, struct rsp_stop *out)
{
    if (r->have_stop && out != NULL)
        *out = r->last_stop;
    return r->have_stop;
}

void rsp_set_stop_fn(struct rsp *r, rsp_stop_fn fn, void *arg)
{
    r->stop_fn = fn;
    r->stop_arg = arg;
}

void rsp_set_output_fn(struct rsp *r, rsp_output_fn fn, void *arg)
{
    r->out_fn = fn;
    r->out_arg = arg;
}

/* ======================= register helpers ======================= */

static const struct rsp_reg *reg_in(const struct rsp *r, size_t len, const char *name,
                                    struct ib_error *err)
{
    const struct rsp_reg *g = rsp_reg_find(r, name);
    if (g == NULL) {
        ib_err(err, IB_ENOTFOUND, "the target has no register %s", name);
        return NULL;
    }
    if (g->bits > 64 || g->offset + (size_t)g->bits / 8 > len) {
        ib_err(err, IB_EFAIL, "register %s is not in the %zu-byte 'g' answer", name, len);
        return NULL;
    }
    return g;
}

int rsp_regs_get(const struct rsp *r, const uint8_t *raw, size_t len, const char *name,
                 uint64_t *val, struct ib_error *err)
{
    const struct rsp_reg *g = reg_in(r, len, name, err);
    if (g == NULL)
        return -1;
    size_t n = (size_t)g->bits / 8;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = r->o.big_endian ? i : n - 1 - i;
        v = v << 8 | raw[g->offset + k];
    }
    *val = v;
    return 0;
}

int rsp_regs_set(const struct rsp *r, uint8_t *raw, size_t len, const char *name, uint64_t val,
                 struct ib_error *err)
{
    const struct rsp_reg *g = reg_in(r, len, name, err);
    if (g == NULL)
        return -1;
    size_t n = (size_t)g->bits / 8;
    for (size_t i = 0; i < n; i++) {
        size_t k = r->o.big_endian ? n - 1 - i : i;
        raw[g->offset + k] = (uint8_t)(val >> (8 * i));
    }
    return 0;
}

static const char *const arm_names[17] = {
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8",
    "r9", "r10", "r11", "r12", "sp", "lr", "pc", "cpsr",
};

int rsp_regs_arm(const struct rsp *r, const uint8_t *raw, size_t len, struct rsp_arm_regs *out,
                 struct ib_error *err)
{
    uint64_t v;
    for (int i = 0; i < 17; i++) {
        if (rsp_regs_get(r, raw, len, arm_names[i], &v, err) < 0)
            return -1;
        if (i < 16)
            out->r[i] = (uint32_t)v;
        else
            out->cpsr = (uint32_t)v;
    }
    return 0;
}

int rsp_regs_arm_store(const struct rsp *r, const struct rsp_arm_regs *in, uint8_t *raw,
                       size_t len, struct ib_error *err)
{
    for (int i = 0; i < 17; i++)
        if (rsp_regs_set(r, raw, len, arm_names[i], i < 16 ? in->r[i] : in->cpsr, err) < 0)
            return -1;
    return 0;
}

/* ======================= blocking forms ======================= */

struct sync {
    bool done;
    struct ib_error err;
    uint8_t *data;
    size_t len;
    struct rsp_stop stop;
};

/* Silences every request whose callback would reach arg, directly or
 * through its op: each still takes its answer off the wire (the stream
 * stays in step), and nobody is told. */
static void forget_arg(struct rsp *r, const void *arg)
{
    struct rsp_req *lists[] = {r->inflight, r->queue, r->waiters, r->refused};
    for (size_t i = 0; i < IB_ARRAY_LEN(lists); i++)
        for (struct rsp_req *q = lists[i]; q != NULL; q = q->next) {
            if (q->arg == arg)
                q->cb = NULL;
            else if (q->arg_free == op_free && ((struct op *)q->arg)->arg == arg)
                memset(&((struct op *)q->arg)->cb, 0, sizeof ((struct op *)q->arg)->cb);
        }
}

/* Runs the loop until done; the requests' own timers end it, the margin
 * only guards a bug - and then the request, which points at the caller's
 * stack, is forgotten before returning. */
static int sync_run(struct rsp *r, struct sync *s, int timeout_ms, struct ib_error *err)
{
    int64_t end = ib_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms) + 1000;
    while (!s->done && (timeout_ms < 0 || ib_now_ms() < end))
        loop_run_once(r->lp, 50);
    if (!s->done) {
        forget_arg(r, s);
        ib_err(&s->err, IB_ETIMEOUT, "%s did not answer within %d ms", r->name, timeout_ms);
    }
    if (s->err.msg[0] != '\0') {
        free(s->data);
        s->data = NULL;
        if (err != NULL)
            *err = s->err;
        return -1;
    }
    return 0;
}

static void sync_reply(struct rsp *r, const uint8_t *reply, size_t len,
                       const struct ib_error *err, void *arg)
{
    (void)r;
    struct sync *s = arg;
    s->done = true;
    if (err != NULL) {
        s->err = *err;
        return;
    }
    s->data = xmalloc(len + 1);
    if (reply != NULL)
        memcpy(s->data, reply, len);
    s->data[len] = '\0';
    s->len = len;
}

static void sync_done(struct rsp *r, const struct ib_error *err, void *arg)
{
    sync_reply(r, (const uint8_t *)"", 0, err, arg);
}

static void sync_stop(struct rsp *r, const struct rsp_stop *stop, const struct ib_error *err,
                      void *arg)
{
    struct sync *s = arg;
    sync_reply(r, (const uint8_t *)"", 0, err, arg);
    if (stop != NULL)
        s->stop = *stop;
}

int rsp_wait_ready_sync(struct rsp *r, int timeout_ms, struct ib_error *err)
{
    int64_t end = ib_now_ms() + timeout_ms;
    while (r->state != RSP_READY && r->state != RSP_DEAD && ib_now_ms() < end)
        loop_run_once(r->lp, 50);
    if (r->state == RSP_DEAD)
        return rsp_failed(r, err), -1;
    if (r->state != RSP_READY)
        return ib_err(err, IB_ETIMEOUT, "%s did not finish the handshake within %d ms", r->name,
                      timeout_ms);
    return 0;
}

struct rsp *rsp_connect(const char *host, int port, int timeout_ms, struct ib_error *err)
{
    struct loop *lp = loop_new();
    struct rsp_opts o = {.connect_timeout_ms = timeout_ms};
    struct rsp *r = rsp_open(lp, host, port, &o, err);
    if (r == NULL) {
        loop_free(lp);
        return NULL;
    }
    r->own_loop = true;
    if (rsp_wait_ready_sync(r, timeout_ms + 100, err) < 0) {
        rsp_close(r);
        return NULL;
    }
    return r;
}

int rsp_request_sync(struct rsp *r, const char *packet, int timeout_ms, char **reply,
                     size_t *len, struct ib_error *err)
{
    struct sync s = {0};
    rsp_request(r, packet, timeout_ms, sync_reply, &s);
    if (sync_run(r, &s, timeout_ms, err) < 0)
        return -1;
    if (len != NULL)
        *len = s.len;
    if (reply != NULL)
        *reply = (char *)s.data;
    else
        free(s.data);
    return 0;
}

static void sync_data(struct rsp *r, const uint8_t *data, size_t len,
                      const struct ib_error *err, void *arg)
{
    sync_reply(r, data, len, err, arg);
}

int rsp_read_registers_sync(struct rsp *r, int timeout_ms, uint8_t **raw, size_t *len,
                            struct ib_error *err)
{
    struct sync s = {0};
    rsp_read_registers(r, timeout_ms, sync_data, &s);
    if (sync_run(r, &s, timeout_ms, err) < 0)
        return -1;
    *raw = s.data;
    *len = s.len;
    return 0;
}

int rsp_read_arm_registers_sync(struct rsp *r, int timeout_ms, struct rsp_arm_regs *regs,
                                struct ib_error *err)
{
    uint8_t *raw;
    size_t len;
    if (rsp_read_registers_sync(r, timeout_ms, &raw, &len, err) < 0)
        return -1;
    int rc = rsp_regs_arm(r, raw, len, regs, err);
    free(raw);
    return rc;
}

int rsp_write_registers_sync(struct rsp *r, const uint8_t *raw, size_t len, int timeout_ms,
                             struct ib_error *err)
{
    struct sync s = {0};
    rsp_write_registers(r, raw, len, timeout_ms, sync_done, &s);
    int rc = sync_run(r, &s, timeout_ms, err);
    free(s.data);
    return rc;
}

int rsp_read_memory_sync(struct rsp *r, uint64_t addr, void *buf, size_t len, int timeout_ms,
                         size_t *got, struct ib_error *err)
{
    struct sync s = {0};
    rsp_read_memory(r, addr, len, timeout_ms, sync_data, &s);
    if (sync_run(r, &s, timeout_ms, err) < 0)
        return -1;
    memcpy(buf, s.data, s.len);
    if (got != NULL)
        *got = s.len;
    free(s.data);
    return 0;
}

int rsp_write_memory_sync(struct rsp *r, uint64_t addr, const void *data, size_t len,
                          int timeout_ms, struct ib_error *err)
{
    struct sync s = {0};
    rsp_write_memory(r, addr, data, len, timeout_ms, sync_done, &s);
    int rc = sync_run(r, &s, timeout_ms, err);
    free(s.data);
    return rc;
}

static int bp_sync(struct rsp *r, bool set, uint64_t addr, int kind, int timeout_ms,
                   struct ib_error *err)
{
    struct sync s = {0};
    if (set)
        rsp_set_breakpoint(r, addr, kind, timeout_ms, sync_done, &s);
    else
        rsp_clear_breakpoint(r, addr, kind, timeout_ms, sync_done, &s);
    int rc = sync_run(r, &s, timeout_ms, err);
    free(s.data);
    return rc;
}

int rsp_set_breakpoint_sync(struct rsp *r, uint64_t addr, int kind, int timeout_ms,
                            struct ib_error *err)
{
    return bp_sync(r, true, addr, kind, timeout_ms, err);
}

int rsp_clear_breakpoint_sync(struct rsp *r, uint64_t addr, int kind, int timeout_ms,
                              struct ib_error *err)
{
    return bp_sync(r, false, addr, kind, timeout_ms, err);
}

static int stop_sync(struct rsp *r, struct sync *s, int timeout_ms, struct rsp_stop *stop,
                     struct ib_error *err)
{
    int rc = sync_run(r, s, timeout_ms, err);
    free(s->data);
    if (rc == 0 && stop != NULL)
        *stop = s->stop;
    return rc;
}

int rsp_wait_stop_sync(struct rsp *r, int timeout_ms, struct rsp_stop *stop,
                       struct ib_error *err)
{
    struct sync s = {0};
    rsp_wait_stop(r, timeout_ms, sync_stop, &s);
    return stop_sync(r, &s, timeout_ms, stop, err);
}

int rsp_continue_sync(struct rsp *r, int timeout_ms, struct rsp_stop *stop,
                      struct ib_error *err)
{
    /* Resume without a callback, then wait like anyone else: a timeout
     * ends the wait, not the run. */
    send_resume(r, false, -1, NULL, NULL);
    return rsp_wait_stop_sync(r, timeout_ms, stop, err);
}

int rsp_step_sync(struct rsp *r, int timeout_ms, struct rsp_stop *stop, struct ib_error *err)
{
    struct sync s = {0};
    rsp_step(r, timeout_ms, sync_stop, &s);
    return stop_sync(r, &s, timeout_ms, stop, err);
}

int rsp_detach_sync(struct rsp *r, int timeout_ms, struct ib_error *err)
{
    struct sync s = {0};
    rsp_detach(r, 0, timeout_ms, sync_done, &s);
    int rc = sync_run(r, &s, timeout_ms, err);
    free(s.data);
    return rc;
}
