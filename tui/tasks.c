/*
 * tasks.c - exporting a device to a .piotr archive and importing one, from
 * the devices pane: a path prompt, then the work in a job (core/package.h
 * blocks) that streams "PROGRESS done total" lines; the workbench shows a
 * bar in the status line and in the device's detail, and the outcome or
 * the error there too. One task at a time. Cancelling (C, or quitting the
 * workbench) sends the job SIGTERM, which sets the package operation's
 * cancel flag: it removes what it had written and ends with "interrupted".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/package.h"
#include "core/util.h"
#include "tui/app.h"

enum task_kind { TASK_EXPORT, TASK_IMPORT };

struct task {
    enum task_kind kind;
    char device[256]; /* export: the device; import: the alias made */
    char file[4096];
    struct job *job;
    uint64_t done, total;
    int64_t started, ended;
    char result[600];
    bool failed;
    bool finished; /* its outcome came (the job may still be exiting) */
    char notices[600];
};

/* ---- in the job ---- */

struct task_args {
    enum task_kind kind;
    char device[256];
    char alias[256];
    char file[4096];
    bool overwrite;
};

static volatile sig_atomic_t task_stop;

static void on_task_term(int sig)
{
    (void)sig;
    task_stop = 1;
}

static void on_progress(uint64_t done, uint64_t total, void *arg)
{
    job_say(*(int *)arg, "PROGRESS %llu %llu", (unsigned long long)done, (unsigned long long)total);
}

static void child_task(int out, void *arg)
{
    const struct task_args *x = arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_task_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit is a write error, reported */
    struct store st;
    struct ib_error err = {0};
    if (store_open(&st, NULL, &err) < 0) {
        job_say(out, "ERR %s", err.msg);
        return;
    }
    struct package_ops ops = {.progress = on_progress, .arg = &out, .cancel = &task_stop};
    struct package_report rep;
    memset(&rep, 0, sizeof rep);
    int rc;
    if (x->kind == TASK_EXPORT) {
        rc = package_export(&st, x->device, x->file, x->overwrite, &ops, &rep, &err);
    } else {
        struct package_import_opts o = {.alias = x->alias[0] ? x->alias : NULL, .ops = ops};
        rc = package_import(&st, x->file, &o, &rep, &err);
    }
    for (size_t i = 0; i < rep.n_notices; i++)
        job_say(out, "NOTICE %s", rep.notices[i]);
    if (rc < 0)
        job_say(out, "ERR %s", err.msg);
    else
        job_say(out, "DONE %llu %llu %d %s", (unsigned long long)rep.entries,
                (unsigned long long)rep.bytes, rep.verified ? 1 : 0,
                rep.alias ? rep.alias : x->device);
    package_report_free(&rep);
    store_close(&st);
}

/* ---- in the workbench ---- */

static struct task *T(struct app *a)
{
    if (a->task == NULL)
        a->task = xcalloc(1, sizeof *a->task);
    return a->task;
}

bool task_running(struct app *a)
{
    return a->task && a->task->job && !a->task->finished && job_alive(a, a->task->job);
}

static const char *verb(const struct task *t)
{
    return t->kind == TASK_EXPORT ? "export" : "import";
}

static void show_progress(struct app *a)
{
    struct task *t = T(a);
    char label[96];
    double frac = t->total ? (double)t->done / (double)t->total : -1;
    if (frac > 1)
        frac = 1;
    if (t->total)
        snprintf(label, sizeof label, "%s %.60s %.0f%%", verb(t), t->device, frac * 100);
    else
        snprintf(label, sizeof label, "%s %.60s: %.1f MB", verb(t), t->device,
                 (double)t->done / 1e6);
    statusbar_progress(a->status, label, frac);
}

