/*
 * qga.h - a client for the QEMU guest agent (qemu-ga), on the event loop.
 *
 * The agent has no greeting and no request ids: replies are matched strictly
 * in order, so one request is in flight at a time and the rest wait in a
 * queue. The stream is (re)synchronised with guest-sync-delimited (0xFF,
 * then the sync with a random id; everything up to the 0xFF-prefixed reply
 * carrying that id is skipped) when connecting and after any timeout or
 * garbage. A request that gets no answer fails with
 * "agent not responding after N ms".
 *
 * The agent's socket takes ONE client; a second connect just hangs. So every
 * opener first takes an exclusive flock on qga.lock next to the socket (and
 * writes its pid there), waiting at most lock_timeout_ms; a holder reports
 * "agent busy: held by another iotbench process (pid N)". Keep connections
 * short: the blocking wrappers connect, run one command and close.
 *
 *     struct qga *g = qga_open(lp, info.qga_sock, &err);
 *     qga_request(g, "guest-get-time", NULL, 2000, on_time, pane);
 *     const char *argv[] = {"cat", "/proc/loadavg", NULL};
 *     qga_exec(g, argv, NULL, 0, 5000, on_exec, pane);
 *     ...
 *     static void on_exec(struct qga *g, struct qga_exec_result *r,
 *                         const struct ib_error *err, void *arg)
 *     {
 *         if (err) { show(arg, err->msg); return; }
 *         show_bytes(arg, r->out, r->out_len);   // steal: r->out = NULL
 *     }
 *     qga_close(g);
 *
 *     struct qga_exec_result res;                      // blocking, for the CLI
 *     if (qga_exec_sync(path, argv, NULL, 0, 5000, &res, &err) < 0) ...
 *     qga_exec_result_free(&res);
 *
 * The agent cannot kill a guest process: when qga_exec times out, the
 * command may keep running in the guest. Likewise a request that timed out
 * may still be executed by the agent later (it queues what it receives).
 * Callbacks run exactly once, from the loop, unless cancelled or closed.
 */
#ifndef IB_QGA_H
#define IB_QGA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/loop.h"

struct qga;

struct qga_result {
    json_t *ret;             /* "return" on success (borrowed), else NULL */
    const char *error_class; /* the agent's error.class when it refused, else NULL */
    struct ib_error err;     /* when ret is NULL */
};
typedef void (*qga_reply_fn)(struct qga *g, const struct qga_result *res, void *arg);

struct qga_exec_result {
    int64_t pid;       /* in the guest */
    int exit_code;     /* -1 when a signal ended it */
    int signal;        /* 0 when it exited */
    char *out, *err;   /* malloc'd, NUL-terminated (may hold NULs: use the lengths) */
    size_t out_len, err_len;
    bool out_truncated, err_truncated; /* the agent keeps at most 16 MiB of each */
};
/* res is NULL when err is set. The buffers are freed after the callback
 * returns: to keep one, take the pointer and set it to NULL. */
typedef void (*qga_exec_fn)(struct qga *g, struct qga_exec_result *res,
                            const struct ib_error *err, void *arg);

struct qga_opts {
    int lock_timeout_ms; /* wait for qga.lock at most this long (default 1000; <0: try once) */
    size_t max_line;     /* default 48 MiB: a longer reply drops the connection */
};

struct qga *qga_open(struct loop *lp, const char *sock_path, struct ib_error *err);
struct qga *qga_open_opts(struct loop *lp, const char *sock_path, const struct qga_opts *o,
                          struct ib_error *err);
/* Over an already connected socket (tests, other transports): no lock file. */
struct qga *qga_open_fd(struct loop *lp, int fd, const char *name, const struct qga_opts *o);
/* Drops pending requests and execs without calling them back; releases the lock. */
void qga_close(struct qga *g);

/* {"execute": cmd, "arguments": args}; args may be NULL and is consumed.
 * Commands that never answer on success (guest-shutdown, guest-suspend-*)
 * succeed with an empty object once a following sync proves no error came,
 * or when the guest closes the connection. Returns an id for qga_cancel. */
long qga_request(struct qga *g, const char *cmd, json_t *args, int timeout_ms, qga_reply_fn cb,
                 void *arg);
/* guest-exec with captured output (and stdin_data as input when stdin_len
 * > 0 or stdin_data != NULL), then guest-exec-status every 10 ms, backing
 * off to 100 ms, until it exits or timeout_ms passes. */
long qga_exec(struct qga *g, const char *const argv[], const char *stdin_data, size_t stdin_len,
              int timeout_ms, qga_exec_fn cb, void *arg);
/* Forgets a request or exec: its callback will not run. */
void qga_cancel(struct qga *g, long id);
void qga_exec_result_free(struct qga_exec_result *r);

bool qga_ready(const struct qga *g);  /* connected and in sync */
bool qga_failed(const struct qga *g, struct ib_error *err);

/* "<dir of sock_path>/qga.lock", malloc'd. */
char *qga_lock_path(const char *sock_path);

/* The arguments of a guest-exec for argv (NULL-terminated) with its
 * output captured and stdin_data as input; NULL with a message when an
 * argument is not UTF-8 (JSON cannot carry it; dropping it would shift the
 * others). */
json_t *qga_exec_args(const char *const argv[], const char *stdin_data, size_t stdin_len,
                      struct ib_error *err);

/* Strict base64 (the agent's out-data, err-data, buf-b64): length a multiple
 * of 4, only the 64 symbols, '=' only as the last one or two. *out is
 * malloc'd and NUL-terminated. */
int qga_b64_decode(const char *text, size_t len, char **out, size_t *out_len,
                   struct ib_error *err);
char *qga_b64_encode(const void *data, size_t len);

/* Blocking: lock, connect, sync, one command, close, all within timeout_ms. */
int qga_call(const char *sock_path, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
             struct ib_error *err);
int qga_exec_sync(const char *sock_path, const char *const argv[], const char *stdin_data,
                  size_t stdin_len, int timeout_ms, struct qga_exec_result *res,
                  struct ib_error *err);
int qga_ping(const char *sock_path, int timeout_ms, struct ib_error *err);

#endif
