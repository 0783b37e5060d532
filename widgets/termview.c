/* termview.c - see termview.h. */
#include "widgets/termview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "core/util.h"
#include "widgets/palette.h"

/* A scrollback line: runs of cells sharing attributes, then the UTF-8 text
 * of the cells: per cell its character, each combining mark after a 0x02
 * byte, and 0x01 when the character is wide (its right half has no text of
 * its own). An empty cell is a space; trailing blank cells are not kept.
 * The markers make decoding independent of the locale's wcwidth(). */
#define SB_COMBINING 0x02
#define SB_WIDE 0x01
struct sb_run {
    uint16_t cells;
    uint8_t attrs;
    uint8_t pad;
    int16_t fg, bg;
};

struct sb_line {
    uint16_t n_cells;
    uint16_t n_runs;
    uint32_t text_len;
    struct sb_run runs[];
    /* char text[text_len] follows runs[n_runs] */
};

static const char *sb_text(const struct sb_line *l)
{
    return (const char *)(l->runs + l->n_runs);
}

static int colour_of(const VTermColor *c, bool fg)
{
    if (fg ? VTERM_COLOR_IS_DEFAULT_FG(c) : VTERM_COLOR_IS_DEFAULT_BG(c))
        return -1;
    if (VTERM_COLOR_IS_INDEXED(c))
        return c->indexed.idx;
    return palette_rgb_to_256(c->rgb.red, c->rgb.green, c->rgb.blue);
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
        cp = '?';
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one code point; malformed input yields '?' and moves one byte. */
static size_t get_utf8(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0) {
        *cp = 0;
        return 0;
    }
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    int n = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC0 ? 2 : 0;
    if (n == 0 || (size_t)n > len) {
        *cp = '?';
        return 1;
    }
    uint32_t v = u[0] & (0x7F >> n);
    for (int i = 1; i < n; i++)
        v = (v << 6) | (u[i] & 0x3F);
    *cp = v;
    return (size_t)n;
}

/*
 * The grid. libvterm's screen layer keeps 40-byte cells and memmoves the
 * whole buffer for every scrolled line (measured: 12 MB/s at 200x50, the
 * state layer alone parses 75 MB/s), so the widget keeps its own cells on
 * top of the state layer: 16 bytes a cell, rows as pointers, a scroll moves
 * pointers. Two grids: the main screen and the alternate one.
 */
struct gcell {
    uint32_t ch;    /* 0: the right half of a wide character */
    uint32_t comb;  /* one combining mark, or 0 */
    int16_t fg, bg; /* xterm 256 colours, -1 default */
    uint8_t width;  /* 1 or 2 (0 for a right half) */
    uint8_t attrs;  /* TVA_* */
};

/* A narrower pane keeps each row's cells past its width (cap >= cols):
 * there is no reflow, so widening it again shows lines whole, as a wider
 * terminal would have kept them. An erase to the end of a row clears them. */
struct grid {
    struct gcell **line;
    int rows, cols;
    int cap; /* cells allocated per row */
};

static struct grid *cur(const struct termview *tv)
{
    return tv->altscreen ? tv->grid[1] : tv->grid[0];
}

static struct gcell blank_cell(const struct termview *tv)
{
    return (struct gcell){' ', 0, -1, tv->pen_bg, 1, 0};
}

static void fill_cells(struct gcell *c, int n, struct gcell v)
{
    for (int i = 0; i < n; i++)
        c[i] = v;
}

static struct grid *grid_new(int rows, int cols)
{
    struct grid *g = xcalloc(1, sizeof *g);
    g->rows = rows;
    g->cols = cols;
    g->cap = cols;
    g->line = xcalloc((size_t)rows, sizeof *g->line);
    struct gcell b = {' ', 0, -1, -1, 1, 0};
    for (int r = 0; r < rows; r++) {
        g->line[r] = xmalloc((size_t)cols * sizeof(struct gcell));
        fill_cells(g->line[r], cols, b);
    }
    return g;
}

static void grid_free(struct grid *g)
{
    if (!g)
        return;
    for (int r = 0; r < g->rows; r++)
        free(g->line[r]);
    free(g->line);
    free(g);
}

static bool gcell_blank(const struct gcell *c)
{
    return (c->ch == ' ' || c->ch == 0) && c->width == 1 && c->bg < 0 &&
           !(c->attrs & (TVA_REVERSE | TVA_UNDERLINE));
}

static struct sb_line *line_encode(int cols, const struct gcell *cells)
{
    int n = cols;
    while (n > 0 && gcell_blank(&cells[n - 1]))
        n--;
    /* Sizes first, so each line is one exact allocation. */
    int runs = 0;
    size_t need = 0;
    for (int i = 0; i < n; i++) {
        const struct gcell *c = &cells[i];
        if (i == 0 || c->attrs != cells[i - 1].attrs || c->fg != cells[i - 1].fg ||
            c->bg != cells[i - 1].bg)
            runs++;
        if (c->width == 0)
            continue;
        char tmp[4];
        need += c->ch < 0x80 ? 1 : put_utf8(tmp, c->ch);
        need += c->comb ? 1 + put_utf8(tmp, c->comb) : 0;
        need += c->width == 2;
    }
    struct sb_line *l = xmalloc(sizeof *l + (size_t)runs * sizeof(struct sb_run) + need);
    l->n_cells = (uint16_t)n;
    l->n_runs = 0;
    char *t = (char *)(l->runs + runs);
    size_t tl = 0;
    for (int i = 0; i < n; i++) {
        const struct gcell *c = &cells[i];
        struct sb_run *r = l->n_runs ? &l->runs[l->n_runs - 1] : NULL;
        if (r == NULL || r->attrs != c->attrs || r->fg != c->fg || r->bg != c->bg) {
            r = &l->runs[l->n_runs++];
            *r = (struct sb_run){0, c->attrs, 0, c->fg, c->bg};
        }
        r->cells++;
        if (c->width == 0)
            continue;
        if (c->ch < 0x80) {
            t[tl++] = c->ch ? (char)c->ch : ' ';
        } else {
            tl += put_utf8(t + tl, c->ch);
        }
        if (c->comb) {
            t[tl++] = SB_COMBINING;
            tl += put_utf8(t + tl, c->comb);
        }
        if (c->width == 2)
            t[tl++] = SB_WIDE;
    }
    l->text_len = (uint32_t)tl;
    return l;
}

static size_t sb_line_size(const struct sb_line *l)
{
    return sizeof *l + l->n_runs * sizeof(struct sb_run) + l->text_len;
}

/* Walks a scrollback line cell by cell. */
struct line_walk {
    const struct sb_line *l;
    int run, left; /* current run and cells left in it */
    size_t pos;
    int col;
};

static void walk_start(struct line_walk *w, const struct sb_line *l)
{
    *w = (struct line_walk){l, 0, l->n_runs ? l->runs[0].cells : 0, 0, 0};
}

