/*
 * procs.c - the live process table of an instance, in the detail pane.
 *
 * About once a second the guest's processes are listed through its agent
 * (core/guestproc: one guest-exec, parsed on the host) without ever
 * blocking: the agent connection is opened on the workbench's loop for a
 * batch of requests and closed as soon as none is in flight, because the
 * agent serves one client at a time and the readiness monitor, the CLI and
 * the debugger need it too. Kill, maps and sockets go through the same
 * connection.
 *
 * A process can vanish at any moment (between a refresh and a kill, or
 * while its maps are read): that is reported as a fact ("had exited"), not
 * as an error, and the table simply loses the row at the next refresh.
 * When the agent does not answer, the table keeps its last rows and says
 * so on its first line; the rest of the workbench goes on.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guestproc.h"
#include "core/qga.h"
#include "core/util.h"
#include "tui/app.h"
#include "widgets/draw.h"

#define REFRESH_MS 1000 /* IOTBENCH_PROC_REFRESH_MS changes it (benchmarks) */
#define AGENT_TIMEOUT_MS 5000

enum sub { SUB_TABLE, SUB_MAPS, SUB_SOCKETS };
enum { COL_PID, COL_USER, COL_STATE, COL_CPU, COL_RSS, COL_WHERE, COL_CMD, N_COLS };

static const struct lv_column COLUMNS[N_COLS] = {
    {"PID", 6, true}, {"USER", 8, false},  {"S", 1, false},       {"CPU%", 5, true},
    {"RSS", 9, true}, {"WHERE", 6, false}, {"COMMAND", 0, false},
};

/* The sort order outlives the pane (it is reopened per instance). */
static int saved_sort_col = COL_PID;
static bool saved_sort_desc;
static bool saved_show_kernel;

struct procs;

/* What a request in flight is about. They live in a small ring inside the
 * pane, so that requests cancelled when it closes leave nothing behind. */
struct req {
    struct procs *p;
    unsigned seq;
    int pid, sig;
    char comm[64];
};
#define N_REQS 8

struct procs {
    struct app *a;
    struct req reqs[N_REQS];
    unsigned seq, sub_seq;
    char *inst, *qga_sock;
    struct guestproc_lister *ls;
    struct qga *g;
    int busy; /* requests in flight on g */
    long close_timer, refresh_timer;
    int64_t refresh_started, updated_ms;
    bool again; /* refresh as soon as the one in flight is over */
    struct listview *lv;
    struct textview *tv; /* maps or sockets */
    enum sub sub;
    int sub_pid;
    char sub_comm[64];
    bool sub_gone;
    char err[1100];
    bool have_list;
    size_t n_shown, n_device, n_kernel;
    struct rect body;
};

static struct procs *P(struct app *a)
{
    return a->procs;
}

/* ---- the agent connection ---- */

static void on_close_idle(struct loop *lp, void *arg)
{
    (void)lp;
    struct procs *p = arg;
    p->close_timer = 0;
    if (p->busy == 0 && p->g != NULL) {
        guestproc_cancel(p->g, 0);
        qga_close(p->g);
        p->g = NULL;
    }
}

static struct qga *agent(struct procs *p)
{
    if (p->g != NULL)
        return p->g;
    struct ib_error err = {0};
    p->g = qga_open(p->a->lp, p->qga_sock, &err);
    if (p->g == NULL)
        snprintf(p->err, sizeof p->err, "%s", err.msg);
    return p->g;
}

static struct req *new_req(struct procs *p, int pid, const char *comm)
{
    struct req *r = &p->reqs[p->seq % N_REQS];
    memset(r, 0, sizeof *r);
    r->p = p;
    r->seq = ++p->seq;
    r->pid = pid;
    snprintf(r->comm, sizeof r->comm, "%s", comm ? comm : "?");
    return r;
}

static void op_done(struct procs *p)
{
    if (p->busy > 0)
        p->busy--;
    /* Closed from the loop, not from inside the agent's own callback. */
    if (p->busy == 0 && p->close_timer == 0)
        p->close_timer = loop_timer(p->a->lp, 0, on_close_idle, p);
}