static void on_task_line(struct job *j, const char *line)
{
    struct app *a = j->app;
    struct task *t = T(a);
    if (t->job != j)
        return;
    if (strncmp(line, "PROGRESS ", 9) == 0) {
        unsigned long long done = 0, total = 0;
        sscanf(line + 9, "%llu %llu", &done, &total);
        t->done = done;
        t->total = total;
        show_progress(a);
    } else if (strncmp(line, "NOTICE ", 7) == 0) {
        size_t l = strlen(t->notices);
        snprintf(t->notices + l, sizeof t->notices - l, "%s%s", l ? "; " : "", line + 7);
    } else if (strncmp(line, "DONE ", 5) == 0) {
        unsigned long long entries = 0, bytes = 0;
        int verified = 0, off = 0;
        sscanf(line + 5, "%llu %llu %d %n", &entries, &bytes, &verified, &off);
        double secs = (double)(ib_now_ms() - t->started) / 1000;
        if (t->kind == TASK_EXPORT) {
            snprintf(t->result, sizeof t->result,
                     "exported %.100s to %.300s: %llu files, %.1f MB in %.1f s", t->device, t->file,
                     entries, (double)bytes / 1e6, secs);
        } else {
            if (off > 0)
                snprintf(t->device, sizeof t->device, "%s", line + 5 + off);
            snprintf(t->result, sizeof t->result,
                     "imported %.300s as %.100s: %llu files, %.1f MB%s", t->file, t->device,
                     entries, (double)bytes / 1e6,
                     verified ? ", manifest verified" : " (no manifest: not verified)");
        }
        t->failed = false;
        t->finished = true;
        statusbar_progress(a->status, NULL, 0);
        app_message(a, false, "%s", t->result);
    } else if (strncmp(line, "ERR ", 4) == 0) {
        snprintf(t->result, sizeof t->result, "%s failed: %s", verb(t), line + 4);
        t->failed = true;
        t->finished = true;
        statusbar_progress(a->status, NULL, 0);
        app_message(a, true, "%s", t->result);
    }
    nav_fill_detail(a);
    app_dirty(a);
}

static void on_task_done(struct job *j, int status)
{
    struct app *a = j->app;
    struct task *t = T(a);
    if (t->job != j)
        return;
    t->job = NULL;
    t->ended = ib_now_ms();
    if (t->result[0] == '\0') {
        snprintf(t->result, sizeof t->result, "%s ended without a word (status %d)", verb(t),
                 status);
        t->failed = true;
    }
    statusbar_progress(a->status, NULL, 0);
    nav_refresh(a);
    if (t->kind == TASK_IMPORT && !t->failed)
        nav_select(a, NAV_DEVICE, t->device);
    app_dirty(a);
}

static void start(struct app *a, const struct task_args *x)
{
    if (task_running(a)) {
        app_message(a, true, "an %s is still running (C cancels it)", verb(T(a)));
        return;
    }
    struct task *t = T(a);
    memset(t, 0, sizeof *t);
    t->kind = x->kind;
    snprintf(t->device, sizeof t->device, "%s", x->kind == TASK_EXPORT ? x->device : "?");
    snprintf(t->file, sizeof t->file, "%s", x->file);
    t->started = ib_now_ms();
    t->job = job_spawn(a, NULL, child_task, (void *)x, on_task_line, on_task_done);
    if (t->job == NULL)
        return;
    show_progress(a);
    app_message(a, false, "%s %s...", verb(t), x->kind == TASK_EXPORT ? x->device : x->file);
}

void task_export_prompt(struct app *a, const char *device)
{
    if (task_running(a)) {
        app_message(a, true, "an %s is still running (C cancels it)", verb(T(a)));
        return;
    }
    char cwd[4096], def[4400], q[192];
    if (getcwd(cwd, sizeof cwd) == NULL)
        snprintf(cwd, sizeof cwd, "/tmp");
    snprintf(def, sizeof def, "%s/%s%s", cwd, device, PACKAGE_SUFFIX);
    snprintf(q, sizeof q, "Export %s to: ", device);
    app_prompt(a, PROMPT_EXPORT, device, q, def);
}

void task_import_prompt(struct app *a)
{
    if (task_running(a)) {
        app_message(a, true, "an %s is still running (C cancels it)", verb(T(a)));
        return;
    }
    app_prompt(a, PROMPT_IMPORT, "", "Import a package (FILE [ALIAS]): ", "");
}

static void expand_home(const char *in, char *out, size_t cap)
{
    const char *home = getenv("HOME");
    if (in[0] == '~' && (in[1] == '/' || in[1] == '\0') && home)
        snprintf(out, cap, "%s%s", home, in + 1);
    else
        snprintf(out, cap, "%s", in);
}

