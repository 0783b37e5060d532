/*
 * job.c - work that may block (starting QEMU, waiting for readiness,
 * pinging the agent, a clean stop) runs in a forked child that reports one
 * line at a time through a pipe the event loop watches. The UI never waits.
 *
 * Lines a child writes:
 *   STARTED <name>            instance_start() returned: QEMU runs
 *   LEVEL <n>                 readiness now (enum instance_ready)
 *   DEAD <reason>             QEMU is gone
 *   GONE                      the instance is no longer listed (stopped)
 *   STOPPED                   instance_stop() succeeded
 *   ERR <status> <message>    something failed
 *
 * Children die with the workbench (PR_SET_PDEATHSIG), never touch the
 * terminal (stdin/out/err are /dev/null) and close every other inherited
 * descriptor, so they keep no console socket or console.lock open.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "tui/app.h"

static void job_free(struct job *j)
{
    free(j->name);
    free(j);
}

static void job_unlink(struct app *a, struct job *j)
{
    for (struct job **p = &a->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            return;
        }
}

static void on_job_readable(struct loop *lp, int fd, int events, void *arg)
{
    struct job *j = arg;
    (void)events;
    ssize_t n = read(fd, j->buf + j->len, sizeof j->buf - 1 - j->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        j->len += (size_t)n;
        j->buf[j->len] = '\0';
        char *start = j->buf, *nl;
        while ((nl = strchr(start, '\n')) != NULL) {
            *nl = '\0';
            if (j->on_line)
                j->on_line(j, start);
            start = nl + 1;
        }
        j->len -= (size_t)(start - j->buf);
        memmove(j->buf, start, j->len);
        if (j->len == sizeof j->buf - 1)
            j->len = 0; /* a line longer than the buffer: drop it */
        return;
    }
    /* EOF: the child is exiting; reap it. */
    loop_unwatch(lp, fd);
    close(fd);
    if (j->cmd_fd >= 0)
        close(j->cmd_fd);
    j->cmd_fd = -1;
    int status = 0;
    while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
        ;
    job_unlink(j->app, j);
    if (j->on_done)
        j->on_done(j, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    job_free(j);
}

static struct job *spawn(struct app *a, const char *name, job_child_fn child, void *arg,
                         job_line_fn on_line, job_done_fn on_done, bool duplex)
{
    int p[2], in[2] = {-1, -1};
    if (pipe2(p, O_CLOEXEC) < 0) {
        app_message(a, true, "cannot start a helper: %s", strerror(errno));
        return NULL;
    }
    if (duplex && pipe2(in, O_CLOEXEC) < 0) {
        close(p[0]);
        close(p[1]);
        app_message(a, true, "cannot start a helper: %s", strerror(errno));
        return NULL;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        if (duplex)
            close(in[0]), close(in[1]);
        app_message(a, true, "cannot fork a helper: %s", strerror(errno));
        return NULL;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        /* The workbench's handlers would keep a child alive on SIGTERM. */
        signal(SIGWINCH, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        /* Out of the way first, so that placing one cannot close the other. */
        int po = fcntl(p[1], F_DUPFD, 10), pi = duplex ? fcntl(in[0], F_DUPFD, 10) : -1;
        int out = dup2(po, 3);
        if (duplex)
            dup2(pi, JOB_CMD_FD);
        for (int fd = duplex ? JOB_CMD_FD + 1 : 4; fd < 4096; fd++)
            close(fd);
        child(out, arg);
        _exit(0);
    }
    close(p[1]);
    ib_fd_set_nonblock(p[0]);
    struct job *j = xcalloc(1, sizeof *j);
    j->app = a;
    j->pid = pid;
    j->fd = p[0];
    j->cmd_fd = -1;
    if (duplex) {
        close(in[0]);
        ib_fd_set_nonblock(in[1]);
        j->cmd_fd = in[1];
    }
    j->on_line = on_line;
    j->on_done = on_done;
    j->name = name ? xstrdup(name) : NULL;
    j->next = a->jobs;
    a->jobs = j;
    loop_watch(a->lp, p[0], LOOP_READ, on_job_readable, j);
    return j;
}

struct job *job_spawn(struct app *a, const char *name, job_child_fn child, void *arg,
                      job_line_fn on_line, job_done_fn on_done)
{
    return spawn(a, name, child, arg, on_line, on_done, false);
}

struct job *job_spawn_duplex(struct app *a, const char *name, job_child_fn child, void *arg,
                             job_line_fn on_line, job_done_fn on_done)
{
    return spawn(a, name, child, arg, on_line, on_done, true);
}

int job_send(struct job *j, const char *fmt, ...)
{
    if (j == NULL || j->cmd_fd < 0)
        return -1;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 1)
        return -1;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    /* Under PIPE_BUF: the line goes whole or not at all. */
    return write(j->cmd_fd, line, (size_t)n) == n ? 0 : -1;
}

