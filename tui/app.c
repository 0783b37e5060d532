/*
 * app.c - tui_run(): the workbench's terminal, event loop and frames.
 *
 * Everything runs on core/loop: the terminal (stdin), every console
 * socket, the pipes of helper jobs, a self-pipe for SIGWINCH/SIGTERM, and
 * timers. Drawing is frame-capped: events only mark things dirty and ask
 * for a frame; a frame (at most one per FRAME_MS) feeds pending console
 * bytes to the emulators within a time budget, draws what is dirty, and
 * ends with a single doupdate().
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/util.h"
#include "tui/app.h"
#include "widgets/draw.h"
#include "widgets/palette.h"

#define FRAME_MS 16
#define FEED_BUDGET_MS 12
#define REFRESH_MS 2000

static int wake_fd = -1;
static FILE *trace_file; /* IOTBENCH_TUI_TRACE */
static volatile sig_atomic_t got_winch, got_term;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGWINCH)
        got_winch = 1;
    else
        got_term = 1;
    if (wake_fd >= 0 && write(wake_fd, "s", 1) < 0)
        (void)0;
    errno = saved;
}

void app_trace(const char *fmt, ...)
{
    if (trace_file == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(trace_file, "[%lld] ", (long long)ib_now_ms());
    vfprintf(trace_file, fmt, ap);
    fputc('\n', trace_file);
    fflush(trace_file);
    va_end(ap);
}

void app_message(struct app *a, bool error, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    statusbar_message(a->status, error, "%s", buf);
    a->prefix_msg_shown = false;
    app_dirty(a);
}

static void on_frame_timer(struct loop *lp, void *arg);
static void draw(struct app *a);

void app_request_frame(struct app *a)
{
    if (a->frame_timer)
        return;
    a->frame_timer = loop_timer(a->lp, 0, on_frame_timer, a);
}

void app_dirty(struct app *a)
{
    a->ui_dirty = true;
    app_request_frame(a);
}

char *app_theme_path(const char *name)
{
    if (strchr(name, '/'))
        return ib_path_is_file(name) ? xstrdup(name) : NULL;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    const char *env = getenv("IOTBENCH_THEMES"), *src = getenv("IOTBENCH_SRC");
    char *dirs[] = {
        env ? xstrdup(env) : NULL,
        xasprintf("%s/themes", exe),
        xasprintf("%s/../../themes", exe), /* build/asan/iotbench in the source tree */
        xasprintf("%s/../share/iotbench/themes", exe),
        src ? xasprintf("%s/themes", src) : NULL,
        xstrdup("/usr/local/share/iotbench/themes"),
        xstrdup("/usr/share/iotbench/themes"),
    };
    char *found = NULL;
    for (size_t i = 0; i < IB_ARRAY_LEN(dirs); i++) {
        if (dirs[i] && !found) {
            char *p = xasprintf("%s/%s.theme", dirs[i], name);
            if (ib_path_is_file(p))
                found = p;
            else
                free(p);
        }
        free(dirs[i]);
    }
    return found;
}

int app_set_theme(struct app *a, const char *name, struct ib_error *err)
{
    struct theme th;
    char *path = app_theme_path(name);
    if (path == NULL) {
        if (strcmp(name, "mono") != 0)
            return ib_err(err, IB_ENOTFOUND,
                          "no theme \"%s\" (themes/%s.theme; try dark, light or mono)", name, name);
        theme_init_mono(&th); /* built in, so the workbench always has one */
    } else {
        int rc = theme_load_file(&th, path, err);
        free(path);
        if (rc < 0)
            return -1;
    }
    a->theme = th;
    theme_set_current(&th);
    a->full_redraw = true;
    app_dirty(a);
    return 0;
}

void app_focus(struct app *a, enum focus f, struct console *c)
{
    if (f == FOCUS_CONSOLE && c == NULL)
        f = FOCUS_NAV;
    bool relayout = f == FOCUS_CONSOLE && c != a->focus_con && (c->tile < 0 || a->zoom);
    a->focus = f;
    if (f == FOCUS_CONSOLE)
        a->focus_con = c;
    if (f == FOCUS_NAV && a->lay.nav.h == 0 && !a->zoom)
        a->show_nav = true, relayout = true;
    a->nav->base.focused = f == FOCUS_NAV;
    a->detail->base.focused = f == FOCUS_DETAIL;
    if (f != FOCUS_CONSOLE && a->zoom)
        a->zoom = false, relayout = true;
    if (f != FOCUS_DETAIL && a->zoom_detail)
        a->zoom_detail = false, relayout = true;
    if (relayout)
        app_relayout(a);
    a->prefix_pending = false;
    keys_status_hints(a);
    app_dirty(a);
}

void app_relayout(struct app *a)
{
    int n = console_count(a);
    struct layout_opts o = {
        a->show_nav,   a->show_detail || a->view != VIEW_INFO, a->zoom, n, a->view != VIEW_INFO,
        a->zoom_detail};
    layout_screen(a->rows, a->cols, &o, &a->lay);
    a->full_redraw = true;
    app_dirty(a);
    if (a->lay.too_small)
        return;
    struct rect nav = a->lay.nav, det = a->lay.detail;
    widget_place(&a->nav->base, (struct rect){nav.y + 1, nav.x, nav.h > 0 ? nav.h - 1 : 0, nav.w});
    struct rect body = {det.y + 1, det.x, det.h > 0 ? det.h - 1 : 0, det.w};
    widget_place(&a->detail->base, body);
    procs_place(a, body);
    dbg_place(a, body);
    snaps_place(a, body);
    widget_place(&a->status->base, a->lay.status);
    widget_place(&a->line->base, a->lay.status);
    widget_place(&a->help->base, (struct rect){2, 2, a->rows - 4, a->cols - 4});
    /* Which consoles get a tile: all (up to 4), or the focused one alone. */
    struct console *shown[LAYOUT_MAX_TILES];
    int ns = 0;
    if (a->focus_con == NULL)
        a->focus_con = a->consoles;
    bool one = a->zoom || a->tiles == TILES_ONE;
    int idx = 0;
    for (struct console *c = a->consoles; c; c = c->next, idx++) {
        c->tile = -1;
        if (one ? c == a->focus_con : ns < LAYOUT_MAX_TILES)
            shown[ns++] = c, c->tile = idx;
    }
    /* The focused console is always shown, replacing the last tile. */
    if (!one && a->focus_con && a->focus_con->tile < 0 && ns > 0) {
        shown[ns - 1]->tile = -1;
        shown[ns - 1] = a->focus_con;
        idx = 0;
        for (struct console *c = a->consoles; c; c = c->next, idx++)
            if (c == a->focus_con)
                c->tile = idx;
    }
    if (ns == 0 || a->lay.consoles.h < 2) {
        /* No console area (a zoomed tool, say): none is drawn, so none may
         * keep a tile and paint over the body from its old place. */
        for (int i = 0; i < ns; i++)
            shown[i]->tile = -1;
        return;
    }
    struct rect tiles[LAYOUT_MAX_TILES];
    int nt = layout_tiles(one ? TILES_ONE : a->tiles, ns, a->lay.consoles, tiles);
    for (int i = 0; i < ns; i++) {
        if (i < nt && tiles[i].h >= 2)
            console_place(shown[i], tiles[i]);
        else
            shown[i]->tile = -1;
    }
}

/* ---- detail views ---- */

const char *app_view_instance(struct app *a)
{
    if (a->focus == FOCUS_CONSOLE && a->focus_con && app_instance(a, a->focus_con->name))
        return a->focus_con->name;
    int tag;
    const char *name = nav_selected(a, &tag);
    return tag == NAV_INSTANCE && name && app_instance(a, name) ? name : NULL;
}

void app_set_view(struct app *a, enum detail_view v)
{
    const char *inst = app_view_instance(a);
    char name[256] = "";
    if (v == VIEW_DEBUG) {
        if (!a->dbg) {
            app_message(a, true, "no debugger session: attach to a process first (p, then a)");
            return;
        }
        inst = dbg_instance(a);
    } else if (v != VIEW_INFO && inst == NULL) {
        app_message(a, true, "select a running instance first");
        return;
    }
    if (inst)
        snprintf(name, sizeof name, "%s", inst);
    if (v != VIEW_PROCS)
        procs_close(a);
    if (v != VIEW_SNAPS)
        snaps_close(a);
    a->view = v;
    if (name[0] && v != VIEW_INFO)
        nav_select(a, NAV_INSTANCE, name);
    if (v == VIEW_PROCS)
        procs_show(a, name);
    else if (v == VIEW_SNAPS)
        snaps_show(a, name);
    if (v == VIEW_INFO)
        a->zoom_detail = false;
    a->filter_lv = NULL;
    app_relayout(a);
    app_focus(a, v == VIEW_INFO && a->focus != FOCUS_DETAIL ? a->focus : FOCUS_DETAIL,
              a->focus_con);
    app_dirty(a);
}

void app_prompt(struct app *a, enum prompt_kind kind, const char *arg, const char *prompt,
                const char *initial)
{
    a->mode = MODE_PROMPT;
    a->prompt = kind;
    snprintf(a->prompt_arg, sizeof a->prompt_arg, "%s", arg ? arg : "");
    lineedit_open(a->line, prompt, initial ? initial : "");
    app_dirty(a);
}

/* ---- drawing ---- */

static void draw_header(struct app *a)
{
    struct rect r = a->lay.header;
    draw_fill(stdscr, r.y, r.x, r.w, TH_STATUS_BAR);
    int x = draw_text(stdscr, r.y, r.x, r.w, TH_APP_TITLE, " iotbench ");
    /* "? help" is always kept: it is how one learns the rest. */
    const char *help = "? help ";
    int hw = draw_text_width(help);
    int end = r.x + r.w - (r.w - x > hw ? hw + 1 : 0);
    int running = 0;
    for (size_t i = 0; i < a->n_inst; i++)
        running += a->inst[i].state == INSTANCE_RUNNING;
    char pb[16], buf[512], home[300], look[128];
    keyname_of(a->prefix_key, pb, sizeof pb);
    snprintf(home, sizeof home, " %s │", a->store_ok ? a->st.home : "(no store)");
    snprintf(look, sizeof look, " │ layout %s │ theme %s", layout_mode_name(a->tiles),
             a->theme.name);
    /* Least useful first out when narrow: the store's path, then the look. */
    for (int drop = 0; drop < 3; drop++) {
        snprintf(buf, sizeof buf, "%s %d running │ %d console%s%s │ prefix %s",
                 drop < 1 ? home : "", running, console_count(a), console_count(a) == 1 ? "" : "s",
                 drop < 2 ? look : "", pb);
        if (draw_text_width(buf) <= end - x)
            break;
    }
    x += draw_text(stdscr, r.y, x, end - x, TH_STATUS_BAR, buf);
    dbg_header(a, buf, sizeof buf);
    if (buf[0] && end > x + 4) {
        x += draw_text(stdscr, r.y, x, end - x, TH_STATUS_BAR, " │ ");
        x += draw_text(stdscr, r.y, x, end - x, TH_WARN, buf);
    }
    if (end < r.x + r.w)
        draw_text(stdscr, r.y, r.x + r.w - hw, hw, TH_STATUS_KEY, help);
}

static void draw_title(struct rect r, bool focused, const char *text)
{
    enum th_element el = focused ? TH_TITLE_FOCUS : TH_TITLE;
    draw_fill(stdscr, r.y, r.x, r.w, el);
    draw_text(stdscr, r.y, r.x, r.w, el, text);
}

static const char *const TAB_NAMES[VIEW_N] = {"Info", "Processes", "Snapshots", "Debugger"};

/* The detail pane's title: what is shown, and for an instance the tabs
 * of its views (each remembered for clicks). */
static void draw_detail_title(struct app *a)
{
    struct rect r = a->lay.detail;
    bool focused = a->focus == FOCUS_DETAIL;
    enum th_element el = focused ? TH_TITLE_FOCUS : TH_TITLE;
    char buf[400];
    int tag;
    const char *name = nav_selected(a, &tag);
    static const char *const KIND[] = {"",       "Kernel",  "Host filesystem", "Device tree",
                                       "Device", "Instance"};
    for (int v = 0; v < VIEW_N; v++)
        a->tabs[v] = (struct rect){0, 0, 0, 0};
    draw_fill(stdscr, r.y, r.x, r.w, el);
    /* The views are about the navigator's instance (the debugger: its session's). */
    const char *inst = tag == NAV_INSTANCE ? name : NULL;
    if (a->view == VIEW_DEBUG && dbg_instance(a))
        inst = dbg_instance(a);
    if (inst == NULL) {
        snprintf(buf, sizeof buf, " %s %s", name ? KIND[tag] : "Detail", name ? name : "");
        draw_text(stdscr, r.y, r.x, r.w, el, buf);
        return;
    }
    int x = r.x, end = r.x + r.w;
    snprintf(buf, sizeof buf, " Instance %s ", inst);
    x += draw_text(stdscr, r.y, x, end - x, el, buf);
    for (int v = 0; v < VIEW_N && x < end; v++) {
        if (v == VIEW_DEBUG && !(dbg_instance(a) && strcmp(dbg_instance(a), inst) == 0))
            continue;
        snprintf(buf, sizeof buf, " %s ", TAB_NAMES[v]);
        int w = draw_text(stdscr, r.y, x + 1, end - x - 1,
                          v == (int)a->view ? TH_TAB_ACTIVE : TH_TAB, buf);
        a->tabs[v] = (struct rect){r.y, x + 1, 1, w};
        x += w + 1;
    }
    if (a->view == VIEW_PROCS)
        procs_title(a, buf, sizeof buf);
    else if (a->view == VIEW_DEBUG)
        dbg_title(a, buf, sizeof buf);
    else if (a->view == VIEW_SNAPS)
        snaps_title(a, buf, sizeof buf);
    else
        buf[0] = '\0';
    if (buf[0] && x + 3 < end) {
        x += draw_text(stdscr, r.y, x, end - x, el, "  ");
        draw_text(stdscr, r.y, x, end - x, el, buf);
    }
}

static void draw_vline(int y, int x, int h, enum th_element el)
{
    for (int i = 0; i < h; i++)
        draw_char(stdscr, y + i, x, el, L'│');
}

static void draw_panes(struct app *a)
{
    char buf[400];
    if (a->lay.nav.h > 0) {
        if (a->nav->filter[0])
            snprintf(buf, sizeof buf, " Navigator  /%s", a->nav->filter);
        else
            snprintf(buf, sizeof buf, " Navigator");
        draw_title(a->lay.nav, a->focus == FOCUS_NAV, buf);
        widget_draw(&a->nav->base, stdscr);
        draw_vline(a->lay.nav_sep.y, a->lay.nav_sep.x, a->lay.nav_sep.h, TH_BORDER);
    }
    if (a->lay.detail.h > 0) {
        draw_detail_title(a);
        switch (a->view) {
        case VIEW_PROCS:
            procs_draw(a, stdscr);
            break;
        case VIEW_DEBUG:
            dbg_draw(a, stdscr);
            break;
        case VIEW_SNAPS:
            snaps_draw(a, stdscr);
            break;
        default:
            widget_draw(&a->detail->base, stdscr);
            break;
        }
    }
    struct rect area = a->lay.consoles;
    for (struct console *c = a->consoles; c; c = c->next) {
        if (c->tile < 0)
            continue;
        bool focused = a->focus == FOCUS_CONSOLE && c == a->focus_con;
        console_draw_title(c, stdscr, focused);
        if (c->rect.x + c->rect.w < area.x + area.w)
            draw_vline(c->rect.y, c->rect.x + c->rect.w, c->rect.h, TH_BORDER);
    }
}

/* The first of the texts that fits the width (the last one, clipped, if none). */
static const char *fitting(int width, char texts[][64], int n)
{
    for (int i = 0; i < n; i++)
        if (draw_text_width(texts[i]) <= width)
            return texts[i];
    return texts[n - 1];
}

static void draw_too_small(struct app *a)
{
    erase();
    /* The size is what the user needs to read: shorter wordings keep it. */
    char l1[3][64], l2[3][64], l3[2][64];
    snprintf(l1[0], sizeof l1[0], "Terminal too small: %dx%d", a->cols, a->rows);
    snprintf(l1[1], sizeof l1[1], "Too small: %dx%d", a->cols, a->rows);
    snprintf(l1[2], sizeof l1[2], "%dx%d", a->cols, a->rows);
    snprintf(l2[0], sizeof l2[0], "iotbench needs %dx%d", LAYOUT_MIN_COLS, LAYOUT_MIN_ROWS);
    snprintf(l2[1], sizeof l2[1], "needs %dx%d", LAYOUT_MIN_COLS, LAYOUT_MIN_ROWS);
    snprintf(l2[2], sizeof l2[2], "<%dx%d", LAYOUT_MIN_COLS, LAYOUT_MIN_ROWS);
    snprintf(l3[0], sizeof l3[0], "Enlarge it, or q quits");
    snprintf(l3[1], sizeof l3[1], "q quits");
    int y = a->rows / 2 - 1;
    if (y < 0)
        y = 0;
    draw_centred(stdscr, y, 0, a->cols, TH_ERROR, fitting(a->cols, l1, 3));
    if (y + 1 < a->rows)
        draw_centred(stdscr, y + 1, 0, a->cols, TH_NORMAL, fitting(a->cols, l2, 3));
    if (y + 2 < a->rows)
        draw_centred(stdscr, y + 2, 0, a->cols, TH_DIM, fitting(a->cols, l3, 2));
}

static void draw_help(struct app *a)
{
    struct rect r = a->help->base.r;
    if (r.h < 3 || r.w < 10)
        return;
    for (int y = r.y - 1; y <= r.y + r.h; y++)
        draw_fill(stdscr, y, r.x - 1, r.w + 2, TH_BORDER_FOCUS);
    widget_draw(&a->help->base, stdscr);
}

static void set_cursor(struct app *a, bool on, int y, int x)
{
    if (on != a->cursor_on) {
        curs_set(on ? 1 : 0);
        a->cursor_on = on;
    }
    if (on)
        wmove(stdscr, y, x);
}

static void draw(struct app *a)
{
    bool full = a->full_redraw;
    a->full_redraw = false;
    if (full) {
        /* The palette may have changed (theme, depth): every cell is redrawn. */
        erase();
        a->ui_dirty = true;
    }
    if (a->lay.too_small) {
        draw_too_small(a);
        set_cursor(a, false, 0, 0);
        a->ui_dirty = false;
        wnoutrefresh(stdscr);
        doupdate();
        return;
    }
    if (a->ui_dirty) {
        keys_status_hints(a);
        draw_header(a);
        draw_panes(a);
        if (a->mode == MODE_CMD || a->mode == MODE_FILTER || a->mode == MODE_PROMPT ||
            a->mode == MODE_CONFIRM)
            widget_draw(&a->line->base, stdscr);
        else
            widget_draw(&a->status->base, stdscr);
    }
    if (a->mode == MODE_HELP) {
        if (a->ui_dirty)
            draw_help(a);
    } else {
        for (struct console *c = a->consoles; c; c = c->next) {
            if (c->tile < 0)
                continue;
            if (full)
                c->tv->base.dirty = true;
            if (termview_needs_draw(c->tv)) {
                widget_draw(&c->tv->base, stdscr);
                if (!a->ui_dirty)
                    console_draw_title(c, stdscr, a->focus == FOCUS_CONSOLE && c == a->focus_con);
            }
        }
    }
    a->ui_dirty = false;
    /* The real cursor: the line editor's, or the focused console's. */
    int cy = 0, cx = 0;
    bool on = false;
    if (a->line->active) {
        on = true;
        cy = a->line->base.r.y;
        cx = lineedit_cursor_x(a->line);
    } else if (a->mode == MODE_NORMAL && a->focus == FOCUS_CONSOLE && a->focus_con &&
               a->focus_con->tile >= 0 && !a->focus_con->scroll_mode &&
               termview_cursor(a->focus_con->tv, &cy, &cx)) {
        on = cy < a->focus_con->tv->base.r.h && cx < a->focus_con->tv->base.r.w;
        cy += a->focus_con->tv->base.r.y;
        cx += a->focus_con->tv->base.r.x;
    }
    set_cursor(a, on, cy, cx);
    wnoutrefresh(stdscr);
    doupdate();
}

static bool feed_consoles(struct app *a, int64_t deadline)
{
    bool more = false;
    /* Round-robin: a flooding console cannot always go first. */
    int n = console_count(a);
    a->feed_turn++;
    for (int i = 0; i < n; i++) {
        int k = (int)((a->feed_turn + (unsigned)i) % (unsigned)n), j = 0;
        for (struct console *c = a->consoles; c; c = c->next, j++)
            if (j == k)
                more |= console_process(c, deadline, 1 << 20);
    }
    return more;
}

static bool needs_draw(struct app *a)
{
    if (a->ui_dirty || a->full_redraw)
        return true;
    for (struct console *c = a->consoles; c; c = c->next)
        if (c->tile >= 0 && termview_needs_draw(c->tv))
            return true;
    return false;
}

/* Feeds the emulators for a bounded time, then draws if a frame is due.
 * With a backlog the next round comes at once (the loop reads the keyboard
 * in between); otherwise a pending draw waits for the frame cap. */
static void frame(struct app *a)
{
    bool more = feed_consoles(a, ib_now_ms() + FEED_BUDGET_MS);
    int64_t now = ib_now_ms();
    bool pending = needs_draw(a);
    if (pending && now - a->last_frame >= FRAME_MS) {
        draw(a);
        a->last_frame = now;
        pending = false;
    }
    if (more)
        a->frame_timer = loop_timer(a->lp, 0, on_frame_timer, a);
    else if (pending)
        a->frame_timer = loop_timer(a->lp, a->last_frame + FRAME_MS - now, on_frame_timer, a);
}

static void on_frame_timer(struct loop *lp, void *arg)
{
    struct app *a = arg;
    (void)lp;
    a->frame_timer = 0;
    frame(a);
}

/* ---- input ---- */

static void dispatch_mouse(struct app *a, const struct wmouse *ev);

static void handle_mouse(struct app *a)
{
    MEVENT me;
    if (getmouse(&me) != OK)
        return;
    if (trace_file) {
        fprintf(trace_file, "mouse y=%d x=%d bstate=%#lx\n", me.y, me.x, (unsigned long)me.bstate);
        fflush(trace_file);
    }
    struct wmouse ev = {.y = me.y, .x = me.x, .button = 1};
    if (me.bstate & BUTTON4_PRESSED)
        ev.kind = WM_WHEEL_UP;
    else if (me.bstate & BUTTON5_PRESSED)
        ev.kind = WM_WHEEL_DOWN;
    else if (me.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON1_DOUBLE_CLICKED)) {
        ev.kind = WM_PRESS;
        int64_t now = ib_now_ms();
        if (now - a->last_click_ms < 400 && me.y == a->last_click_y && me.x == a->last_click_x)
            ev.kind = WM_DOUBLE;
        a->last_click_ms = ev.kind == WM_DOUBLE ? 0 : now;
        a->last_click_y = me.y, a->last_click_x = me.x;
    } else if (me.bstate & BUTTON1_RELEASED) {
        ev.kind = WM_RELEASE;
        /* ncurses may fold a quick press+release into the release alone. */
        if (!a->mouse_down) {
            struct wmouse press = ev;
            press.kind = WM_PRESS;
            a->mouse_down = true;
            dispatch_mouse(a, &press);
        }
    } else {
        return;
    }
    a->mouse_down = ev.kind == WM_PRESS || ev.kind == WM_DOUBLE;
    dispatch_mouse(a, &ev);
}