/* ---- refreshing ---- */

static void list_now(struct procs *p);

static void on_refresh_timer(struct loop *lp, void *arg)
{
    (void)lp;
    struct procs *p = arg;
    p->refresh_timer = 0;
    list_now(p);
}

static int refresh_period(void)
{
    const char *e = getenv("IOTBENCH_PROC_REFRESH_MS");
    int ms = e ? atoi(e) : 0;
    return ms >= 100 ? ms : REFRESH_MS;
}

static void schedule(struct procs *p)
{
    if (p->refresh_timer)
        loop_cancel(p->a->lp, p->refresh_timer);
    int64_t wait = p->again ? 0 : p->refresh_started + refresh_period() - ib_now_ms();
    p->again = false;
    p->refresh_timer = loop_timer(p->a->lp, wait < 50 ? 50 : wait, on_refresh_timer, p);
}

static void human_kb(uint64_t kb, char *buf, size_t cap)
{
    if (kb == 0)
        snprintf(buf, cap, "-");
    else if (kb < 1024)
        snprintf(buf, cap, "%" PRIu64 " KiB", kb);
    else if (kb < 1024 * 1024)
        snprintf(buf, cap, "%.1f MiB", (double)kb / 1024);
    else
        snprintf(buf, cap, "%.2f GiB", (double)kb / 1024 / 1024);
}

static const char *where_word(const struct guestproc *g)
{
    return g->kthread ? "kernel" : guestproc_where_name(g->where);
}

static void fill_rows(struct procs *p, const struct guestproc_snapshot *s)
{
    struct listview *lv = p->lv;
    listview_begin(lv);
    p->n_shown = p->n_device = p->n_kernel = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct guestproc *g = &s->procs[i];
        if (g->kthread) {
            p->n_kernel++;
            if (!saved_show_kernel)
                continue;
        }
        if (g->where == GUESTPROC_DEVICE)
            p->n_device++;
        char pid[16], state[2] = {g->state ? g->state : '?', 0}, cpu[16], rss[32];
        snprintf(pid, sizeof pid, "%d", g->pid);
        snprintf(cpu, sizeof cpu, "%.1f", g->cpu);
        human_kb(g->rss_kb, rss, sizeof rss);
        const char *cells[N_COLS] = {pid, g->user, state, cpu, rss, where_word(g), g->cmdline};
        int row = listview_add(lv, LV_ITEM, g->pid, pid, cells);
        listview_set_sort_value(lv, row, COL_PID, g->pid);
        listview_set_sort_value(lv, row, COL_CPU, g->cpu);
        listview_set_sort_value(lv, row, COL_RSS, (double)g->rss_kb);
        if (g->kthread)
            listview_set_element(lv, row, TH_PROC_KERNEL);
        else if (g->where == GUESTPROC_DEVICE)
            listview_set_element(lv, row, TH_PROC_DEVICE);
        p->n_shown++;
    }
    listview_end(lv);
}

static void on_list(struct guestproc_snapshot *s, const struct ib_error *err, void *arg)
{
    struct procs *p = arg;
    op_done(p);
    app_trace("procs: listed in %lld ms%s%s", (long long)(ib_now_ms() - p->refresh_started),
              err ? ": " : "", err ? err->msg : "");
    if (err != NULL) {
        snprintf(p->err, sizeof p->err, "%s", err->msg);
    } else {
        p->err[0] = '\0';
        p->have_list = true;
        p->updated_ms = ib_now_ms();
        fill_rows(p, s);
        /* A process whose maps or sockets are shown may have gone. */
        if (p->sub != SUB_TABLE && guestproc_snapshot_get(s, p->sub_pid) == NULL)
            p->sub_gone = true;
    }
    schedule(p);
    app_dirty(p->a);
}

