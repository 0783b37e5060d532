/* hexview.c - see hexview.h. */
#include "widgets/hexview.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "widgets/draw.h"

static int row_width(int per_row)
{
    /* address, 2 spaces, "xx " per byte, a gap in the middle, " |ascii|" */
    return 8 + 2 + per_row * 3 + (per_row > 4 ? 1 : 0) + 1 + per_row + 2;
}

int hexview_per_row(const struct hexview *hv)
{
    if (hv->base.r.w >= row_width(16))
        return 16;
    return hv->base.r.w >= row_width(8) ? 8 : 4;
}

size_t hexview_capacity(const struct hexview *hv)
{
    int h = hv->base.r.h > 0 ? hv->base.r.h : 1;
    return (size_t)h * (size_t)hexview_per_row(hv);
}

void hexview_set(struct hexview *hv, uint64_t addr, const uint8_t *data, size_t len)
{
    free(hv->data);
    hv->data = len ? xmalloc(len) : NULL;
    if (len)
        memcpy(hv->data, data, len);
    hv->len = len;
    hv->addr = addr;
    hv->base.dirty = true;
}

void hexview_mark(struct hexview *hv, uint64_t addr, uint64_t len)
{
    hv->mark = addr;
    hv->mark_len = len;
    hv->base.dirty = true;
}

void hexview_format_row(const uint8_t *bytes, size_t n, uint64_t addr, int per_row, char *out,
                        size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "%08" PRIx64 "  ", addr);
    for (int i = 0; i < per_row && o + 4 < cap; i++) {
        if ((size_t)i < n)
            o += (size_t)snprintf(out + o, cap - o, "%02x ", bytes[i]);
        else
            o += (size_t)snprintf(out + o, cap - o, "   ");
        if (i == per_row / 2 - 1 && per_row > 4 && o + 1 < cap)
            out[o++] = ' ';
    }
    if (o + 2 < cap) {
        out[o++] = ' ';
        out[o++] = '|';
    }
    for (size_t i = 0; i < n && (int)i < per_row && o + 2 < cap; i++)
        out[o++] = bytes[i] >= 0x20 && bytes[i] < 0x7f ? (char)bytes[i] : '.';
    if (o + 1 < cap)
        out[o++] = '|';
    out[o < cap ? o : cap - 1] = '\0';
}

static bool marked(const struct hexview *hv, uint64_t a)
{
    return hv->mark_len > 0 && a >= hv->mark && a - hv->mark < hv->mark_len;
}

static void hexview_draw(struct widget *w, WINDOW *win)
{
    struct hexview *hv = (struct hexview *)w;
    struct rect r = w->r;
    int per = hexview_per_row(hv);
    for (int y = 0; y < r.h; y++)
        draw_fill(win, r.y + y, r.x, r.w, TH_NORMAL);
    if (hv->len == 0) {
        if (hv->empty)
            draw_text(win, r.y, r.x + 1, r.w - 1, TH_DIM, hv->empty);
        return;
    }
    for (int y = 0; y < r.h; y++) {
        size_t off = (size_t)y * (size_t)per;
        if (off >= hv->len)
            break;
        uint64_t a = hv->addr + off;
        char buf[32];
        snprintf(buf, sizeof buf, "%08" PRIx64, a);
        int x = r.x;
        x += draw_text(win, r.y + y, x, r.x + r.w - x, TH_LABEL, buf);
        x += 2;
        size_t n = hv->len - off < (size_t)per ? hv->len - off : (size_t)per;
        for (int i = 0; i < per; i++) {
            if ((size_t)i < n) {
                uint8_t b = hv->data[off + (size_t)i];
                snprintf(buf, sizeof buf, "%02x", b);
                enum th_element el = marked(hv, a + (uint64_t)i) ? TH_CHANGED
                                     : b == 0                    ? TH_DIM
                                                                 : TH_VALUE;
                draw_text(win, r.y + y, x, r.x + r.w - x, el, buf);
            }
            x += 3;
            if (i == per / 2 - 1 && per > 4)
                x++;
        }
        x++;
        if (x < r.x + r.w)
            draw_char(win, r.y + y, x++, TH_DIM, L'|');
        for (size_t i = 0; i < n && x < r.x + r.w; i++) {
            uint8_t b = hv->data[off + i];
            bool print = b >= 0x20 && b < 0x7f;
            enum th_element el = marked(hv, a + i) ? TH_CHANGED : print ? TH_NORMAL : TH_DIM;
            draw_char(win, r.y + y, x++, el, print ? (wchar_t)b : L'.');
        }
        if (x < r.x + r.w)
            draw_char(win, r.y + y, x, TH_DIM, L'|');
    }
}

static int scroll_rows(struct hexview *hv, int rows)
{
    int64_t delta = (int64_t)rows * hexview_per_row(hv);
    if (delta < 0 && (uint64_t)(-delta) > hv->addr)
        hv->want = 0;
    else
        hv->want = hv->addr + (uint64_t)delta;
    return HV_SCROLL;
}

static int hexview_key(struct widget *w, int key)
{
    struct hexview *hv = (struct hexview *)w;
    int page = w->r.h > 1 ? w->r.h - 1 : 1;
    switch (key) {
    case WK_FN(KEY_UP):
        return scroll_rows(hv, -1);
    case WK_FN(KEY_DOWN):
        return scroll_rows(hv, 1);
    case WK_FN(KEY_PPAGE):
        return scroll_rows(hv, -page);
    case WK_FN(KEY_NPAGE):
        return scroll_rows(hv, page);
    default:
        return WR_IGNORED;
    }
}

static int hexview_mouse(struct widget *w, const struct wmouse *ev)
{
    struct hexview *hv = (struct hexview *)w;
    if (ev->kind == WM_WHEEL_UP)
        return scroll_rows(hv, -3);
    if (ev->kind == WM_WHEEL_DOWN)
        return scroll_rows(hv, 3);
    return WR_HANDLED;
}

static void hexview_free(struct widget *w)
{
    struct hexview *hv = (struct hexview *)w;
    free(hv->data);
    free(hv);
}

static const struct widget_ops HEXVIEW_OPS = {
    .kind = "hexview",
    .draw = hexview_draw,
    .key = hexview_key,
    .mouse = hexview_mouse,
    .free = hexview_free,
};

struct hexview *hexview_new(void)
{
    struct hexview *hv = xcalloc(1, sizeof *hv);
    hv->base.ops = &HEXVIEW_OPS;
    return hv;
}
