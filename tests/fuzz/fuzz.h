/*
 * fuzz.h - what the fuzz targets share.
 *
 * Each tests/fuzz/fuzz_*.c is one libFuzzer target built by fuzz.mk. The
 * same files are #included by tests/unit/test_fuzz_regressions.c (and
 * test_fuzz_found.c) with FUZZ_REGRESSION defined: FUZZ_ENTRY(name) then
 * defines fuzz_<name>() instead of LLVMFuzzerTestOneInput, so a saved
 * input goes through exactly the code the fuzzer ran. Everything here is
 * static and every file-local name of a target carries its target's
 * prefix, so all targets fit in one translation unit.
 *
 * The protocol targets (QMP, agent, GDB) talk to the real client over a
 * socketpair. The input is a script, one directive per line, in the form
 * of tests/data/transcripts so those transcripts seed the corpus:
 *
 *   > TEXT    the peer sends TEXT (\xNN is a raw byte) and a line ending
 *             (QMP, agent; the GDB target sends TEXT as it is)
 *   >P TEXT   (GDB) the peer sends TEXT framed as a packet "$TEXT#cs"
 *   + TEXT    the peer sends TEXT without a line ending (a partial line)
 *   < ...     wait (a bounded number of loop rounds) for the client's next
 *             line / packet; the text is not compared
 *   ! ACTION  the client does something: a request, a cancel... (per target)
 *   ~         run the loop a few rounds
 *   close     the peer hangs up
 *
 * Everything else is a comment. Nothing waits on the clock except the
 * agent's exec polling (10 ms timers), so the run is deterministic.
 */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/util.h"

#ifdef FUZZ_REGRESSION
#define FUZZ_ENTRY(name) int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_ENTRY(name)                                                                           \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

/* A broken promise of the code under test (not a crash by itself): report
 * it as one, so libFuzzer saves the input. */
static inline void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz oracle: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* FUZZ_DEBUG=1 in the environment: say what happens (for reading a saved
 * input; never while fuzzing, it is slow). */
