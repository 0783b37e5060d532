/*
 * fuzz_rsp.c - what a GDB stub sends: gdbserver runs in the guest (so it
 * is the guest's), QEMU's gdbstub forwards what the guest's registers and
 * memory hold. Two passes over every input:
 *
 * 1. the codec: the raw bytes through rsp_decoder_feed() in chunks of
 *    varying size, every packet through rsp_is_stop_reply() and
 *    rsp_stop_parse(), and every payload re-encoded with rsp_frame_encode()
 *    must decode to itself;
 * 2. a session: the input as a peer script (see fuzz.h) against the real
 *    client (core/rsp.c: handshake, qSupported, target description XML,
 *    registers, memory, stops). ">P TEXT" sends TEXT as a framed packet,
 *    "> TEXT" sends the bytes as they are; "<" waits for the client's next
 *    packet when the line holds a '$' or starts "<P", else just pumps.
 *    Client actions:
 *      !g            read registers (then rsp_regs_arm, get and set by name)
 *      !G            write 68 zero bytes of registers
 *      !m ADDR LEN   read memory (hex address, decimal length <= 65536)
 *      !M ADDR HEX   write memory
 *      !b ADDR  !B ADDR   set / clear a breakpoint
 *      !c  !s  !w    continue, step, wait for a stop
 *      !i            interrupt        !d   detach
 *      !? / !r TEXT  request "?" / TEXT (\xNN allowed)
 *      !t            the next request times out at once
 *      !X            the next callback closes the client
 *
 * Promises checked: decoded packets stay within the bound and are
 * NUL-terminated; stop replies fill at most RSP_STOP_MAX_REGS registers of
 * at most 16 bytes; callbacks run at most once, and after a hang-up every
 * operation has been answered.
 */
#include "core/rsp.h"
#include "tests/fuzz/fuzz.h"

#define RSPF_MAX_OPS 64
#define RSPF_MAX_PACKET 4096

/* The peer frames its packets itself (it is the stub, not our code). */
static void rspf_peer_frame(struct fuzz_peer *peer, const uint8_t *p, size_t n)
{
    uint8_t *out = xmalloc(2 * n + 8);
    size_t o = 0;
    uint8_t sum = 0;
    out[o++] = '$';
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            out[o++] = '}';
            sum = (uint8_t)(sum + '}');
            c ^= 0x20;
        }
        out[o++] = c;
        sum = (uint8_t)(sum + c);
    }
    o += (size_t)snprintf((char *)out + o, 4, "#%02x", sum);
    fuzz_peer_send(peer, out, o);
    free(out);
}

/* ---- pass 1: the codec ---- */

static void rspf_check_stop(const uint8_t *p, size_t n)
{
    struct rsp_stop st;
    struct ib_error err = {0};
    bool is_stop = rsp_is_stop_reply(p, n);
    int rc = rsp_stop_parse(p, n, &st, &err);
    if (!is_stop && rc == 0)
        fuzz_fail("rsp_stop_parse took what rsp_is_stop_reply refused");
    if (rc < 0 && err.msg[0] == '\0')
        fuzz_fail("rsp_stop_parse failed without a message");
    if (rc == 0) {
        if (st.n_regs > RSP_STOP_MAX_REGS)
            fuzz_fail("stop reply with %zu registers", st.n_regs);
        for (size_t i = 0; i < st.n_regs; i++)
            if (st.regs[i].len > sizeof st.regs[i].bytes)
                fuzz_fail("stop register of %zu bytes", st.regs[i].len);
        if (memchr(st.reason, '\0', sizeof st.reason) == NULL)
            fuzz_fail("stop reason not terminated");
    }
}

static void rspf_roundtrip(const uint8_t *p, size_t n)
{
    size_t elen;
    uint8_t *enc = rsp_frame_encode(p, n, &elen);
    struct rsp_decoder d;
    rsp_decoder_init(&d, RSPF_MAX_PACKET);
    struct rsp_frame f;
    size_t used = rsp_decoder_feed(&d, enc, elen, &f);
    if (used != elen || f.kind != RSP_FRAME_PACKET || f.len != n || memcmp(f.data, p, n) != 0)
        fuzz_fail("a packet of %zu bytes does not survive encode + decode", n);
    rsp_decoder_free(&d);
    free(enc);
}

