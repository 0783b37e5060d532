/*
 * clirun.c - every CLI command from the `:` line. Verbs the workbench has
 * no view of its own for (`:instance info NAME`, `:instance target-start
 * NAME`, `:kernel add FILE`, `:device warm demo` ...) run the same binary as
 * a child, `/proc/self/exe NOUN VERB ARGS`, in a job: the command line's
 * behaviour, options and messages are the CLI's own, and nothing it does
 * (a store copy with fsync, a wait on the agent) can hold the UI loop.
 *
 * The child's stdout and stderr come back through the job's pipe one line
 * at a time and are made printable here (control bytes, C1 controls and
 * broken UTF-8 become '?'), so nothing it prints reaches the terminal as
 * bytes: only as text of a scrollable pop-up, or of the status line when
 * the whole answer is one line. One command at a time; `:cancel` ends it,
 * `:output` shows the last answer again.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/safetext.h"
#include "core/util.h"
#include "tui/app.h"

enum { CLIRUN_MAX_ARGS = 40, CLIRUN_MAX_LINES = 5000 };

struct clirun {
    struct job *job;
    char title[600]; /* "instance info fake1" */
    char **lines;
    int n_lines, cap_lines;
    bool truncated;
    int status;
    bool finished;
    int64_t started;
};

struct clirun_args {
    char *argv[CLIRUN_MAX_ARGS + 2];
};

/* ---- in the job ---- */

static void child_exec(int out, void *arg)
{
    struct clirun_args *x = arg;
    dup2(out, 1);
    dup2(out, 2);
    if (out > 2)
        close(out);
    execv("/proc/self/exe", x->argv);
    dprintf(2, "cannot run iotbench %s: %s\n", x->argv[1], strerror(errno));
    _exit(127);
}

/* ---- in the workbench ---- */

/* Replaces what the terminal could act on (safetext's rule: C0 and C1
 * controls, DEL, invalid UTF-8) by '?'; a tab becomes spaces. */
char *clirun_sanitise(const char *in)
{
    size_t n = strlen(in);
    char *out = xmalloc(n * 4 + 1);
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < n;) {
        if (s[i] == '\t') {
            do
                out[o++] = ' ';
            while (o % 4);
            i++;
            continue;
        }
        size_t len = safetext_printable_len(s + i, n - i);
        if (len == 0) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
    return out;
}

static struct clirun *R(struct app *a)
{
    if (a->clirun == NULL)
        a->clirun = xcalloc(1, sizeof *a->clirun);
    return a->clirun;
}

bool clirun_running(struct app *a)
{
    return a->clirun && a->clirun->job && !a->clirun->finished && job_alive(a, a->clirun->job);
}

static void add_line(struct clirun *r, const char *raw)
{
    if (r->n_lines >= CLIRUN_MAX_LINES) {
        r->truncated = true;
        return;
    }
    if (r->n_lines == r->cap_lines)
        r->lines =
            xrealloc(r->lines, sizeof *r->lines * (size_t)(r->cap_lines = r->cap_lines * 2 + 16));
    r->lines[r->n_lines++] = clirun_sanitise(raw);
}

static void clear_lines(struct clirun *r)
{
    for (int i = 0; i < r->n_lines; i++)
        free(r->lines[i]);
    r->n_lines = 0;
    r->truncated = false;
}

static void on_clirun_line(struct job *j, const char *line)
{
    struct clirun *r = R(j->app);
    if (r->job == j)
        add_line(r, line);
}

static const char *status_meaning(int status)
{
    static const char *const M[] = {"ok",        "failed",  "bad input",
                                    "not found", "timeout", "conflict"};
    if (status >= 0 && status < 6)
        return M[status];
    return status >= 128 ? "killed" : "failed";
}