static void dispatch_mouse(struct app *a, const struct wmouse *evp)
{
    struct wmouse ev = *evp;
    MEVENT me = {.y = ev.y, .x = ev.x};
    if (a->lay.too_small)
        return;
    if (a->mode == MODE_HELP) {
        if (ev.kind == WM_WHEEL_UP || ev.kind == WM_WHEEL_DOWN) {
            widget_mouse(&a->help->base, &ev);
            a->ui_dirty = true;
        } else if (ev.kind == WM_PRESS && !rect_contains(a->help->base.r, me.y, me.x)) {
            cmd_action(a, ACT_HELP);
        }
        app_dirty(a);
        return;
    }
    struct wmouse rel = ev;
    if (rect_contains(a->lay.status, me.y, me.x) && a->mode == MODE_NORMAL) {
        rel.y -= a->lay.status.y, rel.x -= a->lay.status.x;
        int r = widget_mouse(&a->status->base, &rel);
        if (r >= SB_ACTION)
            cmd_action(a, (enum action)(r - SB_ACTION));
        return;
    }
    if (rect_contains(a->lay.nav, me.y, me.x)) {
        if (ev.kind == WM_PRESS || ev.kind == WM_DOUBLE)
            app_focus(a, FOCUS_NAV, NULL);
        rel.y -= a->nav->base.r.y, rel.x -= a->nav->base.r.x;
        int r = rel.y >= 0 ? widget_mouse(&a->nav->base, &rel) : WR_HANDLED;
        if (r == LV_MOVED || r == LV_ACTIVATE)
            nav_fill_detail(a);
        if (r == LV_ACTIVATE)
            cmd_action(a, ACT_OPEN_CONSOLE);
        app_dirty(a);
        return;
    }
    if (rect_contains(a->lay.detail, me.y, me.x)) {
        if (ev.kind == WM_PRESS || ev.kind == WM_DOUBLE)
            app_focus(a, FOCUS_DETAIL, NULL);
        if (ev.kind == WM_PRESS && me.y == a->lay.detail.y) {
            for (int v = 0; v < VIEW_N; v++)
                if (a->tabs[v].w > 0 && rect_contains(a->tabs[v], me.y, me.x)) {
                    cmd_action(a, (enum action)(ACT_VIEW_INFO + v));
                    break;
                }
            app_dirty(a);
            return;
        }
        rel.y -= a->detail->base.r.y, rel.x -= a->detail->base.r.x;
        if (rel.y < 0) {
            app_dirty(a);
            return;
        }
        if (a->view == VIEW_PROCS) {
            procs_mouse(a, &rel);
        } else if (a->view == VIEW_DEBUG) {
            dbg_mouse(a, &rel);
        } else if (a->view == VIEW_SNAPS) {
            snaps_mouse(a, &rel);
        } else {
            int r = widget_mouse(&a->detail->base, &rel);
            if (r >= TV_ACTION)
                cmd_action(a, (enum action)(r - TV_ACTION));
        }
        app_dirty(a);
        return;
    }
    for (struct console *c = a->consoles; c; c = c->next) {
        if (c->tile < 0 || !rect_contains(c->rect, me.y, me.x))
            continue;
        if (ev.kind == WM_PRESS || ev.kind == WM_DOUBLE)
            app_focus(a, FOCUS_CONSOLE, c);
        struct rect body = c->tv->base.r;
        if (rect_contains(body, me.y, me.x) || ev.kind == WM_RELEASE) {
            rel.y = me.y - body.y, rel.x = me.x - body.x;
            if (rel.y < 0)
                rel.y = 0;
            if (rel.y >= body.h)
                rel.y = body.h - 1;
            widget_mouse(&c->tv->base, &rel);
            if (c->tv->offset == 0)
                c->scroll_mode = false;
        }
        app_dirty(a);
        return;
    }
}