/* Next cell; false past the end. chars gets up to max code points. */
static bool walk_next(struct line_walk *w, struct tv_cell *c, uint32_t *chars, int max,
                      int *n_chars)
{
    const struct sb_line *l = w->l;
    while (w->left == 0) {
        if (++w->run >= l->n_runs)
            return false;
        w->left = l->runs[w->run].cells;
    }
    const struct sb_run *r = &l->runs[w->run];
    const char *t = sb_text(l);
    uint32_t cp;
    size_t n = get_utf8(t + w->pos, l->text_len - w->pos, &cp);
    w->pos += n;
    int k = 0;
    if (max > 0)
        chars[k++] = cp ? cp : ' ';
    /* Combining marks that follow belong to this cell. */
    while (w->pos < l->text_len && t[w->pos] == SB_COMBINING) {
        uint32_t next;
        w->pos++;
        w->pos += get_utf8(t + w->pos, l->text_len - w->pos, &next);
        if (k < max)
            chars[k++] = next;
    }
    int width = 1;
    if (w->pos < l->text_len && t[w->pos] == SB_WIDE) {
        width = 2;
        w->pos++;
    }
    if (width > w->left)
        width = w->left;
    *c = (struct tv_cell){cp ? cp : ' ', width, r->fg, r->bg, r->attrs};
    if (n_chars)
        *n_chars = k;
    w->left -= width;
    w->col += width;
    return true;
}

static const struct sb_line *sb_get(const struct termview *tv, size_t i)
{
    return tv->sb[(tv->sb_head + i) % tv->sb_cap];
}

static void mark_all(struct termview *tv)
{
    memset(tv->dirty, 1, (size_t)tv->rows);
    tv->any_dirty = true;
    tv->base.dirty = true;
}

static void mark_rows(struct termview *tv, int from, int to)
{
    if (tv->offset > 0) {
        mark_all(tv); /* the view is shifted: repaint it all */
        return;
    }
    if (from < 0)
        from = 0;
    for (int r = from; r < to && r < tv->rows; r++)
        tv->dirty[r] = 1;
    tv->any_dirty = true;
}

/* A line that scrolls off the top of the main screen. */
static void sb_push(struct termview *tv, const struct gcell *cells, int cols)
{
    if (tv->sb_cap == 0)
        return;
    struct sb_line *l = line_encode(cols, cells);
    if (tv->sb_count == tv->sb_cap) {
        struct sb_line **slot = &tv->sb[tv->sb_head];
        tv->sb_bytes -= sb_line_size(*slot);
        free(*slot);
        *slot = l;
        tv->sb_head = (tv->sb_head + 1) % tv->sb_cap;
        tv->sb_dropped++;
    } else {
        tv->sb[(tv->sb_head + tv->sb_count) % tv->sb_cap] = l;
        tv->sb_count++;
    }
    tv->sb_bytes += sb_line_size(l);
    /* Someone reading history keeps seeing the same lines. */
    if (tv->offset > 0 && tv->offset < (int)tv->sb_count)
        tv->offset++;
}

/* The newest scrollback line back into cells (the screen grew taller). */
static bool sb_pop(struct termview *tv, struct gcell *cells, int cols)
{
    if (tv->sb_count == 0)
        return false;
    size_t idx = (tv->sb_head + tv->sb_count - 1) % tv->sb_cap;
    struct sb_line *l = tv->sb[idx];
    struct gcell b = {' ', 0, -1, -1, 1, 0};
    fill_cells(cells, cols, b);
    struct line_walk w;
    walk_start(&w, l);
    struct tv_cell c;
    uint32_t chars[2];
    int nch;
    while (w.col < cols) {
        int col = w.col;
        if (!walk_next(&w, &c, chars, 2, &nch))
            break;
        if (col + c.width > cols)
            break;
        cells[col] = (struct gcell){c.ch,          nch > 1 ? chars[1] : 0, (int16_t)c.fg,
                                    (int16_t)c.bg, (uint8_t)c.width,       (uint8_t)c.attrs};
        if (c.width == 2)
            cells[col + 1] =
                (struct gcell){0, 0, (int16_t)c.fg, (int16_t)c.bg, 0, (uint8_t)c.attrs};
    }
    tv->sb_bytes -= sb_line_size(l);
    free(l);
    tv->sb_count--;
    if (tv->offset > (int)tv->sb_count)
        tv->offset = (int)tv->sb_count;
    return true;
}

/* ---- the state layer's callbacks ---- */

static int on_putglyph(VTermGlyphInfo *info, VTermPos pos, void *user)
{
    struct termview *tv = user;
    struct grid *g = cur(tv);
    if (pos.row < 0 || pos.row >= g->rows || pos.col < 0 || pos.col >= g->cols)
        return 1;
    struct gcell *c = &g->line[pos.row][pos.col];
    uint32_t ch = info->chars[0];
    *c = (struct gcell){ch,
                        ch ? info->chars[1] : 0,
                        tv->pen_fg,
                        tv->pen_bg,
                        (uint8_t)(info->width == 2 ? 2 : 1),
                        tv->pen_attrs};
    if (info->width == 2 && pos.col + 1 < g->cols)
        c[1] = (struct gcell){0, 0, tv->pen_fg, tv->pen_bg, 0, tv->pen_attrs};
    mark_rows(tv, pos.row, pos.row + 1);
    return 1;
}

static int on_movecursor(VTermPos pos, VTermPos old, int visible, void *user)
{
    struct termview *tv = user;
    (void)old;
    /* libvterm 0.1.4 can report column -1 on a one-column screen (found
     * by fuzzing): the cursor the rest of the widget sees is on screen. */
    if (pos.row < 0)
        pos.row = 0;
    if (pos.col < 0)
        pos.col = 0;
    tv->cursor = pos;
    tv->cursor_visible = visible;
    tv->any_dirty = true;
    return 1;
}

static int on_scrollrect(VTermRect rect, int down, int right, void *user)
{
    struct termview *tv = user;
    struct grid *g = cur(tv);
    /* Whole rows only; anything else goes through moverect + erase. */
    if (right != 0 || rect.start_col != 0 || rect.end_col != g->cols || down == 0)
        return 0;
    int top = rect.start_row, bot = rect.end_row, h = bot - top;
    if (top < 0 || bot > g->rows || h <= 0)
        return 1;
    int n = down > 0 ? down : -down;
    if (n > h)
        n = h;
    struct gcell b = blank_cell(tv);
    struct gcell **tmp = xmalloc((size_t)n * sizeof *tmp);
    if (down > 0) {
        if (top == 0 && !tv->altscreen)
            for (int i = 0; i < n; i++)
                sb_push(tv, g->line[i], g->cap);
        memcpy(tmp, g->line + top, (size_t)n * sizeof *tmp);
        memmove(g->line + top, g->line + top + n, (size_t)(h - n) * sizeof *tmp);
        memcpy(g->line + bot - n, tmp, (size_t)n * sizeof *tmp);
        for (int i = 0; i < n; i++)
            fill_cells(g->line[bot - n + i], g->cap, b);
    } else {
        memcpy(tmp, g->line + bot - n, (size_t)n * sizeof *tmp);
        memmove(g->line + top + n, g->line + top, (size_t)(h - n) * sizeof *tmp);
        memcpy(g->line + top, tmp, (size_t)n * sizeof *tmp);
        for (int i = 0; i < n; i++)
            fill_cells(g->line[top + i], g->cap, b);
    }
    free(tmp);
    mark_rows(tv, top, bot);
    return 1;
}