/* The pop-up: the command, how it ended, then everything it printed. */
void clirun_show(struct app *a)
{
    struct clirun *r = a->clirun;
    if (r == NULL || r->started == 0) {
        app_message(a, true, "no command has run yet");
        return;
    }
    struct textview *tv = a->help;
    textview_clear(tv, false);
    textview_line(tv);
    textview_add(tv, TH_HELP_KEY, " iotbench %s", r->title);
    textview_line(tv);
    if (r->finished)
        textview_add(tv, r->status ? TH_ERROR : TH_DIM, " exit status %d (%s)", r->status,
                     status_meaning(r->status));
    else
        textview_add(tv, TH_DIM, " running...");
    textview_line(tv);
    for (int i = 0; i < r->n_lines; i++) {
        textview_line(tv);
        textview_add(tv, TH_NORMAL, " %s", r->lines[i]);
    }
    if (r->truncated) {
        textview_line(tv);
        textview_add(tv, TH_WARN, " (more output was left out)");
    }
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_DIM, " Esc or q closes; arrows, PgUp/PgDn and the wheel scroll");
    a->mode = MODE_HELP;
    a->help_output = true;
    a->full_redraw = true;
    app_dirty(a);
}

static void on_clirun_done(struct job *j, int status)
{
    struct app *a = j->app;
    struct clirun *r = R(a);
    if (r->job != j)
        return;
    if (j->len > 0) { /* a last line without its newline */
        j->buf[j->len] = '\0';
        add_line(r, j->buf);
    }
    r->job = NULL;
    r->finished = true;
    r->status = status;
    if (!task_running(a))
        statusbar_progress(a->status, NULL, 0);
    /* Whatever it changed (the store, instances) shows at once. */
    nav_refresh(a);
    if (r->n_lines == 0) {
        app_message(a, status != 0, "%.300s: %s", r->title, status_meaning(status));
    } else if (r->n_lines == 1 && !r->truncated) {
        app_message(a, status != 0, "%.500s", r->lines[0]);
    } else if (a->mode == MODE_NORMAL || (a->mode == MODE_HELP && a->help_output)) {
        clirun_show(a);
        app_message(a, status != 0, "%.300s: %s", r->title, status_meaning(status));
    } else {
        /* Typing a prompt meanwhile: do not take the keyboard away. */
        app_message(a, status != 0, "%.300s: %s, %d lines (:output shows them)", r->title,
                    status_meaning(status), r->n_lines);
    }
    app_dirty(a);
}

void clirun_start(struct app *a, int argc, char *const *argv)
{
    if (clirun_running(a)) {
        app_message(a, true, "\"%.200s\" still runs (:cancel ends it)", R(a)->title);
        return;
    }
    if (argc < 1 || argc > CLIRUN_MAX_ARGS) {
        app_message(a, true, "a command takes 1 to %d words", CLIRUN_MAX_ARGS);
        return;
    }
    struct clirun *r = R(a);
    clear_lines(r);
    r->finished = false;
    r->status = 0;
    r->started = ib_now_ms();
    r->title[0] = '\0';
    struct clirun_args x;
    x.argv[0] = "iotbench";
    for (int i = 0; i < argc; i++) {
        x.argv[i + 1] = argv[i];
        size_t l = strlen(r->title);
        snprintf(r->title + l, sizeof r->title - l, "%s%s", i ? " " : "", argv[i]);
    }
    x.argv[argc + 1] = NULL;
    char *shown = clirun_sanitise(r->title);
    snprintf(r->title, sizeof r->title, "%s", shown);
    free(shown);
    r->job = job_spawn(a, NULL, child_exec, &x, on_clirun_line, on_clirun_done);
    if (r->job == NULL)
        return;
    if (!task_running(a)) {
        char label[96];
        snprintf(label, sizeof label, "%.90s", r->title);
        statusbar_progress(a->status, label, -1);
    }
    app_message(a, false, "running: iotbench %.300s ...", r->title);
}

bool clirun_cancel(struct app *a)
{
    if (!clirun_running(a))
        return false;
    kill(a->clirun->job->pid, SIGTERM);
    app_message(a, false, "ending \"%.200s\"...", a->clirun->title);
    return true;
}

void clirun_free(struct app *a)
{
    if (a->clirun == NULL)
        return;
    clear_lines(a->clirun);
    free(a->clirun->lines);
    free(a->clirun);
    a->clirun = NULL;
}