static void handle_scroll_key(struct app *a, struct console *c, int key)
{
    int page = c->tv->rows - 1;
    switch (key) {
    case WK_FN(KEY_UP):
    case 'k':
        termview_scroll(c->tv, 1);
        break;
    case WK_FN(KEY_DOWN):
    case 'j':
        termview_scroll(c->tv, -1);
        break;
    case WK_FN(KEY_PPAGE):
    case WK_FN(KEY_SPREVIOUS):
    case WK_CTRL('b'):
        termview_scroll(c->tv, page);
        break;
    case WK_FN(KEY_NPAGE):
    case WK_FN(KEY_SNEXT):
    case WK_CTRL('f'):
    case ' ':
        termview_scroll(c->tv, -page);
        break;
    case 'g':
    case WK_FN(KEY_HOME):
        termview_scroll_to(c->tv, 1 << 30);
        break;
    case 'G':
    case WK_FN(KEY_END):
        termview_scroll_to(c->tv, 0);
        break;
    case 'q':
    case WK_ESC:
        cmd_action(a, ACT_SCROLL_EXIT);
        break;
    case 'y':
        cmd_action(a, ACT_COPY);
        break;
    default:
        break;
    }
    app_dirty(a);
}

static void submit_line(struct app *a)
{
    char text[1024], arg[sizeof a->prompt_arg];
    snprintf(text, sizeof text, "%s", a->line->text);
    snprintf(arg, sizeof arg, "%s", a->prompt_arg);
    enum input_mode mode = a->mode;
    enum prompt_kind prompt = a->prompt;
    lineedit_remember(a->line);
    lineedit_close(a->line);
    a->mode = MODE_NORMAL;
    a->prompt = PROMPT_NONE;
    if (mode == MODE_CMD) {
        cmd_run_line(a, text);
    } else if (mode == MODE_FILTER) {
        struct listview *lv = a->filter_lv ? a->filter_lv : a->nav;
        listview_set_filter(lv, text);
        if (lv == a->nav)
            nav_fill_detail(a);
    } else if (mode == MODE_PROMPT) {
        switch (prompt) {
        case PROMPT_START_NAME: {
            struct ib_error err = {0};
            if (text[0] && names_validate(text, "instance name", &err) < 0)
                app_message(a, true, "%s", err.msg);
            else
                job_start_instance(a, arg, text[0] ? text : NULL, a->port_offset, false);
            break;
        }
        case PROMPT_KILL:
            procs_prompt_done(a, prompt, text);
            break;
        case PROMPT_BREAK:
        case PROMPT_UNBREAK:
        case PROMPT_GOTO:
            dbg_prompt_done(a, prompt, text);
            break;
        case PROMPT_SNAP_SAVE:
        case PROMPT_SNAP_LOAD:
        case PROMPT_SNAP_DELETE:
            snaps_prompt_done(a, prompt, text);
            break;
        case PROMPT_EXPORT:
        case PROMPT_IMPORT:
            task_prompt_done(a, prompt, arg, text);
            break;
        default:
            break;
        }
    }
    a->full_redraw = true;
    app_dirty(a);
}

