/* statusbar.c - see statusbar.h. */
#include "widgets/statusbar.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "widgets/draw.h"

void statusbar_clear_hints(struct statusbar *sb)
{
    sb->n_hints = 0;
    sb->base.dirty = true;
}

void statusbar_hint(struct statusbar *sb, const char *key, const char *label, int action)
{
    if (sb->n_hints >= (int)IB_ARRAY_LEN(sb->hints))
        return;
    struct sb_hint *h = &sb->hints[sb->n_hints++];
    snprintf(h->key, sizeof h->key, "%s", key);
    snprintf(h->label, sizeof h->label, "%s", label);
    h->action = action;
    h->x0 = h->x1 = -1;
    sb->base.dirty = true;
}

void statusbar_message(struct statusbar *sb, bool error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sb->msg, sizeof sb->msg, fmt, ap);
    va_end(ap);
    /* One line only: a message from a child process may hold newlines. */
    for (char *p = sb->msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    sb->msg_error = error;
    sb->msg_until = ib_now_ms() + (error ? 8000 : 4000);
    sb->base.dirty = true;
}

void statusbar_clear_message(struct statusbar *sb)
{
    if (sb->msg[0] == '\0')
        return;
    sb->msg[0] = '\0';
    sb->msg_until = 0;
    sb->base.dirty = true;
}

void statusbar_progress(struct statusbar *sb, const char *label, double fraction)
{
    snprintf(sb->progress, sizeof sb->progress, "%s", label ? label : "");
    sb->fraction = fraction;
    sb->base.dirty = true;
}

bool statusbar_tick(struct statusbar *sb, int64_t now)
{
    if (sb->msg[0] && sb->msg_until && now >= sb->msg_until) {
        sb->msg[0] = '\0';
        sb->base.dirty = true;
        return true;
    }
    return false;
}

static void statusbar_draw(struct widget *w, WINDOW *win)
{
    struct statusbar *sb = (struct statusbar *)w;
    struct rect r = w->r;
    draw_fill(win, r.y, r.x, r.w, TH_STATUS_BAR);
    /* The progress bar keeps the right end; hints and message share the rest. */
    int pw = 0;
    if (sb->progress[0] && r.w >= 60) {
        pw = r.w / 4 < 32 ? r.w / 4 : 32;
        draw_progress(win, r.y, r.x + r.w - pw, pw, sb->fraction, sb->progress);
        r.w -= pw + 1;
    }
    int msg_w = sb->msg[0] ? draw_text_width(sb->msg) + 2 : 0;
    int limit = r.w - msg_w;
    if (limit < r.w / 3)
        limit = 0; /* a long message takes the whole line */
    int x = r.x;
    for (int i = 0; i < sb->n_hints; i++) {
        struct sb_hint *h = &sb->hints[i];
        int need = draw_text_width(h->key) + 1 + draw_text_width(h->label) + 1;
        if (x - r.x + need > limit) {
            h->x0 = h->x1 = -1;
            continue;
        }
        h->x0 = x;
        x += draw_text(win, r.y, x, r.x + r.w - x, TH_STATUS_KEY, h->key);
        x++;
        x += draw_text(win, r.y, x, r.x + r.w - x, TH_STATUS_BAR, h->label);
        h->x1 = x;
        x++;
    }
    if (sb->msg[0]) {
        int mw = draw_text_width(sb->msg);
        int mx = r.x + r.w - mw - 1;
        if (mx < x)
            mx = limit == 0 ? r.x : x;
        if (limit == 0)
            draw_fill(win, r.y, r.x, r.w, sb->msg_error ? TH_STATUS_ERROR : TH_STATUS_MESSAGE);
        draw_text(win, r.y, mx, r.x + r.w - mx, sb->msg_error ? TH_STATUS_ERROR : TH_STATUS_MESSAGE,
                  sb->msg);
    }
}

static int statusbar_mouse(struct widget *w, const struct wmouse *ev)
{
    struct statusbar *sb = (struct statusbar *)w;
    if (ev->kind != WM_PRESS && ev->kind != WM_CLICK)
        return WR_HANDLED;
    int x = w->r.x + ev->x;
    for (int i = 0; i < sb->n_hints; i++)
        if (sb->hints[i].x0 >= 0 && x >= sb->hints[i].x0 && x < sb->hints[i].x1)
            return SB_ACTION + sb->hints[i].action;
    return WR_HANDLED;
}

static void statusbar_free(struct widget *w)
{
    free(w);
}

static const struct widget_ops STATUSBAR_OPS = {
    .kind = "statusbar",
    .draw = statusbar_draw,
    .mouse = statusbar_mouse,
    .free = statusbar_free,
};

struct statusbar *statusbar_new(void)
{
    struct statusbar *sb = xcalloc(1, sizeof *sb);
    sb->base.ops = &STATUSBAR_OPS;
    return sb;
}