static void list_now(struct procs *p)
{
    if (guestproc_refreshing(p->ls))
        return;
    p->refresh_started = ib_now_ms();
    struct qga *g = agent(p);
    if (g == NULL) {
        schedule(p);
        app_dirty(p->a);
        return;
    }
    p->busy++;
    app_trace("procs: listing %s", p->inst);
    if (guestproc_refresh(p->ls, p->a->lp, g, AGENT_TIMEOUT_MS, on_list, p) < 0) {
        op_done(p);
        schedule(p);
    }
}

/* ---- opening and closing ---- */

void procs_close(struct app *a)
{
    struct procs *p = P(a);
    if (p == NULL)
        return;
    if (p->refresh_timer)
        loop_cancel(a->lp, p->refresh_timer);
    if (p->close_timer)
        loop_cancel(a->lp, p->close_timer);
    /* Callbacks of requests in flight must not run: cancel, then close. */
    guestproc_lister_free(p->ls);
    if (p->g != NULL) {
        guestproc_cancel(p->g, 0);
        qga_close(p->g);
    }
    saved_sort_col = p->lv->sort_col;
    saved_sort_desc = p->lv->sort_desc;
    if (a->filter_lv == p->lv)
        a->filter_lv = NULL;
    widget_free(&p->lv->base);
    widget_free(&p->tv->base);
    free(p->inst);
    free(p->qga_sock);
    free(p);
    a->procs = NULL;
}

void procs_show(struct app *a, const char *instance)
{
    if (P(a) && strcmp(P(a)->inst, instance) == 0)
        return;
    procs_close(a);
    struct instance_info *in = app_instance(a, instance);
    struct procs *p = xcalloc(1, sizeof *p);
    p->a = a;
    p->inst = xstrdup(instance);
    p->qga_sock = in && in->qga_sock ? xstrdup(in->qga_sock)
                                     : xasprintf("%s/%s/qga.sock", a->st.run, instance);
    p->ls = guestproc_lister_new();
    p->lv = listview_new(COLUMNS, N_COLS, true);
    p->lv->empty = "listing the processes...";
    listview_sort(p->lv, saved_sort_col, saved_sort_desc);
    p->tv = textview_new();
    a->procs = p;
    /* An instance the navigator has not listed yet is tried all the same. */
    list_now(p);
    procs_place(a, p->body);
}

void procs_place(struct app *a, struct rect body)
{
    struct procs *p = P(a);
    if (p == NULL)
        return;
    p->body = body;
    struct rect list = {body.y + 1, body.x, body.h > 1 ? body.h - 1 : 0, body.w};
    widget_place(&p->lv->base, list);
    widget_place(&p->tv->base, list);
}

struct listview *procs_list(struct app *a)
{
    return P(a) ? P(a)->lv : NULL;
}

bool procs_in_table(struct app *a)
{
    return P(a) && P(a)->sub == SUB_TABLE;
}

/* ---- drawing ---- */

void procs_title(struct app *a, char *buf, size_t cap)
{
    struct procs *p = P(a);
    if (p == NULL) {
        snprintf(buf, cap, "%s", "");
        return;
    }
    if (p->sub == SUB_MAPS)
        snprintf(buf, cap, "memory maps of %d (%s)", p->sub_pid, p->sub_comm);
    else if (p->sub == SUB_SOCKETS)
        snprintf(buf, cap, "open sockets of %d (%s)", p->sub_pid, p->sub_comm);
    else
        snprintf(buf, cap, "processes of %s", p->inst);
}