static void handle_line_key(struct app *a, int key)
{
    if (a->mode == MODE_CONFIRM) {
        enum prompt_kind k = a->prompt;
        char arg[sizeof a->prompt_arg];
        snprintf(arg, sizeof arg, "%s", a->prompt_arg);
        lineedit_close(a->line);
        a->mode = MODE_NORMAL;
        a->prompt = PROMPT_NONE;
        bool yes = key == 'y' || key == 'Y';
        if (!yes)
            app_message(a, false, "cancelled");
        else if (k == PROMPT_STOP)
            job_stop_instance(a, arg, false);
        else if (k == PROMPT_STOP_ALL)
            for (size_t i = 0; i < a->n_inst; i++)
                job_stop_instance(a, a->inst[i].name, false);
        else if (k == PROMPT_EXPORT_REPLACE)
            task_prompt_done(a, k, arg, "y");
        app_dirty(a);
        return;
    }
    struct listview *flv = a->filter_lv ? a->filter_lv : a->nav;
    int r = widget_key(&a->line->base, key);
    if (r == LE_SUBMIT) {
        submit_line(a);
    } else if (r == LE_CANCEL) {
        if (a->mode == MODE_FILTER) {
            listview_set_filter(flv, "");
            if (flv == a->nav)
                nav_fill_detail(a);
        } else if (a->mode == MODE_PROMPT && a->prompt != PROMPT_START_NAME) {
            app_message(a, false, "cancelled");
        }
        lineedit_close(a->line);
        a->mode = MODE_NORMAL;
        a->prompt = PROMPT_NONE;
    } else if (r == LE_CHANGED && a->mode == MODE_FILTER) {
        listview_set_filter(flv, a->line->text);
        if (flv == a->nav)
            nav_fill_detail(a);
    } else if (r == LE_COMPLETE && a->mode == MODE_CMD) {
        cmd_complete(a);
    }
    app_dirty(a);
}