static int on_moverect(VTermRect dest, VTermRect src, void *user)
{
    struct termview *tv = user;
    struct grid *g = cur(tv);
    int h = src.end_row - src.start_row, w = src.end_col - src.start_col;
    /* libvterm 0.1.4 can hand over columns past the grid (after resizes
     * with margins: found by fuzzing): keep both rectangles inside it. */
    int sc = src.start_col, dc = dest.start_col;
    int shift = sc < dc ? -sc : -dc;
    if (shift > 0) {
        sc += shift;
        dc += shift;
        w -= shift;
    }
    int room = g->cap - (sc > dc ? sc : dc);
    if (w > room)
        w = room;
    if (h <= 0 || w <= 0)
        return 1;
    /* Copy in the order that never reads a row already overwritten. */
    bool up = dest.start_row < src.start_row;
    for (int i = 0; i < h; i++) {
        int k = up ? i : h - 1 - i;
        int sr = src.start_row + k, dr = dest.start_row + k;
        if (sr < 0 || sr >= g->rows || dr < 0 || dr >= g->rows)
            continue;
        memmove(&g->line[dr][dc], &g->line[sr][sc], (size_t)w * sizeof(struct gcell));
    }
    mark_rows(tv, dest.start_row, dest.end_row);
    return 1;
}

static int on_erase(VTermRect rect, int selective, void *user)
{
    struct termview *tv = user;
    struct grid *g = cur(tv);
    (void)selective;
    struct gcell b = blank_cell(tv);
    for (int r = rect.start_row; r < rect.end_row && r < g->rows; r++) {
        if (r < 0)
            continue;
        int from = rect.start_col < 0 ? 0 : rect.start_col;
        /* to the end of the row: the hidden part too */
        int to = rect.end_col >= g->cols ? g->cap : rect.end_col;
        if (to > from)
            fill_cells(&g->line[r][from], to - from, b);
    }
    mark_rows(tv, rect.start_row, rect.end_row);
    return 1;
}

static int on_initpen(void *user)
{
    struct termview *tv = user;
    tv->pen_attrs = 0;
    tv->pen_fg = tv->pen_bg = -1;
    return 1;
}

static int on_setpenattr(VTermAttr attr, VTermValue *val, void *user)
{
    struct termview *tv = user;
    unsigned bit = 0;
    switch (attr) {
    case VTERM_ATTR_BOLD:
        bit = TVA_BOLD;
        break;
    case VTERM_ATTR_UNDERLINE:
        bit = TVA_UNDERLINE;
        break;
    case VTERM_ATTR_ITALIC:
        bit = TVA_ITALIC;
        break;
    case VTERM_ATTR_BLINK:
        bit = TVA_BLINK;
        break;
    case VTERM_ATTR_REVERSE:
        bit = TVA_REVERSE;
        break;
    case VTERM_ATTR_STRIKE:
        bit = TVA_STRIKE;
        break;
    case VTERM_ATTR_FOREGROUND:
        tv->pen_fg = (int16_t)colour_of(&val->color, true);
        return 1;
    case VTERM_ATTR_BACKGROUND:
        tv->pen_bg = (int16_t)colour_of(&val->color, false);
        return 1;
    default:
        return 1;
    }
    /* UNDERLINE is a number (0 off, 1 single, 2 double, 3 curly), the rest booleans. */
    int on = attr == VTERM_ATTR_UNDERLINE ? val->number != 0 : val->boolean;
    if (on)
        tv->pen_attrs |= (uint8_t)bit;
    else
        tv->pen_attrs &= (uint8_t)~bit;
    return 1;
}

static int on_settermprop(VTermProp prop, VTermValue *val, void *user)
{
    struct termview *tv = user;
    switch (prop) {
    case VTERM_PROP_TITLE: {
        /* Kept for the pane's title only, printable characters only. */
        size_t j = 0;
        for (const char *p = val->string; p && *p && j + 1 < sizeof tv->title; p++)
            if ((unsigned char)*p >= 0x20 && *p != 0x7f)
                tv->title[j++] = *p;
        tv->title[j] = '\0';
        break;
    }
    case VTERM_PROP_ALTSCREEN: {
        bool on = val->boolean;
        if (on == tv->altscreen)
            break;
        tv->altscreen = on;
        if (on) { /* a fresh alternate screen each time */
            struct gcell b = {' ', 0, -1, -1, 1, 0};
            struct grid *g = tv->grid[1];
            for (int r = 0; r < g->rows; r++)
                fill_cells(g->line[r], g->cap, b);
        }
        mark_all(tv);
        break;
    }
    case VTERM_PROP_CURSORVISIBLE:
        tv->cursor_visible = val->boolean;
        break;
    default:
        break;
    }
    return 1;
}

static int on_setlineinfo(int row, const VTermLineInfo *n, const VTermLineInfo *o, void *user)
{
    (void)row, (void)n, (void)o, (void)user;
    return 1;
}

/* A row count or width change. The main screen: rows that no longer fit
 * above the cursor go to the scrollback (blank rows below the cursor are
 * simply dropped first); a taller screen takes lines back from it. */
