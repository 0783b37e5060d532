/*
 * textview.h - a scrollable page of styled text (details, help, the QEMU
 * command line): lines made of segments, each with a theme element, wrapped
 * at the widget's width when drawn. A line may carry an action number that
 * a click on it returns (TV_ACTION + n).
 *
 *     textview_clear(tv);
 *     textview_line(tv);
 *     textview_add(tv, TH_LABEL, "kernel  ");
 *     textview_add(tv, TH_VALUE, "%s", name);
 *     textview_set_action(tv, ACT_START);
 */
#ifndef IB_TEXTVIEW_H
#define IB_TEXTVIEW_H

#include "widgets/theme.h"
#include "widgets/widget.h"

enum { TV_ACTION = WR_USER + 100 };

struct tv_seg {
    enum th_element el;
    char *text;
};

struct tv_line {
    struct tv_seg *segs;
    int n_segs;
    int action; /* 0: none */
    int indent; /* continuation rows of a wrapped line start here */
};

struct textview {
    struct widget base;
    struct tv_line *lines;
    int n_lines, cap_lines;
    int top; /* first display row shown */
};

struct textview *textview_new(void);
/* Clears the text; keep_scroll keeps the position (a refresh of the same page). */
void textview_clear(struct textview *tv, bool keep_scroll);
void textview_line(struct textview *tv);
void textview_add(struct textview *tv, enum th_element el, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void textview_set_action(struct textview *tv, int action);
void textview_set_indent(struct textview *tv, int indent);
/* Plain text of the whole page (tests and copying). */
char *textview_text(const struct textview *tv);
int textview_display_rows(const struct textview *tv, int width);
/* Display rows above the first line whose text starts with heading (0 when
 * there is none): to scroll a page to one of its sections. */
int textview_rows_before(const struct textview *tv, const char *heading, int width);

#endif