static inline void fuzz_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void fuzz_debug(const char *fmt, ...)
{
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_DEBUG") != NULL;
    if (!on)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- script lines ---- */

struct fuzz_line {
    const uint8_t *p;
    size_t n;
};

/* The next line of data from *off (without its '\n'); false at the end. */
static inline bool fuzz_next_line(const uint8_t *data, size_t size, size_t *off,
                                  struct fuzz_line *l)
{
    if (*off >= size)
        return false;
    const uint8_t *start = data + *off;
    const uint8_t *nl = memchr(start, '\n', size - *off);
    l->p = start;
    l->n = nl ? (size_t)(nl - start) : size - *off;
    *off += l->n + (nl ? 1 : 0);
    return true;
}

static inline bool fuzz_line_is(const struct fuzz_line *l, const char *word)
{
    size_t n = strlen(word);
    return l->n >= n && memcmp(l->p, word, n) == 0;
}

/* The line after its directive (and one optional space), NUL-terminated,
 * malloc'd, with \xNN turned into bytes; *len excludes the NUL. */
static inline char *fuzz_line_arg(const struct fuzz_line *l, size_t skip, bool unescape,
                                  size_t *len)
{
    size_t i = skip < l->n ? skip : l->n;
    if (i < l->n && l->p[i] == ' ')
        i++;
    char *out = xmalloc(l->n - i + 1);
    size_t n = 0;
    while (i < l->n) {
        unsigned v;
        char hex[3] = {0};
        if (unescape && l->p[i] == '\\' && i + 3 < l->n && l->p[i + 1] == 'x') {
            hex[0] = (char)l->p[i + 2];
            hex[1] = (char)l->p[i + 3];
            char *end;
            v = (unsigned)strtoul(hex, &end, 16);
            if (end == hex + 2) {
                out[n++] = (char)v;
                i += 4;
                continue;
            }
        }
        out[n++] = (char)l->p[i++];
    }
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

/* ---- the peer ---- */

#define FUZZ_PEER_KEEP (1u << 20) /* bytes of client output kept */

struct fuzz_peer {
    struct loop *lp;
    int fd;      /* our end (non-blocking), -1 once closed */
    uint8_t *in; /* what the client sent, the last FUZZ_PEER_KEEP bytes */
    size_t in_len;
};

/* A socketpair: *client_fd goes to the client under test. */
static inline void fuzz_peer_open(struct fuzz_peer *p, struct loop *lp, int *client_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        fuzz_fail("socketpair: %s", strerror(errno));
    memset(p, 0, sizeof *p);
    p->lp = lp;
    p->fd = sv[0];
    p->in = xmalloc(FUZZ_PEER_KEEP);
    ib_fd_set_nonblock(sv[0]);
    /* As unixsock_connect() leaves it: the clients expect a non-blocking fd. */
    ib_fd_set_nonblock(sv[1]);
    *client_fd = sv[1];
}

static inline void fuzz_peer_close(struct fuzz_peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static inline void fuzz_peer_free(struct fuzz_peer *p)
{
    fuzz_peer_close(p);
    free(p->in);
    p->in = NULL;
}

/* Runs what is due now, at most rounds times; returns callbacks run. */
static inline int fuzz_pump(struct loop *lp, int rounds)
{
    int total = 0;
    for (int i = 0; i < rounds; i++) {
        int n = loop_run_once(lp, 0);
        if (n <= 0)
            break;
        total += n;
    }
    return total;
}

/* Reads what the client wrote; calls fn for each chunk (may be NULL). */
static inline void fuzz_peer_drain(struct fuzz_peer *p,
                                   void (*fn)(const uint8_t *b, size_t n, void *a), void *arg)
{
    uint8_t buf[65536];
    _Static_assert(sizeof buf < FUZZ_PEER_KEEP, "a read must fit in what is kept");
    while (p->fd >= 0) {
        ssize_t n = recv(p->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        if (fn)
            fn(buf, (size_t)n, arg);
        /* A read is smaller than what is kept (see the assertion). */
        if (p->in_len + (size_t)n > FUZZ_PEER_KEEP) {
            size_t drop = p->in_len + (size_t)n - FUZZ_PEER_KEEP;
            memmove(p->in, p->in + drop, p->in_len - drop);
            p->in_len -= drop;
        }
        memcpy(p->in + p->in_len, buf, (size_t)n);
        p->in_len += (size_t)n;
    }
}

/* Sends bytes, letting the client read when the socket is full (bounded:
 * a client that stops reading just loses the rest). */
static inline void fuzz_peer_send(struct fuzz_peer *p, const void *data, size_t len)
{
    const uint8_t *b = data;
    for (int stalls = 0; len > 0 && p->fd >= 0 && stalls < 64;) {
        ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            stalls++;
            fuzz_peer_drain(p, NULL, NULL);
            if (fuzz_pump(p->lp, 4) == 0)
                loop_run_once(p->lp, 1);
            continue;
        }
        if (n <= 0)
            return; /* the client hung up */
        b += n;
        len -= (size_t)n;
    }
}

/* The '<' directive: pumps the loop until *count (kept by fn) reaches
 * want. When nothing is due, waits up to 3 times patience_ms for a timer
 * (the agent's exec polling); patience 0 gives up at once. */
static inline void fuzz_peer_wait(struct fuzz_peer *p,
                                  void (*fn)(const uint8_t *b, size_t n, void *a), void *arg,
                                  const size_t *count, size_t want, int patience_ms)
{
    int waits = 0;
    for (int i = 0; i < 64; i++) {
        fuzz_peer_drain(p, fn, arg);
        if (*count >= want)
            return;
        if (fuzz_pump(p->lp, 1) > 0)
            continue;
        if (patience_ms <= 0 || waits++ >= 3)
            return;
        loop_run_once(p->lp, patience_ms);
    }
}

#endif