static void rspf_codec(const uint8_t *data, size_t size)
{
    struct rsp_decoder d;
    rsp_decoder_init(&d, RSPF_MAX_PACKET);
    size_t off = 0, step = 1;
    while (off < size) {
        /* Chunk sizes from the data itself: 1, 2, 4... restarting at 1. */
        size_t n = size - off < step ? size - off : step;
        step = step >= 512 ? 1 : step * 2;
        const uint8_t *in = data + off;
        off += n;
        while (n > 0) {
            struct rsp_frame f;
            size_t used = rsp_decoder_feed(&d, in, n, &f);
            if (used == 0 || used > n)
                fuzz_fail("rsp_decoder_feed used %zu of %zu bytes", used, n);
            in += used;
            n -= used;
            if (f.kind == RSP_FRAME_NONE)
                continue;
            if (f.kind == RSP_FRAME_PACKET || f.kind == RSP_FRAME_NOTIFY ||
                f.kind == RSP_FRAME_BAD) {
                if (f.data == NULL || f.len > RSPF_MAX_PACKET || f.data[f.len] != '\0')
                    fuzz_fail("decoded frame out of bounds (%zu bytes)", f.len);
                if (f.kind == RSP_FRAME_BAD && f.why == NULL)
                    fuzz_fail("a bad frame without a reason");
            }
            if (f.kind == RSP_FRAME_PACKET) {
                rspf_check_stop(f.data, f.len);
                rspf_roundtrip(f.data, f.len);
            }
        }
    }
    rsp_decoder_free(&d);
}

/* ---- pass 2: a session ---- */

struct rspf;

struct rspf_op {
    struct rspf *f;
    long id;
    int calls;
    bool cancelled_never; /* rsp has no cancel: kept for symmetry of the checks */
};

struct rspf {
    struct loop *lp;
    struct rsp *r;
    struct fuzz_peer peer;
    struct rsp_decoder seen; /* the client's output, decoded */
    size_t packets, waited;
    bool close_in_cb, next_times_out;
    struct rspf_op ops[RSPF_MAX_OPS];
    size_t n_ops;
};

static void rspf_count(const uint8_t *b, size_t n, void *arg)
{
    struct rspf *f = arg;
    while (n > 0) {
        struct rsp_frame fr;
        size_t used = rsp_decoder_feed(&f->seen, b, n, &fr);
        b += used;
        n -= used;
        if (fr.kind == RSP_FRAME_PACKET || fr.kind == RSP_FRAME_BAD)
            f->packets++;
    }
}

static struct rspf_op *rspf_new_op(struct rspf *f)
{
    if (f->n_ops == RSPF_MAX_OPS)
        return NULL;
    struct rspf_op *op = &f->ops[f->n_ops++];
    op->f = f;
    return op;
}

static int rspf_timeout(struct rspf *f)
{
    int t = f->next_times_out ? 0 : 30000;
    f->next_times_out = false;
    return t;
}

static void rspf_called(struct rspf_op *op, const struct ib_error *err)
{
    if (++op->calls > 1)
        fuzz_fail("operation %ld was called back %d times", op->id, op->calls);
    if (err != NULL && err->msg[0] == '\0')
        fuzz_fail("operation %ld failed without a message", op->id);
    fuzz_debug("operation %ld: %s", op->id, err ? err->msg : "ok");
}

static void rspf_maybe_close(struct rspf *f, struct rsp *r)
{
    if (f->close_in_cb && f->r == r) {
        f->close_in_cb = false;
        rsp_close(r);
        f->r = NULL;
    }
}

static void rspf_on_done(struct rsp *r, const struct ib_error *err, void *arg)
{
    struct rspf_op *op = arg;
    rspf_called(op, err);
    rspf_maybe_close(op->f, r);
}

static void rspf_on_reply(struct rsp *r, const uint8_t *reply, size_t len,
                          const struct ib_error *err, void *arg)
{
    struct rspf_op *op = arg;
    rspf_called(op, err);
    if (err == NULL && reply == NULL)
        fuzz_fail("a reply without bytes or error");
    if (err == NULL && reply[len] != '\0')
        fuzz_fail("a reply not NUL-terminated");
    rspf_maybe_close(op->f, r);
}

