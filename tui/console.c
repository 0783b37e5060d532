/*
 * console.c - an instance's serial console in a terminal widget.
 *
 * Opening: take console.lock (flock, our pid written in it; when another
 * process holds it the pane says "console held by pid N" and retries),
 * replay the tail of console.log muted (old queries are not answered), then
 * connect console.sock. The socket is drained on every readable event
 * whether or not the pane is visible — an unread console socket freezes the
 * whole VM. What is read waits in `pending` and is fed to the emulator each
 * frame within a time budget, so a flooding guest cannot starve the
 * keyboard or the other panes; past PENDING_MAX the socket is left unread
 * until the emulator catches up (the guest pauses, nothing is lost).
 *
 * Log and socket overlap: QEMU writes every byte to console.log and to the
 * connected client. Bytes the log gained between the size we noted before
 * connecting and the end we replayed are skipped from the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/lockfile.h"
#include "core/unixsock.h"
#include "core/util.h"
#include "tui/app.h"
#include "widgets/draw.h"

#define REPLAY_MAX (512 * 1024)
#define PENDING_MAX (1024 * 1024)
#define READ_CHUNK (64 * 1024)
#define SCROLLBACK_LINES 10000

static void on_sock(struct loop *lp, int fd, int events, void *arg);

struct console *console_find(struct app *a, const char *name)
{
    for (struct console *c = a->consoles; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int console_count(struct app *a)
{
    int n = 0;
    for (struct console *c = a->consoles; c; c = c->next)
        n++;
    return n;
}

static void to_guest(const char *bytes, size_t len, void *arg)
{
    console_send(arg, bytes, len);
}

static void update_watch(struct console *c)
{
    if (c->fd < 0)
        return;
    int ev = 0;
    c->reading = c->plen < PENDING_MAX;
    if (c->reading)
        ev |= LOOP_READ;
    if (c->olen > 0)
        ev |= LOOP_WRITE;
    if (ev)
        loop_watch(c->app->lp, c->fd, ev, on_sock, c);
    else
        loop_unwatch(c->app->lp, c->fd);
}

void console_send(struct console *c, const char *bytes, size_t len)
{
    if (c->fd < 0 || len == 0)
        return;
    if (c->olen == 0) {
        ssize_t n = write(c->fd, bytes, len);
        if (n > 0) {
            bytes += n;
            len -= (size_t)n;
        }
        if (len == 0)
            return;
    }
    if (c->olen + len > 1024 * 1024)
        return; /* the guest does not read its console: drop typing */
    if (c->olen + len > c->ocap) {
        c->ocap = (c->olen + len) * 2;
        c->outq = xrealloc(c->outq, c->ocap);
    }
    memcpy(c->outq + c->olen, bytes, len);
    c->olen += len;
    update_watch(c);
}

void console_send_stty(struct console *c)
{
    char cmd[64];
    int n = snprintf(cmd, sizeof cmd, "stty rows %d cols %d\r", c->tv->rows, c->tv->cols);
    console_send(c, cmd, (size_t)n);
}

static void disconnect(struct console *c)
{
    if (c->fd >= 0) {
        loop_unwatch(c->app->lp, c->fd);
        close(c->fd);
        c->fd = -1;
    }
}

static void on_sock(struct loop *lp, int fd, int events, void *arg)
{
    struct console *c = arg;
    (void)lp;
    if ((events & LOOP_WRITE) && c->olen > 0) {
        ssize_t n = write(fd, c->outq, c->olen);
        if (n > 0) {
            memmove(c->outq, c->outq + n, c->olen - (size_t)n);
            c->olen -= (size_t)n;
        }
    }
    if (events & LOOP_READ) {
        /* Drain what is there, up to the pending limit. */
        while (c->plen < PENDING_MAX) {
            if (c->pcap - c->plen < READ_CHUNK) {
                c->pcap = c->plen + READ_CHUNK * 2;
                c->pending = xrealloc(c->pending, c->pcap);
            }
            ssize_t n = read(fd, c->pending + c->plen, READ_CHUNK);
            if (n > 0) {
                size_t got = (size_t)n;
                if (c->skip > 0) {
                    size_t s = c->skip < got ? c->skip : got;
                    memmove(c->pending + c->plen, c->pending + c->plen + s, got - s);
                    got -= s;
                    c->skip -= s;
                }
                c->plen += got;
                c->bytes += (size_t)n;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            /* EOF or error: QEMU closed the console. */
            c->eof = true;
            disconnect(c);
            nav_refresh(c->app);
            break;
        }
        app_request_frame(c->app);
    }
    update_watch(c);
}

/* Replays the end of console.log (from a line start) into the emulator. */
static off_t replay_log(struct console *c)
{
    int fd = open(c->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        close(fd);
        return 0;
    }
    off_t size = sb.st_size;
    off_t from = size > REPLAY_MAX ? size - REPLAY_MAX : 0;
    size_t len = (size_t)(size - from);
    char *buf = xmalloc(len + 1);
    ssize_t n = pread(fd, buf, len, from);
    close(fd);
    if (n <= 0) {
        free(buf);
        return 0;
    }
    size_t start = 0;
    if (from > 0) {
        char *nl = memchr(buf, '\n', (size_t)n);
        start = nl ? (size_t)(nl - buf) + 1 : 0;
    }
    termview_set_mute(c->tv, true);
    termview_feed(c->tv, buf + start, (size_t)n - start);
    termview_set_mute(c->tv, false);
    free(buf);
    return from + n;
}

static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : 0;
}

