/*
 * fuzz_termview.c - a guest's console bytes into the terminal widget (the
 * TUI's console pane: widgets/termview.h, libvterm behind a guard), through
 * its public header only.
 *
 * Input: three bytes of set-up (rows 1-40, columns 1-120, scrollback 0-63
 * lines), then console bytes. "\xff\xfe" followed by an operation letter is
 * taken out of the stream (it never occurs in UTF-8) and does what a user
 * would meanwhile:
 *   r R C     resize to R rows, C columns (1 + byte % 60, 1 + byte % 160)
 *   s D       scroll back by the signed byte D
 *   S a b c d select from (a, b) to (c, d), read the selection
 *   T         read the selection again (after a resize, say)
 *   k K       a key: K < 0x80 a character, else a function key of a table
 *   M K Y X   a mouse event (kind % 6) at (Y, X)
 *   m         mute on / off
 *   d         draw
 * At the end the widget is drawn into a curses window (on /dev/null) and
 * read back. Promises checked: nothing drawn is a control character (what
 * reaches the user's terminal is printable text only); the cursor is inside
 * the screen; cells have sane widths and colours; text accessors work.
 */
#include <curses.h>
#include <locale.h>
#include <wchar.h>

#include "widgets/palette.h"
#include "widgets/termview.h"
#include "tests/fuzz/fuzz.h"

static WINDOW *tvf_win; /* a pad big enough for every size */

static void tvf_curses(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    setlocale(LC_ALL, "C.UTF-8");
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    SCREEN *scr = out && in ? newterm("xterm-256color", out, in) : NULL;
    if (scr == NULL) {
        fprintf(stderr, "fuzz_termview: no curses screen (terminfo for xterm-256color?); "
                        "drawing is not fuzzed\n");
        return;
    }
    set_term(scr);
    start_color();
    palette_init(false);
    tvf_win = newpad(64, 200);
}

static void tvf_on_output(const char *bytes, size_t len, void *arg)
{
    size_t *total = arg;
    volatile char sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (char)(sum + bytes[i]);
    *total += len;
}

static void tvf_draw_and_check(struct termview *tv)
{
    if (tvf_win == NULL)
        return;
    widget_draw(&tv->base, tvf_win);
    int h = tv->base.r.h < 64 ? tv->base.r.h : 64, w = tv->base.r.w < 200 ? tv->base.r.w : 200;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            cchar_t cc;
            wchar_t wch[CCHARW_MAX + 1] = {0};
            attr_t a;
            short pair;
            if (mvwin_wch(tvf_win, y, x, &cc) == ERR)
                continue;
            getcchar(&cc, wch, &a, &pair, NULL);
            for (int i = 0; i < CCHARW_MAX && wch[i]; i++)
                if (wch[i] < 0x20 || (wch[i] >= 0x7f && wch[i] <= 0x9f))
                    fuzz_fail("control U+%04X drawn at (%d, %d)", (unsigned)wch[i], y, x);
        }
    }
}

static void tvf_check_cell(const struct termview *tv, int r, int c)
{
    struct tv_cell cell;
    termview_cell(tv, r, c, &cell);
    if (cell.width < 0 || cell.width > 2 || cell.fg < -1 || cell.fg > 255 || cell.bg < -1 ||
        cell.bg > 255)
        fuzz_fail("cell (%d, %d): width %d, colours %d/%d", r, c, cell.width, cell.fg, cell.bg);
}

static void tvf_check(struct termview *tv)
{
    int row, col;
    if (termview_cursor(tv, &row, &col) &&
        (row < 0 || row >= tv->rows || col < 0 || col > tv->cols))
        fuzz_fail("cursor at (%d, %d) on a %dx%d screen", row, col, tv->rows, tv->cols);
    /* termview_cell() walks its row each time: a few columns per row keep
     * this linear (the drawing reads every cell anyway). */
    int step = tv->cols > 8 ? tv->cols / 7 : 1;
    for (int r = 0; r < tv->rows; r++) {
        for (int c = 0; c < tv->cols; c += step)
            tvf_check_cell(tv, r, c);
        tvf_check_cell(tv, r, tv->cols - 1);
        free(termview_row_text(tv, r));
    }
    for (size_t i = 0; i < tv->sb_count; i++)
        free(termview_sb_text(tv, i));
}

static const int tvf_fn_keys[] = {
    KEY_UP, KEY_DOWN, KEY_LEFT, KEY_RIGHT,     KEY_HOME,  KEY_END,  KEY_PPAGE, KEY_NPAGE,
    KEY_IC, KEY_DC,   KEY_BTAB, KEY_BACKSPACE, KEY_ENTER, KEY_F(1), KEY_F(12), KEY_SLEFT,
};

/* One operation at data[0] (after the marker); returns bytes used. */
static size_t tvf_op(struct termview *tv, const uint8_t *p, size_t n, bool *mute)
{
    if (n == 0)
        return 0;
    switch (p[0]) {
    case 'r':
        if (n < 3)
            return n;
        widget_place(&tv->base, (struct rect){0, 0, 1 + p[1] % 60, 1 + p[2] % 160});
        return 3;
    case 's':
        if (n < 2)
            return n;
        termview_scroll(tv, (int8_t)p[1]);
        return 2;
    case 'S': {
        if (n < 5)
            return n;
        termview_select(tv, p[1] % 70, p[2] % 170, p[3] % 70, p[4] % 170);
        free(termview_selection_text(tv));
        return 5;
    }
    case 'T':
        free(termview_selection_text(tv));
        return 1;
    case 'k':
        if (n < 2)
            return n;
        widget_key(&tv->base,
                   p[1] < 0x80 ? p[1] : WK_FN(tvf_fn_keys[p[1] % IB_ARRAY_LEN(tvf_fn_keys)]));
        return 2;
    case 'M': {
        if (n < 4)
            return n;
        struct wmouse ev = {
            .kind = (enum wmouse_kind)(p[1] % 6), .button = 1, .y = p[2] % 70, .x = p[3] % 170};
        widget_mouse(&tv->base, &ev);
        return 4;
    }
    case 'm':
        *mute = !*mute;
        termview_set_mute(tv, *mute);
        return 1;
    case 'd':
        tvf_draw_and_check(tv);
        return 1;
    default:
        return 1;
    }
}

FUZZ_ENTRY(termview)
{
    if (size < 3)
        return 0;
    tvf_curses();
    struct termview *tv = termview_new(1 + data[0] % 40, 1 + data[1] % 120, data[2] % 64);
    size_t answered = 0;
    bool mute = false;
    termview_set_output(tv, tvf_on_output, &answered);
    const uint8_t *p = data + 3, *end = data + size;
    while (p < end) {
        const uint8_t *m = memmem(p, (size_t)(end - p), "\xff\xfe", 2);
        const uint8_t *stop = m ? m : end;
        /* The stream in two pieces, so that sequences are cut too. */
        size_t n = (size_t)(stop - p), half = n / 2;
        termview_feed(tv, (const char *)p, half);
        termview_feed(tv, (const char *)p + half, n - half);
        p = stop;
        if (m != NULL)
            p = m + 2 + tvf_op(tv, m + 2, (size_t)(end - m - 2), &mute);
    }
    tvf_check(tv);
    tvf_draw_and_check(tv);
    widget_free(&tv->base);
    return 0;
}