bool job_alive(struct app *a, const struct job *j)
{
    for (struct job *k = a->jobs; k; k = k->next)
        if (k == j)
            return true;
    return false;
}

/* Waits for a child at most ms, then kills it for good. */
static void reap_bounded(pid_t pid, int ms)
{
    int64_t end = ib_now_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return;
        if (ib_now_ms() >= end)
            break;
        ib_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

void job_kill_all(struct app *a)
{
    while (a->jobs) {
        struct job *j = a->jobs;
        a->jobs = j->next;
        loop_unwatch(a->lp, j->fd);
        close(j->fd);
        if (j->cmd_fd >= 0)
            close(j->cmd_fd);
        /* SIGTERM lets a debugger session detach and an export clean up. */
        kill(j->pid, SIGTERM);
        reap_bounded(j->pid, 3000);
        job_free(j);
    }
}

/* ---- in the child ---- */

void job_say(int out, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    if (write(out, line, (size_t)n) < 0)
        _exit(0); /* the workbench is gone */
}

static void monitor_loop(int out, const struct store *st, const char *name)
{
    int prev = -1;
    int64_t started = ib_now_ms();
    for (;;) {
        struct instance_info info;
        struct ib_error err = {0};
        if (instance_get(st, name, &info, &err) < 0) {
            if (err.status == IB_ENOTFOUND)
                job_say(out, "GONE");
            else
                job_say(out, "ERR %d %s", err.status, err.msg);
            return;
        }
        if (info.state == INSTANCE_DEAD) {
            job_say(out, "DEAD %s", info.dead_reason ? info.dead_reason : "QEMU exited");
            instance_info_free(&info);
            return;
        }
        int level = (int)instance_readiness(&info);
        instance_info_free(&info);
        if (level != prev)
            job_say(out, "LEVEL %d", level);
        prev = level;
        /* Quick while booting, then a heartbeat that notices a hung agent. */
        bool booting = level < INSTANCE_READY_AGENT && ib_now_ms() - started < 180000;
        ib_sleep_ms(booting ? 200 : 3000);
    }
}

struct start_args {
    char device[256];
    char name[256];
    int port_offset;
    bool target;
};

static void child_start(int out, void *arg)
{
    struct start_args *s = arg;
    struct store st;
    struct ib_error err = {0};
    if (store_open(&st, NULL, &err) < 0) {
        job_say(out, "ERR %d %s", err.status, err.msg);
        return;
    }
    struct instance_start_opts o = {
        .name = s->name[0] ? s->name : NULL,
        .port_offset = s->port_offset,
        .wait = INSTANCE_READY_NONE,
        .timeout_ms = 60000,
        .start_target = s->target,
    };
    struct instance_info info;
    if (instance_start(&st, s->device, &o, &info, &err) < 0) {
        job_say(out, "ERR %d %s", err.status, err.msg);
        store_close(&st);
        return;
    }
    job_say(out, "STARTED %s", info.name);
    /* Warm or cold, and why a warm state was passed over (it is stale). */
    job_say(out, "WARM %lld", (long long)info.warm_made_ms);
    if (info.notice)
        job_say(out, "NOTICE %s", info.notice);
    char name[256];
    snprintf(name, sizeof name, "%s", info.name);
    instance_info_free(&info);
    monitor_loop(out, &st, name);
    store_close(&st);
}

static void child_monitor(int out, void *arg)
{
    struct store st;
    struct ib_error err = {0};
    if (store_open(&st, NULL, &err) < 0) {
        job_say(out, "ERR %d %s", err.status, err.msg);
        return;
    }
    monitor_loop(out, &st, arg);
    store_close(&st);
}

struct stop_args {
    char name[256];
    bool now;
};

static void child_stop(int out, void *arg)
{
    struct stop_args *s = arg;
    struct store st;
    struct ib_error err = {0};
    if (store_open(&st, NULL, &err) < 0 || instance_stop(&st, s->name, 10000, s->now, &err) < 0)
        job_say(out, "ERR %d %s", err.status, err.msg);
    else
        job_say(out, "STOPPED");
    store_close(&st);
}

/* ---- in the workbench ---- */

static void on_monitor_line(struct job *j, const char *line)
{
    struct app *a = j->app;
    struct watch *w = watch_get(a, j->name, true);
    if (strncmp(line, "STARTED ", 8) == 0) {
        const char *name = line + 8;
        if (strcmp(name, j->name) != 0) {
            /* core chose the name: follow it */
            free(j->name);
            j->name = xstrdup(name);
            w = watch_get(a, name, true);
        }
        w->monitored = true;
        w->start_seen = true;
        w->reached_ms[INSTANCE_READY_NONE] = ib_wall_ms();
        app_message(a, false, "%s started", name);
        nav_refresh(a);
        nav_select(a, NAV_INSTANCE, name);
        struct console *c = console_open(a, name);
        if (c)
            app_focus(a, FOCUS_CONSOLE, c);
    } else if (strncmp(line, "WARM ", 5) == 0) {
        w->warm_ms = atoll(line + 5);
        if (w->warm_ms > 0 && w->notice == NULL)
            app_message(a, false, "%s started warm", j->name);
        nav_fill_detail(a);
    } else if (strncmp(line, "NOTICE ", 7) == 0) {
        free(w->notice);
        w->notice = xstrdup(line + 7);
        app_message(a, true, "%s", w->notice);
        nav_fill_detail(a);
    } else if (strncmp(line, "LEVEL ", 6) == 0) {
        int level = atoi(line + 6);
        if (level < 0 || level > INSTANCE_READY_TARGET)
            return;
        w->level = (enum instance_ready)level;
        /* A level below one reached before means the agent stopped answering. */
        w->agent_down = w->max >= INSTANCE_READY_AGENT && level < INSTANCE_READY_AGENT;
        if (level > (int)w->max)
            w->max = (enum instance_ready)level;
        /* Times only for what this workbench saw happen; a level reached
         * before it looked (a restart of the workbench) has none (-1). */
        bool watched = w->reached_ms[INSTANCE_READY_NONE] != 0;
        for (int l = 0; l <= level; l++)
            if (w->reached_ms[l] == 0)
                w->reached_ms[l] = watched ? ib_wall_ms() : -1;
    } else if (strncmp(line, "DEAD ", 5) == 0) {
        if (w->stopping) { /* a stop we asked for: not a death */
            nav_refresh(a);
            return;
        }
        w->dead = true;
        free(w->dead_reason);
        w->dead_reason = xstrdup(line + 5);
        nav_refresh(a);
    } else if (strcmp(line, "GONE") == 0) {
        nav_refresh(a);
    } else if (strncmp(line, "ERR ", 4) == 0) {
        const char *msg = strchr(line + 4, ' ');
        msg = msg ? msg + 1 : line + 4;
        free(w->error);
        w->error = xstrdup(msg);
        app_message(a, true, "%s: %s", j->name, msg);
        nav_refresh(a);
    }
    app_dirty(a);
}

static void on_monitor_done(struct job *j, int status)
{
    (void)status;
    struct watch *w = watch_get(j->app, j->name, false);
    if (w)
        w->monitored = false;
    app_dirty(j->app);
}

void job_monitor(struct app *a, const char *name)
{
    struct watch *w = watch_get(a, name, true);
    if (w->monitored || w->dead)
        return;
    w->monitored = true;
    char *arg = xstrdup(name);
    if (job_spawn(a, name, child_monitor, arg, on_monitor_line, on_monitor_done) == NULL)
        w->monitored = false;
    free(arg); /* the child has its own copy of memory */
}

void job_start_instance(struct app *a, const char *device, const char *name, int port_offset,
                        bool target)
{
    struct start_args s = {.port_offset = port_offset, .target = target};
    snprintf(s.device, sizeof s.device, "%s", device);
    snprintf(s.name, sizeof s.name, "%s", name ? name : "");
    const char *key = name && name[0] ? name : device;
    struct watch *w = watch_get(a, key, true);
    free(w->error);
    w->error = NULL;
    w->dead = false;
    w->monitored = true;
    w->warm_ms = 0;
    free(w->notice);
    w->notice = NULL;
    memset(w->reached_ms, 0, sizeof w->reached_ms);
    w->level = w->max = INSTANCE_READY_NONE;
    if (job_spawn(a, key, child_start, &s, on_monitor_line, on_monitor_done) == NULL)
        w->monitored = false;
    else
        app_message(a, false, "starting %s as %s...", device, key);
}

static void on_stop_line(struct job *j, const char *line)
{
    struct app *a = j->app;
    if (strcmp(line, "STOPPED") == 0) {
        app_message(a, false, "%s stopped", j->name);
        struct console *c = console_find(a, j->name);
        if (c)
            console_close(c);
        watch_forget(a, j->name);
    } else if (strncmp(line, "ERR ", 4) == 0) {
        struct watch *w = watch_get(a, j->name, false);
        if (w)
            w->stopping = false;
        const char *msg = strchr(line + 4, ' ');
        app_message(a, true, "stop %s: %s", j->name, msg ? msg + 1 : line);
    }
    nav_refresh(a);
    app_dirty(a);
}

void job_stop_instance(struct app *a, const char *name, bool now)
{
    struct stop_args s = {.now = now};
    snprintf(s.name, sizeof s.name, "%s", name);
    watch_get(a, name, true)->stopping = true;
    if (job_spawn(a, name, child_stop, &s, on_stop_line, NULL))
        app_message(a, false, "stopping %s...", name);
}
