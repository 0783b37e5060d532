/*
 * snaps.c - the snapshot list of an instance: name, when it was taken, the
 * size of its RAM state; save, load and delete with a name prompt.
 *
 * core/snapshot.h blocks (QMP jobs polled to their end, the 9P share
 * unmounted and mounted again around a save), so the listing and each
 * operation run in a job like starts do, and the operation streams its
 * progress ("PROGRESS percent what") to a bar in the view and in the status
 * line. One operation runs at a time; it goes on when the view is left,
 * and says how it ended in the status line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/names.h"
#include "core/snapshot.h"
#include "core/util.h"
#include "tui/app.h"
#include "widgets/draw.h"

enum { COL_NAME, COL_TAKEN, COL_SIZE, N_COLS };
static const struct lv_column COLUMNS[N_COLS] = {
    {"NAME", 0, false}, {"TAKEN", 19, false}, {"RAM STATE", 10, true}};

struct snaps {
    struct app *a;
    char *inst;
    struct listview *lv;
    struct job *list_job;
    bool loaded;
    char err[400];
    /* rows arriving from the list job */
    struct snapshot *rows;
    size_t n_rows;
    struct rect body;
};

/* The operation in flight, whatever the view shows. */
static struct {
    struct job *job;
    char inst[256], verb[16], name[128], what[64];
    int pct;
    int64_t started;
} op;

static struct snaps *S(struct app *a)
{
    return a->snaps;
}

bool snaps_busy(struct app *a)
{
    return op.job != NULL && job_alive(a, op.job);
}

/* ---- in the jobs ---- */

struct snap_args {
    char inst[256];
    char verb[16];
    char name[128];
};

static int open_instance(int out, const char *name, struct store *st, struct instance_info *info)
{
    struct ib_error err = {0};
    if (store_open(st, NULL, &err) < 0) {
        job_say(out, "ERR %s", err.msg);
        return -1;
    }
    if (instance_get(st, name, info, &err) < 0) {
        job_say(out, "ERR %s", err.msg);
        store_close(st);
        return -1;
    }
    return 0;
}

static void child_list(int out, void *arg)
{
    const struct snap_args *x = arg;
    struct store st;
    struct instance_info info;
    if (open_instance(out, x->inst, &st, &info) < 0)
        return;
    struct snapshot *list;
    size_t n;
    struct ib_error err = {0};
    if (snapshot_list(&info, &list, &n, &err) < 0) {
        job_say(out, "ERR %s", err.msg);
    } else {
        for (size_t i = 0; i < n; i++)
            job_say(out, "SNAP %lld %lld %s", (long long)list[i].date_s,
                    (long long)list[i].vm_state_size, list[i].name);
        job_say(out, "DONE");
        free(list);
    }
    instance_info_free(&info);
    store_close(&st);
}

static void op_progress(const char *what, int percent, void *arg)
{
    job_say(*(int *)arg, "PROGRESS %d %s", percent, what);
}

static void child_op(int out, void *arg)
{
    const struct snap_args *x = arg;
    struct store st;
    struct instance_info info;
    if (open_instance(out, x->inst, &st, &info) < 0)
        return;
    struct ib_error err = {0};
    int64_t t0 = ib_now_ms();
    int rc;
    if (strcmp(x->verb, "save") == 0)
        rc = snapshot_save(&info, x->name, op_progress, &out, &err);
    else if (strcmp(x->verb, "load") == 0)
        rc = snapshot_load(&info, x->name, op_progress, &out, &err);
    else
        rc = snapshot_delete(&info, x->name, op_progress, &out, &err);
    if (rc < 0)
        job_say(out, "ERR %s", err.msg);
    else
        job_say(out, "OK %.2f", (double)(ib_now_ms() - t0) / 1000);
    instance_info_free(&info);
    store_close(&st);
}

/* ---- the list ---- */

static void fill(struct snaps *s)
{
    listview_begin(s->lv);
    for (size_t i = 0; i < s->n_rows; i++) {
        const struct snapshot *e = &s->rows[i];
        char date[32], size[32];
        time_t t = (time_t)e->date_s;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(size, sizeof size, "%.1f MiB", (double)e->vm_state_size / 1048576.0);
        const char *cells[N_COLS] = {e->name, date, size};
        int row = listview_add(s->lv, LV_ITEM, 0, e->name, cells);
        listview_set_sort_value(s->lv, row, COL_TAKEN, (double)e->date_s);
        listview_set_sort_value(s->lv, row, COL_SIZE, (double)e->vm_state_size);
    }
    listview_end(s->lv);
}

