/*
 * cmd.c - the actions keys, clicks and the `:` command line run. The
 * command line accepts the CLI's verbs (`:device start demo`, `:stop NAME`,
 * `:kernel remove NAME` ...) and runs them in this process through core/,
 * long ones in a job (job.c), plus the workbench's own (`:theme light`,
 * `:layout grid`, `:zoom`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/device.h"
#include "core/namegen.h"
#include "core/util.h"
#include "tui/app.h"

char *cmd_default_name(struct app *a)
{
    unsigned seed = (unsigned)(ib_now_ms() ^ getpid());
    for (int tries = 0; tries < 200; tries++) {
        char buf[128];
        namegen_make(seed + (unsigned)tries * 7919u, buf, sizeof buf);
        char *name = xstrdup(buf);
        char *dir = ib_path_join(a->st.run ? a->st.run : "/nonexistent", name);
        bool taken = ib_path_exists(dir) || app_instance(a, name);
        free(dir);
        if (!taken)
            return name;
        free(name);
    }
    return xasprintf("instance_%d", (int)(ib_now_ms() % 100000));
}

static struct console *nth_console(struct app *a, int n)
{
    for (struct console *c = a->consoles; c; c = c->next)
        if (n-- == 0)
            return c;
    return NULL;
}

/* The instance an action is about: the focused console's, else the selection. */
static const char *target_instance(struct app *a)
{
    if (a->focus == FOCUS_CONSOLE && a->focus_con)
        return a->focus_con->name;
    int tag;
    const char *name = nav_selected(a, &tag);
    return tag == NAV_INSTANCE ? name : NULL;
}

static void start_prompt(struct app *a, const char *alias)
{
    char *def = cmd_default_name(a);
    char prompt[300];
    snprintf(prompt, sizeof prompt, "Start %s as: ", alias);
    a->mode = MODE_PROMPT;
    a->prompt = PROMPT_START_NAME;
    snprintf(a->prompt_arg, sizeof a->prompt_arg, "%s", alias);
    lineedit_open(a->line, prompt, def);
    free(def);
    app_dirty(a);
}

static void confirm(struct app *a, enum prompt_kind kind, const char *arg, const char *question)
{
    a->mode = MODE_CONFIRM;
    a->prompt = kind;
    snprintf(a->prompt_arg, sizeof a->prompt_arg, "%s", arg ? arg : "");
    lineedit_open(a->line, question, "");
    app_dirty(a);
}

