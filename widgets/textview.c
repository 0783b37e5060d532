/* textview.c - see textview.h. */
#include "widgets/textview.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "core/util.h"
#include "widgets/draw.h"

void textview_clear(struct textview *tv, bool keep_scroll)
{
    for (int i = 0; i < tv->n_lines; i++) {
        for (int s = 0; s < tv->lines[i].n_segs; s++)
            free(tv->lines[i].segs[s].text);
        free(tv->lines[i].segs);
    }
    tv->n_lines = 0;
    if (!keep_scroll)
        tv->top = 0;
    tv->base.dirty = true;
}

void textview_line(struct textview *tv)
{
    if (tv->n_lines == tv->cap_lines) {
        tv->cap_lines = tv->cap_lines ? tv->cap_lines * 2 : 32;
        tv->lines = xrealloc(tv->lines, (size_t)tv->cap_lines * sizeof *tv->lines);
    }
    tv->lines[tv->n_lines++] = (struct tv_line){NULL, 0, 0, 0};
    tv->base.dirty = true;
}

void textview_add(struct textview *tv, enum th_element el, const char *fmt, ...)
{
    if (tv->n_lines == 0)
        textview_line(tv);
    struct tv_line *l = &tv->lines[tv->n_lines - 1];
    va_list ap;
    va_start(ap, fmt);
    char *text;
    if (vasprintf(&text, fmt, ap) < 0)
        text = xstrdup("");
    va_end(ap);
    l->segs = xrealloc(l->segs, (size_t)(l->n_segs + 1) * sizeof *l->segs);
    l->segs[l->n_segs++] = (struct tv_seg){el, text};
}

void textview_set_action(struct textview *tv, int action)
{
    if (tv->n_lines > 0)
        tv->lines[tv->n_lines - 1].action = action;
}

void textview_set_indent(struct textview *tv, int indent)
{
    if (tv->n_lines > 0)
        tv->lines[tv->n_lines - 1].indent = indent;
}

char *textview_text(const struct textview *tv)
{
    size_t len = 0;
    for (int i = 0; i < tv->n_lines; i++) {
        for (int s = 0; s < tv->lines[i].n_segs; s++)
            len += strlen(tv->lines[i].segs[s].text);
        len++;
    }
    char *out = xmalloc(len + 1), *p = out;
    for (int i = 0; i < tv->n_lines; i++) {
        for (int s = 0; s < tv->lines[i].n_segs; s++) {
            size_t n = strlen(tv->lines[i].segs[s].text);
            memcpy(p, tv->lines[i].segs[s].text, n);
            p += n;
        }
        *p++ = '\n';
    }
    *p = '\0';
    return out;
}

/* Walks a line's characters placing them on display rows of the given
 * width; with win != NULL draws the rows in [first, first + max). Returns
 * how many display rows the line takes. */
/* Columns of the word (up to a space) starting at t + i. */
static int word_cols(const char *t, size_t i, size_t len)
{
    int cols = 0;
    while (i < len && t[i] != ' ') {
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        wchar_t wc;
        size_t n = mbrtowc(&wc, t + i, len - i, &ps);
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
            n = 1, wc = L'?';
        int cw = wcwidth(wc);
        cols += cw < 0 ? 1 : cw;
        i += n;
    }
    return cols;
}

/* Walks a line's characters placing them on display rows of the given
 * width, breaking between words when a word would not fit (and inside a
 * word longer than a row); with win != NULL draws the rows in
 * [first, first + max). Returns how many display rows the line takes. */
static int layout_line(const struct tv_line *l, int width, WINDOW *win, int y0, int x0, int first,
                       int max)
{
    int row = 0, col = 0;
    int indent = l->indent < width / 2 ? l->indent : 0;
    for (int s = 0; s < l->n_segs; s++) {
        const char *t = l->segs[s].text;
        size_t len = strlen(t);
        for (size_t i = 0; i < len;) {
            if (t[i] != ' ' && (i == 0 || t[i - 1] == ' ') && col > indent) {
                int wc_cols = word_cols(t, i, len);
                if (col + wc_cols > width && wc_cols <= width - indent) {
                    row++;
                    col = indent;
                }
            }
            mbstate_t ps;
            memset(&ps, 0, sizeof ps);
            wchar_t wc;
            size_t n = mbrtowc(&wc, t + i, len - i, &ps);
            if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
                n = 1, wc = L'?';
            int cw = wcwidth(wc);
            if (cw < 0 || wc < 0x20)
                cw = 1, wc = L'?';
            if (cw == 0) {
                i += n;
                continue;
            }
            if (col + cw > width) {
                row++;
                col = indent;
                if (wc == L' ') { /* no space at the start of a continuation */
                    i += n;
                    continue;
                }
            }
            if (win && row >= first && row < first + max)
                draw_char(win, y0 + row - first, x0 + col, l->segs[s].el, wc);
            col += cw;
            i += n;
        }
    }
    return row + 1;
}