static void handle_key(struct app *a, int key)
{
    if (trace_file) {
        fprintf(trace_file, "key %#x\n", (unsigned)key);
        fflush(trace_file);
    }
    if (key == WK_FN(KEY_MOUSE)) {
        handle_mouse(a);
        return;
    }
    if (key == WK_FN(KEY_RESIZE))
        return; /* handled through SIGWINCH */
    if (a->lay.too_small) {
        if (key == 'q' || key == WK_FN(KEY_F(10)))
            a->running = false;
        return;
    }
    if (a->mode == MODE_HELP) {
        if (key == WK_ESC || key == 'q' || key == '?' || key == WK_FN(KEY_F(1)))
            cmd_action(a, ACT_HELP);
        else if (widget_key(&a->help->base, key) != WR_IGNORED)
            app_dirty(a);
        return;
    }
    if (a->mode != MODE_NORMAL) {
        handle_line_key(a, key);
        return;
    }
    struct console *fc = a->focus == FOCUS_CONSOLE ? a->focus_con : NULL;
    if (a->prefix_pending) {
        a->prefix_pending = false;
        /* The "C-b ..." reminder is answered: it goes before what the key
         * does (which may say something of its own). */
        if (a->prefix_msg_shown)
            statusbar_clear_message(a->status);
        a->prefix_msg_shown = false;
        if (key == a->prefix_key) {
            cmd_action(a, ACT_SEND_PREFIX);
        } else if (key != WK_ESC) {
            enum action act = keys_lookup(key, BIND_PREFIX);
            if (act != ACT_NONE) {
                cmd_action(a, act);
            } else {
                char kb[32];
                app_message(a, true, "%s is not bound after the prefix (? lists the keys)",
                            keyname_of(key, kb, sizeof kb));
            }
        }
        app_dirty(a);
        return;
    }
    if (key == a->prefix_key) {
        a->prefix_pending = true;
        char pb[16];
        app_message(a, false, "%s ... (? for the keys)", keyname_of(a->prefix_key, pb, sizeof pb));
        a->prefix_msg_shown = true;
        return;
    }
    if (fc) {
        if (fc->scroll_mode) {
            handle_scroll_key(a, fc, key);
            return;
        }
        if (key == WK_FN(KEY_SPREVIOUS) || key == WK_FN(KEY_SNEXT)) {
            fc->scroll_mode = true;
            handle_scroll_key(a, fc, key);
            return;
        }
        termview_select_clear(fc->tv);
        widget_key(&fc->tv->base, key);
        return;
    }
    if (a->focus == FOCUS_NAV) {
        int r = widget_key(&a->nav->base, key);
        if (r == LV_MOVED) {
            nav_fill_detail(a);
            app_dirty(a);
            return;
        }
        if (r == LV_ACTIVATE) {
            cmd_action(a, ACT_OPEN_CONSOLE);
            return;
        }
        if (r != WR_IGNORED) {
            app_dirty(a);
            return;
        }
        if (key == WK_ESC && a->nav->filter[0]) {
            listview_set_filter(a->nav, "");
            nav_fill_detail(a);
            app_dirty(a);
            return;
        }
    } else if (a->focus == FOCUS_DETAIL && a->view != VIEW_INFO) {
        /* The view's own keys first, then its widget's, then the pane's. */
        static const unsigned WHERE[VIEW_N] = {0, BIND_PROCS, BIND_SNAPS, BIND_DEBUG};
        enum action act = keys_lookup(key, WHERE[a->view]);
        if (act != ACT_NONE) {
            cmd_action(a, act);
            return;
        }
        int r = a->view == VIEW_PROCS   ? procs_key(a, key)
                : a->view == VIEW_DEBUG ? dbg_key(a, key)
                                        : snaps_key(a, key);
        if (r != WR_IGNORED) {
            app_dirty(a);
            return;
        }
    } else if (a->focus == FOCUS_DETAIL) {
        if (key == '\r') {
            cmd_action(a, ACT_OPEN_CONSOLE);
            return;
        }
        if (widget_key(&a->detail->base, key) != WR_IGNORED) {
            app_dirty(a);
            return;
        }
    }
    enum action act = keys_lookup(key, a->focus == FOCUS_NAV ? BIND_NAV : BIND_DETAIL);
    if (act != ACT_NONE)
        cmd_action(a, act);
}