static bool take_lock(struct console *c)
{
    if (c->lock_fd >= 0)
        return true;
    struct ib_error err = {0};
    pid_t holder = 0;
    if (lockfile_take(c->lock_path, 0, &c->lock_fd, &holder, &err) < 0) {
        c->lock_fd = -1;
        c->holder = holder > 0 ? holder : -1;
        return false;
    }
    c->holder = 0;
    return true;
}

static void try_connect(struct loop *lp, void *arg);

static void retry_later(struct console *c, int ms)
{
    if (c->retry_timer == 0)
        c->retry_timer = loop_timer(c->app->lp, ms, try_connect, c);
}

static void try_connect(struct loop *lp, void *arg)
{
    struct console *c = arg;
    (void)lp;
    c->retry_timer = 0;
    if (c->fd >= 0 || c->eof)
        return;
    if (!take_lock(c)) {
        app_dirty(c->app);
        retry_later(c, 1000);
        return;
    }
    struct ib_error err = {0};
    int fd = unixsock_connect(c->sock_path, &err);
    if (fd < 0) {
        retry_later(c, 250); /* QEMU may not listen yet */
        return;
    }
    /* The log's size at connect time: what QEMU logs from here on also
     * comes through the socket, and is skipped there since the replay has
     * it. Taken before the connect, output logged in between (sent to no
     * client) would be counted too, and as many live bytes lost. */
    off_t before = file_size(c->log_path);
    c->fd = fd;
    off_t end = replay_log(c);
    c->skip = end > before ? (size_t)(end - before) : 0;
    update_watch(c);
    if (c->app->auto_stty)
        console_send_stty(c);
    app_dirty(c->app);
}

struct console *console_open(struct app *a, const char *name)
{
    struct console *c = console_find(a, name);
    if (c)
        return c;
    /* A name with a '/' is a folder holding console.sock and console.log
     * (any runtime folder, or a test's fake QEMU). */
    struct instance_info *info = strchr(name, '/') ? NULL : app_instance(a, name);
    char *dir = info ? xstrdup(info->dir)
                     : (strchr(name, '/') ? xstrdup(name) : ib_path_join(a->st.run, name));
    c = xcalloc(1, sizeof *c);
    c->app = a;
    c->name = xstrdup(name);
    c->dir = dir;
    c->sock_path = info && info->console_sock ? xstrdup(info->console_sock)
                                              : ib_path_join(dir, "console.sock");
    c->log_path =
        info && info->console_log ? xstrdup(info->console_log) : ib_path_join(dir, "console.log");
    c->lock_path = ib_path_join(dir, "console.lock");
    c->fd = -1;
    c->lock_fd = -1;
    c->tile = -1;
    c->tv = termview_new(24, 80, SCROLLBACK_LINES);
    termview_set_output(c->tv, to_guest, c);
    struct console **p = &a->consoles;
    while (*p)
        p = &(*p)->next;
    *p = c;
    /* Placed first, so the history is replayed at the tile's width. */
    app_relayout(a);
    try_connect(a->lp, c);
    return c;
}