void procs_draw(struct app *a, WINDOW *win)
{
    struct procs *p = P(a);
    if (p == NULL || p->body.h <= 0)
        return;
    struct rect b = p->body;
    p->lv->base.focused = p->tv->base.focused = a->focus == FOCUS_DETAIL;
    draw_fill(win, b.y, b.x, b.w, TH_NORMAL);
    char line[1200];
    int x = b.x + 1, end = b.x + b.w;
    if (p->sub != SUB_TABLE) {
        snprintf(line, sizeof line, "Esc: back to the table");
        x += draw_text(win, b.y, x, end - x, TH_DIM, line);
        if (p->sub_gone)
            draw_text(win, b.y, x, end - x, TH_WARN, "   (the process has exited since)");
        widget_draw(&p->tv->base, win);
        return;
    }
    if (p->have_list) {
        int shown, total;
        listview_counts(p->lv, -1, &shown, &total);
        if (p->lv->filter[0])
            snprintf(line, sizeof line, "%d of %zu processes match /%s", shown, p->n_shown,
                     p->lv->filter);
        else
            snprintf(line, sizeof line, "%zu processes", p->n_shown);
        x += draw_text(win, b.y, x, end - x, TH_VALUE, line);
        snprintf(line, sizeof line, " · %zu device", p->n_device);
        x += draw_text(win, b.y, x, end - x, TH_PROC_DEVICE, line);
        snprintf(line, sizeof line, " · %zu kernel threads %s", p->n_kernel,
                 saved_show_kernel ? "shown" : "hidden (K)");
        x += draw_text(win, b.y, x, end - x, TH_DIM, line);
    }
    if (p->err[0]) {
        snprintf(line, sizeof line, "%s%s", p->have_list ? "  ·  " : "", p->err);
        draw_text(win, b.y, x, end - x, p->have_list ? TH_WARN : TH_ERROR, line);
    } else if (p->have_list) {
        double age = (double)(ib_now_ms() - p->updated_ms) / 1000.0;
        snprintf(line, sizeof line, "  ·  updated %.1f s ago", age < 0 ? 0 : age);
        draw_text(win, b.y, x, end - x, TH_DIM, line);
    }
    widget_draw(&p->lv->base, win);
}

/* ---- maps and sockets ---- */

static const char *seen_path(enum guestproc_where w, const char *path)
{
    size_t n = strlen(GUESTPROC_TARGET_ROOT);
    if (w == GUESTPROC_DEVICE && strncmp(path, GUESTPROC_TARGET_ROOT, n) == 0 && path[n] == '/')
        return path + n;
    return path;
}

static bool sub_current(const struct req *r, enum sub sub)
{
    return r->p->sub == sub && r->p->sub_seq == r->seq;
}

static void sub_failed(struct procs *p, const struct ib_error *err)
{
    textview_clear(p->tv, false);
    textview_line(p->tv);
    if (err->status == IB_ENOTFOUND)
        textview_add(p->tv, TH_DIM, "process %d (%s) has exited", p->sub_pid, p->sub_comm);
    else
        textview_add(p->tv, TH_ERROR, "%s", err->msg);
}

static void on_maps(struct guestproc_maps *m, const struct ib_error *err, void *arg)
{
    struct req *rq = arg;
    struct procs *p = rq->p;
    op_done(p);
    if (!sub_current(rq, SUB_MAPS))
        return;
    app_dirty(p->a);
    if (err != NULL) {
        sub_failed(p, err);
        return;
    }
    struct textview *tv = p->tv;
    textview_clear(tv, false);
    textview_line(tv);
    textview_add(tv, TH_LABEL, "process  ");
    textview_add(tv, m->where == GUESTPROC_DEVICE ? TH_PROC_DEVICE : TH_VALUE, "%d (%s), %s",
                 m->pid, p->sub_comm, guestproc_where_name(m->where));
    textview_line(tv);
    textview_add(tv, TH_LABEL, "exe      ");
    textview_add(tv, TH_VALUE, "%s", m->exe ? seen_path(m->where, m->exe) : "?");
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_TABLE_HEADER, "%-17s %-4s %-8s %-5s %-8s %s", "ADDRESS", "PERM", "OFFSET",
                 "DEV", "INODE", "PATH");
    for (size_t i = 0; i < m->n; i++) {
        const struct guestproc_map *e = &m->v[i];
        textview_line(tv);
        enum th_element el = strchr(e->perms, 'x') ? TH_VALUE : TH_NORMAL;
        textview_add(tv, el,
                     "%08" PRIx64 "-%08" PRIx64 " %-4s %08" PRIx64 " %02x:%02x %-8" PRIu64 " ",
                     e->start, e->end, e->perms, e->offset, e->dev_major, e->dev_minor, e->inode);
        textview_add(tv, TH_LABEL, "%s%s", seen_path(m->where, e->path),
                     e->deleted ? " (deleted)" : "");
        textview_set_indent(tv, 62);
    }
    if (m->skipped) {
        textview_line(tv);
        textview_add(tv, TH_WARN, "%zu lines could not be read", m->skipped);
    }
}