static void on_stdin(struct loop *lp, int fd, int events, void *arg)
{
    struct app *a = arg;
    (void)lp, (void)fd, (void)events;
    wint_t wch;
    int r;
    for (int n = 0; n < 4096 && (r = wget_wch(stdscr, &wch)) != ERR; n++)
        handle_key(a, r == KEY_CODE_YES ? WK_FN((int)wch) : (int)wch);
}

static void on_wake(struct loop *lp, int fd, int events, void *arg)
{
    struct app *a = arg;
    (void)lp, (void)events;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    if (got_term) {
        a->running = false;
        return;
    }
    if (got_winch) {
        got_winch = 0;
        struct winsize ws;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
            resizeterm(ws.ws_row, ws.ws_col);
            a->rows = ws.ws_row;
            a->cols = ws.ws_col;
        }
        app_relayout(a);
        clearok(curscr, TRUE);
    }
}

static void on_refresh_timer(struct loop *lp, void *arg)
{
    struct app *a = arg;
    nav_refresh(a);
    loop_timer(lp, REFRESH_MS, on_refresh_timer, a);
}

static void on_tick(struct loop *lp, void *arg)
{
    struct app *a = arg;
    if (statusbar_tick(a->status, ib_now_ms()) || a->view == VIEW_PROCS ||
        (a->task && task_running(a)) || clirun_running(a))
        app_dirty(a);
    loop_timer(lp, 500, on_tick, a);
}

