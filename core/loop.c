/* loop.c - see loop.h. A few dozen fds and timers: arrays beat heaps here. */
#include "core/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/util.h"

struct watch {
    int fd;
    int events;
    loop_fd_fn fn;
    void *arg;
};

struct timer {
    long id;
    int64_t due;
    loop_timer_fn fn;
    void *arg;
};

struct loop {
    struct watch *watches;
    size_t n_watches, cap_watches;
    struct timer *timers;
    size_t n_timers, cap_timers;
    long next_id;
    struct pollfd *pfds;
    size_t cap_pfds;
};

struct loop *loop_new(void)
{
    struct loop *lp = xcalloc(1, sizeof *lp);
    lp->next_id = 1;
    return lp;
}

void loop_free(struct loop *lp)
{
    if (lp == NULL)
        return;
    free(lp->watches);
    free(lp->timers);
    free(lp->pfds);
    free(lp);
}

static struct watch *find_watch(struct loop *lp, int fd)
{
    for (size_t i = 0; i < lp->n_watches; i++)
        if (lp->watches[i].fd == fd)
            return &lp->watches[i];
    return NULL;
}

void loop_watch(struct loop *lp, int fd, int events, loop_fd_fn fn, void *arg)
{
    if (events == 0) {
        loop_unwatch(lp, fd);
        return;
    }
    struct watch *w = find_watch(lp, fd);
    if (w == NULL) {
        if (lp->n_watches == lp->cap_watches) {
            lp->cap_watches = lp->cap_watches ? lp->cap_watches * 2 : 16;
            lp->watches = xrealloc(lp->watches, lp->cap_watches * sizeof *lp->watches);
        }
        w = &lp->watches[lp->n_watches++];
    }
    *w = (struct watch){fd, events, fn, arg};
}

void loop_unwatch(struct loop *lp, int fd)
{
    struct watch *w = find_watch(lp, fd);
    if (w == NULL)
        return;
    /* Mark instead of compacting: loop_run_once may be iterating. */
    w->fd = -1;
    w->events = 0;
}

long loop_timer(struct loop *lp, int64_t ms, loop_timer_fn fn, void *arg)
{
    if (lp->n_timers == lp->cap_timers) {
        lp->cap_timers = lp->cap_timers ? lp->cap_timers * 2 : 16;
        lp->timers = xrealloc(lp->timers, lp->cap_timers * sizeof *lp->timers);
    }
    long id = lp->next_id++;
    lp->timers[lp->n_timers++] = (struct timer){id, ib_now_ms() + (ms < 0 ? 0 : ms), fn, arg};
    return id;
}

void loop_cancel(struct loop *lp, long id)
{
    for (size_t i = 0; i < lp->n_timers; i++)
        if (lp->timers[i].id == id)
            lp->timers[i].fn = NULL;
}

static void compact(struct loop *lp)
{
    size_t j = 0;
    for (size_t i = 0; i < lp->n_watches; i++)
        if (lp->watches[i].fd >= 0)
            lp->watches[j++] = lp->watches[i];
    lp->n_watches = j;
    j = 0;
    for (size_t i = 0; i < lp->n_timers; i++)
        if (lp->timers[i].fn != NULL)
            lp->timers[j++] = lp->timers[i];
    lp->n_timers = j;
}

static int run_due_timers(struct loop *lp)
{
    int ran = 0;
    int64_t now = ib_now_ms();
    /* Timers added by callbacks wait for the next round. */
    size_t n = lp->n_timers;
    for (size_t i = 0; i < n; i++) {
        struct timer t = lp->timers[i];
        if (t.fn == NULL || t.due > now)
            continue;
        lp->timers[i].fn = NULL;
        t.fn(lp, t.arg);
        ran++;
    }
    return ran;
}

int loop_run_once(struct loop *lp, int max_ms)
{
    compact(lp);
    int64_t now = ib_now_ms();
    int timeout = max_ms;
    for (size_t i = 0; i < lp->n_timers; i++) {
        int64_t wait = lp->timers[i].due - now;
        if (wait < 0)
            wait = 0;
        if (timeout < 0 || wait < timeout)
            timeout = (int)wait;
    }
    if (lp->cap_pfds < lp->n_watches) {
        lp->cap_pfds = lp->n_watches;
        lp->pfds = xrealloc(lp->pfds, lp->cap_pfds * sizeof *lp->pfds);
    }
    size_t n = lp->n_watches;
    for (size_t i = 0; i < n; i++) {
        lp->pfds[i].fd = lp->watches[i].fd;
        lp->pfds[i].events = (short)(((lp->watches[i].events & LOOP_READ) ? POLLIN : 0) |
                                     ((lp->watches[i].events & LOOP_WRITE) ? POLLOUT : 0));
        lp->pfds[i].revents = 0;
    }
    int rc = poll(lp->pfds, n, timeout);
    if (rc < 0 && errno != EINTR)
        return -1;
    int ran = 0;
    for (size_t i = 0; rc > 0 && i < n; i++) {
        short re = lp->pfds[i].revents;
        struct watch w = lp->watches[i];
        if (re == 0 || w.fd < 0 || w.fd != lp->pfds[i].fd)
            continue;
        int ev = 0;
        if (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
            ev |= LOOP_READ;
        if (re & POLLOUT)
            ev |= LOOP_WRITE;
        ev &= w.events | LOOP_READ;
        if (ev) {
            w.fn(lp, w.fd, ev, w.arg);
            ran++;
        }
    }
    return ran + run_due_timers(lp);
}