static void copy_selection(struct app *a, const char *file)
{
    struct console *c = a->focus_con;
    char *text = c ? termview_selection_text(c->tv) : NULL;
    if (text == NULL) {
        app_message(a, true, "nothing selected: drag with the mouse in a console first");
        return;
    }
    if (file) {
        struct ib_error err = {0};
        if (ib_write_file_atomic(file, text, strlen(text), 0644, &err) < 0)
            app_message(a, true, "%s", err.msg);
        else
            app_message(a, false, "selection written to %s", file);
        free(text);
        return;
    }
    /* OSC 52: the user's terminal puts it on the clipboard. */
    static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(text);
    char *seq = xmalloc(n / 3 * 4 + 32);
    size_t o = (size_t)sprintf(seq, "\033]52;c;");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)text[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)text[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)text[i + 2];
        seq[o++] = B64[(v >> 18) & 63];
        seq[o++] = B64[(v >> 12) & 63];
        seq[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        seq[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    seq[o++] = '\a';
    fflush(stdout);
    if (write(STDOUT_FILENO, seq, o) < 0)
        (void)0;
    free(seq);
    app_message(a, false, "%zu bytes copied to the clipboard (OSC 52)", n);
    free(text);
}

struct pane_ref {
    enum focus f;
    struct console *c;
};

struct pane_at {
    struct rect r;
    enum focus f;
    struct console *c;
};

static void cycle_pane(struct app *a, int dir)
{
    /* Panes in order: navigator, detail, then the console tiles. */
    struct pane_ref panes[8];
    int n = 0, cur = 0;
    if (a->lay.nav.h > 0)
        panes[n++] = (struct pane_ref){FOCUS_NAV, NULL};
    if (a->lay.detail.h > 0)
        panes[n++] = (struct pane_ref){FOCUS_DETAIL, NULL};
    for (struct console *c = a->consoles; c && n < 8; c = c->next)
        panes[n++] = (struct pane_ref){FOCUS_CONSOLE, c};
    if (n == 0)
        return;
    for (int i = 0; i < n; i++)
        if (panes[i].f == a->focus && (a->focus != FOCUS_CONSOLE || panes[i].c == a->focus_con))
            cur = i;
    int next = (cur + dir + n) % n;
    app_focus(a, panes[next].f, panes[next].c);
}

static struct rect focused_rect(struct app *a)
{
    if (a->focus == FOCUS_CONSOLE && a->focus_con)
        return a->focus_con->rect;
    return a->focus == FOCUS_NAV ? a->lay.nav : a->lay.detail;
}

static void focus_direction(struct app *a, int dy, int dx)
{
    struct rect from = focused_rect(a);
    int cy = from.y + from.h / 2, cx = from.x + from.w / 2;
    long best = -1;
    enum focus bf = a->focus;
    struct console *bc = a->focus_con;
    struct pane_at cand[8];
    int n = 0;
    if (a->lay.nav.h > 0)
        cand[n++] = (struct pane_at){a->lay.nav, FOCUS_NAV, NULL};
    if (a->lay.detail.h > 0)
        cand[n++] = (struct pane_at){a->lay.detail, FOCUS_DETAIL, NULL};
    for (struct console *c = a->consoles; c && n < 8; c = c->next)
        if (c->tile >= 0)
            cand[n++] = (struct pane_at){c->rect, FOCUS_CONSOLE, c};
    for (int i = 0; i < n; i++) {
        struct rect r = cand[i].r;
        bool ok = (dx < 0 && r.x + r.w <= from.x) || (dx > 0 && r.x >= from.x + from.w) ||
                  (dy < 0 && r.y + r.h <= from.y) || (dy > 0 && r.y >= from.y + from.h);
        if (!ok)
            continue;
        long ddy = (r.y + r.h / 2) - cy, ddx = (r.x + r.w / 2) - cx;
        long d = ddy * ddy * 4 + ddx * ddx;
        if (best < 0 || d < best)
            best = d, bf = cand[i].f, bc = cand[i].c;
    }
    if (best >= 0)
        app_focus(a, bf, bc);
}

static const char *const THEMES[] = {"dark", "light", "mono"};

void cmd_action(struct app *a, enum action act)
{
    int tag = 0;
    const char *sel = nav_selected(a, &tag);
    struct console *fc = a->focus == FOCUS_CONSOLE ? a->focus_con : NULL;
    switch (act) {
    case ACT_NONE:
    case ACT_N:
        break;
    case ACT_QUIT:
        a->running = false;
        break;
    case ACT_HELP:
        if (a->mode == MODE_HELP) {
            a->mode = MODE_NORMAL;
        } else {
            a->mode = MODE_HELP;
            keys_fill_help(a, a->help);
        }
        a->help_output = false;
        a->full_redraw = true;
        break;
    case ACT_CMDLINE:
        a->mode = MODE_CMD;
        lineedit_open(a->line, ":", "");
        break;
    case ACT_FILTER:
        /* The process table filters itself; everything else filters the navigator. */
        if (a->focus == FOCUS_DETAIL && a->view == VIEW_PROCS && procs_list(a)) {
            a->filter_lv = procs_list(a);
        } else {
            if (a->lay.nav.h == 0)
                a->show_nav = true, a->zoom = false, app_relayout(a);
            app_focus(a, FOCUS_NAV, NULL);
            a->filter_lv = a->nav;
        }
        a->mode = MODE_FILTER;
        lineedit_open(a->line, "/", a->filter_lv->filter);
        break;
    case ACT_VIEW_INFO:
    case ACT_VIEW_PROCS:
    case ACT_VIEW_SNAPS:
    case ACT_VIEW_DEBUG:
        app_set_view(a, (enum detail_view)(act - ACT_VIEW_INFO));
        break;
    case ACT_BACK:
        if (a->view == VIEW_PROCS)
            procs_action(a, act);
        else if (a->view == VIEW_DEBUG)
            dbg_action(a, act);
        else if (a->view == VIEW_SNAPS)
            snaps_action(a, act);
        break;
    case ACT_PROC_KILL:
    case ACT_PROC_ATTACH:
    case ACT_PROC_MAPS:
    case ACT_PROC_SOCKETS:
    case ACT_PROC_SORT_NEXT:
    case ACT_PROC_SORT_PREV:
    case ACT_PROC_SORT_INVERT:
    case ACT_PROC_SORT_CPU:
    case ACT_PROC_SORT_MEM:
    case ACT_PROC_SORT_PID:
    case ACT_PROC_KTHREADS:
    case ACT_PROC_REFRESH:
        if (a->view != VIEW_PROCS)
            app_set_view(a, VIEW_PROCS);
        procs_action(a, act);
        break;
    case ACT_DBG_CONT:
    case ACT_DBG_STEP:
    case ACT_DBG_BREAK:
    case ACT_DBG_UNBREAK:
    case ACT_DBG_GOTO:
    case ACT_DBG_FOLLOW_SP:
    case ACT_DBG_INT:
    case ACT_DBG_DETACH:
        dbg_action(a, act);
        break;
    case ACT_SNAP_SAVE:
    case ACT_SNAP_LOAD:
    case ACT_SNAP_DELETE:
    case ACT_SNAP_REFRESH:
        if (a->view != VIEW_SNAPS)
            app_set_view(a, VIEW_SNAPS);
        if (a->view == VIEW_SNAPS)
            snaps_action(a, act);
        break;
    case ACT_EXPORT:
        if (tag == NAV_DEVICE && sel)
            task_export_prompt(a, sel);
        else
            app_message(a, true, "select a device to export (or :device export ALIAS FILE)");
        break;
    case ACT_IMPORT:
        task_import_prompt(a);
        break;
    case ACT_TASK_CANCEL:
        task_cancel(a);
        break;
    case ACT_TARGET_START: {
        /* The CLI's verb, in a job: it waits for the agent and runs the
         * device's /piotr/init.sh, which may take a while. */
        const char *name = target_instance(a);
        if (name == NULL) {
            app_message(a, true, "select an instance to start the device's services in");
            break;
        }
        char *args[] = {"instance", "target-start", (char *)name};
        clirun_start(a, 3, args);
        break;
    }
    case ACT_NEXT_PANE:
        cycle_pane(a, 1);
        break;
    case ACT_PREV_PANE:
        cycle_pane(a, -1);
        break;
    case ACT_FOCUS_LEFT:
        focus_direction(a, 0, -1);
        break;
    case ACT_FOCUS_RIGHT:
        focus_direction(a, 0, 1);
        break;
    case ACT_FOCUS_UP:
        focus_direction(a, -1, 0);
        break;
    case ACT_FOCUS_DOWN:
        focus_direction(a, 1, 0);
        break;
    case ACT_TILE_1:
    case ACT_TILE_2:
    case ACT_TILE_3:
    case ACT_TILE_4: {
        struct console *c = nth_console(a, act - ACT_TILE_1);
        if (c)
            app_focus(a, FOCUS_CONSOLE, c);
        break;
    }
    case ACT_START:
        if (tag == NAV_DEVICE && sel)
            start_prompt(a, sel);
        else if (tag == NAV_INSTANCE && sel && app_instance(a, sel))
            start_prompt(a, app_instance(a, sel)->device);
        else
            app_message(a, true, "select a device to start (or :device start ALIAS)");
        break;
    case ACT_STOP: {
        const char *name = target_instance(a);
        if (name == NULL) {
            app_message(a, true, "select an instance to stop");
            break;
        }
        struct instance_info *in = app_instance(a, name);
        struct watch *dw = watch_get(a, name, false);
        bool dead = (in && in->state == INSTANCE_DEAD) || (dw && dw->dead);
        if (!in || dead) {
            /* Dead or failed: x dismisses it (its folder is gone already). */
            struct watch *w = dw;
            struct console *dc = console_find(a, name);
            if (dc && !w)
                console_close(dc);
            if (w && (!w->monitored || dead)) {
                struct console *c = console_find(a, w->name);
                if (c)
                    console_close(c);
                watch_forget(a, w->name);
                nav_refresh(a);
            }
            break;
        }
        char q[400];
        snprintf(q, sizeof q, "Stop %s? (y/n) ", name);
        confirm(a, PROMPT_STOP, name, q);
        break;
    }
    case ACT_STOP_ALL:
        if (a->n_inst == 0) {
            app_message(a, false, "no instance is running");
            break;
        }
        char q[128];
        snprintf(q, sizeof q, "Stop all %zu instances? (y/n) ", a->n_inst);
        confirm(a, PROMPT_STOP_ALL, NULL, q);
        break;
    case ACT_CHECK:
        if (tag != NAV_DEVICE || sel == NULL) {
            app_message(a, true, "select a device to check");
            break;
        } else {
            struct device *dev;
            struct ib_error err = {0};
            if (device_load(&a->st, sel, &dev, &err) == 0) {
                struct device_resolution res;
                if (device_resolve(&a->st, dev, &res, &err) == 0)
                    app_message(a, false, "%s: ok, ready to start", sel);
                else
                    app_message(a, true, "%s: %s", sel, err.msg);
                device_resolution_free(&res);
                device_free(dev);
            } else {
                app_message(a, true, "%s", err.msg);
            }
            nav_fill_detail(a);
        }
        break;
    case ACT_OPEN_CONSOLE:
        if (tag == NAV_INSTANCE && sel) {
            struct console *c = console_open(a, sel);
            if (c)
                app_focus(a, FOCUS_CONSOLE, c);
        } else if (tag == NAV_DEVICE && sel) {
            start_prompt(a, sel);
        }
        break;
    case ACT_CLOSE_CONSOLE:
        if (fc)
            console_close(fc);
        break;
    case ACT_ARGV: {
        const char *name = target_instance(a);
        if (name == NULL) {
            app_message(a, true, "select an instance to see its QEMU command line");
            break;
        }
        nav_select(a, NAV_INSTANCE, name);
        a->detail_argv = !a->detail_argv;
        a->show_detail = true;
        nav_fill_detail(a);
        app_relayout(a);
        if (a->detail_argv) /* scroll to the command line's heading */
            a->detail->top =
                textview_rows_before(a->detail, "QEMU command line", a->detail->base.r.w - 1);
        break;
    }
    case ACT_REFRESH:
        nav_refresh(a);
        app_message(a, false, "refreshed");
        break;
    case ACT_THEME_NEXT: {
        size_t i = 0;
        for (; i < IB_ARRAY_LEN(THEMES); i++)
            if (strcmp(a->theme.name, THEMES[i]) == 0)
                break;
        const char *next = THEMES[(i + 1) % IB_ARRAY_LEN(THEMES)];
        struct ib_error err = {0};
        if (app_set_theme(a, next, &err) < 0)
            app_message(a, true, "%s", err.msg);
        else
            app_message(a, false, "theme %s", next);
        break;
    }
    case ACT_ZOOM:
        if (a->focus == FOCUS_DETAIL && a->view != VIEW_INFO) {
            a->zoom_detail = !a->zoom_detail;
            app_relayout(a);
            break;
        }
        if (a->consoles == NULL) {
            app_message(a, true, "no console open to zoom");
            break;
        }
        if (!fc)
            app_focus(a, FOCUS_CONSOLE, a->focus_con ? a->focus_con : a->consoles);
        a->zoom = !a->zoom;
        app_relayout(a);
        break;
    case ACT_LAYOUT_NEXT:
        a->tiles = (enum tiles_mode)((a->tiles + 1) % TILES_N_MODES);
        app_message(a, false, "layout %s", layout_mode_name(a->tiles));
        app_relayout(a);
        break;
    case ACT_SCROLL_MODE:
    case ACT_SCROLL_PAGE_UP:
        if (!fc) {
            app_message(a, true, "focus a console first");
            break;
        }
        fc->scroll_mode = true;
        if (act == ACT_SCROLL_PAGE_UP)
            termview_scroll(fc->tv, fc->tv->rows - 1);
        break;
    case ACT_SCROLL_PAGE_DOWN:
    case ACT_SCROLL_TOP:
    case ACT_SCROLL_BOTTOM:
        if (fc && fc->scroll_mode) {
            if (act == ACT_SCROLL_PAGE_DOWN)
                termview_scroll(fc->tv, -(fc->tv->rows - 1));
            else
                termview_scroll_to(fc->tv, act == ACT_SCROLL_TOP ? 1 << 30 : 0);
        }
        break;
    case ACT_SCROLL_EXIT:
        if (fc) {
            fc->scroll_mode = false;
            termview_scroll_to(fc->tv, 0);
        }
        break;
    case ACT_STTY:
        if (fc) {
            console_send_stty(fc);
            app_message(a, false, "sent: stty rows %d cols %d", fc->tv->rows, fc->tv->cols);
        }
        break;
    case ACT_COPY:
        copy_selection(a, NULL);
        break;
    case ACT_TOGGLE_NAV:
        a->show_nav = !a->show_nav;
        if (!a->show_nav && a->focus == FOCUS_NAV)
            cycle_pane(a, 1);
        app_relayout(a);
        break;
    case ACT_TOGGLE_DETAIL:
        a->show_detail = !a->show_detail;
        app_relayout(a);
        break;
    case ACT_SEND_PREFIX:
        if (fc) {
            char b = (char)a->prefix_key;
            console_send(fc, &b, 1);
        }
        break;
    }
    app_dirty(a);
}

/* Splits a command line into words; "..." and '...' group. */
static int split_words(char *s, char **argv, int max)
{
    int n = 0;
    while (*s && n < max) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        char q = (*s == '"' || *s == '\'') ? *s++ : 0;
        argv[n++] = s;
        while (*s && (q ? *s != q : (*s != ' ' && *s != '\t')))
            s++;
        if (*s)
            *s++ = '\0';
    }
    return n;
}

