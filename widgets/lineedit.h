/*
 * lineedit.h - a one-line editor with a prompt: the `:` command line, the
 * `/` filter and the name prompts. Emacs keys (Ctrl-A/E/U/W/K, arrows),
 * history with Up/Down.
 *
 *     lineedit_open(le, ":", "");
 *     switch (widget_key(&le->base, key)) {
 *     case LE_SUBMIT: run(le->text); break;
 *     case LE_CANCEL: ...; case LE_CHANGED: live update (filters)
 *     }
 */
#ifndef IB_LINEEDIT_H
#define IB_LINEEDIT_H

#include "widgets/widget.h"

enum { LE_CHANGED = WR_USER + 1, LE_SUBMIT, LE_CANCEL, LE_COMPLETE };

struct lineedit {
    struct widget base;
    char prompt[192];
    char text[1024];
    size_t cur;     /* byte offset of the cursor in text */
    char **history; /* oldest first */
    int n_history;
    int hist_pos; /* n_history: editing a new line */
    bool active;
};

struct lineedit *lineedit_new(void);
void lineedit_open(struct lineedit *le, const char *prompt, const char *initial);
void lineedit_close(struct lineedit *le);
void lineedit_set_text(struct lineedit *le, const char *text);
/* Adds the text to the history (skips empty and repeated lines). */
void lineedit_remember(struct lineedit *le);
/* Screen column of the cursor (absolute), for placing the terminal cursor. */
int lineedit_cursor_x(const struct lineedit *le);

#endif
