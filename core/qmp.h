/*
 * qmp.h - a client for QEMU's machine protocol (QMP), on the event loop.
 *
 * QEMU greets, the client negotiates capabilities, then every command carries
 * an "id" and its reply is matched by it (replies with an id we did not send,
 * or sent and gave up on, are ignored). Events (STOP, RESUME, SHUTDOWN...)
 * are kept in a bounded queue, oldest dropped first.
 *
 * QMP serves ONE client at a time: a second one connects fine but never
 * gets the greeting. So the greeting has a timeout, reported as
 * "QMP is busy: another client holds <path>", and connections should be
 * short: the CLI uses qmp_call() (connect, negotiate, one command, close).
 *
 *     struct qmp *q = qmp_open(lp, info.qmp_sock, &err);
 *     qmp_request(q, "query-status", NULL, 2000, on_status, pane);
 *     ...
 *     static void on_status(struct qmp *q, const struct qmp_result *r, void *arg)
 *     {
 *         if (r->ret == NULL) { show(arg, r->err.msg); return; }
 *         show(arg, json_string_value(json_object_get(r->ret, "status")));
 *     }
 *     struct qmp_event ev;
 *     while (qmp_event_pop(q, &ev)) { ...ev.name...; qmp_event_clear(&ev); }
 *     qmp_close(q);
 *
 *     json_t *ret;                                    // blocking, for the CLI
 *     if (qmp_call(path, "stop", NULL, 2000, &ret, &err) < 0) ...
 *     json_decref(ret);
 *
 * Every callback runs exactly once, from the loop (never from inside
 * qmp_request), unless the request was cancelled or the client closed.
 */
#ifndef IB_QMP_H
#define IB_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/loop.h"

struct qmp;

struct qmp_result {
    json_t *ret;             /* "return" on success (borrowed: json_incref to keep); else NULL */
    const char *error_class; /* QMP's error.class when QEMU refused the command, else NULL */
    struct ib_error err;     /* when ret is NULL: QEMU's desc, a timeout, a lost connection */
};
typedef void (*qmp_reply_fn)(struct qmp *q, const struct qmp_result *res, void *arg);
typedef void (*qmp_event_fn)(struct qmp *q, void *arg);

struct qmp_event {
    char *name;    /* "STOP", "SHUTDOWN"... */
    json_t *data;  /* the event's "data" or NULL */
    int64_t ts_us; /* QEMU's timestamp, µs since the epoch (0 when absent) */
};

struct qmp_opts {
    int greeting_timeout_ms; /* default 3000 */
    size_t max_line;         /* default 16 MiB: a bigger reply drops the connection */
    size_t max_events;       /* default 256 */
};

struct qmp *qmp_open(struct loop *lp, const char *sock_path, struct ib_error *err);
struct qmp *qmp_open_opts(struct loop *lp, const char *sock_path, const struct qmp_opts *o,
                          struct ib_error *err);
/* For tests and odd transports: an already connected stream socket (taken
 * over, closed by qmp_close); name appears in messages. */
struct qmp *qmp_open_fd(struct loop *lp, int fd, const char *name, const struct qmp_opts *o);
/* Drops pending requests without calling them back. NULL is fine. */
void qmp_close(struct qmp *q);

/* Sends {"execute": cmd, "arguments": args, "id": N} once negotiation is
 * done. args may be NULL and is always consumed. timeout_ms counts from
 * now. Returns the request id (> 0) for qmp_cancel. */
long qmp_request(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, qmp_reply_fn cb,
                 void *arg);
/* Forgets a pending request: its callback will not run. */
void qmp_cancel(struct qmp *q, long id);

/* human-monitor-command; HMP's "Error: ..." answers become errors. */
long qmp_hmp(struct qmp *q, const char *command_line, int timeout_ms, qmp_reply_fn cb,
             void *arg);
/* HMP reports failures inside a successful reply ({"return": "Error: ..."},
 * "unknown command: ..."): -1 and err filled for those, else 0. */
int qmp_hmp_check(const json_t *ret, struct ib_error *err);

bool qmp_ready(const struct qmp *q);  /* greeted and negotiated */
bool qmp_failed(const struct qmp *q, struct ib_error *err); /* true once the connection is dead */
/* The "QMP" member of the greeting (borrowed), NULL before it arrived. */
const json_t *qmp_greeting(const struct qmp *q);

/* Called (from the loop) whenever an event was queued. */
void qmp_set_event_fn(struct qmp *q, qmp_event_fn fn, void *arg);
/* Oldest queued event: true and *ev filled (free with qmp_event_clear). */
bool qmp_event_pop(struct qmp *q, struct qmp_event *ev);
void qmp_event_clear(struct qmp_event *ev);
/* Events dropped because the queue was full. */
size_t qmp_events_dropped(const struct qmp *q);

/* Blocking: connect, negotiate, one command, close, all within timeout_ms.
 * *ret gets a new reference to the "return" value (ret may be NULL). */
int qmp_call(const char *sock_path, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
             struct ib_error *err);
/* Blocking human-monitor-command: *out is the malloc'd text HMP printed. */
int qmp_hmp_call(const char *sock_path, const char *command_line, int timeout_ms, char **out,
                 struct ib_error *err);

#endif
