/* jsonl.c - see jsonl.h. */
#include "core/jsonl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/safetext.h"
#include "core/util.h"

enum { READ_CHUNK = 65536 };

void jsonl_init(struct jsonl *s, int fd, size_t max_line)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->max_line = max_line ? max_line : (16u << 20);
}

void jsonl_free(struct jsonl *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->in);
    free(s->out);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

/* Moves unread bytes to the front so the buffer never grows past one line
 * plus one read. */
static void compact_in(struct jsonl *s)
{
    if (s->in_start == 0)
        return;
    size_t n = s->in_len - s->in_start;
    memmove(s->in, s->in + s->in_start, n);
    s->scanned -= s->in_start;
    s->in_len = n;
    s->in_start = 0;
}

static int line_too_long(const struct jsonl *s, struct ib_error *err)
{
    return ib_err(err, IB_EFAIL, "reply line longer than the %zu-byte limit", s->max_line);
}

int jsonl_fill(struct jsonl *s, struct ib_error *err)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        compact_in(s);
        if (s->in_cap - s->in_len < READ_CHUNK + 1) {
            s->in_cap = s->in_len + READ_CHUNK + 1;
            s->in = xrealloc(s->in, s->in_cap);
        }
        ssize_t n = recv(s->fd, s->in + s->in_len, READ_CHUNK, 0);
        if (n == 0)
            return ib_err(err, IB_EFAIL, "closed");
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return ib_err_sys(err, IB_EFAIL, "read");
        }
        s->in_len += (size_t)n;
        /* Only the partial last line counts: complete ones are consumed
         * before the next read. */
        const char *nl = memrchr(s->in + s->in_start, '\n', s->in_len - s->in_start);
        size_t partial = nl ? (size_t)(s->in + s->in_len - nl - 1) : s->in_len - s->in_start;
        if (partial > s->max_line)
            return line_too_long(s, err);
        if (nl != NULL)
            return 1; /* let the caller consume before reading more */
    }
    return 1;
}

int jsonl_next(struct jsonl *s, char **line, size_t *len)
{
    if (s->scanned < s->in_start)
        s->scanned = s->in_start;
    char *nl = memchr(s->in + s->scanned, '\n', s->in_len - s->scanned);
    if (nl == NULL) {
        s->scanned = s->in_len;
        return 0;
    }
    char *start = s->in + s->in_start;
    size_t n = (size_t)(nl - start);
    s->in_start += n + 1;
    s->scanned = s->in_start;
    if (n > s->max_line)
        return -1;
    if (n > 0 && start[n - 1] == '\r')
        n--;
    start[n] = '\0';
    *line = start;
    *len = n;
    return 1;
}

void jsonl_queue(struct jsonl *s, const void *data, size_t len)
{
    if (s->out_off > 0 && s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    if (s->out_cap - s->out_len < len) {
        s->out_cap = (s->out_len + len) * 2;
        s->out = xrealloc(s->out, s->out_cap);
    }
    memcpy(s->out + s->out_len, data, len);
    s->out_len += len;
}

void jsonl_queue_json(struct jsonl *s, const json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL) {
        /* Only a reference cycle or allocation failure; both are our bugs. */
        abort();
    }
    jsonl_queue(s, text, strlen(text));
    jsonl_queue(s, "\n", 1);
    free(text);
}

int jsonl_flush(struct jsonl *s, struct ib_error *err)
{
    while (s->out_off < s->out_len) {
        ssize_t n = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return ib_err_sys(err, IB_EFAIL, "write");
        }
        s->out_off += (size_t)n;
    }
    s->out_off = s->out_len = 0;
    return 0;
}

int jsonl_pending(const struct jsonl *s)
{
    return s->out_off < s->out_len;
}

json_t *jsonl_parse_object(const char *line, size_t len, struct ib_error *err)
{
    json_error_t je;
    json_t *doc = json_loadb(line, len, 0, &je);
    if (doc == NULL && json_error_code(&je) == json_error_numeric_overflow)
        doc = json_loadb(line, len, JSON_DECODE_INT_AS_REAL, &je);
    if (doc == NULL) {
        /* Both the line and jansson's text (which quotes the bad token)
         * are the peer's bytes. */
        char *safe = safetext_escape(line, strnlen(line, len < 80 ? len : 80));
        char *why = safetext_str(je.text);
        ib_err(err, IB_EFAIL, "invalid JSON (%s at byte %d): %s", why, je.position, safe);
        free(why);
        free(safe);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        char *safe = safetext_escape(line, strnlen(line, len < 80 ? len : 80));
        ib_err(err, IB_EFAIL, "a JSON document that is not an object: %s", safe);
        free(safe);
        return NULL;
    }
    return doc;
}