int textview_display_rows(const struct textview *tv, int width)
{
    int rows = 0;
    for (int i = 0; i < tv->n_lines; i++)
        rows += layout_line(&tv->lines[i], width, NULL, 0, 0, 0, 0);
    return rows;
}

int textview_rows_before(const struct textview *tv, const char *heading, int width)
{
    int rows = 0;
    for (int i = 0; i < tv->n_lines; i++) {
        const struct tv_line *l = &tv->lines[i];
        if (l->n_segs > 0 && strncmp(l->segs[0].text, heading, strlen(heading)) == 0)
            return rows;
        rows += layout_line(l, width, NULL, 0, 0, 0, 0);
    }
    return 0;
}

static void clamp_top(struct textview *tv)
{
    int total = textview_display_rows(tv, tv->base.r.w - 1);
    if (tv->top > total - tv->base.r.h)
        tv->top = total - tv->base.r.h;
    if (tv->top < 0)
        tv->top = 0;
}

static void textview_draw(struct widget *w, WINDOW *win)
{
    struct textview *tv = (struct textview *)w;
    struct rect r = w->r;
    int width = r.w - 1; /* a margin on the left */
    clamp_top(tv);
    for (int y = 0; y < r.h; y++)
        draw_fill(win, r.y + y, r.x, r.w, TH_NORMAL);
    int row = 0;
    for (int i = 0; i < tv->n_lines && row < tv->top + r.h; i++) {
        int n = layout_line(&tv->lines[i], width, NULL, 0, 0, 0, 0);
        if (row + n > tv->top) {
            int first = tv->top > row ? tv->top - row : 0;
            int y0 = r.y + (row > tv->top ? row - tv->top : 0);
            layout_line(&tv->lines[i], width, win, y0, r.x + 1, first, r.y + r.h - y0);
        }
        row += n;
    }
    int total = textview_display_rows(tv, width);
    if (total > r.h) {
        char more[32];
        snprintf(more, sizeof more, "%d%%", (tv->top + r.h) * 100 / total);
        draw_text(win, r.y + r.h - 1, r.x + r.w - (int)strlen(more), (int)strlen(more), TH_DIM,
                  more);
    }
}

static int textview_key(struct widget *w, int key)
{
    struct textview *tv = (struct textview *)w;
    int old = tv->top;
    switch (key) {
    case WK_FN(KEY_UP):
    case 'k':
        tv->top--;
        break;
    case WK_FN(KEY_DOWN):
    case 'j':
        tv->top++;
        break;
    case WK_FN(KEY_PPAGE):
        tv->top -= w->r.h - 1;
        break;
    case WK_FN(KEY_NPAGE):
    case ' ':
        tv->top += w->r.h - 1;
        break;
    case WK_FN(KEY_HOME):
    case 'g':
        tv->top = 0;
        break;
    case WK_FN(KEY_END):
    case 'G':
        tv->top = 1 << 30;
        break;
    default:
        return WR_IGNORED;
    }
    clamp_top(tv);
    if (tv->top != old)
        w->dirty = true;
    return WR_HANDLED;
}

static int textview_mouse(struct widget *w, const struct wmouse *ev)
{
    struct textview *tv = (struct textview *)w;
    if (ev->kind == WM_WHEEL_UP || ev->kind == WM_WHEEL_DOWN) {
        tv->top += ev->kind == WM_WHEEL_UP ? -3 : 3;
        clamp_top(tv);
        w->dirty = true;
        return WR_HANDLED;
    }
    if (ev->kind != WM_PRESS && ev->kind != WM_CLICK)
        return WR_HANDLED;
    int row = 0, target = tv->top + ev->y;
    for (int i = 0; i < tv->n_lines; i++) {
        int n = layout_line(&tv->lines[i], w->r.w - 1, NULL, 0, 0, 0, 0);
        if (target >= row && target < row + n)
            return tv->lines[i].action ? TV_ACTION + tv->lines[i].action : WR_HANDLED;
        row += n;
    }
    return WR_HANDLED;
}

static void textview_free(struct widget *w)
{
    struct textview *tv = (struct textview *)w;
    textview_clear(tv, false);
    free(tv->lines);
    free(tv);
}

static const struct widget_ops TEXTVIEW_OPS = {
    .kind = "textview",
    .draw = textview_draw,
    .key = textview_key,
    .mouse = textview_mouse,
    .free = textview_free,
};

struct textview *textview_new(void)
{
    struct textview *tv = xcalloc(1, sizeof *tv);
    tv->base.ops = &TEXTVIEW_OPS;
    return tv;
}