static void rspf_on_data(struct rsp *r, const uint8_t *data, size_t len, const struct ib_error *err,
                         void *arg)
{
    struct rspf_op *op = arg;
    rspf_called(op, err);
    if (err == NULL && data == NULL && len > 0)
        fuzz_fail("data of %zu bytes at NULL", len);
    if (err == NULL && op->f->r == r && len <= 65536) {
        /* Registers by the layout the target description gave. */
        struct rsp_arm_regs regs;
        uint64_t v;
        rsp_regs_arm(r, data, len, &regs, NULL);
        rsp_regs_get(r, data, len, "pc", &v, NULL);
        uint8_t *copy = xmalloc(len + 1);
        if (len)
            memcpy(copy, data, len);
        rsp_regs_set(r, copy, len, "cpsr", 0x1d3, NULL);
        rsp_regs_arm_store(r, &regs, copy, len, NULL);
        for (size_t i = 0; i < rsp_reg_count(r); i++) {
            const struct rsp_reg *g = rsp_reg_at(r, i);
            if (memchr(g->name, '\0', sizeof g->name) == NULL)
                fuzz_fail("register name not terminated");
            rsp_regs_get(r, data, len, g->name, &v, NULL);
        }
        free(copy);
    }
    rspf_maybe_close(op->f, r);
}

static void rspf_on_stop(struct rsp *r, const struct rsp_stop *stop, const struct ib_error *err,
                         void *arg)
{
    struct rspf_op *op = arg;
    rspf_called(op, err);
    if ((stop == NULL) == (err == NULL))
        fuzz_fail("a stop and an error, or neither");
    if (stop != NULL && stop->n_regs > RSP_STOP_MAX_REGS)
        fuzz_fail("stop with %zu registers", stop->n_regs);
    rspf_maybe_close(op->f, r);
}

static void rspf_on_any_stop(struct rsp *r, const struct rsp_stop *stop, const struct ib_error *err,
                             void *arg)
{
    (void)r, (void)err, (void)arg;
    if (stop != NULL && stop->n_regs > RSP_STOP_MAX_REGS)
        fuzz_fail("stop with %zu registers", stop->n_regs);
}

static void rspf_on_output(struct rsp *r, const uint8_t *data, size_t len, void *arg)
{
    (void)r, (void)arg;
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + data[i]);
}

static uint64_t rspf_hex(const char *s, const char **end)
{
    char *e;
    uint64_t v = strtoull(s, &e, 16);
    if (end)
        *end = e;
    return v;
}

static void rspf_action(struct rspf *f, const char *a, size_t alen)
{
    const char *rest = alen > 1 && a[1] == ' ' ? a + 2 : alen > 0 ? a + 1 : a;
    size_t rlen = alen - (size_t)(rest - a);
    struct rspf_op *op;
    const char *end;
    if (strchr("gGmMbBcswd?rtXi", a[0]) == NULL || a[0] == '\0')
        return;
    if (a[0] == 't') {
        f->next_times_out = true;
        return;
    }
    if (a[0] == 'X') {
        f->close_in_cb = true;
        return;
    }
    if (a[0] == 'i') {
        rsp_interrupt(f->r);
        return;
    }
    if ((op = rspf_new_op(f)) == NULL)
        return;
    int t = rspf_timeout(f);
    switch (a[0]) {
    case 'g':
        op->id = rsp_read_registers(f->r, t, rspf_on_data, op);
        break;
    case 'G': {
        uint8_t zero[68] = {0};
        op->id = rsp_write_registers(f->r, zero, sizeof zero, t, rspf_on_done, op);
        break;
    }
    case 'm': {
        uint64_t addr = rspf_hex(rest, &end);
        unsigned long len = strtoul(end, NULL, 10);
        op->id = rsp_read_memory(f->r, addr, len > 65536 ? 65536 : len, t, rspf_on_data, op);
        break;
    }
    case 'M': {
        uint64_t addr = rspf_hex(rest, &end);
        while (*end == ' ')
            end++;
        size_t n = strlen(end) / 2;
        uint8_t *buf = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            char hx[3] = {end[2 * i], end[2 * i + 1], 0};
            buf[i] = (uint8_t)strtoul(hx, NULL, 16);
        }
        op->id = rsp_write_memory(f->r, addr, buf, n, t, rspf_on_done, op);
        free(buf);
        break;
    }
    case 'b':
    case 'B':
        op->id = (a[0] == 'b' ? rsp_set_breakpoint : rsp_clear_breakpoint)(
            f->r, rspf_hex(rest, NULL), RSP_BP_ARM, t, rspf_on_done, op);
        break;
    case 'c':
        op->id = rsp_continue(f->r, rspf_on_stop, op);
        break;
    case 's':
        op->id = rsp_step(f->r, t, rspf_on_stop, op);
        break;
    case 'w':
        op->id = rsp_wait_stop(f->r, t, rspf_on_stop, op);
        break;
    case 'd':
        op->id = rsp_detach(f->r, 0, t, rspf_on_done, op);
        break;
    case '?':
        op->id = rsp_request(f->r, "?", t, rspf_on_reply, op);
        break;
    case 'r':
        op->id = rsp_request_bin(f->r, rest, rlen, t, rspf_on_reply, op);
        break;
    default:
        break;
    }
}