static void endpoint(char *buf, size_t cap, const char *addr, int port, bool v6)
{
    if (addr[0] == '\0')
        snprintf(buf, cap, "-");
    else if (v6)
        snprintf(buf, cap, "[%s]:%d", addr, port);
    else
        snprintf(buf, cap, "%s:%d", addr, port);
}

static void on_sockets(struct guestproc_sockets *s, const struct ib_error *err, void *arg)
{
    struct req *rq = arg;
    struct procs *p = rq->p;
    op_done(p);
    if (!sub_current(rq, SUB_SOCKETS))
        return;
    app_dirty(p->a);
    if (err != NULL) {
        sub_failed(p, err);
        return;
    }
    struct textview *tv = p->tv;
    textview_clear(tv, false);
    textview_line(tv);
    textview_add(tv, TH_LABEL, "process  ");
    textview_add(tv, TH_VALUE, "%d (%s): %zu socket%s", s->pid, p->sub_comm, s->n,
                 s->n == 1 ? "" : "s");
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_TABLE_HEADER, "%4s %-5s %-24s %-24s %-12s %s", "FD", "PROTO", "LOCAL",
                 "REMOTE", "STATE", "INODE/PATH");
    for (size_t i = 0; i < s->n; i++) {
        const struct guestproc_socket *k = &s->v[i];
        char l[96], r[96];
        bool v6 = k->proto == GUESTPROC_TCP6 || k->proto == GUESTPROC_UDP6;
        textview_line(tv);
        if (k->proto == GUESTPROC_UNIX) {
            textview_add(tv, TH_VALUE, "%4d %-5s %-24s %-24s %-12s ", k->fd, "unix", k->local, "-",
                         k->state);
            textview_add(tv, TH_LABEL, "%s", k->path && k->path[0] ? k->path : "(unnamed)");
        } else if (k->proto == GUESTPROC_SOCK_OTHER) {
            textview_add(tv, TH_DIM, "%4d %-5s %-24s %-24s %-12s %" PRIu64, k->fd, "other", "-",
                         "-", "-", k->inode);
        } else {
            endpoint(l, sizeof l, k->local, k->local_port, v6);
            endpoint(r, sizeof r, k->remote, k->remote_port, v6);
            bool listen = strcmp(k->state, "LISTEN") == 0;
            textview_add(tv, listen ? TH_OK : TH_VALUE, "%4d %-5s %-24s %-24s %-12s %" PRIu64,
                         k->fd, guestproc_sock_proto_name(k->proto), l, r, k->state, k->inode);
        }
    }
    if (s->n == 0) {
        textview_line(tv);
        textview_add(tv, TH_DIM, "no open sockets");
    }
}

/* The selected process: its pid (0 when none) and name. */
static int selected(struct procs *p, char *comm, size_t cap)
{
    const struct lv_row *r = listview_selected(p->lv);
    if (r == NULL || r->kind != LV_ITEM)
        return 0;
    if (comm) {
        /* The command's first word, without its folder: "demod". */
        const char *cmd = r->cells[COL_CMD];
        size_t n = strcspn(cmd, " ");
        const char *base = cmd;
        for (const char *q = cmd; q < cmd + n; q++)
            if (*q == '/')
                base = q + 1;
        snprintf(comm, cap, "%.*s", (int)(cmd + n - base), base);
    }
    return r->tag;
}

