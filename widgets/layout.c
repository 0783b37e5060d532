/* layout.c - see layout.h. */
#include "widgets/layout.h"

#include <string.h>

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void layout_screen(int rows, int cols, const struct layout_opts *o, struct layout *out)
{
    memset(out, 0, sizeof *out);
    if (rows < LAYOUT_MIN_ROWS || cols < LAYOUT_MIN_COLS) {
        out->too_small = true;
        return;
    }
    out->header = (struct rect){0, 0, 1, cols};
    out->status = (struct rect){rows - 1, 0, 1, cols};
    struct rect body = {1, 0, rows - 2, cols};
    if (o->zoom_detail) {
        out->detail = body;
        return;
    }
    if (o->zoom && o->n_consoles > 0) {
        out->consoles = body;
        return;
    }
    int right_x = 0;
    if (o->show_nav) {
        int nw = clamp(cols / 3, 24, 48);
        out->nav = (struct rect){body.y, 0, body.h, nw};
        out->nav_sep = (struct rect){body.y, nw, body.h, 1};
        right_x = nw + 1;
    }
    struct rect right = {body.y, right_x, body.h, cols - right_x};
    if (o->n_consoles == 0) {
        out->detail = right;
        return;
    }
    if (!o->show_detail) {
        out->consoles = right;
        return;
    }
    int dh = o->detail_big ? clamp(right.h * 3 / 5, 8, right.h - 6) : clamp(right.h / 3, 5, 12);
    out->detail = (struct rect){right.y, right.x, dh, right.w};
    out->consoles = (struct rect){right.y + dh, right.x, right.h - dh, right.w};
}

int layout_tiles(enum tiles_mode mode, int n, struct rect a, struct rect *out)
{
    if (n > LAYOUT_MAX_TILES)
        n = LAYOUT_MAX_TILES;
    if (n <= 1 || mode == TILES_ONE) {
        out[0] = a;
        return 1;
    }
    if (mode == TILES_SIDE || (mode == TILES_GRID && n == 2)) {
        int w = (a.w - (n - 1)) / n;
        int x = a.x;
        for (int i = 0; i < n; i++) {
            int wi = i == n - 1 ? a.x + a.w - x : w;
            out[i] = (struct rect){a.y, x, a.h, wi};
            x += wi + 1;
        }
        return n;
    }
    if (mode == TILES_STACK) {
        int h = a.h / n;
        int y = a.y;
        for (int i = 0; i < n; i++) {
            int hi = i == n - 1 ? a.y + a.h - y : h;
            out[i] = (struct rect){y, a.x, hi, a.w};
            y += hi;
        }
        return n;
    }
    /* Grid: two rows; the top row holds two tiles, the bottom one or two. */
    int top_h = a.h / 2;
    int left_w = (a.w - 1) / 2;
    out[0] = (struct rect){a.y, a.x, top_h, left_w};
    out[1] = (struct rect){a.y, a.x + left_w + 1, top_h, a.w - left_w - 1};
    if (n == 3) {
        out[2] = (struct rect){a.y + top_h, a.x, a.h - top_h, a.w};
    } else {
        out[2] = (struct rect){a.y + top_h, a.x, a.h - top_h, left_w};
        out[3] = (struct rect){a.y + top_h, a.x + left_w + 1, a.h - top_h, a.w - left_w - 1};
    }
    return n;
}

static const char *const MODE_NAMES[TILES_N_MODES] = {"side", "stack", "grid", "one"};

const char *layout_mode_name(enum tiles_mode m)
{
    return (m >= 0 && m < TILES_N_MODES) ? MODE_NAMES[m] : "?";
}

int layout_mode_parse(const char *s)
{
    for (int i = 0; i < TILES_N_MODES; i++)
        if (strcmp(s, MODE_NAMES[i]) == 0)
            return i;
    return -1;
}
