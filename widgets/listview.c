/* listview.c - see listview.h. */
#include "widgets/listview.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "widgets/draw.h"

static void clear_rows(struct listview *lv)
{
    for (int i = 0; i < lv->n_rows; i++) {
        for (int c = 0; c < lv->n_cols; c++)
            free(lv->rows[i].cells[c]);
        free(lv->rows[i].cells);
        free(lv->rows[i].key);
        free(lv->rows[i].sortv);
    }
    lv->n_rows = 0;
    lv->n_vis = 0;
}

void listview_begin(struct listview *lv)
{
    const struct lv_row *r = listview_selected(lv);
    free(lv->keep_key);
    lv->keep_key = (r && r->key) ? xstrdup(r->key) : NULL;
    clear_rows(lv);
}

int listview_add(struct listview *lv, enum lv_kind kind, int tag, const char *key,
                 const char *const *cells)
{
    if (lv->n_rows == lv->cap_rows) {
        lv->cap_rows = lv->cap_rows ? lv->cap_rows * 2 : 32;
        lv->rows = xrealloc(lv->rows, (size_t)lv->cap_rows * sizeof *lv->rows);
    }
    struct lv_row *r = &lv->rows[lv->n_rows];
    r->kind = kind;
    r->tag = tag;
    r->key = key ? xstrdup(key) : NULL;
    r->el = TH_NORMAL;
    r->sortv = NULL;
    r->sortv_set = 0;
    r->cells = xcalloc((size_t)lv->n_cols, sizeof *r->cells);
    for (int c = 0; c < lv->n_cols; c++)
        r->cells[c] = xstrdup(cells && cells[c] ? cells[c] : "");
    return lv->n_rows++;
}

void listview_set_element(struct listview *lv, int row, enum th_element el)
{
    if (row >= 0 && row < lv->n_rows)
        lv->rows[row].el = el;
}