static void app_free(struct app *a)
{
    dbg_close(a); /* asks its job to detach; job_kill_all then waits for it */
    job_kill_all(a);
    procs_close(a);
    snaps_close(a);
    task_free(a);
    clirun_free(a);
    while (a->consoles)
        console_close(a->consoles);
    while (a->watches) {
        struct watch *w = a->watches;
        a->watches = w->next;
        free(w->name);
        free(w->dead_reason);
        free(w->error);
        free(w->notice);
        free(w);
    }
    instance_list_free(a->inst, a->n_inst);
    widget_free(&a->nav->base);
    widget_free(&a->detail->base);
    widget_free(&a->help->base);
    widget_free(&a->status->base);
    widget_free(&a->line->base);
    if (a->store_ok)
        store_close(&a->st);
    loop_free(a->lp);
}

int tui_run(const struct tui_options *opts)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "iotbench: the workbench needs a terminal; in scripts use the "
                        "subcommands (iotbench -h)\n");
        return IB_EINPUT;
    }
    setlocale(LC_ALL, "");
    /* IOTBENCH_TUI_TRACE=FILE logs keys and mouse events (debugging tests). */
    const char *tr = getenv("IOTBENCH_TUI_TRACE");
    trace_file = tr && tr[0] ? fopen(tr, "a") : NULL;
    struct app app;
    memset(&app, 0, sizeof app);
    struct app *a = &app;
    a->opts = *opts;
    a->running = true;
    a->show_nav = true;
    a->show_detail = true;
    a->tiles = TILES_SIDE;
    a->prefix_key = WK_CTRL('b');
    const char *pk = getenv("IOTBENCH_PREFIX");
    char prefix_why[200] = "";
    if (pk && pk[0]) {
        int k = key_parse_prefix(pk, prefix_why, sizeof prefix_why);
        if (k > 0)
            a->prefix_key = k;
    }
    const char *po = getenv("IOTBENCH_PORT_OFFSET");
    a->port_offset = po ? atoi(po) : 0;
    const char *nc = getenv("NO_COLOR");
    a->no_color = nc && nc[0];
    struct ib_error err = {0};
    a->store_ok = store_open(&a->st, NULL, &err) == 0;

    if (pipe2(a->wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        fprintf(stderr, "iotbench: pipe: %s\n", strerror(errno));
        return IB_EFAIL;
    }
    wake_fd = a->wake_pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* Installed before initscr(): ncurses then leaves SIGWINCH to us. */
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    a->lp = loop_new();
    a->nav =
        listview_new((const struct lv_column[]){{"NAME", 0, false}, {"INFO", 8, true}}, 2, true);
    a->nav->empty = "(empty store)";
    a->detail = textview_new();
    a->help = textview_new();
    a->status = statusbar_new();
    a->line = lineedit_new();

    initscr();
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    mouseinterval(0);
    mousemask(BUTTON1_PRESSED | BUTTON1_RELEASED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    curs_set(0);
    /* With NO_COLOR not even start_color(): it would paint the default pair. */
    if (has_colors() && !a->no_color)
        start_color();
    palette_init(a->no_color);
    getmaxyx(stdscr, a->rows, a->cols);

    const char *theme = opts->theme ? opts->theme : getenv("IOTBENCH_THEME");
    if (app_set_theme(a, theme ? theme : "dark", &err) < 0) {
        struct ib_error e2 = {0};
        app_set_theme(a, "mono", &e2);
        app_message(a, true, "%s; using the built-in mono theme", err.msg);
    }
    if (prefix_why[0])
        app_message(a, true, "IOTBENCH_PREFIX ignored, the prefix is C-b: %s", prefix_why);
    if (!a->store_ok)
        app_message(a, true, "store: %s", err.msg);

    nav_refresh(a);
    if (opts->device) {
        nav_select(a, NAV_DEVICE, opts->device);
        int tag;
        const char *sel = nav_selected(a, &tag);
        if (tag != NAV_DEVICE || !sel || strcmp(sel, opts->device) != 0)
            app_message(a, true, "no device named \"%s\" in the store", opts->device);
    }
    app_focus(a, FOCUS_NAV, NULL);
    app_relayout(a);

    loop_watch(a->lp, STDIN_FILENO, LOOP_READ, on_stdin, a);
    loop_watch(a->lp, a->wake_pipe[0], LOOP_READ, on_wake, a);
    loop_timer(a->lp, REFRESH_MS, on_refresh_timer, a);
    loop_timer(a->lp, 500, on_tick, a);
    frame(a);
    while (a->running) {
        if (loop_run_once(a->lp, 1000) < 0 && errno != EINTR)
            break;
        if (got_winch || got_term)
            on_wake(a->lp, a->wake_pipe[0], LOOP_READ, a);
    }
    app_free(a);
    endwin();
    wake_fd = -1;
    close(a->wake_pipe[0]);
    close(a->wake_pipe[1]);
    if (trace_file)
        fclose(trace_file);
    return a->exit_status;
}
