/*
 * theme.h - semantic screen elements and the table that maps them to
 * colours and attributes (htop's CRT_colorSchemes, loaded from a file).
 *
 * Widgets never name a colour: they ask for an element.
 *
 *     theme_use(win, TH_SELECTION_FOCUS);        // wattr_set for what follows
 *     theme_cell(TH_STATUS_BAR, &attr, &pair);   // for setcchar()
 *
 * A theme file (themes/NAME.theme) has one `element = style` per line:
 *
 *     # comment
 *     name = dark
 *     selection.focus = black on cyan bold
 *     status.bar      = default on 236
 *
 * Colours: default, black, red, green, yellow, blue, magenta, cyan, white,
 * bright-<name>, 0-255 or #rrggbb (folded to what the terminal shows).
 * Attributes: bold, dim, underline, reverse, italic, standout. Elements a
 * file leaves out keep the built-in monochrome style, and on a terminal
 * without colours (or with NO_COLOR) an element that has no attribute of its
 * own falls back to that monochrome style, so every theme stays legible.
 */
#ifndef IB_THEME_H
#define IB_THEME_H

#include <curses.h>
#include <stdbool.h>

#include "core/error.h"

enum th_element {
    TH_NORMAL,
    TH_DIM,
    TH_APP_TITLE,
    TH_BORDER,
    TH_BORDER_FOCUS,
    TH_TITLE,
    TH_TITLE_FOCUS,
    TH_SECTION,
    TH_COUNT,
    TH_SELECTION,
    TH_SELECTION_FOCUS,
    TH_MATCH,
    TH_TABLE_HEADER,
    TH_TABLE_HEADER_SORT,
    TH_LABEL,
    TH_VALUE,
    TH_OK,
    TH_WARN,
    TH_ERROR,
    TH_DEAD,
    TH_TIMELINE_DONE,
    TH_TIMELINE_NOW,
    TH_TIMELINE_TODO,
    TH_STATUS_BAR,
    TH_STATUS_KEY,
    TH_STATUS_MESSAGE,
    TH_STATUS_ERROR,
    TH_PROMPT,
    TH_INPUT,
    TH_HELP_KEY,
    TH_CONSOLE_TITLE,
    TH_CONSOLE_TITLE_FOCUS,
    TH_CONSOLE_SELECTION,
    TH_CONSOLE_SCROLLED,
    TH_TAB,           /* a detail-pane tab (Info, Processes ...) */
    TH_TAB_ACTIVE,    /* the tab shown */
    TH_PROC_DEVICE,   /* a process of the emulated device */
    TH_PROC_KERNEL,   /* a kernel thread */
    TH_CHANGED,       /* a value that changed since the last stop */
    TH_CODE_PC,       /* the instruction at pc */
    TH_CODE_BREAK,    /* an instruction with a breakpoint */
    TH_CODE_SYMBOL,   /* symbol names in code listings */
    TH_PROGRESS_DONE, /* the filled part of a progress bar */
    TH_PROGRESS_TODO, /* the rest of it */
    TH_N
};

struct th_style {
    int fg, bg;   /* xterm colour numbers, -1 default */
    attr_t attrs; /* A_BOLD ... */
    bool colour;  /* fg or bg was given */
};

struct theme {
    char name[64];
    struct th_style st[TH_N];
};

/* The element's name in theme files ("selection.focus"), and back. */
const char *theme_element_name(enum th_element e);
int theme_element_parse(const char *name);

/* The monochrome built-in theme (also the base every file starts from). */
void theme_init_mono(struct theme *th);
/* Parses a theme file's text; display is used in messages (file:line). */
int theme_parse(struct theme *th, const char *text, const char *display, struct ib_error *err);
int theme_load_file(struct theme *th, const char *path, struct ib_error *err);

/* Makes th the current theme (copied). */
void theme_set_current(const struct theme *th);
const struct theme *theme_current(void);

/* The element's colours as this terminal shows them (folded to its depth;
 * on 8 or 16 colours a foreground never lands on its background). */
void theme_colours(enum th_element e, int *fg, int *bg);
/* Attribute and pair of an element on this terminal, now. */
void theme_cell(enum th_element e, attr_t *attr, int *pair);
void theme_use(WINDOW *w, enum th_element e);

#endif