static void cmd_start(struct app *a, int argc, char **argv)
{
    const char *alias = NULL, *name = NULL;
    int offset = a->port_offset;
    bool target = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--port-offset") == 0 && i + 1 < argc)
            offset = atoi(argv[++i]);
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--target") == 0)
            target = true;
        else if (!alias)
            alias = argv[i];
        else if (!name)
            name = argv[i];
    }
    if (alias == NULL) {
        app_message(a, true, "usage: :device start ALIAS [NAME] [--port-offset N] [--target]");
        return;
    }
    struct ib_error err = {0};
    if (name && names_validate(name, "instance name", &err) < 0) {
        app_message(a, true, "%s", err.msg);
        return;
    }
    char *gen = name ? NULL : cmd_default_name(a);
    job_start_instance(a, alias, name ? name : gen, offset, target);
    free(gen);
}

static void cmd_stop(struct app *a, int argc, char **argv)
{
    bool all = false, now = false;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "all") == 0)
            all = true;
        else if (strcmp(argv[i], "--now") == 0)
            now = true;
        else
            name = argv[i];
    }
    if (all) {
        for (size_t i = 0; i < a->n_inst; i++)
            job_stop_instance(a, a->inst[i].name, now);
        return;
    }
    if (name == NULL) {
        app_message(a, true, "usage: :stop NAME | :stop --all");
        return;
    }
    if (!app_instance(a, name)) {
        app_message(a, true, "no instance named %s", name);
        return;
    }
    job_stop_instance(a, name, now);
}

