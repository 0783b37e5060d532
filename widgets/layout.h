/*
 * layout.h - where everything goes on the screen, as pure functions of the
 * terminal size and a few choices, so they are tested without a terminal.
 *
 *   row 0            header (title, store, counts)
 *   rows 1..h-2      navigator | detail (top) / console tiles (below)
 *   row h-1          status line, or the command line while it is open
 *
 * With consoles open the detail pane shrinks to a third of the height (three
 * fifths when it shows a tool: processes, the debugger); a zoomed console,
 * or a zoomed detail pane, takes the whole body. Below LAYOUT_MIN_COLS x
 * LAYOUT_MIN_ROWS nothing is laid out and the caller shows a message.
 */
#ifndef IB_LAYOUT_H
#define IB_LAYOUT_H

#include <stdbool.h>

#include "widgets/widget.h"

#define LAYOUT_MIN_COLS 60
#define LAYOUT_MIN_ROWS 16
#define LAYOUT_MAX_TILES 4

enum tiles_mode {
    TILES_SIDE,  /* side by side (columns) */
    TILES_STACK, /* stacked (rows) */
    TILES_GRID,  /* 2 x 2 */
    TILES_ONE,   /* only the focused console */
    TILES_N_MODES
};

struct layout_opts {
    bool show_nav;
    bool show_detail;
    bool zoom;        /* one console over the whole body */
    int n_consoles;   /* consoles open (tiles wanted) */
    bool detail_big;  /* a tool (processes, debugger) in the detail pane: it
                       * gets three fifths of the height above the consoles */
    bool zoom_detail; /* the detail pane over the whole body */
};

struct layout {
    bool too_small;
    struct rect header, nav, nav_sep, detail, consoles, status;
};

void layout_screen(int rows, int cols, const struct layout_opts *o, struct layout *out);

/* Splits area into n tiles (each keeps its first row for a title); with
 * TILES_ONE or n == 1 only out[0] is set. A vertical separator column is
 * left between side-by-side tiles. Returns how many tiles were laid out
 * (n, capped at LAYOUT_MAX_TILES, or 1). */
int layout_tiles(enum tiles_mode mode, int n, struct rect area, struct rect *out);

const char *layout_mode_name(enum tiles_mode m);
int layout_mode_parse(const char *s);

#endif