static void grid_resize(struct termview *tv, struct grid *g, int rows, int cols, bool main,
                        VTermPos *delta)
{
    struct gcell b = {' ', 0, -1, -1, 1, 0};
    if (cols > g->cap) {
        for (int r = 0; r < g->rows; r++) {
            g->line[r] = xrealloc(g->line[r], (size_t)cols * sizeof(struct gcell));
            fill_cells(g->line[r] + g->cap, cols - g->cap, b);
        }
        g->cap = cols;
    }
    g->cols = cols;
    if (rows < g->rows) {
        int drop = g->rows - rows;
        int crow = delta ? tv->cursor.row : g->rows - 1; /* the inactive grid: its bottom */
        /* 1. blank rows at the bottom, below the cursor */
        while (drop > 0 && g->rows - 1 > crow) {
            struct gcell *l = g->line[g->rows - 1];
            bool blank = true;
            for (int c = 0; c < g->cols && blank; c++)
                blank = gcell_blank(&l[c]);
            if (!blank)
                break;
            free(l);
            g->rows--;
            drop--;
        }
        /* 2. rows above the cursor, into the scrollback */
        int top = drop < crow ? drop : (crow > 0 ? crow : 0);
        for (int i = 0; i < top; i++) {
            if (main)
                sb_push(tv, g->line[i], g->cap);
            free(g->line[i]);
        }
        memmove(g->line, g->line + top, (size_t)(g->rows - top) * sizeof *g->line);
        g->rows -= top;
        drop -= top;
        if (delta)
            delta->row -= top;
        /* 3. what is left goes from the bottom, below the cursor */
        for (; drop > 0; drop--)
            free(g->line[--g->rows]);
    }
    if (rows > g->rows) {
        g->line = xrealloc(g->line, (size_t)rows * sizeof *g->line);
        int grow = rows - g->rows, popped = 0;
        if (main) {
            /* lines come back from the scrollback at the top */
            struct gcell *tmp = xmalloc((size_t)g->cap * sizeof *tmp);
            while (popped < grow && sb_pop(tv, tmp, g->cap)) {
                memmove(g->line + 1, g->line, (size_t)(g->rows + popped) * sizeof *g->line);
                g->line[0] = tmp;
                popped++;
                tmp = xmalloc((size_t)g->cap * sizeof *tmp);
            }
            free(tmp);
            if (delta)
                delta->row += popped;
        }
        for (int r = g->rows + popped; r < rows; r++) {
            g->line[r] = xmalloc((size_t)g->cap * sizeof(struct gcell));
            fill_cells(g->line[r], g->cap, b);
        }
        g->rows = rows;
    }
}

static int on_resize(int rows, int cols, VTermPos *delta, void *user)
{
    struct termview *tv = user;
    /* delta is given to the screen in use only (its cursor is tv->cursor). */
    grid_resize(tv, tv->grid[0], rows, cols, true, tv->altscreen ? NULL : delta);
    grid_resize(tv, tv->grid[1], rows, cols, false, tv->altscreen ? delta : NULL);
    mark_all(tv);
    return 1;
}

static const VTermStateCallbacks STATE_CBS = {
    .putglyph = on_putglyph,
    .movecursor = on_movecursor,
    .scrollrect = on_scrollrect,
    .moverect = on_moverect,
    .erase = on_erase,
    .initpen = on_initpen,
    .setpenattr = on_setpenattr,
    .settermprop = on_settermprop,
    .setlineinfo = on_setlineinfo,
    .resize = on_resize,
};

static void on_output(const char *s, size_t len, void *user)
{
    struct termview *tv = user;
    if (!tv->mute && tv->out_fn)
        tv->out_fn(s, len, tv->out_arg);
}

void termview_set_output(struct termview *tv, termview_output_fn fn, void *arg)
{
    tv->out_fn = fn;
    tv->out_arg = arg;
}

void termview_set_mute(struct termview *tv, bool mute)
{
    tv->mute = mute;
}

/*
 * libvterm 0.1.4 writes past its CSI argument array when a sequence has
 * more than 16 parameters (measured: 20 ';' crash it), so every CSI -
 * ESC [ or the C1 form U+009B - is held back until its final byte and
 * dropped whole when it has too many parameters or grows too long. Plain
 * text goes straight through.
 */
#define GUARD_MAX_PARAMS 15
#define GUARD_MAX_LEN 200

/* G_STR: an OSC, DCS, APC, PM or SOS string is held here until its end
 * (BEL or ST) and only a printable OSC 0/2 (the window title) goes on, whole
 * from this buffer: libvterm 0.1.4 reads past the bytes of a string that
 * arrives split (a stack over-read found by fuzzing), and nothing else in
 * a string is for us. G_CHARSET: ESC ( ) * + pass only with a character set
 * libvterm knows (an unknown one made vterm_input_write() spin forever). */
enum { G_GROUND, G_ESC, G_ESC_INT, G_C2, G_CSI, G_DROP, G_STR, G_STR_ESC, G_CHARSET };

/* libvterm 0.1.4 decodes a write's text into a stack array sized by the
 * write (valgrind: invalid stack writes for a 1 MB line; a few MB would
 * overflow the stack), so it gets bounded slices. */
#define GUARD_SLICE 4096

static void guard_emit(struct termview *tv, const char *b, size_t n)
{
    while (n > 0) {
        size_t k = n < GUARD_SLICE ? n : GUARD_SLICE;
        vterm_input_write(tv->vt, b, k);
        b += k;
        n -= k;
    }
}

/* REP (CSI n b): repeats the last graphic character. libvterm 0.1.4's own
 * REP loops forever when there is no previous character (measured: a hang
 * on "ESC [?1049h ESC [3b"), so it never sees one: the guard expands it
 * here (first parameter, at most a screenful) or drops it. */
static bool guard_rep(struct termview *tv)
{
    size_t intro = 2; /* ESC [ or the two bytes of U+009B */
    for (size_t k = intro; k + 1 < tv->g_len; k++) {
        char ch = tv->g_seq[k];
        if (!((ch >= '0' && ch <= '9') || ch == ';' || ch == ':'))
            return false; /* private markers or intermediates: not REP */
    }
    if (tv->g_last_len == 0)
        return true;
    long n = strtol(tv->g_seq + intro, NULL, 10);
    long max = (long)tv->rows * tv->cols;
    if (n < 1)
        n = 1;
    if (n > max)
        n = max;
    char buf[256];
    size_t fill = 0;
    for (long i = 0; i < n; i++) {
        if (fill + tv->g_last_len > sizeof buf) {
            guard_emit(tv, buf, fill);
            fill = 0;
        }
        memcpy(buf + fill, tv->g_last, tv->g_last_len);
        fill += tv->g_last_len;
    }
    guard_emit(tv, buf, fill);
    return true;
}

/* Remembers the last graphic character of a run of text (for REP). */
static void guard_note_last(struct termview *tv, const unsigned char *p, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        unsigned char c = p[i - 1];
        if ((c & 0xC0) == 0x80)
            continue;
        if (c < 0x20 || c == 0x7f)
            return; /* a control ends the run: keep what was there */
        size_t len = n - (i - 1);
        if (len <= sizeof tv->g_last) {
            memcpy(tv->g_last, p + i - 1, len);
            tv->g_last_len = len;
        }
        return;
    }
}

static void guard_csi_start(struct termview *tv, const char *intro, size_t n)
{
    tv->g_state = G_CSI;
    memcpy(tv->g_seq, intro, n);
    tv->g_len = n;
    tv->g_params = 0;
}

static void guard_str_start(struct termview *tv, unsigned char kind)
{
    tv->g_state = G_STR;
    tv->g_seq[0] = '\033';
    tv->g_seq[1] = (char)kind; /* ']' 'P' '_' '^' or 'X' */
    tv->g_len = 2;
    tv->g_str_ok = kind == ']';
}

