/*
 * draw.h - writing UTF-8 text into a window with a theme element, safely:
 * control characters and anything the terminal would interpret become '?',
 * and nothing is written past the given width.
 */
#ifndef IB_DRAW_H
#define IB_DRAW_H

#include <curses.h>

#include "widgets/theme.h"

/* Columns the text takes on screen. */
int draw_text_width(const char *utf8);
/* Writes at most maxw columns; returns the columns written. */
int draw_text(WINDOW *w, int y, int x, int maxw, enum th_element e, const char *utf8);
/* Spaces over width columns. */
void draw_fill(WINDOW *w, int y, int x, int width, enum th_element e);
/* One cell. */
void draw_char(WINDOW *w, int y, int x, enum th_element e, wchar_t ch);
/* Text centred in width columns (with the fill around it). */
void draw_centred(WINDOW *w, int y, int x, int width, enum th_element e, const char *utf8);

/* A progress bar of width columns: the done fraction (0..1) filled, the
 * label written over it; fraction < 0 draws an "unknown yet" bar. */
void draw_progress(WINDOW *w, int y, int x, int width, double fraction, const char *label);

#endif