static bool selected_is_kernel(struct procs *p)
{
    const struct lv_row *r = listview_selected(p->lv);
    return r && strcmp(r->cells[COL_WHERE], "kernel") == 0;
}

static void open_sub(struct procs *p, enum sub sub)
{
    int pid = selected(p, p->sub_comm, sizeof p->sub_comm);
    if (pid <= 0) {
        app_message(p->a, true, "select a process first");
        return;
    }
    struct qga *g = agent(p);
    if (g == NULL) {
        app_message(p->a, true, "%s", p->err);
        return;
    }
    p->sub = sub;
    p->sub_pid = pid;
    p->sub_gone = false;
    textview_clear(p->tv, false);
    textview_line(p->tv);
    textview_add(p->tv, TH_DIM, "reading the %s of %d (%s)...",
                 sub == SUB_MAPS ? "memory maps" : "open sockets", pid, p->sub_comm);
    struct req *rq = new_req(p, pid, p->sub_comm);
    p->sub_seq = rq->seq;
    p->busy++;
    if (sub == SUB_MAPS)
        guestproc_maps(g, pid, AGENT_TIMEOUT_MS, on_maps, rq);
    else
        guestproc_sockets(g, pid, AGENT_TIMEOUT_MS, on_sockets, rq);
    app_dirty(p->a);
}

/* ---- kill ---- */

static void on_killed(const struct ib_error *err, void *arg)
{
    struct req *k = arg;
    struct procs *p = k->p;
    op_done(p);
    const char *name = guestproc_signal_name(k->sig);
    if (err != NULL && err->status == IB_ENOTFOUND)
        app_message(p->a, false, "process %d (%s) had already exited", k->pid, k->comm);
    else if (err != NULL)
        app_message(p->a, true, "%s", err->msg);
    else
        app_message(p->a, false, "sent SIG%s to %d (%s)", name ? name : "?", k->pid, k->comm);
    /* Show the result now rather than at the next tick. */
    p->again = true;
    if (!guestproc_refreshing(p->ls))
        schedule(p);
}

void procs_prompt_done(struct app *a, enum prompt_kind kind, const char *text)
{
    struct procs *p = P(a);
    if (p == NULL || kind != PROMPT_KILL)
        return;
    int pid = atoi(a->prompt_arg);
    int sig = guestproc_signal_parse(text);
    if (sig < 0) {
        app_message(a, true, "unknown signal \"%s\" (TERM, KILL, INT, HUP, STOP, CONT or 1-64)",
                    text);
        return;
    }
    struct qga *g = agent(p);
    if (g == NULL) {
        app_message(a, true, "%s", p->err);
        return;
    }
    const char *comm = strchr(a->prompt_arg, ' ');
    struct req *k = new_req(p, pid, comm ? comm + 1 : "?");
    k->sig = sig;
    p->busy++;
    guestproc_kill(g, pid, sig, AGENT_TIMEOUT_MS, on_killed, k);
}

/* ---- keys, mouse, actions ---- */

static void sort_by(struct procs *p, int col, bool desc)
{
    listview_sort(p->lv, col, desc);
    saved_sort_col = col;
    saved_sort_desc = desc;
    app_message(p->a, false, "sorted by %s%s", COLUMNS[col].title, desc ? ", descending" : "");
}