void console_close(struct console *c)
{
    struct app *a = c->app;
    for (struct console **p = &a->consoles; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    if (a->focus_con == c) {
        a->focus_con = a->consoles;
        if (a->focus == FOCUS_CONSOLE && a->focus_con == NULL)
            a->focus = FOCUS_NAV;
    }
    if (c->retry_timer)
        loop_cancel(a->lp, c->retry_timer);
    disconnect(c);
    lockfile_release(c->lock_fd);
    widget_free(&c->tv->base);
    free(c->name);
    free(c->dir);
    free(c->sock_path);
    free(c->log_path);
    free(c->lock_path);
    free(c->pending);
    free(c->outq);
    free(c);
    if (a->consoles == NULL)
        a->zoom = false;
    app_relayout(a);
}

void console_place(struct console *c, struct rect r)
{
    c->rect = r;
    struct rect body = {r.y + 1, r.x, r.h - 1, r.w};
    bool resized = body.h != c->tv->rows || body.w != c->tv->cols;
    widget_place(&c->tv->base, body);
    if (resized && c->app->auto_stty && c->fd >= 0)
        console_send_stty(c);
}

bool console_process(struct console *c, int64_t deadline, size_t max_bytes)
{
    size_t done = 0;
    while (done < c->plen && done < max_bytes) {
        size_t chunk = c->plen - done < 16384 ? c->plen - done : 16384;
        termview_feed(c->tv, c->pending + done, chunk);
        done += chunk;
        if (ib_now_ms() >= deadline)
            break;
    }
    if (done > 0) {
        memmove(c->pending, c->pending + done, c->plen - done);
        c->plen -= done;
        if (!c->reading && c->plen < PENDING_MAX / 2)
            update_watch(c);
        if (c->pcap > 4 * READ_CHUNK && c->plen < READ_CHUNK) {
            c->pcap = 2 * READ_CHUNK;
            c->pending = xrealloc(c->pending, c->pcap);
        }
    }
    return c->plen > 0;
}

static const char *const STAGES[] = {"qemu", "kernel", "banner", "agent", "target"};

void console_draw_title(struct console *c, WINDOW *win, bool focused)
{
    struct app *a = c->app;
    struct rect r = c->rect;
    enum th_element base = focused ? TH_CONSOLE_TITLE_FOCUS : TH_CONSOLE_TITLE;
    draw_fill(win, r.y, r.x, r.w, base);
    int x = r.x, end = r.x + r.w;
    char buf[256];
    int idx = c->tile >= 0 ? c->tile + 1 : 0;
    snprintf(buf, sizeof buf, " %d:%s ", idx,
             strchr(c->name, '/') ? ib_path_base(c->name) : c->name);
    x += draw_text(win, r.y, x, end - x, base, buf);
    struct watch *w = watch_get(a, c->name, false);
    struct instance_info *info = app_instance(a, c->name);

    if (c->holder != 0 && c->fd < 0) {
        snprintf(buf, sizeof buf, " console held by pid %d ", (int)c->holder);
        x += draw_text(win, r.y, x, end - x, TH_WARN, buf);
    } else if ((w && w->dead) || c->eof) {
        snprintf(buf, sizeof buf, " dead: %s ",
                 w && w->dead_reason ? w->dead_reason : "console closed");
        x += draw_text(win, r.y, x, end - x, TH_DEAD, buf);
    } else if (w && w->error) {
        snprintf(buf, sizeof buf, " failed: %s ", w->error);
        x += draw_text(win, r.y, x, end - x, TH_ERROR, buf);
    } else if (w == NULL && info == NULL) {
        x += draw_text(win, r.y, x, end - x, TH_DIM, c->fd >= 0 ? " connected " : " connecting ");
    } else {
        int level = w ? (int)w->level : -1;
        static const char WARNING[] = " agent not responding ";
        bool warn = w && w->agent_down;
        /* A warning must be read whole: in a narrow tile the timeline gives
         * up its labels ("✓✓✓✓·") rather than cut the warning to " agent". */
        int full = 0;
        for (int i = 0; i < 5; i++)
            full += draw_text_width(STAGES[i]) + 2;
        bool compact = warn && end - x < full + draw_text_width(WARNING);
        for (int i = 0; i < 5 && x < end; i++) {
            enum th_element el = i <= level       ? TH_TIMELINE_DONE
                                 : i == level + 1 ? TH_TIMELINE_NOW
                                                  : TH_TIMELINE_TODO;
            snprintf(buf, sizeof buf, "%s%s", i <= level ? "✓" : "·", compact ? "" : STAGES[i]);
            x += draw_text(win, r.y, x, end - x, el, buf);
            if (x < end && !compact)
                x += draw_text(win, r.y, x, end - x, base, " ");
        }
        if (warn)
            x += draw_text(win, r.y, x, end - x, TH_WARN, WARNING);
    }
    /* How it started: restored from a warm state (made when), or booted. */
    if (info && info->warm_made_ms > 0 && x < end) {
        time_t t = (time_t)(info->warm_made_ms / 1000);
        struct tm tm;
        char made[32];
        localtime_r(&t, &tm);
        strftime(made, sizeof made, "%m-%d %H:%M", &tm);
        snprintf(buf, sizeof buf, " warm (%s) ", made);
        x += draw_text(win, r.y, x, end - x, TH_OK, buf);
    } else if (info && x < end) {
        bool stale = w && w->notice;
        x += draw_text(win, r.y, x, end - x, stale ? TH_WARN : base,
                       stale ? " cold (stale warm state) " : " cold ");
    }
    if (c->tv->offset > 0 || c->scroll_mode) {
        snprintf(buf, sizeof buf, " [%d/%zu] ", c->tv->offset, c->tv->sb_count);
        int bw = draw_text_width(buf);
        if (end - bw > x)
            draw_text(win, r.y, end - bw, bw, TH_CONSOLE_SCROLLED, buf);
    } else {
        snprintf(buf, sizeof buf, " %dx%d ", c->tv->cols, c->tv->rows);
        int bw = draw_text_width(buf);
        if (end - bw > x)
            draw_text(win, r.y, end - bw, bw, base, buf);
    }
}