static void on_list_line(struct job *j, const char *line)
{
    struct snaps *s = S(j->app);
    if (s == NULL || s->list_job != j)
        return;
    if (strncmp(line, "SNAP ", 5) == 0) {
        long long date = 0, size = 0;
        int off = 0;
        if (sscanf(line + 5, "%lld %lld %n", &date, &size, &off) >= 2 && off > 0) {
            s->rows = xrealloc(s->rows, (s->n_rows + 1) * sizeof *s->rows);
            struct snapshot *e = &s->rows[s->n_rows++];
            memset(e, 0, sizeof *e);
            snprintf(e->name, sizeof e->name, "%s", line + 5 + off);
            e->date_s = date;
            e->vm_state_size = size;
        }
    } else if (strcmp(line, "DONE") == 0) {
        s->loaded = true;
        s->err[0] = '\0';
        fill(s);
    } else if (strncmp(line, "ERR ", 4) == 0) {
        snprintf(s->err, sizeof s->err, "%s", line + 4);
    }
    app_dirty(j->app);
}

static void on_list_done(struct job *j, int status)
{
    (void)status;
    struct snaps *s = S(j->app);
    if (s != NULL && s->list_job == j)
        s->list_job = NULL;
    app_dirty(j->app);
}

static void reload(struct snaps *s)
{
    if (s->list_job != NULL)
        return;
    free(s->rows);
    s->rows = NULL;
    s->n_rows = 0;
    struct snap_args x = {0};
    snprintf(x.inst, sizeof x.inst, "%s", s->inst);
    s->list_job = job_spawn(s->a, s->inst, child_list, &x, on_list_line, on_list_done);
}

void snaps_close(struct app *a)
{
    struct snaps *s = S(a);
    if (s == NULL)
        return;
    /* A listing still running just reports to nobody (its lines are dropped). */
    widget_free(&s->lv->base);
    free(s->rows);
    free(s->inst);
    free(s);
    a->snaps = NULL;
}

void snaps_show(struct app *a, const char *instance)
{
    if (S(a) && strcmp(S(a)->inst, instance) == 0)
        return;
    snaps_close(a);
    struct snaps *s = xcalloc(1, sizeof *s);
    s->a = a;
    s->inst = xstrdup(instance);
    s->lv = listview_new(COLUMNS, N_COLS, true);
    s->lv->empty = "no snapshots yet: n saves one";
    a->snaps = s;
    reload(s);
    snaps_place(a, s->body);
}

void snaps_place(struct app *a, struct rect body)
{
    struct snaps *s = S(a);
    if (s == NULL)
        return;
    s->body = body;
    int top = 2; /* the info line and the progress line */
    widget_place(&s->lv->base,
                 (struct rect){body.y + top, body.x, body.h > top ? body.h - top : 0, body.w});
}

void snaps_title(struct app *a, char *buf, size_t cap)
{
    struct snaps *s = S(a);
    snprintf(buf, cap, "snapshots of %s", s ? s->inst : "?");
}

void snaps_draw(struct app *a, WINDOW *win)
{
    struct snaps *s = S(a);
    if (s == NULL || s->body.h <= 0)
        return;
    struct rect b = s->body;
    s->lv->base.focused = a->focus == FOCUS_DETAIL;
    int x = b.x + 1, end = b.x + b.w;
    char line[512];
    draw_fill(win, b.y, b.x, b.w, TH_NORMAL);
    if (b.h > 1)
        draw_fill(win, b.y + 1, b.x, b.w, TH_NORMAL);
    if (s->err[0])
        draw_text(win, b.y, x, end - x, TH_ERROR, s->err);
    else if (!s->loaded)
        draw_text(win, b.y, x, end - x, TH_DIM, "reading the snapshot list...");
    else {
        snprintf(line, sizeof line, "%zu snapshot%s", s->n_rows, s->n_rows == 1 ? "" : "s");
        x += draw_text(win, b.y, x, end - x, TH_VALUE, line);
        draw_text(win, b.y, x, end - x, TH_DIM,
                  "  ·  n save · Enter/l load · x delete · r reload (kept in the instance's "
                  "disk layers: they go when it stops)");
    }
    /* The operation in flight on this instance: a bar. */
    if (b.h > 1 && op.job && strcmp(op.inst, s->inst) == 0) {
        snprintf(line, sizeof line, "%s %s: %s %d%%", op.verb, op.name, op.what[0] ? op.what : "",
                 op.pct);
        int bw = b.w - 2 > 60 ? 60 : b.w - 2;
        draw_progress(win, b.y + 1, b.x + 1, bw, op.pct / 100.0, line);
    }
    widget_draw(&s->lv->base, win);
}

/* ---- operations ---- */

static void on_op_line(struct job *j, const char *line)
{
    struct app *a = j->app;
    if (op.job != j)
        return;
    if (strncmp(line, "PROGRESS ", 9) == 0) {
        int pct = 0, off = 0;
        sscanf(line + 9, "%d %n", &pct, &off);
        op.pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
        snprintf(op.what, sizeof op.what, "%s", off > 0 ? line + 9 + off : "");
        char label[96];
        snprintf(label, sizeof label, "%s %.60s %d%%", op.verb, op.name, op.pct);
        statusbar_progress(a->status, label, op.pct / 100.0);
    } else if (strncmp(line, "OK ", 3) == 0) {
        app_message(a, false, "snapshot %s of %s: %s done in %s s", op.name, op.inst, op.verb,
                    line + 3);
    } else if (strncmp(line, "ERR ", 4) == 0) {
        app_message(a, true, "snapshot %s %s: %s", op.verb, op.name, line + 4);
    }
    app_dirty(a);
}