static enum names_kind kind_of(const char *noun)
{
    return strcmp(noun, "kernel") == 0 ? NAMES_KERNEL
           : strcmp(noun, "fs") == 0   ? NAMES_HOSTFS
                                       : NAMES_DTB;
}

static bool is_cli_noun(const char *w)
{
    static const char *const NOUNS[] = {"kernel", "fs", "dtb", "device", "instance"};
    for (size_t i = 0; i < sizeof NOUNS / sizeof NOUNS[0]; i++)
        if (strcmp(w, NOUNS[i]) == 0)
            return true;
    return false;
}

void cmd_run_line(struct app *a, const char *line)
{
    char *copy = xstrdup(line);
    char *argv[32];
    int argc = split_words(copy, argv, 32);
    struct ib_error err = {0};
    if (argc == 0)
        goto out;
    /* The CLI's console would fight the workbench's own for the socket. */
    if (argc > 2 && strcmp(argv[0], "instance") == 0 && strcmp(argv[1], "console") == 0) {
        for (int i = 1; i < argc; i++)
            argv[i - 1] = argv[i];
        argc--;
    }
    const char *v = argv[0];
    const char *v2 = argc > 1 ? argv[1] : "";
    if (strcmp(v, "q") == 0 || strcmp(v, "quit") == 0 || strcmp(v, "exit") == 0) {
        a->running = false;
    } else if (strcmp(v, "help") == 0 || strcmp(v, "h") == 0) {
        cmd_action(a, ACT_HELP);
    } else if ((strcmp(v, "device") == 0 && strcmp(v2, "start") == 0) ||
               (strcmp(v, "instance") == 0 && strcmp(v2, "start") == 0)) {
        cmd_start(a, argc - 2, argv + 2);
    } else if (strcmp(v, "start") == 0) {
        cmd_start(a, argc - 1, argv + 1);
    } else if (strcmp(v, "stop") == 0) {
        cmd_stop(a, argc - 1, argv + 1);
    } else if ((strcmp(v, "instance") == 0 || strcmp(v, "device") == 0) &&
               strcmp(v2, "stop") == 0) {
        cmd_stop(a, argc - 2, argv + 2);
    } else if (strcmp(v, "stop-all") == 0) {
        char *all[] = {"--all"};
        cmd_stop(a, 1, all);
    } else if ((strcmp(v, "device") == 0 || strcmp(v, "check") == 0) &&
               (strcmp(v, "check") == 0 || strcmp(v2, "check") == 0 || strcmp(v2, "info") == 0)) {
        const char *alias = strcmp(v, "check") == 0 ? v2 : (argc > 2 ? argv[2] : "");
        nav_select(a, NAV_DEVICE, alias);
        int tag;
        const char *sel = nav_selected(a, &tag);
        if (tag == NAV_DEVICE && sel && strcmp(sel, alias) == 0)
            cmd_action(a, strcmp(v2, "info") == 0 ? ACT_NONE : ACT_CHECK);
        else
            app_message(a, true, "no device named \"%s\"", alias);
    } else if (strcmp(v, "device") == 0 && strcmp(v2, "remove") == 0 && argc > 2) {
        if (device_remove(&a->st, argv[2], &err) < 0)
            app_message(a, true, "%s", err.msg);
        else
            app_message(a, false, "device %s removed", argv[2]);
        nav_refresh(a);
    } else if ((strcmp(v, "kernel") == 0 || strcmp(v, "fs") == 0 || strcmp(v, "dtb") == 0) &&
               strcmp(v2, "remove") == 0 && argc > 2) {
        bool force = argc > 3 && strcmp(argv[3], "--force") == 0;
        if (device_remove_item(&a->st, kind_of(v), argv[2], force, &err) < 0)
            app_message(a, true, "%s", err.msg);
        else
            app_message(a, false, "%s removed", argv[2]);
        nav_refresh(a);
    } else if ((strcmp(v, "kernel") == 0 || strcmp(v, "fs") == 0 || strcmp(v, "dtb") == 0) &&
               strcmp(v2, "add") == 0 && argc > 2) {
        /* A copy with fsync (or a full compare) of a large image takes
         * seconds: the CLI's verb does it in a job. `:kernel add FILE NAME`
         * is the CLI's `--name NAME`. */
        char *args[36];
        int n = 0;
        for (int i = 0; i < argc && n < 34; i++) {
            if (i == 3 && strcmp(v, "dtb") != 0 && argv[i][0] != '-')
                args[n++] = "--name";
            args[n++] = argv[i];
        }
        clirun_start(a, n, args);
    } else if ((strcmp(v, "kernel") == 0 || strcmp(v, "fs") == 0 || strcmp(v, "dtb") == 0 ||
                strcmp(v, "device") == 0 || strcmp(v, "instance") == 0) &&
               (strcmp(v2, "list") == 0 || strcmp(v2, "running") == 0 || argc == 1)) {
        if (strcmp(v2, "running") == 0)
            v = "instance";
        app_focus(a, FOCUS_NAV, NULL);
        listview_set_filter(a->nav, "");
        static const char *const NOUN[] = {"kernel", "fs", "dtb", "device", "instance"};
        for (int i = 0; i < 5; i++)
            if (strcmp(v, NOUN[i]) == 0) {
                /* Select the first item of that section. */
                int sec = -1;
                for (int r = 0, h = -1; r < a->nav->n_rows; r++) {
                    if (a->nav->rows[r].kind == LV_HEADER)
                        h++;
                    else if (h == i && sec < 0)
                        sec = r;
                }
                if (sec >= 0 && a->nav->rows[sec].key)
                    listview_select_key(a->nav, a->nav->rows[sec].key);
            }
        nav_fill_detail(a);
    } else if (strcmp(v, "console") == 0 && argc > 1) {
        char sock[4200];
        snprintf(sock, sizeof sock, "%s/console.sock", argv[1]);
        if (strchr(argv[1], '/') && !ib_path_exists(sock)) {
            app_message(a, true, "no console.sock in %s", argv[1]);
        } else if (!strchr(argv[1], '/') && !app_instance(a, argv[1])) {
            app_message(a, true, "no instance named %s", argv[1]);
        } else {
            struct console *c = console_open(a, argv[1]);
            if (c)
                app_focus(a, FOCUS_CONSOLE, c);
        }
    } else if (strcmp(v, "close") == 0) {
        cmd_action(a, ACT_CLOSE_CONSOLE);
    } else if (strcmp(v, "argv") == 0) {
        if (argc > 1)
            nav_select(a, NAV_INSTANCE, argv[1]);
        a->detail_argv = false;
        cmd_action(a, ACT_ARGV);
    } else if (strcmp(v, "theme") == 0 && argc > 1) {
        if (app_set_theme(a, argv[1], &err) < 0)
            app_message(a, true, "%s", err.msg);
        else
            app_message(a, false, "theme %s", a->theme.name);
    } else if (strcmp(v, "layout") == 0 && argc > 1) {
        int m = layout_mode_parse(argv[1]);
        if (m < 0) {
            app_message(a, true, "layouts: side, stack, grid, one");
        } else {
            a->tiles = (enum tiles_mode)m;
            app_relayout(a);
        }
    } else if (strcmp(v, "zoom") == 0) {
        cmd_action(a, ACT_ZOOM);
    } else if (strcmp(v, "stty") == 0) {
        if (argc > 1 && strcmp(argv[1], "auto") == 0) {
            a->auto_stty = true;
            app_message(a, false, "stty is sent on every resize");
        } else if (argc > 1 && strcmp(argv[1], "off") == 0) {
            a->auto_stty = false;
            app_message(a, false, "stty only on request");
        } else {
            cmd_action(a, ACT_STTY);
        }
    } else if (strcmp(v, "copy") == 0) {
        copy_selection(a, argc > 1 ? argv[1] : NULL);
    } else if (strcmp(v, "prefix") == 0 && argc > 1) {
        char why[200];
        int k = key_parse_prefix(argv[1], why, sizeof why);
        if (k < 0) {
            app_message(a, true, "%s", why);
        } else {
            a->prefix_key = k;
            app_message(a, false, "prefix is now %s", argv[1]);
        }
    } else if (strcmp(v, "filter") == 0) {
        listview_set_filter(a->nav, argc > 1 ? argv[1] : "");
        nav_fill_detail(a);
    } else if (strcmp(v, "refresh") == 0) {
        cmd_action(a, ACT_REFRESH);
    } else if (strcmp(v, "info") == 0) {
        app_set_view(a, VIEW_INFO);
    } else if (strcmp(v, "procs") == 0 || strcmp(v, "ps") == 0 ||
               (strcmp(v, "instance") == 0 && strcmp(v2, "ps") == 0)) {
        const char *name =
            strcmp(v, "instance") == 0 ? (argc > 2 ? argv[2] : NULL) : (argc > 1 ? argv[1] : NULL);
        if (name && !app_instance(a, name)) {
            app_message(a, true, "no instance named %s", name);
            goto out;
        }
        if (name) {
            app_focus(a, FOCUS_NAV, NULL); /* the named one, not the focused console's */
            nav_select(a, NAV_INSTANCE, name);
        }
        app_set_view(a, VIEW_PROCS);
    } else if (strcmp(v, "snapshots") == 0 ||
               ((strcmp(v, "snapshot") == 0 || strcmp(v, "snap") == 0) && argc <= 2)) {
        if (argc > 1 && app_instance(a, argv[1])) {
            app_focus(a, FOCUS_NAV, NULL);
            nav_select(a, NAV_INSTANCE, argv[1]);
        }
        app_set_view(a, VIEW_SNAPS);
    } else if ((strcmp(v, "snapshot") == 0 || strcmp(v, "snap") == 0) && argc >= 3) {
        /* :snapshot save|load|delete NAME (of the selected instance) */
        enum prompt_kind k = strcmp(v2, "save") == 0     ? PROMPT_SNAP_SAVE
                             : strcmp(v2, "load") == 0   ? PROMPT_SNAP_LOAD
                             : strcmp(v2, "delete") == 0 ? PROMPT_SNAP_DELETE
                                                         : PROMPT_NONE;
        const char *inst = app_view_instance(a);
        if (k == PROMPT_NONE) {
            app_message(a, true, "usage: :snapshot save|load|delete NAME");
        } else if (inst == NULL) {
            app_message(a, true, "select a running instance first");
        } else {
            snprintf(a->prompt_arg, sizeof a->prompt_arg, "%s", inst);
            app_set_view(a, VIEW_SNAPS);
            snaps_prompt_done(a, k, argv[2]);
        }
    } else if (strcmp(v, "debug") == 0 || strcmp(v, "attach") == 0) {
        const char *inst = app_view_instance(a);
        if (argc < 2) {
            app_set_view(a, VIEW_DEBUG);
        } else if (inst == NULL) {
            app_message(a, true, "select a running instance first");
        } else if (atoi(argv[1]) <= 0) {
            app_message(a, true, "usage: :debug PID (of the selected instance)");
        } else {
            dbg_attach(a, inst, atoi(argv[1]), argc > 2 ? argv[2] : "?");
        }
    } else if ((strcmp(v, "export") == 0) ||
               (strcmp(v, "device") == 0 && strcmp(v2, "export") == 0)) {
        int base = strcmp(v, "export") == 0 ? 1 : 2;
        if (argc <= base) {
            app_message(a, true, "usage: :export DEVICE [FILE]");
        } else if (argc > base + 1) {
            snprintf(a->prompt_arg, sizeof a->prompt_arg, "%s", argv[base]);
            task_prompt_done(a, PROMPT_EXPORT, argv[base], argv[base + 1]);
        } else {
            task_export_prompt(a, argv[base]);
        }
    } else if (strcmp(v, "import") == 0 || (strcmp(v, "device") == 0 && strcmp(v2, "add") == 0)) {
        int base = strcmp(v, "import") == 0 ? 1 : 2;
        if (argc <= base) {
            task_import_prompt(a);
        } else {
            char both[4400];
            const char *alias = NULL;
            for (int i = base + 1; i < argc; i++)
                if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
                    alias = argv[++i];
                else
                    alias = argv[i];
            snprintf(both, sizeof both, "%s%s%s", argv[base], alias ? " " : "", alias ? alias : "");
            task_prompt_done(a, PROMPT_IMPORT, "", both);
        }
    } else if (strcmp(v, "cancel") == 0) {
        if (!clirun_cancel(a))
            task_cancel(a);
    } else if (strcmp(v, "output") == 0) {
        clirun_show(a);
    } else if (is_cli_noun(v)) {
        /* Every other verb of the CLI: its own command table decides. */
        clirun_start(a, argc, argv);
    } else {
        app_message(a, true, "unknown command: %s (try :help)", line);
    }
out:
    free(copy);
    app_dirty(a);
}

void cmd_complete(struct app *a)
{
    /* Completes the last word against device and instance names. */
    char *text = a->line->text;
    char *last = strrchr(text, ' ');
    last = last ? last + 1 : text;
    if (*last == '\0')
        return;
    size_t n = strlen(last);
    const char *match = NULL;
    for (size_t i = 0; i < a->n_inst && !match; i++)
        if (strncmp(a->inst[i].name, last, n) == 0)
            match = a->inst[i].name;
    for (int r = 0; r < a->nav->n_rows && !match; r++) {
        const struct lv_row *row = &a->nav->rows[r];
        if (row->tag == NAV_DEVICE && row->key && strncmp(strchr(row->key, ':') + 1, last, n) == 0)
            match = strchr(row->key, ':') + 1;
    }
    if (match) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s%s ", (int)(last - text), text, match);
        lineedit_set_text(a->line, buf);
    }
}
