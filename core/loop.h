/*
 * loop.h - a small poll(2) event loop, in the spirit of redis' ae.c.
 *
 * One loop drives every socket of the program: QMP, agent, gdbserver and
 * console connections in core/, the terminal in tui/. Callbacks never
 * block; they read what is there, write what fits, and return.
 *
 *     struct loop *lp = loop_new();
 *     loop_watch(lp, fd, LOOP_READ, on_readable, ctx);
 *     long t = loop_timer(lp, 500, on_timeout, ctx);   // one-shot, ms
 *     while (running)
 *         loop_run_once(lp, 1000);
 *     loop_free(lp);
 *
 * Watching a fd again replaces its events/callback. Removing a watch or a
 * timer from inside a callback is allowed.
 */
#ifndef IB_LOOP_H
#define IB_LOOP_H

#include <stdint.h>

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

struct loop;
/* events: what happened (LOOP_READ / LOOP_WRITE; errors and hang-ups are
 * reported as LOOP_READ so the callback sees the EOF or error by reading). */
typedef void (*loop_fd_fn)(struct loop *lp, int fd, int events, void *arg);
typedef void (*loop_timer_fn)(struct loop *lp, void *arg);

struct loop *loop_new(void);
void loop_free(struct loop *lp);

/* events 0 removes the watch. */
void loop_watch(struct loop *lp, int fd, int events, loop_fd_fn fn, void *arg);
void loop_unwatch(struct loop *lp, int fd);

/* A one-shot timer after ms milliseconds; returns its id (> 0). */
long loop_timer(struct loop *lp, int64_t ms, loop_timer_fn fn, void *arg);
void loop_cancel(struct loop *lp, long id);

/* Waits at most max_ms (-1: until something happens) and runs what is due.
 * Returns the number of callbacks run, or -1 on a poll error other than EINTR. */
int loop_run_once(struct loop *lp, int max_ms);

#endif