void procs_action(struct app *a, enum action act)
{
    struct procs *p = P(a);
    if (p == NULL)
        return;
    char comm[64] = "";
    int pid;
    switch (act) {
    case ACT_PROC_KILL:
        pid = selected(p, comm, sizeof comm);
        if (pid <= 0) {
            app_message(a, true, "select a process to kill");
        } else if (selected_is_kernel(p)) {
            app_message(a, true, "%d (%s) is a kernel thread: signals do not end it", pid, comm);
        } else {
            char arg[128], q[192];
            snprintf(arg, sizeof arg, "%d %s", pid, comm);
            snprintf(q, sizeof q, "Kill %d (%s) with signal (Esc cancels): ", pid, comm);
            app_prompt(a, PROMPT_KILL, arg, q, "TERM");
        }
        break;
    case ACT_PROC_ATTACH:
        pid = selected(p, comm, sizeof comm);
        if (pid <= 0)
            app_message(a, true, "select a process to debug");
        else if (selected_is_kernel(p))
            app_message(a, true, "%d (%s) is a kernel thread: it cannot be debugged", pid, comm);
        else
            dbg_attach(a, p->inst, pid, comm);
        break;
    case ACT_PROC_MAPS:
        open_sub(p, SUB_MAPS);
        break;
    case ACT_PROC_SOCKETS:
        open_sub(p, SUB_SOCKETS);
        break;
    case ACT_PROC_SORT_NEXT:
    case ACT_PROC_SORT_PREV: {
        int col = p->lv->sort_col < 0 ? 0 : p->lv->sort_col;
        col = (col + (act == ACT_PROC_SORT_NEXT ? 1 : N_COLS - 1)) % N_COLS;
        sort_by(p, col, col == COL_CPU || col == COL_RSS);
        break;
    }
    case ACT_PROC_SORT_INVERT:
        sort_by(p, p->lv->sort_col < 0 ? 0 : p->lv->sort_col, !p->lv->sort_desc);
        break;
    case ACT_PROC_SORT_CPU:
        sort_by(p, COL_CPU, true);
        break;
    case ACT_PROC_SORT_MEM:
        sort_by(p, COL_RSS, true);
        break;
    case ACT_PROC_SORT_PID:
        sort_by(p, COL_PID, false);
        break;
    case ACT_PROC_KTHREADS:
        saved_show_kernel = !saved_show_kernel;
        app_message(a, false, "kernel threads %s", saved_show_kernel ? "shown" : "hidden");
        p->again = true;
        if (!guestproc_refreshing(p->ls))
            schedule(p);
        break;
    case ACT_PROC_REFRESH:
        p->again = true;
        if (!guestproc_refreshing(p->ls))
            schedule(p);
        break;
    case ACT_BACK:
        if (p->sub != SUB_TABLE) {
            p->sub = SUB_TABLE;
        } else if (p->lv->filter[0]) {
            listview_set_filter(p->lv, "");
        } else {
            app_set_view(a, VIEW_INFO);
            return;
        }
        break;
    default:
        break;
    }
    app_dirty(a);
}

int procs_key(struct app *a, int key)
{
    struct procs *p = P(a);
    if (p == NULL)
        return WR_IGNORED;
    int r = widget_key(p->sub == SUB_TABLE ? &p->lv->base : &p->tv->base, key);
    if (r == LV_ACTIVATE && p->sub == SUB_TABLE) {
        procs_action(a, ACT_PROC_MAPS);
        return WR_HANDLED;
    }
    if (r != WR_IGNORED)
        app_dirty(a);
    return r;
}

int procs_mouse(struct app *a, const struct wmouse *ev)
{
    struct procs *p = P(a);
    if (p == NULL)
        return WR_IGNORED;
    struct wmouse rel = *ev;
    rel.y -= 1; /* the info line */
    if (rel.y < 0)
        return WR_HANDLED;
    int before = p->lv->sort_col;
    int r = widget_mouse(p->sub == SUB_TABLE ? &p->lv->base : &p->tv->base, &rel);
    /* A first click on CPU% or RSS puts the biggest first, as top does. */
    if (r == LV_SORTED && p->lv->sort_col != before &&
        (p->lv->sort_col == COL_CPU || p->lv->sort_col == COL_RSS))
        listview_sort(p->lv, p->lv->sort_col, true);
    if (r == LV_SORTED) {
        saved_sort_col = p->lv->sort_col;
        saved_sort_desc = p->lv->sort_desc;
        app_message(a, false, "sorted by %s%s", COLUMNS[p->lv->sort_col].title,
                    p->lv->sort_desc ? ", descending" : "");
    }
    app_dirty(a);
    return r;
}