static void rspf_line(struct rspf *f, const struct fuzz_line *l)
{
    if (l->n == 0)
        return;
    size_t len;
    char *arg;
    switch (l->p[0]) {
    case '>':
    case '+': {
        bool framed = l->n > 1 && l->p[1] == 'P';
        arg = fuzz_line_arg(l, framed ? 2 : 1, true, &len);
        if (framed) {
            rspf_peer_frame(&f->peer, (const uint8_t *)arg, len);
        } else {
            fuzz_peer_send(&f->peer, arg, len);
        }
        free(arg);
        fuzz_pump(f->lp, 4);
        break;
    }
    case '<':
        if ((l->n > 1 && l->p[1] == 'P') || memchr(l->p, '$', l->n))
            fuzz_peer_wait(&f->peer, rspf_count, f, &f->packets, ++f->waited, 0);
        else
            fuzz_pump(f->lp, 4);
        break;
    case '!':
        arg = fuzz_line_arg(l, 1, true, &len);
        rspf_action(f, arg, len);
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

static void rspf_session(const uint8_t *data, size_t size)
{
    struct rspf *f = xcalloc(1, sizeof *f);
    f->lp = loop_new();
    rsp_decoder_init(&f->seen, 1 << 20);
    int cfd;
    fuzz_peer_open(&f->peer, f->lp, &cfd);
    /* A handshake limit no run lasts; a small packet bound, reachable. */
    struct rsp_opts o = {.connect_timeout_ms = 60000, .max_packet = 4096};
    f->r = rsp_open_fd(f->lp, cfd, "fuzz stub", &o);
    rsp_set_stop_fn(f->r, rspf_on_any_stop, f);
    rsp_set_output_fn(f->r, rspf_on_output, f);
    size_t off = 0;
    struct fuzz_line l;
    while (f->r != NULL && fuzz_next_line(data, size, &off, &l))
        rspf_line(f, &l);
    fuzz_peer_close(&f->peer);
    for (int i = 0; i < 8 && f->r != NULL; i++)
        fuzz_pump(f->lp, 16);
    if (f->r != NULL) {
        if (!rsp_failed(f->r, NULL))
            fuzz_fail("the client did not notice the hang-up");
        for (size_t i = 0; i < f->n_ops; i++)
            if (f->ops[i].calls != 1)
                fuzz_fail("operation %ld never answered after the hang-up", f->ops[i].id);
        struct rsp_stop st;
        rsp_last_stop(f->r, &st);
        const char *arch = rsp_architecture(f->r);
        if (arch != NULL && strlen(arch) > (1u << 20))
            fuzz_fail("architecture out of bounds");
        rsp_feature(f->r, "PacketSize");
        rsp_close(f->r);
    }
    rsp_decoder_free(&f->seen);
    fuzz_peer_free(&f->peer);
    loop_free(f->lp);
    free(f);
}

FUZZ_ENTRY(rsp)
{
    rspf_codec(data, size);
    rspf_session(data, size);
    return 0;
}