static void guard_str_end(struct termview *tv)
{
    tv->g_state = G_GROUND;
    const char *body = tv->g_seq + 2;
    size_t n = tv->g_len - 2;
    bool title = tv->g_str_ok && n >= 2 && (body[0] == '0' || body[0] == '2') && body[1] == ';';
    if (!title) {
        tv->g_dropped++;
        return;
    }
    tv->g_seq[tv->g_len] = '\a';
    guard_emit(tv, tv->g_seq, tv->g_len + 1);
}

static void guard_str_byte(struct termview *tv, unsigned char c)
{
    if (c == 0x07) {
        guard_str_end(tv);
        return;
    }
    if (c == 0x1b) {
        tv->g_state = G_STR_ESC;
        return;
    }
    if (c == 0x9c && tv->g_len > 2 && (unsigned char)tv->g_seq[tv->g_len - 1] == 0xc2) {
        tv->g_len--; /* ST as UTF-8 C1 */
        guard_str_end(tv);
        return;
    }
    if (c < 0x20 || c == 0x7f)
        tv->g_str_ok = false; /* controls inside a title: not one we pass */
    if (tv->g_len + 2 < sizeof tv->g_seq)
        tv->g_seq[tv->g_len++] = (char)c;
    else
        tv->g_str_ok = false; /* too long to be a title worth keeping */
}

static void guard_byte(struct termview *tv, unsigned char c);

static void guard_str_esc(struct termview *tv, unsigned char c)
{
    if (c == '\\') {
        guard_str_end(tv);
        return;
    }
    /* ESC and something else: the string is abandoned, and that ESC starts
     * a new sequence. */
    tv->g_dropped++;
    tv->g_state = G_ESC;
    guard_byte(tv, c);
}

static void guard_charset(struct termview *tv, unsigned char c)
{
    tv->g_state = G_GROUND;
    if (c == 'B' || c == '0' || c == 'A') {
        tv->g_seq[2] = (char)c;
        guard_emit(tv, tv->g_seq, 3);
        return;
    }
    tv->g_dropped++;
    if (c == 0x1b)
        tv->g_state = G_ESC;
}

static void guard_byte(struct termview *tv, unsigned char c);

/* A byte that cannot go on an escape sequence held in g_seq (DEL or past
 * ASCII): the sequence is dropped, and the byte goes on as if the sequence
 * had never begun - libvterm would skip it and go on with the sequence
 * ("ESC 0xBC [" was its CSI: fuzzing), which the guard could not follow. */
static void guard_esc_abandon(struct termview *tv, unsigned char c)
{
    tv->g_dropped++;
    tv->g_state = G_GROUND;
    if (c == 0xc2)
        tv->g_state = G_C2;
    else
        guard_emit(tv, (const char *)&c, 1);
}

/* An escape sequence with intermediates, held until its final byte.
 * libvterm 0.1.4 still starts a CSI or a string at "ESC . [" (fuzzing:
 * 17 parameters behind one then crashed it, the guard having let the
 * '[' through as text), so an introducer after intermediates drops them
 * and is taken as ESC [, ESC ] ... and guarded as such. Other sequences go
 * whole at their final byte. */
static void guard_esc_int(struct termview *tv, unsigned char c)
{
    if (c < 0x20 && c != 0x1b) {
        guard_emit(tv, (const char *)&c, 1); /* run inside, as in G_ESC */
        if (c == 0x18 || c == 0x1a)
            tv->g_state = G_GROUND;
        return;
    }
    if (c == 0x1b) {
        tv->g_dropped++;
        tv->g_state = G_ESC;
        return;
    }
    if (c <= 0x2f) {
        if (tv->g_len >= GUARD_MAX_LEN) {
            tv->g_dropped++;
            tv->g_state = G_GROUND;
            return;
        }
        tv->g_seq[tv->g_len++] = (char)c;
        return;
    }
    if (c == '[' || c == ']' || c == 'P' || c == '_' || c == '^' || c == 'X') {
        tv->g_dropped++;
        tv->g_state = G_ESC;
        guard_byte(tv, c);
        return;
    }
    if (c > 0x7e) {
        guard_esc_abandon(tv, c);
        return;
    }
    tv->g_state = G_GROUND;
    tv->g_seq[tv->g_len++] = (char)c;
    guard_emit(tv, tv->g_seq, tv->g_len);
}

static void guard_byte(struct termview *tv, unsigned char c)
{
    switch (tv->g_state) {
    case G_ESC:
        if (c < 0x20 && c != 0x1b) {
            /* libvterm runs a C0 control met inside an escape sequence and
             * goes on with the sequence ("ESC NUL [ b" is its CSI b, a REP
             * that hung it: found by fuzzing). The ESC is still held here,
             * so the control goes alone and the sequence goes on; CAN and
             * SUB abandon it, as in G_CSI. */
            guard_emit(tv, (const char *)&c, 1);
            if (c == 0x18 || c == 0x1a)
                tv->g_state = G_GROUND;
            return;
        }
        if (c == '[') {
            guard_csi_start(tv, "\033[", 2);
            return;
        }
        if (c == ']' || c == 'P' || c == '_' || c == '^' || c == 'X') {
            guard_str_start(tv, c);
            return;
        }
        if (c == '(' || c == ')' || c == '*' || c == '+') {
            tv->g_state = G_CHARSET;
            tv->g_seq[0] = '\033';
            tv->g_seq[1] = (char)c;
            return;
        }
        if (c > 0x7e) {
            guard_esc_abandon(tv, c);
            return;
        }
        if (c >= 0x20 && c <= 0x2f) { /* intermediates: ESC # 8, ESC SP F ... */
            tv->g_state = G_ESC_INT;
            tv->g_seq[0] = '\033';
            tv->g_seq[1] = (char)c;
            tv->g_len = 2;
            return;
        }
        tv->g_state = G_GROUND;
        if (c == 0x1b) {
            guard_emit(tv, "\033", 1);
            tv->g_state = G_ESC;
            return;
        }
        tv->g_seq[0] = '\033';
        tv->g_seq[1] = (char)c;
        guard_emit(tv, tv->g_seq, 2); /* whole, from our buffer */
        return;
    case G_ESC_INT:
        guard_esc_int(tv, c);
        return;
    case G_C2:
        if (c == 0x9b) {
            guard_csi_start(tv, "\xc2\x9b", 2);
            return;
        }
        if (c == 0x9d || c == 0x90 || c == 0x9f || c == 0x9e || c == 0x98) {
            /* OSC, DCS, APC, PM, SOS as UTF-8 C1: as their ESC forms */
            guard_str_start(tv, c == 0x9d ? ']' : c == 0x90 ? 'P' : c == 0x9f ? '_'
                                : c == 0x9e ? '^' : 'X');
            return;
        }
        tv->g_state = G_GROUND;
        if (c == 0x1b || c == 0xc2) {
            guard_emit(tv, "\xc2", 1);
            tv->g_state = c == 0x1b ? G_ESC : G_C2;
            return;
        }
        tv->g_seq[0] = (char)0xc2;
        tv->g_seq[1] = (char)c;
        guard_emit(tv, tv->g_seq, 2);
        return;
    case G_STR:
        guard_str_byte(tv, c);
        return;
    case G_STR_ESC:
        guard_str_esc(tv, c);
        return;
    case G_CHARSET:
        guard_charset(tv, c);
        return;
    case G_CSI:
    case G_DROP:
        if (c == 0x18 || c == 0x1a) { /* CAN, SUB: the sequence is abandoned */
            tv->g_state = G_GROUND;
            return;
        }
        if (c == 0x1b) {
            tv->g_state = G_ESC;
            return;
        }
        if (tv->g_state == G_DROP) {
            if (c >= 0x40 && c <= 0x7e)
                tv->g_state = G_GROUND;
            return;
        }
        if (c == ';' || c == ':')
            tv->g_params++;
        if (tv->g_params > GUARD_MAX_PARAMS || tv->g_len >= GUARD_MAX_LEN) {
            tv->g_state = (c >= 0x40 && c <= 0x7e) ? G_GROUND : G_DROP;
            tv->g_dropped++;
            return;
        }
        tv->g_seq[tv->g_len++] = (char)c;
        if (c >= 0x40 && c <= 0x7e) {
            tv->g_state = G_GROUND;
            if (c == 'b') { /* never to libvterm: see guard_rep() */
                if (!guard_rep(tv))
                    tv->g_dropped++;
                return;
            }
            guard_emit(tv, tv->g_seq, tv->g_len);
        }
        return;
    default:
        return;
    }
}

