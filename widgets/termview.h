/*
 * termview.h - a terminal emulator widget (a guest's serial console): the
 * parser and state layer of libvterm 0.1.4, with cells of our own.
 *
 * Bytes from the guest go in with termview_feed(); a guard drops what would
 * crash libvterm 0.1.4 (CSI sequences of more than 16 parameters) and
 * expands REP; libvterm interprets the rest into our grid (16-byte cells,
 * rows as pointers so a scroll moves pointers, not cells: ~40 MB/s at
 * 200x50 where libvterm's own screen layer does 12). Nothing the guest sends
 * reaches the user's terminal except as cell contents drawn here. What the
 * emulator says back to the guest (answers to DSR/DA queries, typed keys)
 * goes out through the output callback. Lines that scroll off the top are
 * kept in a compact scrollback ring (UTF-8 text plus attribute runs, about
 * 1-2 bytes a cell).
 *
 *     struct termview *tv = termview_new(24, 80, 10000);
 *     termview_set_output(tv, send_to_guest, conn);
 *     termview_feed(tv, buf, n);              // from the socket
 *     if (termview_needs_draw(tv)) termview_draw... (widget_draw)
 *     widget_key(&tv->base, key);             // typing, encoded for the guest
 *
 * Colours: 24-bit is folded to 256 and then to what the terminal shows
 * (palette.h). The cursor is reported with termview_cursor() so the caller
 * can place the real one; dirty rows are tracked so a frame redraws only
 * what changed.
 */
#ifndef IB_TERMVIEW_H
#define IB_TERMVIEW_H

#include <stddef.h>
#include <stdint.h>

#include <vterm.h>

#include "widgets/widget.h"

typedef void (*termview_output_fn)(const char *bytes, size_t len, void *arg);

enum {
    TVA_BOLD = 1,
    TVA_UNDERLINE = 2,
    TVA_ITALIC = 4,
    TVA_BLINK = 8,
    TVA_REVERSE = 16,
    TVA_STRIKE = 32,
};

/* One cell as shown now (screen or scrollback). */
struct tv_cell {
    uint32_t ch; /* first code point; ' ' for an empty cell, 0 for the right half
                    of a wide character */
    int width;
    int fg, bg; /* xterm 256 colours (before folding), -1 default */
    unsigned attrs;
};

struct sb_line;
struct grid;

struct termview {
    struct widget base;
    VTerm *vt;
    VTermState *vs;       /* the state layer; the cells are ours (grid[]) */
    struct grid *grid[2]; /* main screen, alternate screen */
    int16_t pen_fg, pen_bg;
    uint8_t pen_attrs;
    int rows, cols;
    /* scrollback ring, oldest first from head */
    struct sb_line **sb;
    size_t sb_cap, sb_head, sb_count;
    uint64_t sb_dropped; /* lines ever dropped off the ring */
    size_t sb_bytes;
    int offset;           /* lines scrolled back; 0 follows the output */
    unsigned char *dirty; /* per screen row */
    bool any_dirty;
    termview_output_fn out_fn;
    void *out_arg;
    bool mute; /* drop answers (while replaying a log) */
    char title[128];
    bool altscreen, cursor_visible;
    VTermPos cursor;
    bool sel_on, sel_done;
    int64_t sel_a_line, sel_b_line; /* global line numbers */
    int sel_a_col, sel_b_col;
    int press_row, press_col; /* where a mouse drag started */
    unsigned palette_gen;
    uint64_t bytes_in;
    /* the guard in front of libvterm (see termview_feed) */
    int g_state;
    char g_seq[208];
    size_t g_len;
    int g_params;
    bool g_str_ok;      /* the string being held may pass (a printable OSC) */
    uint64_t g_dropped; /* sequences dropped */
    char g_last[4];     /* the last graphic character, for REP */
    size_t g_last_len;
};

struct termview *termview_new(int rows, int cols, size_t scrollback_lines);
void termview_set_output(struct termview *tv, termview_output_fn fn, void *arg);
/* While muted, what the emulator answers is dropped (replaying console.log
 * must not answer queries the guest asked long ago). */
void termview_set_mute(struct termview *tv, bool mute);
void termview_feed(struct termview *tv, const char *bytes, size_t len);
void termview_resize(struct termview *tv, int rows, int cols);
bool termview_needs_draw(const struct termview *tv);

/* Sends text to the guest as typed (pastes, commands such as stty). */
void termview_send(struct termview *tv, const char *bytes, size_t len);

/* Scrolling back: delta > 0 goes back in history. */
void termview_scroll(struct termview *tv, int delta);
void termview_scroll_to(struct termview *tv, int offset);
/* The cursor in view coordinates; false when hidden or scrolled away. */
bool termview_cursor(const struct termview *tv, int *row, int *col);

/* The cell / text of a view row (what is shown at that row now). */
void termview_cell(const struct termview *tv, int row, int col, struct tv_cell *out);
char *termview_row_text(const struct termview *tv, int row);
/* Text of a scrollback line (0 = oldest kept). */
char *termview_sb_text(const struct termview *tv, size_t i);

/* Selection in view coordinates; the text is UTF-8 lines joined by '\n'. */
void termview_select(struct termview *tv, int row0, int col0, int row1, int col1);
void termview_select_clear(struct termview *tv);
char *termview_selection_text(const struct termview *tv);

#endif
