/* lineedit.c - see lineedit.h. */
#include "widgets/lineedit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "core/util.h"
#include "widgets/draw.h"

void lineedit_open(struct lineedit *le, const char *prompt, const char *initial)
{
    snprintf(le->prompt, sizeof le->prompt, "%s", prompt);
    lineedit_set_text(le, initial ? initial : "");
    le->hist_pos = le->n_history;
    le->active = true;
    le->base.dirty = true;
}

void lineedit_close(struct lineedit *le)
{
    le->active = false;
    le->base.dirty = true;
}

void lineedit_set_text(struct lineedit *le, const char *text)
{
    snprintf(le->text, sizeof le->text, "%s", text);
    le->cur = strlen(le->text);
    le->base.dirty = true;
}

void lineedit_remember(struct lineedit *le)
{
    if (le->text[0] == '\0')
        return;
    if (le->n_history > 0 && strcmp(le->history[le->n_history - 1], le->text) == 0)
        return;
    if (le->n_history == 200) {
        free(le->history[0]);
        memmove(le->history, le->history + 1, 199 * sizeof *le->history);
        le->n_history--;
    }
    le->history = xrealloc(le->history, (size_t)(le->n_history + 1) * sizeof *le->history);
    le->history[le->n_history++] = xstrdup(le->text);
}

static size_t prev_char(const char *s, size_t i)
{
    if (i == 0)
        return 0;
    i--;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

static size_t next_char(const char *s, size_t i)
{
    size_t n = strlen(s);
    if (i >= n)
        return n;
    i++;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static void delete_range(struct lineedit *le, size_t a, size_t b)
{
    memmove(le->text + a, le->text + b, strlen(le->text + b) + 1);
    le->cur = a;
}

static int lineedit_key(struct widget *w, int key)
{
    struct lineedit *le = (struct lineedit *)w;
    size_t len = strlen(le->text);
    w->dirty = true;
    switch (key) {
    case '\r':
    case '\n':
    case WK_FN(KEY_ENTER):
        return LE_SUBMIT;
    case WK_ESC:
    case WK_CTRL('c'):
    case WK_CTRL('g'):
        return LE_CANCEL;
    case '\t':
        return LE_COMPLETE;
    case WK_FN(KEY_LEFT):
    case WK_CTRL('b'):
        le->cur = prev_char(le->text, le->cur);
        return WR_HANDLED;
    case WK_FN(KEY_RIGHT):
    case WK_CTRL('f'):
        le->cur = next_char(le->text, le->cur);
        return WR_HANDLED;
    case WK_FN(KEY_HOME):
    case WK_CTRL('a'):
        le->cur = 0;
        return WR_HANDLED;
    case WK_FN(KEY_END):
    case WK_CTRL('e'):
        le->cur = len;
        return WR_HANDLED;
    case WK_FN(KEY_BACKSPACE):
    case 127:
    case WK_CTRL('h'):
        if (le->cur == 0)
            return len == 0 ? LE_CANCEL : WR_HANDLED;
        delete_range(le, prev_char(le->text, le->cur), le->cur);
        return LE_CHANGED;
    case WK_FN(KEY_DC):
    case WK_CTRL('d'):
        if (le->cur < len)
            delete_range(le, le->cur, next_char(le->text, le->cur));
        return LE_CHANGED;
    case WK_CTRL('u'):
        delete_range(le, 0, le->cur);
        return LE_CHANGED;
    case WK_CTRL('k'):
        le->text[le->cur] = '\0';
        return LE_CHANGED;
    case WK_CTRL('w'): {
        size_t a = le->cur;
        while (a > 0 && le->text[a - 1] == ' ')
            a--;
        while (a > 0 && le->text[a - 1] != ' ')
            a--;
        delete_range(le, a, le->cur);
        return LE_CHANGED;
    }
    case WK_FN(KEY_UP):
    case WK_FN(KEY_DOWN): {
        int pos = le->hist_pos + (key == WK_FN(KEY_UP) ? -1 : 1);
        if (pos < 0 || pos > le->n_history)
            return WR_HANDLED;
        le->hist_pos = pos;
        lineedit_set_text(le, pos == le->n_history ? "" : le->history[pos]);
        return LE_CHANGED;
    }
    default:
        break;
    }
    if (WK_IS_FN(key) || key < 0x20 || key == 0x7f || key > 0x10FFFF)
        return WR_HANDLED;
    char buf[8];
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    size_t n = wcrtomb(buf, (wchar_t)key, &ps);
    if (n == (size_t)-1 || len + n >= sizeof le->text)
        return WR_HANDLED;
    memmove(le->text + le->cur + n, le->text + le->cur, len - le->cur + 1);
    memcpy(le->text + le->cur, buf, n);
    le->cur += n;
    return LE_CHANGED;
}

static int text_cols(const char *s, size_t upto)
{
    char *tmp = xstrndup(s, upto);
    int w = draw_text_width(tmp);
    free(tmp);
    return w;
}

/* Shows the end of a text longer than the field, so the cursor stays visible. */
static size_t first_shown(const struct lineedit *le, int room)
{
    size_t start = 0;
    while (text_cols(le->text + start, le->cur - start) >= room && start < le->cur)
        start = next_char(le->text, start);
    return start;
}

static void lineedit_draw(struct widget *w, WINDOW *win)
{
    struct lineedit *le = (struct lineedit *)w;
    struct rect r = w->r;
    draw_fill(win, r.y, r.x, r.w, TH_NORMAL);
    int x = r.x + draw_text(win, r.y, r.x, r.w, TH_PROMPT, le->prompt);
    int room = r.x + r.w - x;
    if (room <= 0)
        return;
    size_t start = first_shown(le, room);
    draw_fill(win, r.y, x, room, TH_INPUT);
    draw_text(win, r.y, x, room, TH_INPUT, le->text + start);
}

int lineedit_cursor_x(const struct lineedit *le)
{
    int pw = draw_text_width(le->prompt);
    int room = le->base.r.w - pw;
    if (room <= 0)
        return le->base.r.x + le->base.r.w - 1;
    size_t start = first_shown(le, room);
    return le->base.r.x + pw + text_cols(le->text + start, le->cur - start);
}

static int lineedit_mouse(struct widget *w, const struct wmouse *ev)
{
    (void)w;
    (void)ev;
    return WR_HANDLED;
}

static void lineedit_free(struct widget *w)
{
    struct lineedit *le = (struct lineedit *)w;
    for (int i = 0; i < le->n_history; i++)
        free(le->history[i]);
    free(le->history);
    free(le);
}

static const struct widget_ops LINEEDIT_OPS = {
    .kind = "lineedit",
    .draw = lineedit_draw,
    .key = lineedit_key,
    .mouse = lineedit_mouse,
    .free = lineedit_free,
};

struct lineedit *lineedit_new(void)
{
    struct lineedit *le = xcalloc(1, sizeof *le);
    le->base.ops = &LINEEDIT_OPS;
    return le;
}