void termview_feed(struct termview *tv, const char *bytes, size_t len)
{
    if (len == 0)
        return;
    const unsigned char *p = (const unsigned char *)bytes, *end = p + len;
    while (p < end) {
        if (tv->g_state == G_GROUND) {
            const unsigned char *q = p;
            while (q < end && *q != 0x1b && *q != 0xc2)
                q++;
            guard_emit(tv, (const char *)p, (size_t)(q - p));
            guard_note_last(tv, p, (size_t)(q - p));
            p = q;
            if (p == end)
                break;
            tv->g_state = *p == 0x1b ? G_ESC : G_C2;
            p++;
            continue;
        }
        guard_byte(tv, *p++);
    }
    tv->bytes_in += len;
}

void termview_send(struct termview *tv, const char *bytes, size_t len)
{
    if (tv->out_fn)
        tv->out_fn(bytes, len, tv->out_arg);
}

void termview_resize(struct termview *tv, int rows, int cols)
{
    if (rows < 1)
        rows = 1;
    if (cols < 1)
        cols = 1;
    if (rows == tv->rows && cols == tv->cols)
        return;
    bool shorter = rows < tv->rows || cols < tv->cols;
    tv->dirty = xrealloc(tv->dirty, (size_t)rows);
    tv->rows = rows;
    tv->cols = cols;
    vterm_set_size(tv->vt, rows, cols);
    if (shorter) {
        /* libvterm 0.1.4 keeps a scroll region that no longer fits (and
         * then memmoves with a negative size) and a saved cursor off the
         * screen (DECRC, ?1049l): reset the region, keep the cursor where it
         * is, and make that the saved one. */
        char fix[48];
        int r = tv->cursor.row < rows ? tv->cursor.row : rows - 1;
        int c = tv->cursor.col < cols ? tv->cursor.col : cols - 1;
        r = r < 0 ? 0 : r;
        c = c < 0 ? 0 : c;
        int n = snprintf(fix, sizeof fix, "\033[r\033[%d;%dH\0337", r + 1, c + 1);
        vterm_input_write(tv->vt, fix, (size_t)n);
    }
    mark_all(tv);
}

bool termview_needs_draw(const struct termview *tv)
{
    return tv->any_dirty || tv->base.dirty;
}

void termview_scroll_to(struct termview *tv, int offset)
{
    if (offset > (int)tv->sb_count)
        offset = (int)tv->sb_count;
    if (offset < 0)
        offset = 0;
    if (offset != tv->offset) {
        tv->offset = offset;
        mark_all(tv);
    }
}

void termview_scroll(struct termview *tv, int delta)
{
    termview_scroll_to(tv, tv->offset + delta);
}

bool termview_cursor(const struct termview *tv, int *row, int *col)
{
    int r = tv->cursor.row + tv->offset;
    if (!tv->cursor_visible || r >= tv->rows)
        return false;
    *row = r;
    *col = tv->cursor.col;
    return true;
}

/* Global line number shown at a view row. */
static int64_t view_line(const struct termview *tv, int row)
{
    return (int64_t)(tv->sb_dropped + tv->sb_count) - tv->offset + row;
}

/* Where a global line lives: the scrollback index (>= 0) or a screen row
 * (returned as -1 - row); INT64_MIN when it is gone. */
static int64_t locate(const struct termview *tv, int64_t line)
{
    int64_t first = (int64_t)tv->sb_dropped, screen0 = first + (int64_t)tv->sb_count;
    if (line < first)
        return INT64_MIN;
    if (line < screen0)
        return line - first;
    if (line - screen0 < tv->rows)
        return -1 - (line - screen0);
    return INT64_MIN;
}

static void screen_cell(const struct termview *tv, int row, int col, struct tv_cell *out,
                        uint32_t *chars, int *n_chars)
{
    const struct grid *g = cur(tv);
    if (row >= g->rows || col >= g->cols) {
        *out = (struct tv_cell){' ', 1, -1, -1, 0};
        if (chars)
            chars[0] = ' ';
        if (n_chars)
            *n_chars = 1;
        return;
    }
    const struct gcell *c = &g->line[row][col];
    *out = (struct tv_cell){c->ch, c->width, c->fg, c->bg, c->attrs};
    int k = 0;
    if (chars && c->ch) {
        chars[k++] = c->ch;
        if (c->comb)
            chars[k++] = c->comb;
    }
    if (n_chars)
        *n_chars = k;
}

/* Fills cells[0..cols) of a global line. */
static void line_cells(const struct termview *tv, int64_t line, struct tv_cell *cells,
                       uint32_t (*chars)[5], int *n_chars)
{
    for (int i = 0; i < tv->cols; i++) {
        cells[i] = (struct tv_cell){' ', 1, -1, -1, 0};
        if (n_chars)
            n_chars[i] = 1, chars[i][0] = ' ';
    }
    int64_t where = locate(tv, line);
    if (where == INT64_MIN)
        return;
    if (where < 0) {
        int row = (int)(-1 - where);
        for (int i = 0; i < tv->cols; i++)
            screen_cell(tv, row, i, &cells[i], chars ? chars[i] : NULL,
                        n_chars ? &n_chars[i] : NULL);
        return;
    }
    struct line_walk w;
    walk_start(&w, sb_get(tv, (size_t)where));
    struct tv_cell c;
    uint32_t tmp[5];
    int nch;
    while (w.col < tv->cols) {
        int col = w.col;
        if (!walk_next(&w, &c, tmp, 5, &nch))
            break;
        if (col + c.width > tv->cols) {
            break;
        }
        cells[col] = c;
        if (n_chars) {
            memcpy(chars[col], tmp, sizeof tmp);
            n_chars[col] = nch;
        }
        if (c.width == 2 && col + 1 < tv->cols) {
            cells[col + 1] = (struct tv_cell){0, 0, c.fg, c.bg, c.attrs};
            if (n_chars)
                n_chars[col + 1] = 0;
        }
    }
}

