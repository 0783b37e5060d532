/*
 * tui.h - the workbench: the full-screen application `iotbench` opens with
 * no arguments.
 */
#ifndef IB_TUI_H
#define IB_TUI_H

struct tui_options {
    const char *device; /* preselect this device (e.g. "demo"), or NULL */
    const char *theme;  /* theme name or file, or NULL for the configured one */
};

/* Runs until the user quits; returns the process exit status. */
int tui_run(const struct tui_options *opts);

#endif