void listview_set_sort_value(struct listview *lv, int row, int col, double v)
{
    if (row < 0 || row >= lv->n_rows || col < 0 || col >= lv->n_cols || col >= 32)
        return;
    struct lv_row *r = &lv->rows[row];
    if (r->sortv == NULL)
        r->sortv = xcalloc((size_t)lv->n_cols, sizeof *r->sortv);
    r->sortv[col] = v;
    r->sortv_set |= 1u << col;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

static bool row_matches(const struct listview *lv, const struct lv_row *r)
{
    if (r->kind == LV_HEADER || lv->filter[0] == '\0')
        return true;
    for (int c = 0; c < lv->n_cols; c++)
        if (contains_ci(r->cells[c], lv->filter))
            return true;
    return false;
}

/* Numbers (with a unit after them) compare as numbers, the rest as text. */
static int cell_cmp(const char *a, const char *b)
{
    char *ea, *eb;
    double da = strtod(a, &ea), db = strtod(b, &eb);
    if (ea != a && eb != b) {
        if (da != db)
            return da < db ? -1 : 1;
    }
    return strcasecmp(a, b);
}

static const struct listview *sort_lv;
static int sort_rows(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    int col = sort_lv->sort_col;
    const struct lv_row *ra = &sort_lv->rows[a], *rb = &sort_lv->rows[b];
    int c;
    unsigned bit = col < 32 ? 1u << col : 0;
    if ((ra->sortv_set & bit) && (rb->sortv_set & bit))
        c = ra->sortv[col] < rb->sortv[col] ? -1 : ra->sortv[col] > rb->sortv[col] ? 1 : 0;
    else
        c = cell_cmp(ra->cells[col], rb->cells[col]);
    if (sort_lv->sort_desc)
        c = -c;
    return c ? c : a - b;
}

static void rebuild(struct listview *lv, const char *keep)
{
    free(lv->vis);
    lv->vis = xcalloc((size_t)lv->n_rows + 1, sizeof *lv->vis);
    lv->n_vis = 0;
    int section_start = 0;
    for (int i = 0; i <= lv->n_rows; i++) {
        bool boundary = i == lv->n_rows || lv->rows[i].kind == LV_HEADER;
        if (boundary && lv->sort_col >= 0 && lv->sort_col < lv->n_cols &&
            lv->n_vis - section_start > 1) {
            sort_lv = lv;
            qsort(lv->vis + section_start, (size_t)(lv->n_vis - section_start), sizeof(int),
                  sort_rows);
        }
        if (i == lv->n_rows)
            break;
        if (boundary) {
            lv->vis[lv->n_vis++] = i;
            section_start = lv->n_vis;
        } else if (row_matches(lv, &lv->rows[i])) {
            lv->vis[lv->n_vis++] = i;
        }
    }
    int old_sel = lv->sel;
    lv->sel = -1;
    if (keep)
        for (int v = 0; v < lv->n_vis; v++) {
            const struct lv_row *r = &lv->rows[lv->vis[v]];
            if (r->kind == LV_ITEM && r->key && strcmp(r->key, keep) == 0)
                lv->sel = v;
        }
    if (lv->sel < 0) {
        /* Nearest selectable entry to where the selection was. */
        int start = old_sel < 0 ? 0 : (old_sel >= lv->n_vis ? lv->n_vis - 1 : old_sel);
        for (int d = 0; d < lv->n_vis && lv->sel < 0; d++) {
            if (start + d < lv->n_vis && lv->rows[lv->vis[start + d]].kind == LV_ITEM)
                lv->sel = start + d;
            else if (start - d >= 0 && lv->rows[lv->vis[start - d]].kind == LV_ITEM)
                lv->sel = start - d;
        }
    }
    lv->base.dirty = true;
}

void listview_end(struct listview *lv)
{
    rebuild(lv, lv->keep_key);
    free(lv->keep_key);
    lv->keep_key = NULL;
}

const struct lv_row *listview_selected(const struct listview *lv)
{
    if (lv->sel < 0 || lv->sel >= lv->n_vis)
        return NULL;
    return &lv->rows[lv->vis[lv->sel]];
}

bool listview_select_key(struct listview *lv, const char *key)
{
    for (int v = 0; v < lv->n_vis; v++) {
        const struct lv_row *r = &lv->rows[lv->vis[v]];
        if (r->kind == LV_ITEM && r->key && strcmp(r->key, key) == 0) {
            lv->sel = v;
            lv->base.dirty = true;
            return true;
        }
    }
    return false;
}

void listview_set_filter(struct listview *lv, const char *text)
{
    const struct lv_row *r = listview_selected(lv);
    char *keep = (r && r->key) ? xstrdup(r->key) : NULL;
    snprintf(lv->filter, sizeof lv->filter, "%s", text ? text : "");
    rebuild(lv, keep);
    free(keep);
}

void listview_sort(struct listview *lv, int col, bool desc)
{
    const struct lv_row *r = listview_selected(lv);
    char *keep = (r && r->key) ? xstrdup(r->key) : NULL;
    lv->sort_col = col;
    lv->sort_desc = desc;
    rebuild(lv, keep);
    free(keep);
}

void listview_counts(const struct listview *lv, int header, int *shown, int *total)
{
    *shown = *total = 0;
    for (int i = header + 1; i < lv->n_rows; i++) {
        if (lv->rows[i].kind == LV_HEADER) {
            if (header >= 0)
                break;
            continue;
        }
        (*total)++;
        if (row_matches(lv, &lv->rows[i]))
            (*shown)++;
    }
}

static int body_rows(const struct listview *lv)
{
    int h = lv->base.r.h - (lv->show_header ? 1 : 0);
    return h < 0 ? 0 : h;
}

static void keep_visible(struct listview *lv)
{
    int h = body_rows(lv);
    if (lv->sel >= 0) {
        if (lv->sel < lv->top)
            lv->top = lv->sel;
        if (h > 0 && lv->sel >= lv->top + h)
            lv->top = lv->sel - h + 1;
        /* Show a section's header when its first item is selected. */
        if (lv->sel > 0 && lv->top == lv->sel && lv->rows[lv->vis[lv->sel - 1]].kind == LV_HEADER)
            lv->top = lv->sel - 1;
    }
    if (lv->top > lv->n_vis - h)
        lv->top = lv->n_vis - h;
    if (lv->top < 0)
        lv->top = 0;
}

/* Column widths for a given total width. */
static void layout_cols(const struct listview *lv, int width, int *w)
{
    int fixed = 0, flex = 0;
    for (int c = 0; c < lv->n_cols; c++) {
        if (lv->cols[c].width > 0)
            fixed += lv->cols[c].width + 1;
        else
            flex++;
    }
    int rest = width - fixed;
    for (int c = 0; c < lv->n_cols; c++) {
        if (lv->cols[c].width > 0)
            w[c] = lv->cols[c].width;
        else
            w[c] = flex ? (rest > 4 * flex ? rest / flex : 4) : 0;
    }
}

static void draw_cells(struct listview *lv, WINDOW *win, int y, char **cells, int indent,
                       enum th_element el)
{
    struct rect r = lv->base.r;
    int w[32];
    layout_cols(lv, r.w - indent, w);
    draw_fill(win, y, r.x, r.w, el);
    int x = r.x + indent;
    for (int c = 0; c < lv->n_cols && c < 32 && x < r.x + r.w; c++) {
        int avail = r.x + r.w - x;
        int cw = w[c] < avail ? w[c] : avail;
        int tw = draw_text_width(cells[c]);
        int off = (lv->cols[c].right && tw < cw) ? cw - tw : 0;
        draw_text(win, y, x + off, cw - off, el, cells[c]);
        if (tw > cw && cw > 1) /* cut: say so */
            draw_char(win, y, x + cw - 1, el, L'…');
        x += w[c] + 1;
    }
}

static void listview_draw(struct widget *w, WINDOW *win)
{
    struct listview *lv = (struct listview *)w;
    struct rect r = w->r;
    keep_visible(lv);
    int y = r.y;
    bool sections = lv->n_rows > 0 && lv->rows[0].kind == LV_HEADER;
    int indent = sections ? 2 : 0;
    if (lv->show_header) {
        char *titles[32];
        int n = lv->n_cols < 32 ? lv->n_cols : 32;
        for (int c = 0; c < n; c++) {
            const char *arrow = c == lv->sort_col ? (lv->sort_desc ? "▼" : "▲") : "";
            titles[c] = xasprintf("%s%s", lv->cols[c].title, arrow);
        }
        draw_cells(lv, win, y, titles, indent, TH_TABLE_HEADER);
        if (lv->sort_col >= 0 && lv->sort_col < n) {
            int cw[32];
            layout_cols(lv, r.w - indent, cw);
            int x = r.x + indent;
            for (int c = 0; c < lv->sort_col; c++)
                x += cw[c] + 1;
            int sc = lv->sort_col, tw = draw_text_width(titles[sc]);
            if (lv->cols[sc].right && tw < cw[sc])
                x += cw[sc] - tw;
            if (x < r.x + r.w)
                draw_text(win, y, x, r.x + r.w - x, TH_TABLE_HEADER_SORT, titles[sc]);
        }
        for (int c = 0; c < n; c++)
            free(titles[c]);
        y++;
    }
    int h = body_rows(lv);
    for (int i = 0; i < h; i++, y++) {
        int v = lv->top + i;
        if (v >= lv->n_vis) {
            draw_fill(win, y, r.x, r.w, TH_NORMAL);
            if (v == 0 && lv->n_vis == 0 && lv->empty)
                draw_text(win, y, r.x + 1, r.w - 1, TH_DIM, lv->empty);
            continue;
        }
        int ri = lv->vis[v];
        struct lv_row *row = &lv->rows[ri];
        if (row->kind == LV_HEADER) {
            int shown, total;
            listview_counts(lv, ri, &shown, &total);
            draw_fill(win, y, r.x, r.w, TH_NORMAL);
            int x = r.x + draw_text(win, y, r.x, r.w, TH_SECTION, row->cells[0]);
            char count[48];
            if (lv->filter[0])
                snprintf(count, sizeof count, " (%d/%d)", shown, total);
            else
                snprintf(count, sizeof count, " (%d)", total);
            draw_text(win, y, x, r.x + r.w - x, TH_COUNT, count);
            continue;
        }
        enum th_element el = row->el;
        if (v == lv->sel)
            el = w->focused ? TH_SELECTION_FOCUS : TH_SELECTION;
        draw_cells(lv, win, y, row->cells, indent, el);
    }
}

static int step(struct listview *lv, int from, int dir)
{
    for (int v = from + dir; v >= 0 && v < lv->n_vis; v += dir)
        if (lv->rows[lv->vis[v]].kind == LV_ITEM)
            return v;
    return -1;
}

static int move_to(struct listview *lv, int v)
{
    if (v < 0 || v == lv->sel)
        return WR_HANDLED;
    lv->sel = v;
    lv->base.dirty = true;
    keep_visible(lv);
    return LV_MOVED;
}

static int listview_key(struct widget *w, int key)
{
    struct listview *lv = (struct listview *)w;
    int h = body_rows(lv);
    int target = -1;
    switch (key) {
    case WK_FN(KEY_UP):
    case 'k':
        target = step(lv, lv->sel, -1);
        break;
    case WK_FN(KEY_DOWN):
    case 'j':
        target = step(lv, lv->sel < 0 ? -1 : lv->sel, 1);
        break;
    case WK_FN(KEY_PPAGE):
        target = step(lv, lv->sel - h + 1 > 0 ? lv->sel - h + 1 : 0, -1);
        if (target < 0)
            target = step(lv, -1, 1);
        break;
    case WK_FN(KEY_NPAGE):
        target = step(lv, lv->sel + h - 1 < lv->n_vis ? lv->sel + h - 1 : lv->n_vis, 1);
        if (target < 0)
            target = step(lv, lv->n_vis, -1);
        break;
    case WK_FN(KEY_HOME):
    case 'g':
        target = step(lv, -1, 1);
        break;
    case WK_FN(KEY_END):
    case 'G':
        target = step(lv, lv->n_vis, -1);
        break;
    case '\r':
    case '\n':
    case WK_FN(KEY_ENTER):
        return lv->sel >= 0 ? LV_ACTIVATE : WR_HANDLED;
    default:
        return WR_IGNORED;
    }
    return move_to(lv, target);
}

static int listview_mouse(struct widget *w, const struct wmouse *ev)
{
    struct listview *lv = (struct listview *)w;
    int h = body_rows(lv);
    if (ev->kind == WM_WHEEL_UP || ev->kind == WM_WHEEL_DOWN) {
        int dir = ev->kind == WM_WHEEL_UP ? -1 : 1;
        int t = lv->sel;
        for (int i = 0; i < 3; i++) {
            int n = step(lv, t, dir);
            if (n >= 0)
                t = n;
        }
        return move_to(lv, t);
    }
    if (ev->kind != WM_PRESS && ev->kind != WM_CLICK && ev->kind != WM_DOUBLE)
        return WR_HANDLED;
    int y = ev->y;
    if (lv->show_header) {
        if (y == 0) {
            bool sections = lv->n_rows > 0 && lv->rows[0].kind == LV_HEADER;
            int cw[32], x = sections ? 2 : 0;
            layout_cols(lv, w->r.w - x, cw);
            for (int c = 0; c < lv->n_cols && c < 32; c++) {
                if (ev->x >= x && ev->x < x + cw[c] + 1) {
                    listview_sort(lv, c, c == lv->sort_col ? !lv->sort_desc : false);
                    return LV_SORTED;
                }
                x += cw[c] + 1;
            }
            return WR_HANDLED;
        }
        y--;
    }
    if (y < 0 || y >= h)
        return WR_HANDLED;
    int v = lv->top + y;
    if (v >= lv->n_vis || lv->rows[lv->vis[v]].kind != LV_ITEM)
        return WR_HANDLED;
    if (ev->kind == WM_DOUBLE)
        return move_to(lv, v), LV_ACTIVATE;
    return move_to(lv, v);
}

static void listview_free(struct widget *w)
{
    struct listview *lv = (struct listview *)w;
    clear_rows(lv);
    free(lv->rows);
    free(lv->vis);
    free(lv->cols);
    free(lv->keep_key);
    free(lv);
}

static const struct widget_ops LISTVIEW_OPS = {
    .kind = "listview",
    .draw = listview_draw,
    .key = listview_key,
    .mouse = listview_mouse,
    .free = listview_free,
};

struct listview *listview_new(const struct lv_column *cols, int n_cols, bool show_header)
{
    struct listview *lv = xcalloc(1, sizeof *lv);
    lv->base.ops = &LISTVIEW_OPS;
    lv->cols = xcalloc((size_t)n_cols, sizeof *cols);
    memcpy(lv->cols, cols, (size_t)n_cols * sizeof *cols);
    lv->n_cols = n_cols;
    lv->show_header = show_header;
    lv->sel = -1;
    lv->sort_col = -1;
    return lv;
}