void termview_cell(const struct termview *tv, int row, int col, struct tv_cell *out)
{
    *out = (struct tv_cell){' ', 1, -1, -1, 0};
    if (row < 0 || row >= tv->rows || col < 0 || col >= tv->cols)
        return;
    struct tv_cell *cells = xmalloc((size_t)tv->cols * sizeof *cells);
    line_cells(tv, view_line(tv, row), cells, NULL, NULL);
    *out = cells[col];
    free(cells);
}

static char *cells_text(const struct tv_cell *cells, uint32_t (*chars)[5], const int *n_chars,
                        int from, int to)
{
    char *out = xmalloc((size_t)(to - from + 1) * 4 * 5 + 1);
    size_t n = 0, keep = 0;
    for (int i = from; i < to; i++) {
        if (cells[i].ch == 0)
            continue;
        for (int k = 0; k < n_chars[i]; k++)
            n += put_utf8(out + n, chars[i][k]);
        if (cells[i].ch != ' ')
            keep = n;
    }
    out[keep] = '\0';
    return out;
}

static char *line_text(const struct termview *tv, int64_t line, int from, int to)
{
    struct tv_cell *cells = xmalloc((size_t)tv->cols * sizeof *cells);
    uint32_t(*chars)[5] = xmalloc((size_t)tv->cols * sizeof *chars);
    int *n_chars = xmalloc((size_t)tv->cols * sizeof *n_chars);
    line_cells(tv, line, cells, chars, n_chars);
    /* A selection may start right of the last column (a press beyond it,
     * or a resize that narrowed the screen): clamp both ends. */
    if (to > tv->cols)
        to = tv->cols;
    if (from < 0)
        from = 0;
    if (from > to)
        from = to;
    char *s = cells_text(cells, chars, n_chars, from, to);
    free(cells);
    free(chars);
    free(n_chars);
    return s;
}

char *termview_row_text(const struct termview *tv, int row)
{
    return line_text(tv, view_line(tv, row), 0, tv->cols);
}

char *termview_sb_text(const struct termview *tv, size_t i)
{
    if (i >= tv->sb_count)
        return xstrdup("");
    return line_text(tv, (int64_t)(tv->sb_dropped + i), 0, tv->cols);
}

void termview_select(struct termview *tv, int row0, int col0, int row1, int col1)
{
    int64_t a = view_line(tv, row0), b = view_line(tv, row1);
    if (a > b || (a == b && col0 > col1)) {
        int64_t t = a;
        a = b, b = t;
        int tc = col0;
        col0 = col1, col1 = tc;
    }
    tv->sel_on = true;
    tv->sel_a_line = a, tv->sel_a_col = col0;
    tv->sel_b_line = b, tv->sel_b_col = col1;
    mark_all(tv);
}

void termview_select_clear(struct termview *tv)
{
    if (tv->sel_on) {
        tv->sel_on = false;
        mark_all(tv);
    }
}

static bool in_selection(const struct termview *tv, int64_t line, int col)
{
    if (!tv->sel_on || line < tv->sel_a_line || line > tv->sel_b_line)
        return false;
    if (line == tv->sel_a_line && col < tv->sel_a_col)
        return false;
    if (line == tv->sel_b_line && col > tv->sel_b_col)
        return false;
    return true;
}

char *termview_selection_text(const struct termview *tv)
{
    if (!tv->sel_on)
        return NULL;
    size_t cap = 256, n = 0;
    char *out = xmalloc(cap);
    for (int64_t l = tv->sel_a_line; l <= tv->sel_b_line; l++) {
        int from = l == tv->sel_a_line ? tv->sel_a_col : 0;
        int to = l == tv->sel_b_line ? tv->sel_b_col + 1 : tv->cols;
        char *t = line_text(tv, l, from, to);
        size_t tl = strlen(t);
        if (n + tl + 2 > cap) {
            cap = (n + tl + 2) * 2;
            out = xrealloc(out, cap);
        }
        memcpy(out + n, t, tl);
        n += tl;
        if (l != tv->sel_b_line)
            out[n++] = '\n';
        free(t);
    }
    out[n] = '\0';
    return out;
}

static attr_t curses_attrs(unsigned a)
{
    return (a & TVA_BOLD ? A_BOLD : 0) | (a & TVA_UNDERLINE ? A_UNDERLINE : 0) |
           (a & TVA_ITALIC ? A_ITALIC : 0) | (a & TVA_BLINK ? A_BLINK : 0) |
           (a & TVA_REVERSE ? A_REVERSE : 0);
}

static void draw_row(struct termview *tv, WINDOW *win, int row, struct tv_cell *cells,
                     uint32_t (*chars)[5], int *n_chars)
{
    struct rect r = tv->base.r;
    int64_t line = view_line(tv, row);
    line_cells(tv, line, cells, chars, n_chars);
    int width = tv->cols < r.w ? tv->cols : r.w;
    for (int col = 0; col < width; col++) {
        struct tv_cell *c = &cells[col];
        if (c->ch == 0)
            continue; /* right half of a wide character */
        wchar_t wc[6] = {0};
        int k = 0;
        for (int i = 0; i < n_chars[col] && k < 4; i++) {
            wchar_t ch = (wchar_t)chars[col][i];
            int cw = wcwidth(ch);
            if (i == 0 && (cw < 0 || ch < 0x20)) {
                ch = L'?'; /* never hand a control character to curses */
                cw = 1;
            }
            if (i > 0 && cw != 0)
                break;
            wc[k++] = ch;
        }
        if (k == 0)
            wc[k++] = L' ';
        if (c->width == 2 && col + 1 >= width)
            wc[0] = L' ', wc[1] = 0; /* half a wide character does not fit */
        attr_t a = curses_attrs(c->attrs);
        if (in_selection(tv, line, col))
            a ^= A_REVERSE;
        int pair = palette_pair(palette_fold(c->fg), palette_fold(c->bg));
        cchar_t cc;
        setcchar(&cc, wc, a, 0, &pair);
        mvwadd_wch(win, r.y + row, r.x + col, &cc);
    }
    /* A pane wider than the emulator (never, but cheap to be safe). */
    for (int col = width; col < r.w; col++)
        mvwaddch(win, r.y + row, r.x + col, ' ');
}

