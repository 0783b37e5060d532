/* draw.c - see draw.h. */
#include "widgets/draw.h"

#include <string.h>
#include <wchar.h>

/* Decodes one code point; invalid bytes count as one '?' each. */
static size_t next_wc(const char *s, size_t len, wchar_t *out)
{
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    size_t n = mbrtowc(out, s, len, &ps);
    if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
        *out = L'?';
        return 1;
    }
    return n;
}

static int safe_width(wchar_t *wc)
{
    int cw = wcwidth(*wc);
    if (cw < 0 || *wc < 0x20 || (*wc >= 0x7f && *wc < 0xa0)) {
        *wc = L'?';
        return 1;
    }
    return cw;
}

int draw_text_width(const char *s)
{
    int cols = 0;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        wchar_t wc;
        i += next_wc(s + i, len - i, &wc);
        cols += safe_width(&wc);
    }
    return cols;
}

int draw_text(WINDOW *w, int y, int x, int maxw, enum th_element e, const char *s)
{
    attr_t a;
    int pair;
    theme_cell(e, &a, &pair);
    int cols = 0;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        wchar_t wc[2] = {0, 0};
        i += next_wc(s + i, len - i, &wc[0]);
        int cw = safe_width(&wc[0]);
        if (cw == 0)
            continue; /* combining marks are dropped in UI text */
        if (cols + cw > maxw)
            break;
        cchar_t cc;
        setcchar(&cc, wc, a, 0, &pair);
        mvwadd_wch(w, y, x + cols, &cc);
        cols += cw;
    }
    return cols;
}

void draw_char(WINDOW *w, int y, int x, enum th_element e, wchar_t ch)
{
    attr_t a;
    int pair;
    theme_cell(e, &a, &pair);
    wchar_t wc[2] = {ch, 0};
    cchar_t cc;
    setcchar(&cc, wc, a, 0, &pair);
    mvwadd_wch(w, y, x, &cc);
}

void draw_fill(WINDOW *w, int y, int x, int width, enum th_element e)
{
    for (int i = 0; i < width; i++)
        draw_char(w, y, x + i, e, L' ');
}

void draw_centred(WINDOW *w, int y, int x, int width, enum th_element e, const char *s)
{
    draw_fill(w, y, x, width, e);
    int tw = draw_text_width(s);
    int off = tw < width ? (width - tw) / 2 : 0;
    draw_text(w, y, x + off, width - off, e, s);
}

void draw_progress(WINDOW *w, int y, int x, int width, double fraction, const char *label)
{
    if (width <= 0)
        return;
    int fill = fraction < 0 ? 0 : fraction >= 1 ? width : (int)(fraction * width);
    /* The label is centred over the bar; each cell takes the bar's style. */
    int lw = label ? draw_text_width(label) : 0;
    int lx = lw < width ? (width - lw) / 2 : 0;
    for (int i = 0; i < width; i++)
        draw_char(w, y, x + i, i < fill ? TH_PROGRESS_DONE : TH_PROGRESS_TODO,
                  fraction < 0 ? L'·' : L' ');
    if (label == NULL || lw == 0)
        return;
    /* Split the label where the fill ends so both parts keep their style. */
    size_t len = strlen(label);
    int col = 0;
    for (size_t i = 0; i < len && col < width;) {
        wchar_t wc;
        i += next_wc(label + i, len - i, &wc);
        int cw = safe_width(&wc);
        if (cw == 0)
            continue;
        if (lx + col + cw > width)
            break;
        draw_char(w, y, x + lx + col, lx + col < fill ? TH_PROGRESS_DONE : TH_PROGRESS_TODO, wc);
        col += cw;
    }
}
