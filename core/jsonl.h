/*
 * jsonl.h - the buffered, non-blocking, newline-delimited stream under the
 * QMP and guest agent clients.
 *
 * Both peers write one JSON document per line (QEMU ends lines with "\r\n";
 * its pretty-printing mode is not supported). A line longer than max_line
 * is a protocol error, never an allocation: a guest cannot make us buffer
 * more than that.
 *
 *     struct jsonl s;
 *     jsonl_init(&s, fd, 16 << 20);
 *     // in the loop's read callback:
 *     if (jsonl_fill(&s, &err) < 0) ...            // EOF, error, or line too long
 *     char *line; size_t len;
 *     while (jsonl_next(&s, &line, &len) == 1)     // -1: line too long
 *         handle(line, len);                        // NUL-terminated, no "\r\n"
 *     // to send:
 *     jsonl_queue_json(&s, obj);
 *     if (jsonl_flush(&s, &err) == 1) watch for LOOP_WRITE too
 *     jsonl_free(&s);                               // closes fd
 */
#ifndef IB_JSONL_H
#define IB_JSONL_H

#include <jansson.h>
#include <stddef.h>

#include "core/error.h"

struct jsonl {
    int fd;
    size_t max_line;
    char *in;
    size_t in_start, in_len, in_cap, scanned; /* unread bytes are in[in_start, in_len) */
    char *out;
    size_t out_off, out_len, out_cap;
};

void jsonl_init(struct jsonl *s, int fd, size_t max_line);
/* Closes the fd (when >= 0) and frees the buffers. */
void jsonl_free(struct jsonl *s);

/* Reads what the socket holds. 1: got bytes (or nothing yet), -1: EOF, a
 * socket error, or a partial line already longer than max_line (err says
 * which; for EOF err->status is IB_EFAIL and the message "closed"). */
int jsonl_fill(struct jsonl *s, struct ib_error *err);

/* The next complete line without its line ending: 1 and *line (valid until
 * the next jsonl_* call, NUL-terminated, may hold NULs and 0xFF), 0 when
 * there is none yet, -1 when it is longer than max_line (protocol error). */
int jsonl_next(struct jsonl *s, char **line, size_t *len);

void jsonl_queue(struct jsonl *s, const void *data, size_t len);
/* Compact JSON plus "\n". */
void jsonl_queue_json(struct jsonl *s, const json_t *doc);
/* Writes what fits. 0: all sent, 1: bytes remain (wait for LOOP_WRITE), -1: error. */
int jsonl_flush(struct jsonl *s, struct ib_error *err);
int jsonl_pending(const struct jsonl *s);

/* Parses one line as a JSON object. Integers beyond 64 bits (QEMU may send
 * u64) are read as reals instead of failing the whole document. NULL and
 * err filled when the line is not a JSON object. */
json_t *jsonl_parse_object(const char *line, size_t len, struct ib_error *err);

#endif