static void termview_draw(struct widget *w, WINDOW *win)
{
    struct termview *tv = (struct termview *)w;
    if (tv->palette_gen != palette_generation()) {
        tv->palette_gen = palette_generation();
        mark_all(tv);
    }
    bool all = w->dirty;
    struct tv_cell *cells = xmalloc((size_t)tv->cols * sizeof *cells);
    uint32_t(*chars)[5] = xmalloc((size_t)tv->cols * sizeof *chars);
    int *n_chars = xmalloc((size_t)tv->cols * sizeof *n_chars);
    int rows = tv->rows < w->r.h ? tv->rows : w->r.h;
    for (int row = 0; row < rows; row++)
        if (all || tv->dirty[row])
            draw_row(tv, win, row, cells, chars, n_chars);
    free(cells);
    free(chars);
    free(n_chars);
    memset(tv->dirty, 0, (size_t)tv->rows);
    tv->any_dirty = false;
}

static void send_key(struct termview *tv, VTermKey k, VTermModifier mod)
{
    vterm_keyboard_key(tv->vt, k, mod);
}

static int termview_key(struct widget *w, int key)
{
    struct termview *tv = (struct termview *)w;
    bool was_mute = tv->mute;
    tv->mute = false;
    termview_scroll_to(tv, 0);
    if (!WK_IS_FN(key)) {
        if (key < 0x20 || key == 0x7f) {
            char b = (char)key;
            termview_send(tv, &b, 1);
        } else {
            vterm_keyboard_unichar(tv->vt, (uint32_t)key, VTERM_MOD_NONE);
        }
        tv->mute = was_mute;
        return WR_HANDLED;
    }
    int code = key & ~WK_FN_BIT;
    static const struct {
        int curses;
        VTermKey key;
        VTermModifier mod;
    } MAP[] = {
        {KEY_UP, VTERM_KEY_UP, 0},
        {KEY_DOWN, VTERM_KEY_DOWN, 0},
        {KEY_LEFT, VTERM_KEY_LEFT, 0},
        {KEY_RIGHT, VTERM_KEY_RIGHT, 0},
        {KEY_HOME, VTERM_KEY_HOME, 0},
        {KEY_END, VTERM_KEY_END, 0},
        {KEY_PPAGE, VTERM_KEY_PAGEUP, 0},
        {KEY_NPAGE, VTERM_KEY_PAGEDOWN, 0},
        {KEY_IC, VTERM_KEY_INS, 0},
        {KEY_DC, VTERM_KEY_DEL, 0},
        {KEY_BTAB, VTERM_KEY_TAB, VTERM_MOD_SHIFT},
        {KEY_SLEFT, VTERM_KEY_LEFT, VTERM_MOD_SHIFT},
        {KEY_SRIGHT, VTERM_KEY_RIGHT, VTERM_MOD_SHIFT},
        {KEY_SHOME, VTERM_KEY_HOME, VTERM_MOD_SHIFT},
        {KEY_SEND, VTERM_KEY_END, VTERM_MOD_SHIFT},
    };
    int handled = WR_IGNORED;
    if (code == KEY_BACKSPACE) {
        termview_send(tv, "\x7f", 1);
        handled = WR_HANDLED;
    } else if (code == KEY_ENTER) {
        termview_send(tv, "\r", 1);
        handled = WR_HANDLED;
    } else if (code >= KEY_F(1) && code <= KEY_F(12)) {
        send_key(tv, VTERM_KEY_FUNCTION(code - KEY_F0), VTERM_MOD_NONE);
        handled = WR_HANDLED;
    } else {
        for (size_t i = 0; i < IB_ARRAY_LEN(MAP); i++)
            if (MAP[i].curses == code) {
                send_key(tv, MAP[i].key, MAP[i].mod);
                handled = WR_HANDLED;
                break;
            }
    }
    tv->mute = was_mute;
    return handled;
}

static int termview_mouse(struct widget *w, const struct wmouse *ev)
{
    struct termview *tv = (struct termview *)w;
    int press_row = tv->press_row, press_col = tv->press_col;
    switch (ev->kind) {
    case WM_WHEEL_UP:
        termview_scroll(tv, 3);
        break;
    case WM_WHEEL_DOWN:
        termview_scroll(tv, -3);
        break;
    case WM_PRESS:
        tv->press_row = ev->y, tv->press_col = ev->x;
        termview_select_clear(tv);
        break;
    case WM_RELEASE:
        if (press_row >= 0 && (press_row != ev->y || press_col != ev->x))
            termview_select(tv, press_row, press_col, ev->y, ev->x);
        tv->press_row = -1;
        break;
    default:
        break;
    }
    return WR_HANDLED;
}

static void termview_free(struct widget *w)
{
    struct termview *tv = (struct termview *)w;
    for (size_t i = 0; i < tv->sb_count; i++)
        free(tv->sb[(tv->sb_head + i) % tv->sb_cap]);
    free(tv->sb);
    free(tv->dirty);
    grid_free(tv->grid[0]);
    grid_free(tv->grid[1]);
    vterm_free(tv->vt);
    free(tv);
}

static void termview_place(struct widget *w, struct rect r)
{
    w->r = r;
    termview_resize((struct termview *)w, r.h, r.w);
}

static const struct widget_ops TERMVIEW_OPS = {
    .kind = "termview",
    .draw = termview_draw,
    .key = termview_key,
    .mouse = termview_mouse,
    .place = termview_place,
    .free = termview_free,
};

struct termview *termview_new(int rows, int cols, size_t scrollback_lines)
{
    struct termview *tv = xcalloc(1, sizeof *tv);
    tv->base.ops = &TERMVIEW_OPS;
    if (rows < 1)
        rows = 1;
    if (cols < 1)
        cols = 1;
    tv->rows = rows;
    tv->cols = cols;
    tv->base.r = (struct rect){0, 0, rows, cols};
    tv->dirty = xcalloc((size_t)rows, 1);
    tv->sb_cap = scrollback_lines;
    tv->sb = scrollback_lines ? xcalloc(scrollback_lines, sizeof *tv->sb) : NULL;
    tv->grid[0] = grid_new(rows, cols);
    tv->grid[1] = grid_new(rows, cols);
    tv->pen_fg = tv->pen_bg = -1;
    tv->vt = vterm_new(rows, cols);
    vterm_set_utf8(tv->vt, 1);
    vterm_output_set_callback(tv->vt, on_output, tv);
    tv->vs = vterm_obtain_state(tv->vt);
    vterm_state_set_callbacks(tv->vs, &STATE_CBS, tv);
    vterm_state_reset(tv->vs, 1);
    tv->cursor_visible = true;
    tv->press_row = -1;
    mark_all(tv);
    return tv;
}