static void on_op_done(struct job *j, int status)
{
    (void)status;
    struct app *a = j->app;
    if (op.job != j)
        return;
    op.job = NULL;
    statusbar_progress(a->status, NULL, 0);
    struct snaps *s = S(a);
    if (s && strcmp(s->inst, op.inst) == 0)
        reload(s);
    app_dirty(a);
}

static void start_op(struct app *a, const char *inst, const char *verb, const char *name)
{
    if (snaps_busy(a)) {
        app_message(a, true, "a snapshot %s of %s is still running", op.verb, op.inst);
        return;
    }
    struct ib_error err = {0};
    if (names_validate(name, "snapshot name", &err) < 0) {
        app_message(a, true, "%s", err.msg);
        return;
    }
    struct snap_args x = {0};
    snprintf(x.inst, sizeof x.inst, "%s", inst);
    snprintf(x.verb, sizeof x.verb, "%s", verb);
    snprintf(x.name, sizeof x.name, "%s", name);
    memset(&op, 0, sizeof op);
    snprintf(op.inst, sizeof op.inst, "%s", inst);
    snprintf(op.verb, sizeof op.verb, "%s", verb);
    snprintf(op.name, sizeof op.name, "%s", name);
    op.started = ib_now_ms();
    op.job = job_spawn(a, inst, child_op, &x, on_op_line, on_op_done);
    if (op.job) {
        char label[96];
        snprintf(label, sizeof label, "%s %s", verb, name);
        statusbar_progress(a->status, label, 0);
        app_message(a, false, "snapshot %s %s of %s...", verb, name, inst);
    }
}

static const char *selected_name(struct snaps *s)
{
    const struct lv_row *r = listview_selected(s->lv);
    return r && r->kind == LV_ITEM ? r->cells[COL_NAME] : NULL;
}

void snaps_action(struct app *a, enum action act)
{
    struct snaps *s = S(a);
    if (s == NULL)
        return;
    const char *sel = selected_name(s);
    char q[192], def[160];
    switch (act) {
    case ACT_SNAP_SAVE: {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(def, sizeof def, "snap-%H%M%S", &tm);
        snprintf(q, sizeof q, "Save a snapshot of %s as: ", s->inst);
        app_prompt(a, PROMPT_SNAP_SAVE, s->inst, q, def);
        break;
    }
    case ACT_SNAP_LOAD:
        if (sel == NULL) {
            app_message(a, true, "no snapshot selected");
            break;
        }
        snprintf(q, sizeof q, "Load into %s (it goes back to that moment): ", s->inst);
        app_prompt(a, PROMPT_SNAP_LOAD, s->inst, q, sel);
        break;
    case ACT_SNAP_DELETE:
        if (sel == NULL) {
            app_message(a, true, "no snapshot selected");
            break;
        }
        snprintf(q, sizeof q, "Delete the snapshot of %s named: ", s->inst);
        app_prompt(a, PROMPT_SNAP_DELETE, s->inst, q, sel);
        break;
    case ACT_SNAP_REFRESH:
        reload(s);
        break;
    case ACT_BACK:
        app_set_view(a, VIEW_INFO);
        return;
    default:
        break;
    }
    app_dirty(a);
}

void snaps_prompt_done(struct app *a, enum prompt_kind k, const char *text)
{
    while (*text == ' ')
        text++;
    if (*text == '\0') {
        app_message(a, false, "cancelled");
        return;
    }
    const char *inst = a->prompt_arg;
    const char *verb = k == PROMPT_SNAP_SAVE ? "save" : k == PROMPT_SNAP_LOAD ? "load" : "delete";
    start_op(a, inst, verb, text);
}

int snaps_key(struct app *a, int key)
{
    struct snaps *s = S(a);
    if (s == NULL)
        return WR_IGNORED;
    int r = widget_key(&s->lv->base, key);
    if (r == LV_ACTIVATE) {
        snaps_action(a, ACT_SNAP_LOAD);
        return WR_HANDLED;
    }
    if (r != WR_IGNORED)
        app_dirty(a);
    return r;
}

int snaps_mouse(struct app *a, const struct wmouse *ev)
{
    struct snaps *s = S(a);
    if (s == NULL)
        return WR_IGNORED;
    struct wmouse rel = *ev;
    rel.y -= 2;
    if (rel.y < 0)
        return WR_HANDLED;
    int r = widget_mouse(&s->lv->base, &rel);
    if (r == LV_ACTIVATE)
        snaps_action(a, ACT_SNAP_LOAD);
    app_dirty(a);
    return r;
}
