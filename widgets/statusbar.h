/*
 * statusbar.h - the bottom line: the key hints of the focused pane (each a
 * button: a click returns SB_ACTION + its action), a transient message, and
 * the progress bar of a long task (an export, a snapshot) when one runs.
 *
 *     statusbar_clear_hints(sb);
 *     statusbar_hint(sb, "s", "Start", ACT_START);
 *     statusbar_message(sb, false, "demo started as %s", name);
 */
#ifndef IB_STATUSBAR_H
#define IB_STATUSBAR_H

#include <stdint.h>

#include "widgets/widget.h"

enum { SB_ACTION = WR_USER + 1000 };

struct sb_hint {
    char key[16];
    char label[32];
    int action;
    int x0, x1; /* columns of the last drawing, for clicks */
};

struct statusbar {
    struct widget base;
    struct sb_hint hints[32];
    int n_hints;
    char msg[512];
    bool msg_error;
    int64_t msg_until; /* ib_now_ms() deadline; 0: none */
    char progress[96]; /* a running task's label ("export demo 42%"), "" for none */
    double fraction;   /* its done part, 0..1 (< 0: not known yet) */
};

struct statusbar *statusbar_new(void);
void statusbar_clear_hints(struct statusbar *sb);
void statusbar_hint(struct statusbar *sb, const char *key, const char *label, int action);
void statusbar_message(struct statusbar *sb, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void statusbar_clear_message(struct statusbar *sb);
/* The progress of a long task, drawn at the right end; label NULL clears it. */
void statusbar_progress(struct statusbar *sb, const char *label, double fraction);
/* Drops an expired message; true when something changed. */
bool statusbar_tick(struct statusbar *sb, int64_t now_ms);

#endif