void task_prompt_done(struct app *a, enum prompt_kind k, const char *arg, const char *text)
{
    struct task_args x;
    memset(&x, 0, sizeof x);
    while (*text == ' ')
        text++;
    if (k == PROMPT_EXPORT_REPLACE) {
        /* arg: "device\tfile" from the first prompt */
        const char *tab = strchr(arg, '\t');
        if (tab == NULL || (text[0] != 'y' && text[0] != 'Y')) {
            app_message(a, false, "cancelled");
            return;
        }
        x.kind = TASK_EXPORT;
        snprintf(x.device, sizeof x.device, "%.*s", (int)(tab - arg), arg);
        snprintf(x.file, sizeof x.file, "%s", tab + 1);
        x.overwrite = true;
        start(a, &x);
        return;
    }
    if (*text == '\0') {
        app_message(a, false, "cancelled");
        return;
    }
    if (k == PROMPT_EXPORT) {
        x.kind = TASK_EXPORT;
        snprintf(x.device, sizeof x.device, "%s", arg);
        expand_home(text, x.file, sizeof x.file);
        struct stat sb;
        if (stat(x.file, &sb) == 0 && S_ISREG(sb.st_mode)) {
            char both[4400], q[192];
            snprintf(both, sizeof both, "%s\t%s", x.device, x.file);
            snprintf(q, sizeof q, "%.150s exists: replace it? (y/n) ", ib_path_base(x.file));
            app_prompt(a, PROMPT_EXPORT_REPLACE, both, q, "");
            a->mode = MODE_CONFIRM;
            return;
        }
        start(a, &x);
    } else if (k == PROMPT_IMPORT) {
        x.kind = TASK_IMPORT;
        char word[4096];
        snprintf(word, sizeof word, "%s", text);
        /* FILE [ALIAS]: the alias is the last word when there are two (and
         * the whole text is not a file name with a space in it). */
        char whole[4096];
        expand_home(word, whole, sizeof whole);
        char *sp = ib_path_is_file(whole) ? NULL : strrchr(word, ' ');
        if (sp && sp[1]) {
            *sp = '\0';
            snprintf(x.alias, sizeof x.alias, "%s", sp + 1);
        }
        expand_home(word, x.file, sizeof x.file);
        if (!ib_path_is_file(x.file)) {
            app_message(a, true, "no file %s", x.file);
            return;
        }
        start(a, &x);
    }
}

void task_cancel(struct app *a)
{
    if (!task_running(a)) {
        app_message(a, false, "no export or import is running");
        return;
    }
    kill(a->task->job->pid, SIGTERM);
    app_message(a, false, "cancelling the %s...", verb(a->task));
}

void task_fill_detail(struct app *a, struct textview *tv, const char *device)
{
    struct task *t = a->task;
    if (t == NULL || t->started == 0)
        return;
    /* An export shows on its device; an import on the device it made, and
     * on any device while it runs or when it failed. */
    bool mine = strcmp(t->device, device) == 0;
    if (!mine && (t->kind == TASK_EXPORT || !((t->job && !t->finished) || t->failed)))
        return;
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_SECTION, "%s", t->kind == TASK_EXPORT ? "Export" : "Import");
    textview_line(tv);
    textview_add(tv, TH_LABEL, "%-10s ", "file");
    textview_add(tv, TH_VALUE, "%s", t->file);
    textview_set_indent(tv, 11);
    if (t->job && !t->finished) {
        double frac = t->total ? (double)t->done / (double)t->total : 0;
        if (frac > 1)
            frac = 1;
        int cells = 30, fill = (int)(frac * cells);
        textview_line(tv);
        textview_add(tv, TH_LABEL, "%-10s ", "progress");
        char bar[200] = "";
        for (int i = 0; i < fill; i++)
            strcat(bar, "█");
        textview_add(tv, TH_PROGRESS_DONE, "%s", bar);
        bar[0] = '\0';
        for (int i = fill; i < cells; i++)
            strcat(bar, "░");
        textview_add(tv, TH_PROGRESS_TODO, "%s", bar);
        double secs = (double)(ib_now_ms() - t->started) / 1000;
        textview_add(tv, TH_VALUE, " %.0f%%  %.1f/%.1f MB  %.1f MB/s", frac * 100,
                     (double)t->done / 1e6, (double)t->total / 1e6,
                     secs > 0.05 ? (double)t->done / 1e6 / secs : 0.0);
        textview_line(tv);
        textview_add(tv, TH_DIM, "           C cancels");
    } else if (t->result[0]) {
        textview_line(tv);
        textview_add(tv, TH_LABEL, "%-10s ", t->failed ? "error" : "done");
        textview_add(tv, t->failed ? TH_ERROR : TH_OK, "%s", t->result);
        textview_set_indent(tv, 11);
    }
    if (t->notices[0]) {
        textview_line(tv);
        textview_add(tv, TH_LABEL, "%-10s ", "notices");
        textview_add(tv, TH_WARN, "%s", t->notices);
        textview_set_indent(tv, 11);
    }
}

void task_free(struct app *a)
{
    free(a->task);
    a->task = NULL;
}
