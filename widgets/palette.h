/*
 * palette.h - colour numbers and ncurses colour pairs, for the theme and the
 * terminal widget alike.
 *
 * Colours are xterm numbers (0-255, -1 for the terminal's default). What the
 * terminal cannot show is folded down: 24-bit to 256, 256 to 16 or 8, and to
 * nothing at all with NO_COLOR or on a terminal without colours, where only
 * bold/underline/reverse remain. Pairs come from ncurses' alloc_pair() with
 * a direct-mapped cache in front; when the pair table fills, it is reset and
 * palette_generation() changes so everyone redraws.
 *
 *     palette_init(getenv("NO_COLOR") != NULL);    // after start_color()
 *     int pair = palette_pair(palette_fold(196), -1);
 *     setcchar(&cc, wch, A_BOLD, 0, &pair);
 */
#ifndef IB_PALETTE_H
#define IB_PALETTE_H

#include <stdbool.h>

/* Decides the depth (0, 8, 16 or 256) from the terminal and no_color. */
void palette_init(bool no_color);
/* Forces a depth (tests, and `:set colors N`). */
void palette_set_depth(int depth);
int palette_depth(void);

/* Nearest xterm-256 colour of an RGB triple. */
int palette_rgb_to_256(int r, int g, int b);
/* RGB of an xterm-256 colour. */
void palette_256_to_rgb(int c, int *r, int *g, int *b);
/* A colour the terminal can show: c folded to the depth, -1 stays -1 (and
 * everything is -1 at depth 0). */
int palette_fold(int c);

/* The pair number for (fg, bg) already folded; 0 for (-1, -1). */
int palette_pair(int fg, int bg);
/* Changes each time the pair table was reset. */
unsigned palette_generation(void);

#endif
